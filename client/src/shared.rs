//! A client many tasks share: `Clone + Send + Sync`, `&self` methods, concurrent calls
//! pipelined over one connection (tokio-postgres' and xitca-postgres' `Client`).
//!
//! There is no background task. Every waiting call may drive the connection: it takes the
//! lock (never across an `await`), lets the [`Driver`] move bytes, and wakes the callers whose
//! responses it has seen arrive; the last caller to wait on the socket is the one the runtime
//! wakes, and a caller that leaves (answered, or dropped) wakes another so that someone always
//! watches the socket while anyone waits. Each call is its own request with its own Sync, so
//! an error in one caller's statement never aborts another's; the engine matches every answer
//! to its request.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use pgsans::session::Command;
use pgsans::{
    Config, Error, Mode, Notification, OwnedRow, Params, Pipeline, Query, QueryResult, Request, RequestId, Response,
    ResultSet, SessionChange, Statement, TransactionStatus, UsageError,
};

use crate::driver::Driver;
use crate::runtime::Runtime;

/// A connection many tasks use at once, with tokio-postgres' semantics: every statement
/// commits by itself (autocommit) unless it runs in a [`transaction`](Client::transaction),
/// which has the connection to itself while it lasts. Cheap to clone (an `Arc`); the
/// connection closes when the last clone is dropped.
///
/// Concurrent calls are pipelined: each is sent as soon as it is made (writes of callers that
/// come together go out together) and each caller gets exactly its own result. Dropping a
/// call's future at any point is safe: its request is abandoned, the engine drains its answer,
/// and every other caller's results are untouched. (Unlike the exclusive
/// [`Connection`](crate::Connection), a dropped call is not cancelled on the server: a cancel
/// request would hit whichever caller's statement is running.)
///
/// Which to choose: a `Client` for services where many tasks issue short statements (share one,
/// or keep a few in a pool); a [`Connection`](crate::Connection) for psycopg2's semantics
/// (a transaction opened for you, two-phase commit), COPY, row streams and notifications.
pub struct Client<R: Runtime> {
    inner: Arc<Inner<R>>,
}

impl<R: Runtime> Clone for Client<R> {
    fn clone(&self) -> Self {
        Client { inner: self.inner.clone() }
    }
}

impl<R: Runtime> std::fmt::Debug for Client<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("state", &self.inner.state).finish()
    }
}

struct Inner<R: Runtime> {
    state: Mutex<State<R>>,
    /// For a leased connection's client settings.
    config: Config,
    backend_pid: i32,
}

impl<R: Runtime> Drop for Inner<R> {
    fn drop(&mut self) {
        // The driver's own drop sends Terminate without waiting.
        if let Ok(state) = self.state.get_mut() {
            state.waiters.clear();
        }
    }
}

struct State<R: Runtime> {
    /// `None` while a [`Lease`] has the connection.
    driver: Option<Driver<R>>,
    /// A lease waiting for the calls in flight to be answered.
    lease_waker: Option<Waker>,
    /// Calls waiting for their responses: who they are, what they wait for, how to wake them.
    waiters: Vec<Waiter>,
    /// The transaction scope that has the connection to itself, if any.
    exclusive: Option<u64>,
    /// Calls waiting for the exclusive scope to end before they submit.
    gate: Vec<(u64, Waker)>,
    /// The call in charge of driving the connection for those who wait: the last to wait on
    /// the socket, or the one woken to take over when that one left. `None`: nobody is.
    watching: Option<u64>,
    next_key: u64,
}

impl<R: Runtime> std::fmt::Debug for State<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("driver", &self.driver)
            .field("waiting", &self.waiters.len())
            .field("exclusive", &self.exclusive.is_some())
            .finish()
    }
}

struct Waiter {
    key: u64,
    id: RequestId,
    waker: Waker,
}

impl<R: Runtime> State<R> {
    fn key(&mut self) -> u64 {
        self.next_key += 1;
        self.next_key
    }

    /// Wakes every other caller whose response has arrived (or every one, once the connection
    /// is lost: their calls fail).
    fn wake_answered(&mut self, me: u64) {
        let Some(driver) = &self.driver else { return };
        let lost = driver.engine.is_closed();
        let engine = &driver.engine;
        self.waiters.retain(|w| {
            if w.key != me && (lost || engine.response_ready(w.id)) {
                w.waker.wake_by_ref();
                false
            } else {
                true
            }
        });
    }

    /// A caller leaves (answered or dropped): if the socket held its waker, wake one that
    /// still waits, so that it watches the socket in the leaver's place (the runtime wakes
    /// only the last task that waited).
    fn leave(&mut self, me: u64) {
        self.waiters.retain(|w| w.key != me);
        if self.waiters.is_empty() {
            if let Some(lease) = self.lease_waker.take() {
                lease.wake();
            }
        }
        if self.watching == Some(me) {
            // The one woken is in charge until it leaves in turn, whether or not it ever
            // waits on the socket itself.
            self.watching = self.waiters.first().map(|w| {
                w.waker.wake_by_ref();
                w.key
            });
        }
    }

    fn set_waiter(&mut self, key: u64, id: RequestId, waker: &Waker) {
        match self.waiters.iter_mut().find(|w| w.key == key) {
            Some(w) => w.waker.clone_from(waker),
            None => self.waiters.push(Waiter { key, id, waker: waker.clone() }),
        }
    }

    /// The exclusive scope ended: let the callers it held back in.
    fn open_gate(&mut self) {
        self.exclusive = None;
        for (_, w) in self.gate.drain(..) {
            w.wake();
        }
    }
}

/// What a call gets while a [`Lease`] has the connection (it cannot: calls wait for a lease to
/// end; only a caller bypassing the gate sees this).
fn leased() -> Error {
    UsageError::InvalidState("the connection is leased: the lease has it to itself".into()).into()
}

fn lock<R: Runtime>(inner: &Inner<R>) -> MutexGuard<'_, State<R>> {
    // A panic while the lock was held (a notice handler's, say) leaves the engine consistent
    // between two of its calls: carry on.
    inner.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One request of one caller: submitted when its turn comes (not while another caller's
/// transaction has the connection), then answered.
struct Call<'c, R: Runtime> {
    inner: &'c Inner<R>,
    key: u64,
    /// The transaction scope this call belongs to (it may submit while that scope holds the
    /// connection).
    scope: Option<u64>,
    request: Option<Request>,
    id: Option<RequestId>,
    done: bool,
}

impl<R: Runtime> Future for Call<'_, R> {
    type Output = Result<Response, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut state = lock(this.inner);
        let id = match this.id {
            Some(id) => id,
            None => {
                if state.exclusive.is_some() && state.exclusive != this.scope {
                    let key = this.key;
                    match state.gate.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, w)) => w.clone_from(cx.waker()),
                        None => state.gate.push((key, cx.waker().clone())),
                    }
                    return Poll::Pending;
                }
                state.gate.retain(|(k, _)| *k != this.key);
                let Some(request) = this.request.take() else {
                    this.done = true;
                    return Poll::Ready(Err(Error::Internal("a call polled after it finished".into())));
                };
                // Someone else will certainly drive the connection again (it waits on the
                // socket, or was woken to take over).
                let others = state.watching.is_some_and(|w| w != this.key);
                let Some(driver) = state.driver.as_mut() else {
                    this.done = true;
                    return Poll::Ready(Err(leased()));
                };
                match driver.engine.submit(request) {
                    Ok(id) => {
                        this.id = Some(id);
                        if others {
                            // Others wait for answers, and one of them watches the socket: it
                            // writes this request with everything else queued when the next
                            // answer arrives (the server is busy with theirs until then), so
                            // that callers coming together share one write.
                            state.set_waiter(this.key, id, cx.waker());
                            return Poll::Pending;
                        }
                        id
                    }
                    Err(e) => {
                        this.done = true;
                        return Poll::Ready(Err(e));
                    }
                }
            }
        };
        let Some(driver) = state.driver.as_mut() else {
            this.done = true;
            return Poll::Ready(Err(leased()));
        };
        let r = driver.poll_until(cx, None, |e| e.take_response(id));
        state.wake_answered(this.key);
        match r {
            Poll::Ready(r) => {
                this.done = true;
                state.leave(this.key);
                Poll::Ready(r)
            }
            Poll::Pending => {
                state.set_waiter(this.key, id, cx.waker());
                state.watching = Some(this.key);
                Poll::Pending
            }
        }
    }
}

impl<R: Runtime> Drop for Call<'_, R> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut state = lock(self.inner);
        state.gate.retain(|(k, _)| *k != self.key);
        if let (Some(id), Some(driver)) = (self.id, state.driver.as_mut()) {
            driver.engine.abandon(id);
        }
        // If it was in charge of driving for the others, that passes on.
        state.leave(self.key);
    }
}

impl<R: Runtime> Client<R> {
    /// Connects with a libpq connection string or `postgresql://` URL (completed from the
    /// environment and `.pgpass` like libpq), in autocommit mode.
    pub async fn connect(conninfo: &str) -> Result<Self, Error> {
        Self::connect_with(&crate::load::load(conninfo)?).await
    }

    /// Connects with a ready configuration (see [`Connection::connect_with`](crate::Connection::connect_with)),
    /// in autocommit mode.
    pub async fn connect_with(config: &Config) -> Result<Self, Error> {
        let driver = Driver::connect(config).await?;
        let backend_pid = driver.engine.backend_pid();
        let client = Client {
            inner: Arc::new(Inner {
                config: config.clone(),
                backend_pid,
                state: Mutex::new(State {
                    driver: Some(driver),
                    lease_waker: None,
                    waiters: Vec::new(),
                    exclusive: None,
                    gate: Vec::new(),
                    watching: None,
                    next_key: 0,
                }),
            }),
        };
        client.run(None, Request::command(Command::SetSession(SessionChange::new().autocommit(true)))).await?;
        Ok(client)
    }

    fn call(&self, scope: Option<u64>, request: Request) -> Call<'_, R> {
        let key = lock(&self.inner).key();
        Call { inner: &self.inner, key, scope, request: Some(request), id: None, done: false }
    }

    async fn run(&self, scope: Option<u64>, request: Request) -> Result<Response, Error> {
        if let Some(types) = request.retyped_params() {
            // Values for domain parameters: the domains must be known to check them.
            Box::pin(self.look_up_types(&types)).await?;
        }
        let trace = self.with_engine(|e| crate::trace::Traced::request(e, &request));
        let result = self.call(scope, request).await;
        if let Some(trace) = trace {
            trace.finish(&result);
        }
        result
    }

    /// Runs `f` on the engine; `None` while the connection is leased.
    fn with_engine<T>(&self, f: impl FnOnce(&mut pgsans::Connection) -> T) -> Option<T> {
        lock(&self.inner).driver.as_mut().map(|d| f(&mut d.engine))
    }

    fn query_request<'q>(&self, query: impl Into<Query<'q>>, params: Params<'_>, mode: Mode) -> Result<Request, Error> {
        match lock(&self.inner).driver.as_mut() {
            Some(driver) => driver.engine.query_request(query, params, mode),
            // Leased: made without the engine's buffers; it waits for the lease to end.
            None => Request::query(query, params, mode),
        }
    }

    /// Opens a transaction that has the connection to itself until it ends: other callers'
    /// new calls wait (those already sent finish first). End it with
    /// [`commit`](ClientTransaction::commit) or [`rollback`](ClientTransaction::rollback);
    /// dropped without either — an early `?`, a cancelled future — it is rolled back at once
    /// (the ROLLBACK goes out before anyone else's next statement) and the others go on.
    pub async fn transaction(&self) -> Result<ClientTransaction<'_, R>, Error> {
        let scope = self.close_gate().await;
        // From here the guard owns the scope: dropped (with this future) it ends it.
        let tx = ClientTransaction { client: self, scope, ended: false, depth: 1 };
        tx.client.run(Some(scope), Request::command(Command::BeginScope)).await?;
        Ok(tx)
    }

    /// The connection itself, for one caller, with every method of the exclusive
    /// [`Connection`](crate::Connection): COPY, row streams, portals, notifications, pipelines.
    /// New calls of the other callers wait until the lease is dropped; calls already in flight
    /// are answered first. The session stays in autocommit mode. Dropped, the connection goes
    /// back to the client as a pool takes one back: a transaction left open is rolled back,
    /// what was left running is drained. (Like every call, it waits for a
    /// [`transaction`](Self::transaction) of this client to end: not from inside one.)
    pub async fn lease(&self) -> Result<Lease<'_, R>, Error> {
        let scope = self.close_gate().await;
        // From here the guard owns the gate: dropped (with this future) it opens it again.
        let mut lease = Lease { client: self, conn: None, scope };
        std::future::poll_fn(|cx| {
            let mut state = lock(&self.inner);
            if state.waiters.is_empty() {
                return Poll::Ready(());
            }
            state.lease_waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await;
        let driver = lock(&self.inner).driver.take().ok_or_else(leased)?;
        lease.conn = Some(crate::Connection::from_driver(driver, &self.inner.config));
        Ok(lease)
    }

    /// Waits until no transaction or lease has the connection, then takes it for a new scope.
    async fn close_gate(&self) -> u64 {
        std::future::poll_fn(|cx| {
            let mut state = lock(&self.inner);
            if state.exclusive.is_none() {
                let scope = state.key();
                state.exclusive = Some(scope);
                return Poll::Ready(scope);
            }
            let key = state.key();
            state.gate.push((key, cx.waker().clone()));
            Poll::Pending
        })
        .await
    }

    /// Whether the connection is lost (the server went away, a protocol or socket error).
    pub fn is_broken(&self) -> bool {
        lock(&self.inner).driver.as_ref().is_some_and(|d| d.engine.is_broken())
    }

    /// Whether the connection is closed or lost.
    pub fn is_closed(&self) -> bool {
        lock(&self.inner).driver.as_ref().is_some_and(|d| d.engine.is_closed())
    }

    /// The transaction status as the connection knows it now (`Active` while leased).
    pub fn transaction_status(&self) -> TransactionStatus {
        lock(&self.inner).driver.as_ref().map_or(TransactionStatus::Active, |d| d.engine.transaction_status())
    }

    /// The server's process ID for this connection.
    pub fn backend_pid(&self) -> i32 {
        self.inner.backend_pid
    }

    /// The notifications received so far (`LISTEN` on this client), oldest first.
    pub fn take_notifications(&self) -> Vec<Notification> {
        lock(&self.inner).driver.as_mut().map(|d| d.engine.take_notifications()).unwrap_or_default()
    }

    /// Sends Terminate and closes the connection for every clone; calls made afterwards fail.
    pub async fn close(&self) -> Result<(), Error> {
        // Taking the lock for the whole close would stall other callers' polls on a slow
        // write; Terminate is short, so write what the socket takes now and let the driver's
        // drop finish.
        let mut state = lock(&self.inner);
        let Some(driver) = state.driver.as_mut() else { return Err(leased()) };
        driver.engine.terminate();
        let r = driver.write_now();
        state.wake_answered(0);
        r
    }
}

/// The connection of a [`Client`], leased to one caller ([`Client::lease`]); derefs to the
/// exclusive [`Connection`](crate::Connection). Dropped, it goes back to the client.
pub struct Lease<'a, R: Runtime> {
    client: &'a Client<R>,
    conn: Option<crate::Connection<R>>,
    scope: u64,
}

impl<R: Runtime> std::fmt::Debug for Lease<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease").field("conn", &self.conn).finish()
    }
}

impl<R: Runtime> std::ops::Deref for Lease<'_, R> {
    type Target = crate::Connection<R>;
    fn deref(&self) -> &crate::Connection<R> {
        // Present from the lease's making until its drop.
        self.conn.as_ref().unwrap_or_else(|| unreachable!("a lease holds its connection"))
    }
}

impl<R: Runtime> std::ops::DerefMut for Lease<'_, R> {
    fn deref_mut(&mut self) -> &mut crate::Connection<R> {
        self.conn.as_mut().unwrap_or_else(|| unreachable!("a lease holds its connection"))
    }
}

impl<R: Runtime> Drop for Lease<'_, R> {
    fn drop(&mut self) {
        let mut state = lock(&self.client.inner);
        if let Some(mut conn) = self.conn.take() {
            // As a pool takes a connection back: a ROLLBACK queued and written now if a
            // transaction was left open; what was left running is drained by later calls.
            let _ = conn.release();
            state.driver = Some(conn.into_driver());
        }
        if state.exclusive == Some(self.scope) {
            state.open_gate();
        }
    }
}

/// A transaction of a [`Client`]: the same methods, run inside it, while the other callers
/// wait. Nested scopes ([`transaction`](Self::transaction)) are savepoints.
pub struct ClientTransaction<'a, R: Runtime> {
    client: &'a Client<R>,
    scope: u64,
    ended: bool,
    depth: u32,
}

impl<R: Runtime> std::fmt::Debug for ClientTransaction<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTransaction").field("depth", &self.depth).field("ended", &self.ended).finish()
    }
}

impl<'a, R: Runtime> ClientTransaction<'a, R> {
    fn call(&self, _: Option<u64>, request: Request) -> Call<'_, R> {
        self.client.call(Some(self.scope), request)
    }

    async fn run(&self, _: Option<u64>, request: Request) -> Result<Response, Error> {
        if let Some(types) = request.retyped_params() {
            Box::pin(self.look_up_types(&types)).await?;
        }
        let trace = self.with_engine(|e| crate::trace::Traced::request(e, &request));
        let result = self.call(None, request).await;
        if let Some(trace) = trace {
            trace.finish(&result);
        }
        result
    }

    fn query_request<'q>(&self, query: impl Into<Query<'q>>, params: Params<'_>, mode: Mode) -> Result<Request, Error> {
        self.client.query_request(query, params, mode)
    }

    fn with_engine<T>(&self, f: impl FnOnce(&mut pgsans::Connection) -> T) -> Option<T> {
        self.client.with_engine(f)
    }

    /// A nested scope: a savepoint, released by `commit`, rolled back to by `rollback` or a drop.
    pub async fn transaction(&mut self) -> Result<ClientTransaction<'_, R>, Error> {
        let mut nested =
            ClientTransaction { client: self.client, scope: self.scope, ended: false, depth: self.depth + 1 };
        // Marked ended until the savepoint is queued: dropped before, there is nothing to undo.
        nested.ended = true;
        let call = nested.client.call(Some(self.scope), Request::command(Command::BeginScope));
        let mut call = std::pin::pin!(call);
        std::future::poll_fn(|cx| {
            let r = call.as_mut().poll(cx);
            if call.id.is_some() {
                nested.ended = false;
            }
            r
        })
        .await?;
        Ok(nested)
    }

    /// Commits: COMMIT, or RELEASE SAVEPOINT when nested.
    pub async fn commit(self) -> Result<(), Error> {
        self.end(true).await
    }

    /// Rolls back: ROLLBACK, or ROLLBACK TO SAVEPOINT when nested.
    pub async fn rollback(self) -> Result<(), Error> {
        self.end(false).await
    }

    async fn end(mut self, commit: bool) -> Result<(), Error> {
        let call = self.client.call(Some(self.scope), Request::command(Command::EndScope { commit }));
        let mut call = std::pin::pin!(call);
        // Once the end is queued, the engine finishes it even if this future is dropped.
        let r = std::future::poll_fn(|cx| {
            let r = call.as_mut().poll(cx);
            if call.id.is_some() || call.done {
                self.ended = true;
            }
            r
        })
        .await;
        self.ended = true;
        if self.depth == 1 {
            lock(&self.client.inner).open_gate();
        }
        r.map(drop)
    }
}

impl<R: Runtime> Drop for ClientTransaction<'_, R> {
    fn drop(&mut self) {
        let mut state = lock(&self.client.inner);
        if !self.ended {
            // The rollback is queued before anyone else's next statement, and written now if
            // the socket takes it, so that the server does not sit idle in the transaction.
            if let Some(driver) = state.driver.as_mut() {
                driver.engine.abandon_scope();
                let _ = driver.write_now();
            }
        }
        if self.depth == 1 {
            state.open_gate();
        }
    }
}

/// The query methods of [`Client`] and [`ClientTransaction`], written once.
macro_rules! query_methods {
    ($ty:ident) => {
        impl<R: Runtime> $ty<'_, R> {
            query_methods!(@methods);
        }
    };
    (@client) => {
        impl<R: Runtime> Client<R> {
            query_methods!(@methods);
        }
    };
    (@methods) => {
        /// Runs one or more `;`-separated statements with the simple query protocol; one
        /// [`ResultSet`] per statement, or the first error.
        pub async fn simple_query(&self, sql: &str) -> Result<Vec<ResultSet>, Error> {
            self.run(None, Request::simple(sql)).await?.into_batch()?.into_result()
        }

        /// Runs statements, discarding any rows.
        pub async fn batch_execute(&self, sql: &str) -> Result<(), Error> {
            self.run(None, Request::batch(sql)).await?.into_batch()?.into_result().map(drop)
        }

        /// Prepares a statement server-side (types inferred by the server).
        pub async fn prepare(&self, sql: &str) -> Result<Statement, Error> {
            self.prepare_typed(sql, &[]).await
        }

        /// Prepares a statement with the given parameter type OIDs (0 = inferred); parameter
        /// types pgsans does not know are looked up once (see [`Connection::prepare_typed`](crate::Connection::prepare_typed)).
        pub async fn prepare_typed(&self, sql: &str, types: &[u32]) -> Result<Statement, Error> {
            let stmt = self.run(None, Request::prepare(sql, types)).await?.into_statement()?;
            self.look_up_types(stmt.params()).await?;
            Ok(stmt)
        }

        /// What the connection knows of type `oid` (see [`Connection::type_info`](crate::Connection::type_info)).
        pub async fn type_info(&self, oid: u32) -> Result<std::sync::Arc<pgsans::types::Type>, Error> {
            self.look_up_types(&[oid]).await?;
            self.with_engine(|e| e.type_info(oid))
                .flatten()
                .ok_or_else(|| UsageError::InvalidArgument(format!("no type has OID {oid}")).into())
        }

        async fn look_up_types(&self, oids: &[u32]) -> Result<(), Error> {
            // While leased, the lease's holder has the engine: nothing is looked up.
            while let Some(request) = self.with_engine(|e| e.type_lookup_request(oids)).transpose()?.flatten() {
                let answer = self.run(None, request).await?;
                if !self.with_engine(|e| e.learn_lookup(answer)).transpose()?.unwrap_or(false) {
                    break;
                }
            }
            Ok(())
        }

        /// Runs a query with parameters and returns all its rows.
        pub async fn query<'q>(&self, query: impl Into<Query<'q>>, params: Params<'_>) -> Result<Vec<OwnedRow>, Error> {
            Ok(self.query_result(query, params).await?.rows)
        }

        /// Like `query`, with the columns and command tag.
        pub async fn query_result<'q>(&self, query: impl Into<Query<'q>>, params: Params<'_>) -> Result<QueryResult, Error> {
            let request = self.query_request(query, params, Mode::Collect)?;
            self.run(None, request).await?.into_query()
        }

        /// Exactly one row, or an error naming how many came back.
        pub async fn query_one<'q>(&self, query: impl Into<Query<'q>>, params: Params<'_>) -> Result<OwnedRow, Error> {
            let mut rows = self.query(query, params).await?;
            match (rows.pop(), rows.len()) {
                (Some(row), 0) => Ok(row),
                (last, n) => Err(UsageError::RowCount { expected: "exactly one", got: n + usize::from(last.is_some()) }.into()),
            }
        }

        /// Zero or one row; more is an error.
        pub async fn query_opt<'q>(&self, query: impl Into<Query<'q>>, params: Params<'_>) -> Result<Option<OwnedRow>, Error> {
            let mut rows = self.query(query, params).await?;
            match rows.len() {
                0 | 1 => Ok(rows.pop()),
                n => Err(UsageError::RowCount { expected: "at most one", got: n }.into()),
            }
        }

        /// Runs a query and builds a `T` from each row (a `#[derive(FromRow)]` struct, a tuple).
        pub async fn query_as<'q, T: for<'r> pgsans::FromRow<'r>>(&self, query: impl Into<Query<'q>>, params: Params<'_>) -> Result<Vec<T>, Error> {
            self.query(query, params).await?.iter().map(OwnedRow::decode).collect()
        }

        /// Exactly one row as a `T`, or an error naming how many came back.
        pub async fn query_one_as<'q, T: for<'r> pgsans::FromRow<'r>>(&self, query: impl Into<Query<'q>>, params: Params<'_>) -> Result<T, Error> {
            self.query_one(query, params).await?.decode()
        }

        /// Zero or one row as a `T`; more is an error.
        pub async fn query_opt_as<'q, T: for<'r> pgsans::FromRow<'r>>(&self, query: impl Into<Query<'q>>, params: Params<'_>) -> Result<Option<T>, Error> {
            self.query_opt(query, params).await?.map(|row| row.decode()).transpose()
        }

        /// Runs a statement and returns the number of rows it affected.
        pub async fn execute<'q>(&self, query: impl Into<Query<'q>>, params: Params<'_>) -> Result<u64, Error> {
            let request = self.query_request(query, params, Mode::Count)?;
            Ok(self.run(None, request).await?.into_query()?.rows_affected())
        }

        /// Sends every query of `pipeline` without waiting between them; one result per query.
        pub async fn pipeline(&self, pipeline: Pipeline) -> Result<Vec<Result<QueryResult, Error>>, Error> {
            if pipeline.is_empty() {
                return Ok(Vec::new());
            }
            self.run(None, Request::pipeline(pipeline)).await?.into_pipeline()
        }
    };
}

query_methods!(@client);
query_methods!(ClientTransaction);
