//! The connection, written once: every method a user calls, over any [`Runtime`].

use pgsans::SqlState;
use std::time::{Duration, Instant};

use pgsans::session::Command;
use pgsans::{
    Config, ConnectionStatus, Error, FromRow, LegacyIsolationLevel, Mode, Notice, NoticeHandler, Notification,
    OwnedRow, Params, Pipeline, Query, QueryResult, RecoveredXid, Request, RequestId, Response, ResultSet,
    SessionChange, Setting, SimpleBatch, Statement, TransactionStatus, UsageError, Xid,
};

use crate::cancel::CancelInFlight;
use crate::driver::Driver;
use crate::runtime::Runtime;

/// A connection to PostgreSQL on runtime `R`: psycopg2's `connection` (one conversation at a
/// time, `&mut self`; a transaction opened for you unless autocommit) with tokio-postgres'
/// query methods. Every method submits requests to the [`pgsans::Connection`] engine and lets
/// the [`Driver`] move bytes until their responses are there.
///
/// Dropping the future of any method is safe: its request is abandoned and the engine drains
/// what the server still sends for it; the connection stays usable.
pub struct Connection<R: Runtime> {
    pub(crate) driver: Driver<R>,
    /// How long a call may wait for its answer ([`set_call_timeout`](Self::set_call_timeout)).
    call_timeout: Option<Duration>,
    /// Whether a request dropped while the server runs it is cancelled on the server
    /// ([`set_cancel_on_drop`](Self::set_cancel_on_drop)).
    cancel_on_drop: bool,
    /// A request was dropped mid-flight: the next operation cancels what it left running.
    cancel_wanted: bool,
    /// A cancel request sent for abandoned work, kept here until the server has read it (see
    /// [`CancelInFlight`]), and until when the next request waits for that work to end.
    cancel: Option<CancelInFlight<R>>,
    settle_until: Option<Instant>,
}

/// How long a timed-out call waits for the server to confirm the cancel before it gives up
/// (the request is then abandoned and drained in the background).
const CANCEL_GRACE: Duration = Duration::from_secs(5);

impl<R: Runtime> std::fmt::Debug for Connection<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("driver", &self.driver).finish_non_exhaustive()
    }
}

/// A request being waited for: abandoned in the engine if this is dropped before its response
/// came (a dropped future, a timeout), so the connection stays usable.
struct Pending<'a, R: Runtime> {
    conn: &'a mut Connection<R>,
    id: RequestId,
    done: bool,
    /// Dropped before its response, it may leave work running on the server (a query; not a
    /// session command, which must run to its end, nor a wait for notifications).
    runs_on_server: bool,
}

impl<R: Runtime> Pending<'_, R> {
    async fn wait(&mut self, deadline: Option<Instant>) -> Result<Response, Error> {
        match self.wait_until(deadline).await {
            Err(Error::Timeout) => self.cancel_and_drain().await,
            other => other,
        }
    }

    async fn wait_until(&mut self, deadline: Option<Instant>) -> Result<Response, Error> {
        let id = self.id;
        let r = self.conn.driver.until(deadline, move |e| e.take_response(id)).await;
        if !matches!(r, Err(Error::Timeout)) {
            // The response, or the engine's error (which failed the request too).
            self.done = true;
        }
        r
    }

    /// The deadline passed: ask the server to cancel the request and wait (a little) for it
    /// to end, so that the next call does not wait behind it. [`Error::Timeout`] — or the
    /// request's own result, if it finished first (its work was done).
    async fn cancel_and_drain(&mut self) -> Result<Response, Error> {
        let grace = self.conn.start_cancel();
        // Dropped meanwhile, the cancel stays with the connection, which finishes it first.
        self.conn.finish_cancel().await;
        match self.wait_until(Some(grace)).await {
            // A simple query reports its statement's error inside the batch.
            Ok(Response::Batch(b)) if b.error.as_ref().is_some_and(|e| e.code() == SqlState::QUERY_CANCELED) => {
                Err(Error::Timeout)
            }
            Ok(response) => Ok(response),
            Err(e) if e.code() == Some(SqlState::QUERY_CANCELED) => Err(Error::Timeout),
            // Still not answered: the request is abandoned (drained later) when `self` drops.
            Err(Error::Timeout) => Err(Error::Timeout),
            Err(e) => Err(e),
        }
    }
}

impl<R: Runtime> Drop for Pending<'_, R> {
    fn drop(&mut self) {
        if !self.done {
            self.conn.driver.engine.abandon(self.id);
            if self.runs_on_server {
                self.conn.abandoned_mid_flight();
            }
        }
    }
}

impl<R: Runtime> Connection<R> {
    /// Connects with a libpq connection string or `postgresql://` URL, completed from the `PG*`
    /// environment variables and `.pgpass` like libpq. Hosts are tried in order, each within
    /// `connect_timeout`.
    pub async fn connect(conninfo: &str) -> Result<Self, Error> {
        Self::connect_with(&crate::load::load(conninfo)?).await
    }

    /// Connects with a ready configuration (nothing is read from the environment; the files it
    /// names — `.pgpass`, certificates — are read now, as libpq reads them at each connect).
    ///
    /// Hosts are tried as libpq tries them ([`pgsans::config::ConnectPlan`]): in order or
    /// shuffled (`load_balance_hosts=random`), each within `connect_timeout`, on to the next
    /// host when one cannot be reached or is not the kind `target_session_attrs` asks for; a
    /// server that refuses the session ends the attempt.
    pub async fn connect_with(config: &Config) -> Result<Self, Error> {
        Ok(Self::from_driver(Driver::connect(config).await?, config))
    }

    /// A connection over a connected driver, with `config`'s client settings.
    pub fn from_driver(driver: Driver<R>, config: &Config) -> Self {
        Connection {
            driver,
            call_timeout: None,
            cancel_on_drop: config.cancel_on_drop_value(),
            cancel_wanted: false,
            cancel: None,
            settle_until: None,
        }
    }

    /// The driver underneath, taken out (what the connection knew of a cancel in flight for
    /// abandoned work is dropped: that work is drained instead).
    pub fn into_driver(self) -> Driver<R> {
        self.driver
    }

    /// The driver underneath.
    pub fn driver(&mut self) -> &mut Driver<R> {
        &mut self.driver
    }

    /// Submits `request` and waits for its response.
    pub async fn run(&mut self, request: Request) -> Result<Response, Error> {
        self.run_until(request, None).await
    }

    /// Submits `request` and waits for its response until `deadline`: then the server is asked
    /// to cancel it and [`Error::Timeout`] is returned, the connection usable (see
    /// [`set_call_timeout`](Self::set_call_timeout)).
    pub async fn run_until(&mut self, request: Request, deadline: Option<Instant>) -> Result<Response, Error> {
        let trace = crate::trace::Traced::request(&self.driver.engine, &request);
        let result = self.run_traced(request, deadline).await;
        trace.finish(&result);
        result
    }

    async fn run_traced(&mut self, request: Request, deadline: Option<Instant>) -> Result<Response, Error> {
        let runs_on_server = request.runs_on_server();
        let id = self.submit(request).await?;
        let deadline = deadline.or_else(|| self.call_timeout.map(|t| Instant::now() + t));
        Pending { conn: self, id, done: false, runs_on_server }.wait(deadline).await
    }

    /// Waits for the response of a request submitted to the engine, until `deadline` or the
    /// call timeout.
    pub(crate) async fn wait(&mut self, id: RequestId, deadline: Option<Instant>) -> Result<Response, Error> {
        self.wait_for(id, deadline, true).await
    }

    /// [`wait`](Self::wait), saying whether the request, dropped, may leave work running on
    /// the server.
    pub(crate) async fn wait_for(
        &mut self,
        id: RequestId,
        deadline: Option<Instant>,
        runs_on_server: bool,
    ) -> Result<Response, Error> {
        let deadline = deadline.or_else(|| self.call_timeout.map(|t| Instant::now() + t));
        Pending { conn: self, id, done: false, runs_on_server }.wait(deadline).await
    }

    /// Submits `request` to the engine, first cancelling on the server what a dropped request
    /// left running there (see [`set_cancel_on_drop`](Self::set_cancel_on_drop)).
    pub(crate) async fn submit(&mut self, request: Request) -> Result<RequestId, Error> {
        if (self.cancel_wanted || self.cancel.is_some() || self.settle_until.is_some()) && self.driver.engine.is_ready()
        {
            self.settle().await?;
        }
        if let Some(types) = request.retyped_params() {
            // Values for domain parameters: the domains must be known to check them.
            Box::pin(self.look_up_types(&types)).await?;
        }
        self.driver.engine.submit(request)
    }

    /// The deadline of one step of a row stream or a COPY (the next row, the next chunk,
    /// room to write): the call timeout from now.
    pub(crate) fn step_deadline(&self) -> Option<Instant> {
        self.call_timeout.map(|t| Instant::now() + t)
    }

    /// A step of request `id` (a row stream, a COPY) outlived the call timeout: the request is
    /// abandoned (the engine drains what comes) and the server is asked to cancel it before
    /// the next call on this connection. [`Error::Timeout`].
    pub(crate) fn step_timed_out(&mut self, id: RequestId) -> Error {
        self.driver.engine.abandon(id);
        self.cancel_wanted |= self.driver.engine.is_ready();
        Error::Timeout
    }

    /// A request was dropped before its response (a dropped future or stream, a timeout).
    pub(crate) fn abandoned_mid_flight(&mut self) {
        self.cancel_wanted |= self.cancel_on_drop && self.driver.engine.is_ready();
    }

    /// Sends a cancel request for this connection's running work (kept in the connection until
    /// the server has read it); the deadline for that work to end.
    fn start_cancel(&mut self) -> Instant {
        let grace = Instant::now() + CANCEL_GRACE;
        if self.cancel.is_none() {
            if let Ok(key) = self.driver.engine.cancel_key() {
                self.cancel = Some(CancelInFlight::start(key, self.driver.target.clone(), grace));
            }
        }
        self.settle_until = Some(grace);
        grace
    }

    /// Waits until the cancel request in flight, if any, has been read by the server (or has
    /// failed: then the work it was for simply runs to its end).
    async fn finish_cancel(&mut self) {
        if let Some(cancel) = &mut self.cancel {
            let _ = std::future::poll_fn(|cx| cancel.poll(cx)).await;
            self.cancel = None;
        }
    }

    /// Cancels what abandoned requests still run on the server and waits (a little) until it
    /// has ended, so the next request does not queue behind it — psycopg 3 cancels an
    /// interrupted query the same way. Only abandoned work can be hit: nothing is sent while
    /// the server may still be on it, and nothing is done while a dropped session command is
    /// in flight (a cancel must not turn its COMMIT into a rollback). Every step's state lives
    /// in the connection, so a caller dropped in the middle leaves nothing half done: the
    /// next call finishes it.
    pub(crate) async fn settle(&mut self) -> Result<(), Error> {
        if std::mem::take(&mut self.cancel_wanted) {
            self.read_now()?;
            self.driver.engine.poll()?;
            if self.driver.engine.abandoned_work_in_flight() {
                self.start_cancel();
            }
        }
        self.finish_cancel().await;
        if let Some(until) = self.settle_until {
            match self.driver.until(Some(until), |e| (!e.abandoned_work_in_flight()).then_some(Ok(()))).await {
                // Still running at the deadline: the next request queues behind it.
                Ok(()) | Err(Error::Timeout) => self.settle_until = None,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Whether a request dropped while the server still runs it is cancelled there (a cancel
    /// request on a second connection, sent before the next request), so that the connection
    /// is free again in milliseconds instead of after the abandoned query ends. On by
    /// default; also [`Config::cancel_on_drop`]. In a transaction block the cancelled
    /// statement aborts the transaction, as `statement_timeout` would; with this off, the
    /// abandoned statement runs to its end and the next request waits behind it.
    pub fn set_cancel_on_drop(&mut self, on: bool) {
        self.cancel_on_drop = on;
        if !on {
            self.cancel_wanted = false;
        }
    }

    /// How many notifications to keep until taken (default 10,000); beyond it the oldest are
    /// dropped and counted ([`notifications_dropped`](Self::notifications_dropped)).
    pub fn set_notification_limit(&mut self, limit: usize) {
        self.driver.engine.set_notification_limit(limit);
    }

    /// Notifications dropped because nobody took them before the queue was full.
    pub fn notifications_dropped(&self) -> u64 {
        self.driver.engine.notifications_dropped()
    }

    /// Limits how long each call waits for the server (queries, commands, pipelines,
    /// prepares, the end of a COPY). When it passes, a cancel request is sent, the call waits
    /// up to 5 s more for the server to stop, and returns [`Error::Timeout`]; the connection
    /// stays usable and the next call does not wait behind the cancelled one. Each step of a
    /// row stream or a COPY (the next row or chunk, the server's go-ahead, room to write) is
    /// bounded the same way: past it the stream or COPY ends with [`Error::Timeout`] and the
    /// server is asked to cancel it before the next call. In a transaction block the cancelled statement aborts the
    /// transaction, as `statement_timeout` would. `None` (the default): no limit.
    pub fn set_call_timeout(&mut self, timeout: Option<Duration>) {
        self.call_timeout = timeout;
    }

    /// Writes what the socket takes now, without waiting.
    pub(crate) fn write_now(&mut self) -> Result<(), Error> {
        self.driver.write_now()
    }

    /// Reads what has arrived, without waiting.
    pub(crate) fn read_now(&mut self) -> Result<(), Error> {
        self.driver.read_now()
    }

    async fn command(&mut self, command: Command) -> Result<Response, Error> {
        self.run(Request::command(command)).await
    }

    // ----- queries ----------------------------------------------------------------------

    /// Runs one or more `;`-separated statements with the simple query protocol and returns
    /// one [`ResultSet`] per statement, or the first error. Outside autocommit mode a
    /// transaction is opened first if none is (psycopg2's behaviour).
    pub async fn simple_query(&mut self, sql: &str) -> Result<Vec<ResultSet>, Error> {
        self.simple_query_batch(sql).await?.into_result()
    }

    /// Like `simple_query`, but the results of the statements before a failing one come back
    /// together with its error.
    pub async fn simple_query_batch(&mut self, sql: &str) -> Result<SimpleBatch, Error> {
        self.run(Request::simple(sql)).await?.into_batch()
    }

    /// Runs statements, discarding any rows (tokio-postgres' `batch_execute`).
    pub async fn batch_execute(&mut self, sql: &str) -> Result<(), Error> {
        self.run(Request::batch(sql)).await?.into_batch()?.into_result().map(drop)
    }

    /// Prepares a statement server-side (types inferred by the server).
    pub async fn prepare(&mut self, sql: &str) -> Result<Statement, Error> {
        self.prepare_typed(sql, &[]).await
    }

    /// Prepares a statement with the given parameter type OIDs (0 = inferred). Parameter
    /// types pgsans does not know are looked up once in `pg_catalog` (a domain then takes
    /// values of its base type).
    pub async fn prepare_typed(&mut self, sql: &str, types: &[u32]) -> Result<Statement, Error> {
        let stmt = self.run(Request::prepare(sql, types)).await?.into_statement()?;
        self.look_up_types(stmt.params()).await?;
        Ok(stmt)
    }

    /// What the connection knows of type `oid`: built in, or looked up in `pg_catalog` once
    /// (and again after this session changes its schema). Never opens a transaction. What
    /// another session changes (`ALTER TYPE … ADD VALUE` elsewhere) is seen after this
    /// session's next schema change or on a new connection; what pgsans relies on itself — a
    /// domain's base type — cannot change under it.
    pub async fn type_info(&mut self, oid: u32) -> Result<std::sync::Arc<pgsans::types::Type>, Error> {
        self.look_up_types(&[oid]).await?;
        self.driver
            .engine
            .type_info(oid)
            .ok_or_else(|| UsageError::InvalidArgument(format!("no type has OID {oid}")).into())
    }

    async fn look_up_types(&mut self, oids: &[u32]) -> Result<(), Error> {
        while let Some(request) = self.driver.engine.type_lookup_request(oids)? {
            let answer = self.run(request).await?;
            if !self.driver.engine.learn_lookup(answer)? {
                break;
            }
        }
        Ok(())
    }

    /// Runs a query with parameters (`$1`, `$2` …) and returns all its rows. SQL text is
    /// described once and cached; see [`set_prepare_threshold`](Self::set_prepare_threshold).
    pub async fn query<'q>(&mut self, query: impl Into<Query<'q>>, params: Params<'_>) -> Result<Vec<OwnedRow>, Error> {
        Ok(self.query_result(query, params).await?.rows)
    }

    /// Like `query`, with the columns and command tag.
    pub async fn query_result<'q>(
        &mut self,
        query: impl Into<Query<'q>>,
        params: Params<'_>,
    ) -> Result<QueryResult, Error> {
        let request = self.driver.engine.query_request(query, params, Mode::Collect)?;
        self.run(request).await?.into_query()
    }

    /// Exactly one row, or an error naming how many came back.
    pub async fn query_one<'q>(&mut self, query: impl Into<Query<'q>>, params: Params<'_>) -> Result<OwnedRow, Error> {
        let mut rows = self.query(query, params).await?;
        match (rows.pop(), rows.len()) {
            (Some(row), 0) => Ok(row),
            (last, n) => {
                Err(UsageError::RowCount { expected: "exactly one", got: n + usize::from(last.is_some()) }.into())
            }
        }
    }

    /// Zero or one row; more is an error.
    pub async fn query_opt<'q>(
        &mut self,
        query: impl Into<Query<'q>>,
        params: Params<'_>,
    ) -> Result<Option<OwnedRow>, Error> {
        let mut rows = self.query(query, params).await?;
        match rows.len() {
            0 | 1 => Ok(rows.pop()),
            n => Err(UsageError::RowCount { expected: "at most one", got: n }.into()),
        }
    }

    /// Runs a query and builds a `T` from each row (a `#[derive(FromRow)]` struct, a tuple),
    /// straight from the receive buffer: no intermediate row is kept. The first row that does
    /// not fit `T` is the error (the rest of the result is drained).
    pub async fn query_as<'q, T: for<'r> FromRow<'r>>(
        &mut self,
        query: impl Into<Query<'q>>,
        params: Params<'_>,
    ) -> Result<Vec<T>, Error> {
        let mut stream = self.query_raw(query, params).await?;
        let mut out = Vec::new();
        while let Some(row) = stream.next().await? {
            out.push(T::from_row(&row)?);
        }
        Ok(out)
    }

    /// Exactly one row as a `T`, or an error naming how many came back.
    pub async fn query_one_as<'q, T: for<'r> FromRow<'r>>(
        &mut self,
        query: impl Into<Query<'q>>,
        params: Params<'_>,
    ) -> Result<T, Error> {
        self.query_one(query, params).await?.decode()
    }

    /// Zero or one row as a `T`; more is an error.
    pub async fn query_opt_as<'q, T: for<'r> FromRow<'r>>(
        &mut self,
        query: impl Into<Query<'q>>,
        params: Params<'_>,
    ) -> Result<Option<T>, Error> {
        self.query_opt(query, params).await?.map(|row| row.decode()).transpose()
    }

    /// Runs a statement and returns the number of rows it affected (rows are not kept).
    pub async fn execute<'q>(&mut self, query: impl Into<Query<'q>>, params: Params<'_>) -> Result<u64, Error> {
        let request = self.driver.engine.query_request(query, params, Mode::Count)?;
        Ok(self.run(request).await?.into_query()?.rows_affected())
    }

    /// Sends every query of `pipeline` without waiting between them and returns one result
    /// per query, in order (an error aborts the rest of its Sync group:
    /// [`Error::PipelineAborted`]). The outer error is for misuse and broken connections.
    pub async fn pipeline(&mut self, pipeline: Pipeline) -> Result<Vec<Result<QueryResult, Error>>, Error> {
        if pipeline.is_empty() {
            return Ok(Vec::new());
        }
        self.run(Request::pipeline(pipeline)).await?.into_pipeline()
    }

    // ----- transactions and the session ------------------------------------------------

    /// Commits the current transaction (nothing to do if none is open). A misuse error
    /// during a two-phase transaction or inside a transaction scope.
    pub async fn commit(&mut self) -> Result<(), Error> {
        self.command(Command::Commit).await.map(drop)
    }

    /// Rolls back the current transaction (nothing to do if none is open).
    pub async fn rollback(&mut self) -> Result<(), Error> {
        self.command(Command::Rollback).await.map(drop)
    }

    /// psycopg2's `set_session`: isolation level, read-only, deferrable, autocommit.
    /// A misuse error inside a transaction, changing nothing.
    pub async fn set_session(&mut self, change: SessionChange) -> Result<(), Error> {
        self.command(Command::SetSession(change)).await.map(drop)
    }

    /// Switches autocommit mode (only between transactions).
    pub async fn set_autocommit(&mut self, on: bool) -> Result<(), Error> {
        self.set_session(SessionChange::new().autocommit(on)).await
    }

    /// psycopg2's legacy `set_isolation_level`: rolls back an open transaction, then sets the
    /// level (`None`: the server default) with autocommit off — or, with
    /// [`LegacyIsolationLevel::Autocommit`] (psycopg2's `ISOLATION_LEVEL_AUTOCOMMIT`), turns
    /// autocommit on. Takes an `IsolationLevel`, an `Option<IsolationLevel>` or a
    /// [`LegacyIsolationLevel`] (`LegacyIsolationLevel::from_psycopg2` reads psycopg2's integers).
    pub async fn set_isolation_level(&mut self, level: impl Into<LegacyIsolationLevel>) -> Result<(), Error> {
        self.command(Command::SetIsolationLevel(level.into())).await.map(drop)
    }

    /// Sets read-only; `None` restores the server default.
    pub async fn set_read_only(&mut self, on: Option<bool>) -> Result<(), Error> {
        self.set_session(SessionChange::new().read_only(on.map_or(Setting::Default, Setting::Value))).await
    }

    /// Sets deferrable; `None` restores the server default.
    pub async fn set_deferrable(&mut self, on: Option<bool>) -> Result<(), Error> {
        self.set_session(SessionChange::new().deferrable(on.map_or(Setting::Default, Setting::Value))).await
    }

    /// Opens a transaction scope without a guard (what [`transaction`](Self::transaction) does
    /// first); end it with [`end_scope`](Self::end_scope).
    pub async fn begin_scope(&mut self) -> Result<(), Error> {
        self.command(Command::BeginScope).await.map(drop)
    }

    /// Ends the innermost transaction scope: COMMIT / RELEASE SAVEPOINT, or the rollback.
    pub async fn end_scope(&mut self, commit: bool) -> Result<(), Error> {
        self.command(Command::EndScope { commit }).await.map(drop)
    }

    /// Starts a two-phase transaction (not in autocommit mode, not inside a transaction).
    pub async fn tpc_begin(&mut self, xid: Xid) -> Result<(), Error> {
        self.command(Command::TpcBegin(xid)).await.map(drop)
    }

    /// `PREPARE TRANSACTION`: afterwards only `tpc_commit` / `tpc_rollback` are allowed.
    pub async fn tpc_prepare(&mut self) -> Result<(), Error> {
        self.command(Command::TpcPrepare).await.map(drop)
    }

    /// Commits the current two-phase transaction (`None`; one-phase if not prepared), or a
    /// prepared one found by recovery (`Some(xid)`, outside a transaction).
    pub async fn tpc_commit(&mut self, xid: Option<&Xid>) -> Result<(), Error> {
        self.command(Command::TpcCommit(xid.cloned())).await.map(drop)
    }

    /// Rolls back the current two-phase transaction, or a recovered one.
    pub async fn tpc_rollback(&mut self, xid: Option<&Xid>) -> Result<(), Error> {
        self.command(Command::TpcRollback(xid.cloned())).await.map(drop)
    }

    /// The prepared transactions on the server, leaving the connection's status unchanged.
    pub async fn tpc_recover(&mut self) -> Result<Vec<RecoveredXid>, Error> {
        self.command(Command::TpcRecover).await?.into_recovered()
    }

    /// Aborts any transaction, `DISCARD ALL`, and restores the default session
    /// characteristics. A prepared two-phase transaction stays on the server.
    pub async fn reset(&mut self) -> Result<(), Error> {
        self.command(Command::Reset).await.map(drop)
    }

    /// `SET client_encoding`: SQL and text are then sent and read in that encoding.
    pub async fn set_client_encoding(&mut self, encoding: &str) -> Result<(), Error> {
        self.command(Command::SetClientEncoding(encoding.to_owned())).await.map(drop)
    }

    /// Waits, while idle, for notifications (LISTEN / NOTIFY); returns those already
    /// received at once. `None` waits forever; `Some(Duration::ZERO)` returns what has
    /// arrived by now, on the socket included (psycopg's `notifies(timeout=0)`); on timeout the
    /// result is empty and the connection usable.
    pub async fn wait_for_notifications(&mut self, timeout: Option<Duration>) -> Result<Vec<Notification>, Error> {
        self.await_notification(timeout).await?;
        Ok(self.driver.engine.take_notifications())
    }

    /// The next notification, waiting for it while idle (`None` timeout: forever); `Ok(None)`
    /// when the timeout passes first. The others received with it stay queued.
    pub async fn next_notification(&mut self, timeout: Option<Duration>) -> Result<Option<Notification>, Error> {
        self.await_notification(timeout).await?;
        Ok(self.driver.engine.take_notification())
    }

    /// Waits until a notification is queued in the engine, or the timeout passes.
    async fn await_notification(&mut self, timeout: Option<Duration>) -> Result<(), Error> {
        if self.driver.engine.notifications().next().is_some() {
            return Ok(());
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        let id = self.submit(Request::wait_notifications()).await?;
        // Nothing runs on the server: a timeout here has nothing to cancel.
        match (Pending { conn: self, id, done: false, runs_on_server: false }).wait_until(deadline).await {
            Ok(_) | Err(Error::Timeout) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The notifications as they arrive, while the connection is otherwise idle, as a
    /// [`Stream`](futures_lite::Stream) (`StreamExt` works). It ends only if the connection
    /// breaks: stop polling it, or drop it, to use the connection again. Notifications it has
    /// not handed out when dropped stay queued for the next call.
    pub fn notifications(&mut self) -> impl futures_lite::Stream<Item = Result<Notification, Error>> + '_ {
        futures_lite::stream::unfold(Some(self), |conn| async move {
            let conn = conn?;
            loop {
                match conn.next_notification(None).await {
                    Ok(Some(n)) => return Some((Ok(n), Some(conn))),
                    Ok(None) => continue,
                    // A broken connection ends the stream after its error.
                    Err(e) if e.is_fatal() => return Some((Err(e), None)),
                    Err(e) => return Some((Err(e), Some(conn))),
                }
            }
        })
    }

    /// See [`pgsans::Connection::set_notification_handler`]: a callback for every
    /// notification as it arrives, during any operation.
    pub fn set_notification_handler(&mut self, handler: Option<pgsans::NotificationHandler>) {
        self.driver.engine.set_notification_handler(handler)
    }

    /// Sends Terminate and closes the socket. Idempotent; later operations fail with
    /// [`Error::Closed`]. On a broken connection it only closes the socket (`closed()` is
    /// then 1, as in psycopg2).
    pub async fn close(&mut self) -> Result<(), Error> {
        self.driver.close().await
    }

    // ----- settings and getters ----------------------------------------------------------

    /// See [`pgsans::Connection::set_prepare_threshold`].
    pub fn set_prepare_threshold(&mut self, threshold: Option<usize>) {
        self.driver.engine.set_prepare_threshold(threshold)
    }

    /// See [`pgsans::Connection::set_statement_cache_capacity`].
    pub fn set_statement_cache_capacity(&mut self, capacity: usize) {
        self.driver.engine.set_statement_cache_capacity(capacity)
    }

    /// Changes how long this connection spins for an answer before waiting
    /// ([`Config::spin_wait`]); zero turns spinning off.
    pub fn set_spin_wait(&mut self, limit: Duration) {
        self.driver.spin.set_limit(limit);
    }

    /// Takes the notices received so far (oldest first).
    pub fn take_notices(&mut self) -> Vec<Notice> {
        self.driver.engine.take_notices()
    }

    /// Takes the notifications received so far (oldest first).
    pub fn take_notifications(&mut self) -> Vec<Notification> {
        self.driver.engine.take_notifications()
    }

    /// How many notices to keep (default 50); older ones are dropped first.
    pub fn set_notice_limit(&mut self, limit: usize) {
        self.driver.engine.set_notice_limit(limit)
    }

    /// Sends every notice to `handler` instead of keeping them.
    pub fn set_notice_handler(&mut self, handler: Option<NoticeHandler>) {
        self.driver.engine.set_notice_handler(handler)
    }

    /// The engine, for every other getter.
    pub fn engine(&self) -> &pgsans::Connection {
        &self.driver.engine
    }

    /// The runtime's socket (for runtime-specific settings, such as the blocking client's wait
    /// callback).
    pub fn socket(&self) -> &R::Socket {
        &self.driver.socket
    }

    /// The runtime's socket, mutably.
    pub fn socket_mut(&mut self) -> &mut R::Socket {
        &mut self.driver.socket
    }

    /// psycopg2's `status`: READY, BEGIN or PREPARED.
    pub fn status(&self) -> ConnectionStatus {
        self.driver.engine.connection_status()
    }

    /// `PQtransactionStatus`.
    pub fn transaction_status(&self) -> TransactionStatus {
        self.driver.engine.transaction_status()
    }

    /// Whether each statement commits by itself.
    pub fn autocommit(&self) -> bool {
        self.driver.engine.autocommit()
    }

    /// psycopg2's `closed`: 0 open, 1 closed (by `close()`, even after the connection broke),
    /// 2 broken (and not yet closed).
    pub fn closed(&self) -> u8 {
        self.driver.engine.closed()
    }

    /// psycopg 3's `broken`: the connection was lost (server gone, protocol or socket error),
    /// and stays so after `close()` — unlike `closed()`, which then says 1.
    pub fn is_broken(&self) -> bool {
        self.driver.engine.is_broken()
    }

    /// `server_version` as libpq computes it (15.4 → 150004).
    pub fn server_version(&self) -> i32 {
        self.driver.engine.server_version()
    }

    /// The backend's process id.
    pub fn backend_pid(&self) -> i32 {
        self.driver.engine.backend_pid()
    }

    /// The last value the server reported for a run-time parameter.
    pub fn parameter_status(&self, name: &str) -> Option<&str> {
        self.driver.engine.parameter_status(name)
    }

    /// psycopg2's `dsn`: the connection string, the password shown as `xxx`.
    pub fn dsn(&self) -> &str {
        self.driver.engine.dsn()
    }
}
