//! The pgsans PostgreSQL client, blocking: the methods of [`pgsans_client::Connection`] as plain
//! calls, run on the calling thread by a minimal executor that waits in `poll(2)` — or in your
//! wait callback — with psycopg2's two ways of not blocking the thread: a [`PollingConnection`]
//! for your own event loop, and [wait callbacks](wait) for green threads.
//!
//! # Blocking
//!
//! ```no_run
//! let mut conn = pgsans_std::Connection::connect("postgresql://app@localhost/shop")?;
//! conn.set_autocommit(true)?;
//! for row in conn.simple_query("SELECT id, name FROM items")?[0].rows() {
//!     println!("{:?} {:?}", row.text("id")?, row.text("name")?);
//! }
//! conn.close()?;
//! # Ok::<(), pgsans::Error>(())
//! ```
//!
//! # Your own event loop
//!
//! See [`PollingConnection`]: `connect_start`, then `poll()` whenever its socket is ready,
//! exactly like psycopg2's asynchronous connections.
//!
//! # Green threads
//!
//! See [`wait`]: every wait goes through a callback you supply, per connection
//! ([`Connection::set_wait_callback`]) or process-wide ([`set_wait_callback`]).
//!
//! # Latency
//!
//! After sending a whole request, a [`Connection`] retries its read for a moment (yielding the
//! CPU) before it sleeps in `poll(2)`; see [`Config::spin_wait`] and `BENCHMARKS.md`. There is
//! no spinning on a single CPU, with a wait callback, or on a [`PollingConnection`].
//!
//! Every method is one line over the async connection written once in `pgsans-client`; all
//! protocol logic is in the engine. This crate opens non-blocking sockets (TCP, or Unix when the
//! host starts with `/`) and waits.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod copy;
mod polling;
mod pool;
#[cfg(feature = "r2d2")]
#[cfg_attr(docsrs, doc(cfg(feature = "r2d2")))]
pub mod r2d2;
mod runtime;
mod socket;
pub mod wait;

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;

use pgsans::{
    Config, ConnectionStatus, Error, FromRow, Notice, NoticeHandler, Notification, OwnedRow, Params, Pipeline, Query,
    QueryResult, RecoveredXid, ResultSet, Row, SessionChange, SimpleBatch, Statement, TransactionStatus, Xid,
};

pub use copy::{BinaryCopyInWriter, BinaryCopyOutReader, CopyInWriter, CopyOutReader};
pub use pgsans;
/// The client written once over [`Runtime`](pgsans_client::Runtime): the methods of this
/// crate's connection, streams, COPY and transaction types are documented here.
#[doc(inline)]
pub use pgsans_client;
pub use pgsans_client::{HealthCheck, PoolOptions, PoolStats, Recycle};
pub use polling::{Poll, Polling, PollingConnection, PollingSocket};
pub use pool::{Pool, PooledConnection};
pub use runtime::{block_on, Std, StdSocket};
pub use wait::{get_wait_callback, set_wait_callback, Interest, Wait, WaitFactory, WaitRequest};

/// A blocking connection to PostgreSQL.
#[derive(Debug)]
pub struct Connection {
    inner: pgsans_client::Connection<Std>,
}

impl Connection {
    /// Connects with a libpq connection string or `postgresql://` URL, completed from the `PG*`
    /// environment variables and `.pgpass` like libpq. Hosts (and each host's addresses) are
    /// tried in order. Uses the process-wide wait callback, if one is set.
    pub fn connect(conninfo: &str) -> Result<Connection, Error> {
        Self::connect_with(&pgsans_client::load(conninfo)?)
    }

    /// Connects with a ready configuration (nothing is read from the environment).
    pub fn connect_with(config: &Config) -> Result<Connection, Error> {
        Self::connect_with_wait(config, get_wait_callback().map(|factory| factory()))
    }

    /// Connects using `waiter` for every wait, the connect itself included.
    pub fn connect_with_wait(config: &Config, waiter: Option<Box<dyn Wait>>) -> Result<Connection, Error> {
        let (inner, _) = runtime::with_waiter(waiter, || block_on(pgsans_client::Connection::connect_with(config)));
        Ok(Connection { inner: inner? })
    }

    /// Sets (or removes) this connection's wait callback.
    pub fn set_wait_callback(&mut self, waiter: Option<Box<dyn Wait>>) {
        self.inner.socket_mut().set_wait_callback(waiter)
    }

    /// The async connection underneath: its futures run on [`block_on`].
    pub fn as_async(&mut self) -> &mut pgsans_client::Connection<Std> {
        &mut self.inner
    }

    /// Opens a transaction scope: `BEGIN`, or a `SAVEPOINT` when nested. The guard derefs to
    /// the connection; end it with `commit()` or `rollback()`. Dropped without either (an early
    /// `?`), it rolls back before the drop returns, as the `postgres` crate does: the
    /// connection is READY again at once.
    pub fn transaction(&mut self) -> Result<Transaction<'_>, Error> {
        block_on(self.inner.begin_scope())?;
        Ok(Transaction { conn: self, ended: false })
    }

    /// Runs one or more `;`-separated statements with the simple query protocol: one
    /// [`ResultSet`] per statement, or the first error. Outside autocommit mode a transaction is
    /// opened first if none is (psycopg2's behaviour).
    pub fn simple_query(&mut self, sql: &str) -> Result<Vec<ResultSet>, Error> {
        block_on(self.inner.simple_query(sql))
    }

    /// Like `simple_query`, but the results of the statements before a failing one come back
    /// together with its error.
    pub fn simple_query_batch(&mut self, sql: &str) -> Result<SimpleBatch, Error> {
        block_on(self.inner.simple_query_batch(sql))
    }

    /// Runs statements, discarding any rows (tokio-postgres' `batch_execute`).
    pub fn batch_execute(&mut self, sql: &str) -> Result<(), Error> {
        block_on(self.inner.batch_execute(sql))
    }

    /// Prepares a statement server-side (types inferred by the server).
    pub fn prepare(&mut self, sql: &str) -> Result<Statement, Error> {
        block_on(self.inner.prepare(sql))
    }

    /// Prepares a statement with the given parameter type OIDs (0 = inferred).
    pub fn prepare_typed(&mut self, sql: &str, types: &[u32]) -> Result<Statement, Error> {
        block_on(self.inner.prepare_typed(sql, types))
    }

    /// What the connection knows of type `oid`: built in, or looked up in `pg_catalog` once.
    pub fn type_info(&mut self, oid: u32) -> Result<std::sync::Arc<pgsans::types::Type>, Error> {
        block_on(self.inner.type_info(oid))
    }

    /// Runs a query with parameters (`$1`, `$2` …) and returns all its rows.
    pub fn query<'q>(&mut self, query: impl Into<Query<'q>>, params: Params<'_>) -> Result<Vec<OwnedRow>, Error> {
        block_on(self.inner.query(query, params))
    }

    /// Like `query`, with the columns and command tag.
    pub fn query_result<'q>(&mut self, query: impl Into<Query<'q>>, params: Params<'_>) -> Result<QueryResult, Error> {
        block_on(self.inner.query_result(query, params))
    }

    /// Exactly one row, or an error naming how many came back.
    pub fn query_one<'q>(&mut self, query: impl Into<Query<'q>>, params: Params<'_>) -> Result<OwnedRow, Error> {
        block_on(self.inner.query_one(query, params))
    }

    /// Zero or one row; more is an error.
    pub fn query_opt<'q>(
        &mut self,
        query: impl Into<Query<'q>>,
        params: Params<'_>,
    ) -> Result<Option<OwnedRow>, Error> {
        block_on(self.inner.query_opt(query, params))
    }

    /// Runs a query and builds a `T` from each row (a `#[derive(FromRow)]` struct, a tuple)
    /// straight from the receive buffer.
    pub fn query_as<'q, T: for<'r> FromRow<'r>>(
        &mut self,
        query: impl Into<Query<'q>>,
        params: Params<'_>,
    ) -> Result<Vec<T>, Error> {
        block_on(self.inner.query_as(query, params))
    }

    /// Exactly one row as a `T`, or an error naming how many came back.
    pub fn query_one_as<'q, T: for<'r> FromRow<'r>>(
        &mut self,
        query: impl Into<Query<'q>>,
        params: Params<'_>,
    ) -> Result<T, Error> {
        block_on(self.inner.query_one_as(query, params))
    }

    /// Zero or one row as a `T`; more is an error.
    pub fn query_opt_as<'q, T: for<'r> FromRow<'r>>(
        &mut self,
        query: impl Into<Query<'q>>,
        params: Params<'_>,
    ) -> Result<Option<T>, Error> {
        block_on(self.inner.query_opt_as(query, params))
    }

    /// Runs a statement and returns the number of rows it affected.
    pub fn execute<'q>(&mut self, query: impl Into<Query<'q>>, params: Params<'_>) -> Result<u64, Error> {
        block_on(self.inner.execute(query, params))
    }

    /// Streams the rows of a simple query (one or more statements, text format) one at a time.
    pub fn simple_query_raw(&mut self, sql: &str) -> Result<RowStream<'_>, Error> {
        block_on(self.inner.simple_query_raw(sql)).map(RowStream)
    }

    /// Streams the rows of a query one at a time, borrowed from the receive buffer.
    pub fn query_raw<'q>(&mut self, query: impl Into<Query<'q>>, params: Params<'_>) -> Result<RowStream<'_>, Error> {
        block_on(self.inner.query_raw(query, params)).map(RowStream)
    }

    /// Declares a server-side cursor (psycopg2's `cursor(name, scrollable, withhold)`); see
    /// [`pgsans_client::Connection::declare_cursor`].
    pub fn declare_cursor(
        &mut self,
        name: &str,
        query: &str,
        params: Params<'_>,
        options: pgsans_client::CursorOptions,
    ) -> Result<NamedCursor<'_>, Error> {
        block_on(self.inner.declare_cursor(name, query, params, options)).map(NamedCursor)
    }

    /// Opens (or, with `oid` 0, creates) a large object: psycopg2's `lobject`; see
    /// [`pgsans_client::Connection::lobject`]. It is `std::io::Read`, `Write` and `Seek`.
    pub fn lobject(
        &mut self,
        oid: u32,
        mode: &str,
        new_oid: u32,
        new_file: Option<&std::path::Path>,
    ) -> Result<LargeObject<'_>, Error> {
        block_on(self.inner.lobject(oid, mode, new_oid, new_file)).map(LargeObject)
    }

    /// `IDENTIFY_SYSTEM` on a replication connection.
    pub fn identify_system(&mut self) -> Result<pgsans_client::SystemIdentity, Error> {
        block_on(self.inner.identify_system())
    }

    /// `CREATE_REPLICATION_SLOT`; see [`pgsans_client::Connection::create_replication_slot`].
    pub fn create_replication_slot(
        &mut self,
        name: &str,
        kind: pgsans_client::SlotKind,
        options: &pgsans_client::SlotOptions,
    ) -> Result<pgsans_client::ReplicationSlot, Error> {
        block_on(self.inner.create_replication_slot(name, kind, options))
    }

    /// `DROP_REPLICATION_SLOT name [WAIT]`.
    pub fn drop_replication_slot(&mut self, name: &str, wait: bool) -> Result<(), Error> {
        block_on(self.inner.drop_replication_slot(name, wait))
    }

    /// psycopg2's `start_replication`; see [`pgsans_client::Connection::start_replication`].
    pub fn start_replication(
        &mut self,
        slot: Option<&str>,
        kind: &pgsans_client::SlotKind,
        start: pgsans::types::PgLsn,
        timeline: Option<u32>,
        options: &[(&str, &str)],
    ) -> Result<ReplicationStream<'_>, Error> {
        block_on(self.inner.start_replication(slot, kind, start, timeline, options)).map(ReplicationStream)
    }

    /// psycopg2's `start_replication_expert`: a `START_REPLICATION` command of the caller's.
    pub fn start_replication_expert(&mut self, sql: &str) -> Result<ReplicationStream<'_>, Error> {
        block_on(self.inner.start_replication_expert(sql)).map(ReplicationStream)
    }

    /// Sends every query of `pipeline` without waiting between them; one result per query.
    pub fn pipeline(&mut self, pipeline: Pipeline) -> Result<Vec<Result<QueryResult, Error>>, Error> {
        block_on(self.inner.pipeline(pipeline))
    }

    /// Opens a portal that returns at most `batch` rows per [`fetch`](Portal::fetch).
    pub fn portal<'q>(
        &mut self,
        query: impl Into<Query<'q>>,
        params: Params<'_>,
        batch: i32,
    ) -> Result<Portal<'_>, Error> {
        block_on(self.inner.portal(query, params, batch)).map(Portal)
    }

    /// Commits the current transaction (nothing to do if none is open).
    pub fn commit(&mut self) -> Result<(), Error> {
        block_on(self.inner.commit())
    }

    /// Rolls back the current transaction (nothing to do if none is open).
    pub fn rollback(&mut self) -> Result<(), Error> {
        block_on(self.inner.rollback())
    }

    /// psycopg2's `set_session`: isolation level, read-only, deferrable, autocommit.
    pub fn set_session(&mut self, change: SessionChange) -> Result<(), Error> {
        block_on(self.inner.set_session(change))
    }

    /// Switches autocommit mode (only between transactions).
    pub fn set_autocommit(&mut self, on: bool) -> Result<(), Error> {
        block_on(self.inner.set_autocommit(on))
    }

    /// psycopg2's legacy `set_isolation_level`: rolls back an open transaction, then sets the
    /// level (`None`: the server default) with autocommit off.
    pub fn set_isolation_level(&mut self, level: impl Into<pgsans::LegacyIsolationLevel>) -> Result<(), Error> {
        block_on(self.inner.set_isolation_level(level))
    }

    /// Sets read-only; `None` restores the server default.
    pub fn set_read_only(&mut self, on: Option<bool>) -> Result<(), Error> {
        block_on(self.inner.set_read_only(on))
    }

    /// Sets deferrable; `None` restores the server default.
    pub fn set_deferrable(&mut self, on: Option<bool>) -> Result<(), Error> {
        block_on(self.inner.set_deferrable(on))
    }

    /// Starts a two-phase transaction.
    pub fn tpc_begin(&mut self, xid: Xid) -> Result<(), Error> {
        block_on(self.inner.tpc_begin(xid))
    }

    /// `PREPARE TRANSACTION`.
    pub fn tpc_prepare(&mut self) -> Result<(), Error> {
        block_on(self.inner.tpc_prepare())
    }

    /// Commits the current two-phase transaction, or a recovered one.
    pub fn tpc_commit(&mut self, xid: Option<&Xid>) -> Result<(), Error> {
        block_on(self.inner.tpc_commit(xid))
    }

    /// Rolls back the current two-phase transaction, or a recovered one.
    pub fn tpc_rollback(&mut self, xid: Option<&Xid>) -> Result<(), Error> {
        block_on(self.inner.tpc_rollback(xid))
    }

    /// The prepared transactions on the server.
    pub fn tpc_recover(&mut self) -> Result<Vec<RecoveredXid>, Error> {
        block_on(self.inner.tpc_recover())
    }

    /// Aborts any transaction, `DISCARD ALL`, default session characteristics.
    pub fn reset(&mut self) -> Result<(), Error> {
        block_on(self.inner.reset())
    }

    /// `SET client_encoding`.
    pub fn set_client_encoding(&mut self, encoding: &str) -> Result<(), Error> {
        block_on(self.inner.set_client_encoding(encoding))
    }

    /// Waits, while idle, for notifications; `None` waits forever; on timeout the result is empty.
    pub fn wait_for_notifications(&mut self, timeout: Option<Duration>) -> Result<Vec<Notification>, Error> {
        block_on(self.inner.wait_for_notifications(timeout))
    }

    /// The notifications as they arrive while the connection is otherwise idle, as an
    /// iterator that ends once `timeout` passes with none (`None`: never ends by itself).
    pub fn notifications(&mut self, timeout: Option<Duration>) -> Notifications<'_> {
        Notifications { conn: self, timeout, done: false }
    }

    /// A callback for every notification as it arrives, during any operation (psycopg 3's
    /// notify handlers); see [`pgsans::Connection::set_notification_handler`].
    pub fn set_notification_handler(&mut self, handler: Option<pgsans::NotificationHandler>) {
        self.inner.set_notification_handler(handler)
    }

    /// Sends Terminate and closes the socket. Idempotent.
    pub fn close(&mut self) -> Result<(), Error> {
        block_on(self.inner.close())
    }

    /// A token that cancels this connection's running query from any thread; a misuse error
    /// after `tpc_prepare`.
    pub fn cancel_token(&self) -> Result<CancelToken, Error> {
        self.inner.cancel_token().map(CancelToken)
    }

    /// See [`pgsans::Connection::set_prepare_threshold`].
    pub fn set_prepare_threshold(&mut self, threshold: Option<usize>) {
        self.inner.set_prepare_threshold(threshold)
    }

    /// See [`pgsans::Connection::set_statement_cache_capacity`].
    pub fn set_statement_cache_capacity(&mut self, capacity: usize) {
        self.inner.set_statement_cache_capacity(capacity)
    }

    /// See [`pgsans_client::Connection::set_call_timeout`].
    pub fn set_call_timeout(&mut self, timeout: Option<Duration>) {
        self.inner.set_call_timeout(timeout)
    }

    /// How long to spin for an answer before waiting ([`Config::spin_wait`]); zero: never.
    pub fn set_spin_wait(&mut self, limit: Duration) {
        self.inner.set_spin_wait(limit)
    }

    /// Takes the notices received so far (oldest first).
    pub fn take_notices(&mut self) -> Vec<Notice> {
        self.inner.take_notices()
    }

    /// Takes the notifications received so far (oldest first).
    pub fn take_notifications(&mut self) -> Vec<Notification> {
        self.inner.take_notifications()
    }

    /// How many notices to keep (default 50).
    pub fn set_notice_limit(&mut self, limit: usize) {
        self.inner.set_notice_limit(limit)
    }

    /// Sends every notice to `handler` instead of keeping them.
    pub fn set_notice_handler(&mut self, handler: Option<NoticeHandler>) {
        self.inner.set_notice_handler(handler)
    }

    /// The engine, for every other getter.
    pub fn engine(&self) -> &pgsans::Connection {
        self.inner.engine()
    }

    /// psycopg2's `status`: READY, BEGIN or PREPARED.
    pub fn status(&self) -> ConnectionStatus {
        self.inner.status()
    }

    /// `PQtransactionStatus`.
    pub fn transaction_status(&self) -> TransactionStatus {
        self.inner.transaction_status()
    }

    /// Whether each statement commits by itself.
    pub fn autocommit(&self) -> bool {
        self.inner.autocommit()
    }

    /// psycopg2's `closed`: 0 open, 1 closed, 2 broken.
    pub fn closed(&self) -> u8 {
        self.inner.closed()
    }

    /// `server_version` as libpq computes it.
    pub fn server_version(&self) -> i32 {
        self.inner.server_version()
    }

    /// The backend's process id.
    pub fn backend_pid(&self) -> i32 {
        self.inner.backend_pid()
    }

    /// The last value the server reported for a run-time parameter.
    pub fn parameter_status(&self, name: &str) -> Option<&str> {
        self.inner.parameter_status(name)
    }

    /// psycopg2's `dsn`, the password shown as `xxx`.
    pub fn dsn(&self) -> &str {
        self.inner.dsn()
    }
}

impl AsRawFd for Connection {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.socket().as_fd().as_raw_fd()
    }
}

impl AsFd for Connection {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.socket().as_fd()
    }
}

/// A transaction scope (psycopg 3's `transaction()`, the `postgres` crate's `Transaction`).
/// Derefs to the connection; nested scopes are savepoints. Dropped without `commit()` or
/// `rollback()`, it rolls back before the drop returns.
#[derive(Debug)]
pub struct Transaction<'a> {
    conn: &'a mut Connection,
    ended: bool,
}

impl Transaction<'_> {
    /// Commits the scope: COMMIT, or RELEASE SAVEPOINT when nested.
    pub fn commit(mut self) -> Result<(), Error> {
        self.ended = true;
        block_on(self.conn.inner.end_scope(true))
    }

    /// Rolls the scope back: ROLLBACK, or ROLLBACK TO SAVEPOINT when nested.
    pub fn rollback(mut self) -> Result<(), Error> {
        self.ended = true;
        block_on(self.conn.inner.end_scope(false))
    }
}

impl std::ops::Deref for Transaction<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl std::ops::DerefMut for Transaction<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.ended {
            // Errors have nowhere to go from a drop; a broken connection reports them next.
            let _ = block_on(self.conn.inner.end_scope(false));
        }
    }
}

/// Notifications as they arrive; see [`Connection::notifications`].
///
/// Each `next` takes one notification; those received with it stay queued in the connection,
/// so dropping the iterator loses none.
pub struct Notifications<'a> {
    conn: &'a mut Connection,
    timeout: Option<Duration>,
    done: bool,
}

impl Iterator for Notifications<'_> {
    type Item = Result<Notification, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match block_on(self.conn.inner.next_notification(self.timeout)) {
            Ok(Some(n)) => Some(Ok(n)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = e.is_fatal();
                Some(Err(e))
            }
        }
    }
}

/// The rows of a query one at a time, borrowed from the receive buffer.
pub struct RowStream<'a>(pgsans_client::RowStream<'a, Std>);

impl RowStream<'_> {
    /// The next row, or `None` at the end; an error mid-stream is returned here.
    // Not `Iterator`: each row borrows the stream (a lending iterator).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Row<'_>>, Error> {
        // Rows already received need no executor.
        if self.0.row_ready_now()? {
            return self.0.take_ready();
        }
        block_on(self.0.next())
    }

    /// Rows returned or affected, once the stream is exhausted.
    pub fn rows_affected(&self) -> Option<u64> {
        self.0.rows_affected()
    }
}

/// A large object (psycopg2's `lobject`); see [`pgsans_client::LargeObject`].
pub struct LargeObject<'a>(pgsans_client::LargeObject<'a, Std>);

impl LargeObject<'_> {
    pub fn oid(&self) -> u32 {
        self.0.oid()
    }
    /// Closed, never opened, or its transaction ended.
    pub fn closed(&self) -> bool {
        self.0.closed()
    }
    /// Up to `n` bytes (`None`: to the end).
    pub fn read_bytes(&mut self, n: Option<usize>) -> Result<Vec<u8>, Error> {
        block_on(self.0.read(n))
    }
    /// Text in the client encoding (psycopg2's `t` modes).
    pub fn read_text(&mut self, n: Option<usize>) -> Result<String, Error> {
        block_on(self.0.read_text(n))
    }
    pub fn write_bytes(&mut self, data: &[u8]) -> Result<usize, Error> {
        block_on(self.0.write(data))
    }
    pub fn seek_to(&mut self, offset: i64, whence: pgsans_client::Whence) -> Result<i64, Error> {
        block_on(self.0.seek(offset, whence))
    }
    pub fn tell(&mut self) -> Result<i64, Error> {
        block_on(self.0.tell())
    }
    pub fn truncate(&mut self, len: i64) -> Result<(), Error> {
        block_on(self.0.truncate(len))
    }
    pub fn export(&mut self, path: &std::path::Path) -> Result<(), Error> {
        block_on(self.0.export(path))
    }
    pub fn close(&mut self) -> Result<(), Error> {
        block_on(self.0.close())
    }
    pub fn unlink(self) -> Result<(), Error> {
        block_on(self.0.unlink())
    }
}

fn io_error(e: Error) -> std::io::Error {
    std::io::Error::other(e)
}

impl std::io::Read for LargeObject<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let data = self.read_bytes(Some(buf.len())).map_err(io_error)?;
        buf[..data.len()].copy_from_slice(&data);
        Ok(data.len())
    }
}

impl std::io::Write for LargeObject<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_bytes(buf).map_err(io_error)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl std::io::Seek for LargeObject<'_> {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        use pgsans_client::Whence;
        let (offset, whence) = match pos {
            std::io::SeekFrom::Start(n) => (i64::try_from(n).map_err(std::io::Error::other)?, Whence::Start),
            std::io::SeekFrom::Current(n) => (n, Whence::Current),
            std::io::SeekFrom::End(n) => (n, Whence::End),
        };
        let at = self.seek_to(offset, whence).map_err(io_error)?;
        u64::try_from(at).map_err(std::io::Error::other)
    }
}

/// A server-side named cursor; see [`pgsans_client::NamedCursor`].
pub struct NamedCursor<'a>(pgsans_client::NamedCursor<'a, Std>);

impl NamedCursor<'_> {
    /// The next row, fetching `itersize` more when those fetched are used up.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<OwnedRow>, Error> {
        block_on(self.0.next())
    }
    /// psycopg2's `fetchone`.
    pub fn fetch_one(&mut self) -> Result<Option<OwnedRow>, Error> {
        block_on(self.0.fetch_one())
    }
    /// psycopg2's `fetchmany`.
    pub fn fetch_many(&mut self, n: usize) -> Result<Vec<OwnedRow>, Error> {
        block_on(self.0.fetch_many(n))
    }
    /// psycopg2's `fetchall`.
    pub fn fetch_all(&mut self) -> Result<Vec<OwnedRow>, Error> {
        block_on(self.0.fetch_all())
    }
    /// psycopg2's `scroll`: rows the server moved over.
    pub fn scroll(&mut self, value: i64, mode: pgsans_client::ScrollMode) -> Result<u64, Error> {
        block_on(self.0.scroll(value, mode))
    }
    /// Closes it on the server. Idempotent.
    pub fn close(&mut self) -> Result<(), Error> {
        block_on(self.0.close())
    }
    /// Rows fetched and not yet handed out.
    pub fn buffered(&self) -> usize {
        self.0.buffered()
    }
}

/// A replication stream; see [`pgsans_client::ReplicationStream`].
pub struct ReplicationStream<'a>(pgsans_client::ReplicationStream<'a, Std>);

impl ReplicationStream<'_> {
    /// The next message, borrowed until the next call; `None` once the server ended the stream.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<pgsans::replication::ReplicationMessage<'_>>, Error> {
        block_on(std::future::poll_fn(|cx| self.0.poll_ready(cx)))?;
        self.0.take_ready()
    }
    /// psycopg2's `consume_stream`; see [`pgsans_client::ReplicationStream::consume`].
    pub fn consume_stream(
        &mut self,
        consumer: impl FnMut(
            &pgsans::replication::ReplicationMessage<'_>,
            &mut pgsans::replication::StandbyStatus,
        ) -> std::ops::ControlFlow<()>,
    ) -> Result<bool, Error> {
        block_on(self.0.consume(consumer))
    }
    /// psycopg2's `send_feedback(…, force=True)`: sends the positions now.
    pub fn send_status(&mut self, status: pgsans::replication::StandbyStatus, reply: bool) -> Result<(), Error> {
        block_on(self.0.send_status(status, reply))
    }
    /// psycopg2's `send_feedback` without `force`: the positions go with the next update.
    pub fn record_status(&mut self, status: pgsans::replication::StandbyStatus) -> Result<(), Error> {
        self.0.record_status(status)
    }
    /// The positions to report.
    pub fn status(&self) -> pgsans::replication::StandbyStatus {
        self.0.status()
    }
    /// Feedback at least this often while reading (10 s by default).
    pub fn set_status_interval(&mut self, interval: Option<Duration>) {
        self.0.set_status_interval(interval)
    }
    /// Ends the stream and waits for the server to end the command.
    pub fn stop(self) -> Result<pgsans::replication::ReplicationEnd, Error> {
        block_on(self.0.stop())
    }
}

/// An open portal: rows in batches.
pub struct Portal<'a>(pgsans_client::Portal<'a, Std>);

impl Portal<'_> {
    /// The next batch of rows; empty once the portal is exhausted.
    pub fn fetch(&mut self) -> Result<Vec<OwnedRow>, Error> {
        block_on(self.0.fetch())
    }

    /// Whether every row was fetched.
    pub fn is_exhausted(&self) -> bool {
        self.0.is_exhausted()
    }

    /// Ends the portal early. (Dropping it does the same without waiting.)
    pub fn close(self) -> Result<(), Error> {
        block_on(self.0.close())
    }
}

/// Cancels the running query of the connection it came from (a CancelRequest on a new
/// connection to the same server). `Send + Sync`; cancelling when nothing runs is harmless.
#[derive(Debug, Clone)]
pub struct CancelToken(pgsans_client::CancelToken<Std>);

impl CancelToken {
    /// Sends the cancel request and waits until the server has read it (it closes the socket).
    pub fn cancel(&self) -> Result<(), Error> {
        block_on(self.0.cancel())
    }
}

impl CancelToken {
    pub(crate) fn from_parts(key: pgsans::CancelToken, target: pgsans::config::Target) -> Self {
        CancelToken(pgsans_client::CancelToken::new(key, target))
    }
}
