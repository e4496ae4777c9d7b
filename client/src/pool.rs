//! A connection pool for every transport, that never hands out a connection still inside a
//! transaction, a COPY or a result.
//!
//! What a returned connection needs is read from its engine, never assumed: the moment it comes
//! back (the guard's drop, which cannot wait) a ROLLBACK is queued behind whatever its user
//! left running and written at once, so the server ends the transaction as soon as it gets
//! there; a broken connection is discarded. Before it is handed out again, what was left is
//! finished — abandoned requests drained (and cancelled on the server, see
//! [`Connection::set_cancel_on_drop`]), the ROLLBACK's answer read — within
//! [`recycle_timeout`](PoolOptions::recycle_timeout), else the connection is discarded.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use event_listener::Event;
use pgsans::{ClosedReason, Config, Error, Request, TransactionStatus, UsageError};

use crate::connection::Connection;
use crate::runtime::Runtime;

/// How a pool sizes, ages and checks its connections.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolOptions {
    /// The most connections open at once (in use, idle, or being opened). Default 10.
    pub max_size: usize,
    /// Connections [`Pool::maintain`] keeps open even when idle. Default 0.
    pub min_idle: usize,
    /// How long [`Pool::get`] waits for a connection (`None`: for ever). Default 30 s; then
    /// [`Error::Timeout`].
    pub acquire_timeout: Option<Duration>,
    /// Connections older than this are closed instead of reused. Default 30 min.
    pub max_lifetime: Option<Duration>,
    /// Connections idle longer than this are closed instead of reused. Default 10 min.
    pub idle_timeout: Option<Duration>,
    /// When a connection is checked by a round trip before it is handed out.
    pub health_check: HealthCheck,
    /// What is done to a returned connection beyond ending its transaction.
    pub recycle: Recycle,
    /// How long a checkout waits for what a returned connection's user left running to end
    /// (a dropped query, a stream dropped mid-result) before it discards the connection and
    /// takes another. Default 5 s.
    pub recycle_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            max_size: 10,
            min_idle: 0,
            acquire_timeout: Some(Duration::from_secs(30)),
            max_lifetime: Some(Duration::from_secs(30 * 60)),
            idle_timeout: Some(Duration::from_secs(10 * 60)),
            health_check: HealthCheck::IdleFor(Duration::from_secs(30)),
            recycle: Recycle::Rollback,
            recycle_timeout: Duration::from_secs(5),
        }
    }
}

/// When the pool checks a connection with a round trip (an empty query) before handing it out.
/// A connection the engine knows to be broken is never handed out, checked or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthCheck {
    /// Never: the engine's own state only.
    Never,
    /// At every checkout.
    Always,
    /// When it has been idle at least this long (the server may have closed it meanwhile).
    IdleFor(Duration),
}

/// What is done to a returned connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recycle {
    /// End its transaction (ROLLBACK) and drain what its user left; session settings stay.
    Rollback,
    /// That, then [`Connection::reset`]: `DISCARD ALL` and the default session
    /// characteristics, so the next user sees a fresh session (prepared statements, temporary
    /// tables, `SET`s and `LISTEN`s gone). One round trip more per checkout.
    Reset,
}

/// What a pool has done and holds, at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// Connections open or being opened.
    pub size: usize,
    /// Of those, idle in the pool.
    pub idle: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
    /// Connections handed out, ever.
    pub acquired: u64,
    /// Connections opened, ever.
    pub opened: u64,
    /// Connections closed (broken, expired, failed a check, or not recyclable in time).
    pub closed: u64,
    /// Connections given back inside a transaction (or with one about to open), rolled back.
    pub rolled_back: u64,
    /// Calls to [`Pool::get`] that timed out.
    pub timeouts: u64,
}

/// What a pool holds: a connection of runtime `R`, or something wrapping one (the blocking
/// client's connection).
pub trait PoolItem<R: Runtime>: Send + Sized + 'static {
    /// Opens one.
    fn open(config: &Config) -> impl Future<Output = Result<Self, Error>> + Send;
    /// The connection inside.
    fn connection(&mut self) -> &mut Connection<R>;
}

impl<R: Runtime> PoolItem<R> for Connection<R> {
    fn open(config: &Config) -> impl Future<Output = Result<Self, Error>> + Send {
        Connection::connect_with(config)
    }
    fn connection(&mut self) -> &mut Connection<R> {
        self
    }
}

/// A pool of connections (`Clone`: clones share it). [`get`](Self::get) hands out a
/// [`PooledConnection`]; dropping it gives the connection back.
pub struct Pool<R: Runtime, C: PoolItem<R> = Connection<R>> {
    inner: Arc<Inner<R, C>>,
}

impl<R: Runtime, C: PoolItem<R>> Clone for Pool<R, C> {
    fn clone(&self) -> Self {
        Pool { inner: self.inner.clone() }
    }
}

impl<R: Runtime, C: PoolItem<R>> std::fmt::Debug for Pool<R, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("options", &self.inner.options).field("stats", &self.stats()).finish()
    }
}

struct Inner<R: Runtime, C> {
    config: Config,
    options: PoolOptions,
    state: Mutex<State<C>>,
    /// Notified when a connection comes back or a slot frees up.
    released: Event,
    _runtime: PhantomData<fn() -> R>,
}

struct State<C> {
    idle: Vec<Idle<C>>,
    /// Connections open or being opened.
    size: usize,
    stats: PoolStats,
    closed: bool,
}

struct Idle<C> {
    conn: C,
    created: Instant,
    since: Instant,
}

impl<R: Runtime, C> Inner<R, C> {
    fn lock(&self) -> MutexGuard<'_, State<C>> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn expired(&self, created: Instant, since: Instant, now: Instant) -> bool {
        self.options.max_lifetime.is_some_and(|t| now.duration_since(created) >= t)
            || self.options.idle_timeout.is_some_and(|t| now.duration_since(since) >= t)
    }

    /// A connection (or a slot being opened) is gone.
    fn forget(&self, closed: bool) {
        let mut state = self.lock();
        state.size -= 1;
        if closed {
            state.stats.closed += 1;
        }
        drop(state);
        self.released.notify(1);
    }
}

/// A connection slot reserved for opening; freed if the opening fails or is dropped.
struct Slot<'p, R: Runtime, C> {
    inner: &'p Inner<R, C>,
    armed: bool,
}

impl<R: Runtime, C> Drop for Slot<'_, R, C> {
    fn drop(&mut self) {
        if self.armed {
            self.inner.forget(false);
        }
    }
}

/// A counted waiter; uncounted when dropped.
struct Waiting<'p, R: Runtime, C>(&'p Inner<R, C>);

impl<R: Runtime, C> Drop for Waiting<'_, R, C> {
    fn drop(&mut self) {
        self.0.lock().stats.waiting -= 1;
    }
}

enum Step<C> {
    Reuse(Idle<C>),
    Open,
    Wait,
}

impl<R: Runtime, C: PoolItem<R>> Pool<R, C> {
    /// A pool of connections made with `config` (the files it names are read at each connect).
    /// Nothing is opened until needed, or until [`maintain`](Self::maintain).
    pub fn new(config: Config, options: PoolOptions) -> Self {
        Pool {
            inner: Arc::new(Inner {
                config,
                options,
                state: Mutex::new(State { idle: Vec::new(), size: 0, stats: PoolStats::default(), closed: false }),
                released: Event::new(),
                _runtime: PhantomData,
            }),
        }
    }

    /// A pool for a libpq connection string or URL (completed from the environment like libpq).
    pub fn connect(conninfo: &str, options: PoolOptions) -> Result<Self, Error> {
        Ok(Self::new(crate::load::load(conninfo)?, options))
    }

    /// The options it was made with.
    pub fn options(&self) -> &PoolOptions {
        &self.inner.options
    }

    /// What it holds and has done.
    pub fn stats(&self) -> PoolStats {
        let state = self.inner.lock();
        PoolStats { size: state.size, idle: state.idle.len(), ..state.stats.clone() }
    }

    /// A connection: an idle one made ready (see the module docs), a new one while fewer than
    /// `max_size` are open, else the next one given back — waiting at most `acquire_timeout`
    /// ([`Error::Timeout`]). Dropping this future at any point loses nothing: a connection it
    /// was making ready goes back to the pool.
    pub async fn get(&self) -> Result<PooledConnection<R, C>, Error> {
        let inner = &*self.inner;
        let deadline = inner.options.acquire_timeout.map(|t| Instant::now() + t);
        loop {
            let (step, expired) = self.next_step();
            drop(expired);
            match step? {
                Step::Reuse(idle) => {
                    let mut back = GiveBack { pool: self, conn: Some(idle.conn), created: idle.created };
                    let idle_for = idle.since.elapsed();
                    let ready = match back.conn.as_mut() {
                        Some(conn) => {
                            let ready = self.make_ready(conn.connection(), idle_for);
                            match deadline {
                                // The acquire timeout holds while a connection is made ready
                                // too; then it stays in the pool (the guard gives it back)
                                // and finishes draining with its next user.
                                Some(d) => futures_lite::future::or(async { Some(ready.await) }, async {
                                    R::sleep_until(d).await;
                                    None
                                })
                                .await
                                .unwrap_or(Err(Error::Timeout)),
                                None => ready.await,
                            }
                        }
                        None => Err(Error::Internal("no connection to make ready".into())),
                    };
                    if matches!(ready, Err(Error::Timeout)) && deadline.is_some_and(|d| Instant::now() >= d) {
                        inner.lock().stats.timeouts += 1;
                        return Err(Error::Timeout);
                    }
                    let conn = back.conn.take();
                    match (ready, conn) {
                        (Ok(()), Some(conn)) => return Ok(self.hand_out(conn, idle.created)),
                        // Not recyclable: closed, and another one tried.
                        _ => inner.forget(true),
                    }
                }
                Step::Open => {
                    let mut slot = Slot { inner, armed: true };
                    let open = C::open(&inner.config);
                    let conn = match deadline {
                        Some(d) => futures_lite::future::or(async { Some(open.await) }, async {
                            R::sleep_until(d).await;
                            None
                        })
                        .await
                        .unwrap_or(Err(Error::Timeout)),
                        None => open.await,
                    }?;
                    slot.armed = false;
                    inner.lock().stats.opened += 1;
                    return Ok(self.hand_out(conn, Instant::now()));
                }
                Step::Wait => {
                    let _waiting = Waiting(inner);
                    // Listen, then look again: a connection given back in between is not missed.
                    let listener = inner.released.listen();
                    {
                        let state = inner.lock();
                        if !state.idle.is_empty() || state.size < inner.options.max_size || state.closed {
                            continue;
                        }
                    }
                    let woken = match deadline {
                        Some(d) => {
                            futures_lite::future::or(
                                async {
                                    listener.await;
                                    true
                                },
                                async {
                                    R::sleep_until(d).await;
                                    false
                                },
                            )
                            .await
                        }
                        None => {
                            listener.await;
                            true
                        }
                    };
                    if !woken {
                        inner.lock().stats.timeouts += 1;
                        return Err(Error::Timeout);
                    }
                }
            }
        }
    }

    /// Decides under the lock: reuse the most recently returned connection that has not
    /// expired, open one, or wait. Expired idle ones are returned to be closed outside it.
    fn next_step(&self) -> (Result<Step<C>, Error>, Vec<C>) {
        let inner = &*self.inner;
        let mut state = inner.lock();
        if state.closed {
            return (Err(Error::Closed(ClosedReason::ByClient)), Vec::new());
        }
        if inner.options.max_size == 0 {
            return (
                Err(UsageError::InvalidArgument("a pool's max_size must be at least 1".into()).into()),
                Vec::new(),
            );
        }
        let now = Instant::now();
        let mut expired = Vec::new();
        while let Some(idle) = state.idle.pop() {
            if inner.expired(idle.created, idle.since, now) {
                state.size -= 1;
                state.stats.closed += 1;
                expired.push(idle.conn);
                continue;
            }
            return (Ok(Step::Reuse(idle)), expired);
        }
        if state.size < inner.options.max_size {
            state.size += 1;
            return (Ok(Step::Open), expired);
        }
        state.stats.waiting += 1;
        (Ok(Step::Wait), expired)
    }

    fn hand_out(&self, conn: C, created: Instant) -> PooledConnection<R, C> {
        self.inner.lock().stats.acquired += 1;
        PooledConnection { pool: self.clone(), conn: Some(conn), created }
    }

    /// Finishes what the last user left and applies the recycle policy and health check.
    async fn make_ready(&self, conn: &mut Connection<R>, idle_for: Duration) -> Result<(), Error> {
        let options = &self.inner.options;
        let check = match options.health_check {
            HealthCheck::Never => false,
            HealthCheck::Always => true,
            HealthCheck::IdleFor(d) => idle_for >= d,
        };
        conn.recycle(Instant::now() + options.recycle_timeout, check && options.recycle == Recycle::Rollback).await?;
        if options.recycle == Recycle::Reset {
            conn.reset().await?;
        }
        Ok(())
    }

    /// Closes idle connections that have expired and opens connections until `min_idle` are
    /// idle (within `max_size`). Call it now and then (a timer task, a thread) for a pool that
    /// shrinks when quiet and is warm when busy; the pool works without it.
    pub async fn maintain(&self) -> Result<(), Error> {
        let inner = &*self.inner;
        let expired = {
            let mut state = inner.lock();
            let now = Instant::now();
            let (keep, expired): (Vec<_>, Vec<_>) =
                std::mem::take(&mut state.idle).into_iter().partition(|i| !inner.expired(i.created, i.since, now));
            state.idle = keep;
            state.size -= expired.len();
            state.stats.closed += expired.len() as u64;
            expired
        };
        drop(expired);
        loop {
            {
                let mut state = inner.lock();
                if state.closed || state.idle.len() >= inner.options.min_idle || state.size >= inner.options.max_size {
                    return Ok(());
                }
                state.size += 1;
            }
            let mut slot = Slot { inner, armed: true };
            let conn = C::open(&inner.config).await?;
            slot.armed = false;
            let now = Instant::now();
            let mut state = inner.lock();
            state.stats.opened += 1;
            state.idle.push(Idle { conn, created: now, since: now });
            drop(state);
            inner.released.notify(1);
        }
    }

    /// Closes the pool: idle connections now, the others as they come back; `get` fails.
    pub fn close(&self) {
        let idle = {
            let mut state = self.inner.lock();
            state.closed = true;
            let idle = std::mem::take(&mut state.idle);
            state.size -= idle.len();
            state.stats.closed += idle.len() as u64;
            idle
        };
        drop(idle);
        self.inner.released.notify(usize::MAX);
    }

    /// Takes a connection back (see the module docs).
    fn give_back(&self, mut conn: C, created: Instant) {
        let inner = &*self.inner;
        let released = conn.connection().release();
        let mut state = inner.lock();
        let keep = released.is_some() && !state.closed && !inner.expired(created, Instant::now(), Instant::now());
        if released == Some(true) {
            state.stats.rolled_back += 1;
        }
        if keep {
            state.idle.push(Idle { conn, created, since: Instant::now() });
            drop(state);
        } else {
            state.size -= 1;
            state.stats.closed += 1;
            drop(state);
            drop(conn);
        }
        inner.released.notify(1);
    }
}

/// Gives a connection being made ready back to the pool if the checkout is dropped.
struct GiveBack<'p, R: Runtime, C: PoolItem<R>> {
    pool: &'p Pool<R, C>,
    conn: Option<C>,
    created: Instant,
}

impl<R: Runtime, C: PoolItem<R>> Drop for GiveBack<'_, R, C> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.give_back(conn, self.created);
        }
    }
}

/// A connection out of a [`Pool`]; derefs to it. Dropped, it goes back (see the module docs).
pub struct PooledConnection<R: Runtime, C: PoolItem<R> = Connection<R>> {
    pool: Pool<R, C>,
    conn: Option<C>,
    created: Instant,
}

impl<R: Runtime, C: PoolItem<R> + std::fmt::Debug> std::fmt::Debug for PooledConnection<R, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PooledConnection").field(&self.conn).finish()
    }
}

impl<R: Runtime, C: PoolItem<R>> PooledConnection<R, C> {
    /// Takes the connection out of the pool for good (the pool opens another when needed).
    pub fn detach(mut self) -> Option<C> {
        let conn = self.conn.take();
        self.pool.inner.forget(false);
        conn
    }
}

impl<R: Runtime, C: PoolItem<R>> std::ops::Deref for PooledConnection<R, C> {
    type Target = C;
    fn deref(&self) -> &C {
        // Only `detach` (which consumes the guard) and `drop` take it.
        self.conn.as_ref().unwrap_or_else(|| unreachable!("a pooled connection is present until dropped"))
    }
}

impl<R: Runtime, C: PoolItem<R>> std::ops::DerefMut for PooledConnection<R, C> {
    fn deref_mut(&mut self) -> &mut C {
        self.conn.as_mut().unwrap_or_else(|| unreachable!("a pooled connection is present until dropped"))
    }
}

impl<R: Runtime, C: PoolItem<R>> Drop for PooledConnection<R, C> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.give_back(conn, self.created);
        }
    }
}

impl<R: Runtime> Connection<R> {
    /// Taking the connection back into a pool, without waiting: `None` if it must be closed
    /// (closed or broken); else whether a transaction had to be rolled back — a ROLLBACK is
    /// then queued behind whatever was left running and written now if the socket takes it
    /// (see [`pgsans::Connection::abandon_transaction`]).
    pub fn release(&mut self) -> Option<bool> {
        let engine = &mut self.driver.engine;
        if engine.is_closed() {
            return None;
        }
        let before = engine.transmit().len();
        engine.abandon_transaction();
        let rolled_back = engine.transmit().len() != before;
        if self.driver.write_now().is_err() {
            return None;
        }
        Some(rolled_back)
    }

    /// Makes a connection given back ready for its next user, by `deadline`: what abandoned
    /// requests left running is cancelled (if [`set_cancel_on_drop`](Self::set_cancel_on_drop))
    /// and drained, any transaction rolled back, leftover notices and notifications dropped;
    /// with `check`, one round trip proves the server is there. An error: close it.
    pub async fn recycle(&mut self, deadline: Instant, check: bool) -> Result<(), Error> {
        if self.driver.engine.is_closed() {
            return Err(self.driver.engine.fatal_error().cloned().unwrap_or(Error::Closed(ClosedReason::ByClient)));
        }
        self.driver.engine.abandon_transaction();
        self.settle().await?;
        self.driver.until(Some(deadline), |e| (!e.answers_pending()).then_some(Ok(()))).await?;
        if self.driver.engine.transaction_status() != TransactionStatus::Idle {
            return Err(Error::Internal("a recycled connection is still in a transaction".into()));
        }
        if check {
            self.run_until(Request::batch(""), Some(deadline)).await?;
        }
        self.driver.engine.take_notices();
        self.driver.engine.take_notifications();
        Ok(())
    }
}
