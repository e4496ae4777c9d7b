//! The method set every transport exposes, written once.
//!
//! A transport defines `struct Connection { engine: pgsans::Connection, .. }` with two methods,
//! `run(op)` (drive an [`Operation`](crate::Operation) to completion) and
//! `run_deadline(op, Option<std::time::Instant>)` (the same, failing with
//! [`Error::Timeout`](crate::Error::Timeout) past the deadline without breaking the
//! connection), then invokes [`transport_methods!`](crate::transport_methods) inside its
//! `impl Connection` and [`transport_transaction!`](crate::transport_transaction) beside it.
//! `sync` makes plain methods; `async` makes `async fn`s that `.await` `run`. The bodies only
//! start a core operation and run it: every rule lives in the core.

/// Expands to the query, transaction, two-phase-commit, reset and notification methods.
#[macro_export]
macro_rules! transport_methods {
    (sync) => { $crate::transport_methods!(@methods [] []); };
    (async) => { $crate::transport_methods!(@methods [async] [.await]); };
    (@methods [$($async:tt)*] [$($await:tt)*]) => {
        /// Runs one or more `;`-separated statements with the simple query protocol and returns
        /// one [`ResultSet`]($crate::ResultSet) per statement, or the first error. Outside
        /// autocommit mode a transaction is opened first if none is (psycopg2's behaviour).
        pub $($async)* fn simple_query(&mut self, sql: &str) -> Result<Vec<$crate::ResultSet>, $crate::Error> {
            self.simple_query_batch(sql)$($await)*?.into_result()
        }

        /// Like `simple_query`, but the results of the statements before a failing one come
        /// back together with its error.
        pub $($async)* fn simple_query_batch(&mut self, sql: &str) -> Result<$crate::SimpleBatch, $crate::Error> {
            let op = $crate::op::SimpleQuery::start(&mut self.engine, sql)?;
            self.run(op)$($await)*
        }

        /// Runs statements, discarding any rows (tokio-postgres' `batch_execute`).
        pub $($async)* fn batch_execute(&mut self, sql: &str) -> Result<(), $crate::Error> {
            let op = $crate::op::SimpleQuery::start_discarding_rows(&mut self.engine, sql)?;
            self.run(op)$($await)*?.into_result().map(drop)
        }

        /// Prepares a statement server-side (types inferred by the server).
        pub $($async)* fn prepare(&mut self, sql: &str) -> Result<$crate::Statement, $crate::Error> {
            self.prepare_typed(sql, &[])$($await)*
        }

        /// Prepares a statement with the given parameter type OIDs (0 = inferred).
        pub $($async)* fn prepare_typed(&mut self, sql: &str, types: &[u32]) -> Result<$crate::Statement, $crate::Error> {
            let op = $crate::extended::Prepare::start(&mut self.engine, sql, types)?;
            self.run(op)$($await)*
        }

        /// Runs a query with parameters (`$1`, `$2` …) and returns all its rows. SQL text is
        /// described once and cached; see [`set_prepare_threshold`]($crate::Connection::set_prepare_threshold).
        pub $($async)* fn query<'q>(&mut self, query: impl Into<$crate::Query<'q>>, params: $crate::Params<'_>) -> Result<Vec<$crate::OwnedRow>, $crate::Error> {
            Ok(self.query_result(query, params)$($await)*?.rows)
        }

        /// Like `query`, with the columns and command tag.
        pub $($async)* fn query_result<'q>(&mut self, query: impl Into<$crate::Query<'q>>, params: $crate::Params<'_>) -> Result<$crate::QueryResult, $crate::Error> {
            let op = $crate::extended::ExtendedQuery::start(&mut self.engine, query.into(), params, $crate::Mode::Collect)?;
            self.run(op)$($await)*?.into_result()
        }

        /// Exactly one row, or an error naming how many came back.
        pub $($async)* fn query_one<'q>(&mut self, query: impl Into<$crate::Query<'q>>, params: $crate::Params<'_>) -> Result<$crate::OwnedRow, $crate::Error> {
            let mut rows = self.query(query, params)$($await)*?;
            match rows.len() {
                1 => Ok(rows.pop().expect("one row")),
                n => Err($crate::UsageError::RowCount { expected: "exactly one", got: n }.into()),
            }
        }

        /// Zero or one row; more is an error.
        pub $($async)* fn query_opt<'q>(&mut self, query: impl Into<$crate::Query<'q>>, params: $crate::Params<'_>) -> Result<Option<$crate::OwnedRow>, $crate::Error> {
            let mut rows = self.query(query, params)$($await)*?;
            match rows.len() {
                0 | 1 => Ok(rows.pop()),
                n => Err($crate::UsageError::RowCount { expected: "at most one", got: n }.into()),
            }
        }

        /// Runs a statement and returns the number of rows it affected (rows are not kept).
        pub $($async)* fn execute<'q>(&mut self, query: impl Into<$crate::Query<'q>>, params: $crate::Params<'_>) -> Result<u64, $crate::Error> {
            let op = $crate::extended::ExtendedQuery::start(&mut self.engine, query.into(), params, $crate::Mode::Count)?;
            Ok(self.run(op)$($await)*?.into_result()?.rows_affected())
        }

        /// Streams the rows of a query one at a time, each borrowed straight from the receive
        /// buffer: memory does not grow with the number of rows. Dropping the stream early is
        /// fine; the rest is drained by the next operation.
        pub $($async)* fn query_raw<'s, 'q>(&'s mut self, query: impl Into<$crate::Query<'q>>, params: $crate::Params<'s>) -> Result<RowStream<'s>, $crate::Error> {
            let op = $crate::extended::ExtendedQuery::start(&mut self.engine, query.into(), params, $crate::Mode::Stream)?;
            Ok(RowStream { conn: self, op, result: None })
        }

        /// Sends every query of `pipeline` without waiting between them and returns one result
        /// per query, in order (an error aborts the rest of its Sync group:
        /// [`Error::PipelineAborted`]($crate::Error::PipelineAborted)). The outer error is for
        /// misuse and broken connections.
        pub $($async)* fn pipeline(&mut self, pipeline: &$crate::Pipeline<'_>) -> Result<Vec<Result<$crate::QueryResult, $crate::Error>>, $crate::Error> {
            if pipeline.is_empty() {
                return Ok(Vec::new());
            }
            let op = $crate::pipeline::RunPipeline::start(&mut self.engine, pipeline)?;
            self.run(op)$($await)*
        }

        /// Opens a portal on the query that returns at most `batch` rows per
        /// [`fetch`](Portal::fetch) (Execute with a row limit; PortalSuspended between batches).
        /// Only one portal at a time; the connection is busy until it is exhausted or closed.
        pub $($async)* fn portal<'s, 'q>(&'s mut self, query: impl Into<$crate::Query<'q>>, params: $crate::Params<'s>, batch: i32) -> Result<Portal<'s>, $crate::Error> {
            let op = $crate::extended::ExtendedQuery::start_portal(&mut self.engine, query.into(), params, batch)?;
            let first = self.run(op)$($await)*?;
            Ok(Portal { conn: self, batch, first: Some(first), columns: None, done: false })
        }

        /// Commits the current transaction (nothing to do if none is open). A misuse error
        /// during a two-phase transaction or inside a transaction scope.
        pub $($async)* fn commit(&mut self) -> Result<(), $crate::Error> {
            let op = $crate::session::commit(&mut self.engine)?;
            self.run(op)$($await)*.map(drop)
        }

        /// Rolls back the current transaction (nothing to do if none is open).
        pub $($async)* fn rollback(&mut self) -> Result<(), $crate::Error> {
            let op = $crate::session::rollback(&mut self.engine)?;
            self.run(op)$($await)*.map(drop)
        }

        /// psycopg2's `set_session`: isolation level, read-only, deferrable, autocommit.
        /// A misuse error inside a transaction, changing nothing.
        pub $($async)* fn set_session(&mut self, change: $crate::SessionChange) -> Result<(), $crate::Error> {
            let op = $crate::session::set_session(&mut self.engine, change)?;
            self.run(op)$($await)*.map(drop)
        }

        /// Switches autocommit mode (only between transactions).
        pub $($async)* fn set_autocommit(&mut self, on: bool) -> Result<(), $crate::Error> {
            self.set_session($crate::SessionChange::new().autocommit(on))$($await)*
        }

        /// Sets the isolation level; `None` restores the server default.
        pub $($async)* fn set_isolation_level(&mut self, level: Option<$crate::IsolationLevel>) -> Result<(), $crate::Error> {
            let s = level.map_or($crate::Setting::Default, $crate::Setting::Value);
            self.set_session($crate::SessionChange::new().isolation_level(s))$($await)*
        }

        /// Sets read-only; `None` restores the server default.
        pub $($async)* fn set_read_only(&mut self, on: Option<bool>) -> Result<(), $crate::Error> {
            let s = on.map_or($crate::Setting::Default, $crate::Setting::Value);
            self.set_session($crate::SessionChange::new().read_only(s))$($await)*
        }

        /// Sets deferrable; `None` restores the server default.
        pub $($async)* fn set_deferrable(&mut self, on: Option<bool>) -> Result<(), $crate::Error> {
            let s = on.map_or($crate::Setting::Default, $crate::Setting::Value);
            self.set_session($crate::SessionChange::new().deferrable(s))$($await)*
        }

        /// Opens a transaction scope: `BEGIN`, or a `SAVEPOINT` when nested. The returned guard
        /// gives access to the connection; end it with `commit()` or `rollback()`. Dropped
        /// without either, it rolls back (the statements go out before the next operation).
        pub $($async)* fn transaction(&mut self) -> Result<Transaction<'_>, $crate::Error> {
            let op = $crate::session::begin_scope(&mut self.engine)?;
            self.run(op)$($await)*?;
            Ok(Transaction { conn: self, ended: false })
        }

        /// Starts a two-phase transaction (not in autocommit mode, not inside a transaction).
        pub $($async)* fn tpc_begin(&mut self, xid: $crate::Xid) -> Result<(), $crate::Error> {
            let op = $crate::session::tpc_begin(&mut self.engine, xid)?;
            self.run(op)$($await)*.map(drop)
        }

        /// `PREPARE TRANSACTION`: afterwards only `tpc_commit` / `tpc_rollback` are allowed.
        pub $($async)* fn tpc_prepare(&mut self) -> Result<(), $crate::Error> {
            let op = $crate::session::tpc_prepare(&mut self.engine)?;
            self.run(op)$($await)*.map(drop)
        }

        /// Commits the current two-phase transaction (`None`; one-phase if not prepared), or a
        /// prepared one found by recovery (`Some(xid)`, outside a transaction).
        pub $($async)* fn tpc_commit(&mut self, xid: Option<&$crate::Xid>) -> Result<(), $crate::Error> {
            let op = $crate::session::tpc_finish(&mut self.engine, xid, true)?;
            self.run(op)$($await)*.map(drop)
        }

        /// Rolls back the current two-phase transaction, or a recovered one.
        pub $($async)* fn tpc_rollback(&mut self, xid: Option<&$crate::Xid>) -> Result<(), $crate::Error> {
            let op = $crate::session::tpc_finish(&mut self.engine, xid, false)?;
            self.run(op)$($await)*.map(drop)
        }

        /// The prepared transactions on the server, leaving the connection's status unchanged.
        pub $($async)* fn tpc_recover(&mut self) -> Result<Vec<$crate::RecoveredXid>, $crate::Error> {
            let op = $crate::session::tpc_recover(&mut self.engine)?;
            self.run(op)$($await)*
        }

        /// Aborts any transaction, `DISCARD ALL`, and restores the default session
        /// characteristics. A prepared two-phase transaction stays on the server.
        pub $($async)* fn reset(&mut self) -> Result<(), $crate::Error> {
            let op = $crate::session::reset(&mut self.engine)?;
            self.run(op)$($await)*.map(drop)
        }

        /// `SET client_encoding`.
        pub $($async)* fn set_client_encoding(&mut self, encoding: &str) -> Result<(), $crate::Error> {
            let op = $crate::session::set_client_encoding(&mut self.engine, encoding)?;
            self.run(op)$($await)*.map(drop)
        }

        /// Waits, while idle, for notifications (LISTEN / NOTIFY); returns those already
        /// received at once. `None` waits forever; on timeout the result is empty.
        pub $($async)* fn wait_for_notifications(&mut self, timeout: Option<std::time::Duration>) -> Result<Vec<$crate::Notification>, $crate::Error> {
            let pending = self.engine.take_notifications();
            if !pending.is_empty() {
                return Ok(pending);
            }
            let op = $crate::op::WaitNotifications::start(&mut self.engine)?;
            let deadline = timeout.map(|t| std::time::Instant::now() + t);
            match self.run_deadline(op, deadline)$($await)* {
                Err($crate::Error::Timeout) => {
                    self.engine.set_idle_read(false);
                    Ok(Vec::new())
                }
                other => other,
            }
        }

        /// See [`pgsans::Connection::set_prepare_threshold`]($crate::Connection::set_prepare_threshold).
        pub fn set_prepare_threshold(&mut self, threshold: Option<usize>) {
            self.engine.set_prepare_threshold(threshold)
        }

        /// See [`pgsans::Connection::set_statement_cache_capacity`]($crate::Connection::set_statement_cache_capacity).
        pub fn set_statement_cache_capacity(&mut self, capacity: usize) {
            self.engine.set_statement_cache_capacity(capacity)
        }

        /// Takes the notices received so far (oldest first).
        pub fn take_notices(&mut self) -> Vec<$crate::Notice> {
            self.engine.take_notices()
        }

        /// Takes the notifications received so far (oldest first).
        pub fn take_notifications(&mut self) -> Vec<$crate::Notification> {
            self.engine.take_notifications()
        }

        /// How many notices to keep (default 50); older ones are dropped first.
        pub fn set_notice_limit(&mut self, limit: usize) {
            self.engine.set_notice_limit(limit)
        }

        /// Sends every notice to `handler` instead of keeping them.
        pub fn set_notice_handler(&mut self, handler: Option<$crate::NoticeHandler>) {
            self.engine.set_notice_handler(handler)
        }

        /// The engine, for its getters and for driving operations by hand.
        pub fn engine(&self) -> &$crate::Connection {
            &self.engine
        }
    };
}

/// Expands to the `Transaction<'a>` scope guard of a transport.
#[macro_export]
macro_rules! transport_transaction {
    (sync) => { $crate::transport_transaction!(@items [] []); };
    (async) => { $crate::transport_transaction!(@items [async] [.await]); };
    (@items [$($async:tt)*] [$($await:tt)*]) => {
        /// Rows of [`Connection::query_raw`], borrowed one at a time from the receive buffer.
        pub struct RowStream<'s> {
            conn: &'s mut Connection,
            op: $crate::extended::ExtendedQuery<'s>,
            result: Option<$crate::QueryResult>,
        }

        impl<'s> RowStream<'s> {
            /// The next row, valid until the next call; `None` at the end.
            pub $($async)* fn next(&mut self) -> Result<Option<$crate::Row<'_>>, $crate::Error> {
                if self.result.is_some() {
                    return Ok(None);
                }
                loop {
                    match $crate::step(&mut self.conn.engine, &mut self.op)? {
                        $crate::Step::Done($crate::QueryStep::Row) => break,
                        $crate::Step::Done($crate::QueryStep::Done(r) | $crate::QueryStep::Suspended(r)) => {
                            self.result = Some(r);
                            return Ok(None);
                        }
                        $crate::Step::Wait(wanted) => self.conn.io_step(wanted, None)$($await)*?,
                    }
                }
                match self.conn.engine.poll_event()? {
                    Some($crate::Event::DataRow(row)) => Ok(Some(row)),
                    _ => Err($crate::ProtocolError::Unexpected { ty: 'D', state: "streaming rows" }.into()),
                }
            }

            /// The columns, once the first row (or the end) was reached.
            pub fn columns(&self) -> Option<&[$crate::Column]> {
                self.result.as_ref().and_then(|r| r.columns.as_deref())
            }

            /// Rows returned or affected, once the stream ended.
            pub fn rows_affected(&self) -> Option<u64> {
                self.result.as_ref().map(|r| r.rows_affected())
            }
        }

        /// An open portal: rows in batches of a fixed size.
        pub struct Portal<'s> {
            conn: &'s mut Connection,
            batch: i32,
            first: Option<$crate::QueryStep>,
            columns: Option<std::sync::Arc<[$crate::Column]>>,
            done: bool,
        }

        impl<'s> Portal<'s> {
            /// The next batch of at most `batch` rows; empty once the portal is exhausted.
            pub $($async)* fn fetch(&mut self) -> Result<Vec<$crate::OwnedRow>, $crate::Error> {
                let step = match self.first.take() {
                    Some(step) => step,
                    None if self.done => return Ok(Vec::new()),
                    None => {
                        let op = $crate::extended::PortalFetch::start(&mut self.conn.engine, self.batch, self.columns.clone())?;
                        self.conn.run(op)$($await)*?
                    }
                };
                match step {
                    $crate::QueryStep::Suspended(r) => {
                        self.columns = r.columns.clone();
                        Ok(r.rows)
                    }
                    $crate::QueryStep::Done(r) => {
                        self.done = true;
                        Ok(r.rows)
                    }
                    $crate::QueryStep::Row => Err($crate::ProtocolError::Unexpected { ty: 'D', state: "fetching a portal" }.into()),
                }
            }

            /// Whether every row was fetched.
            pub fn is_exhausted(&self) -> bool {
                self.done && self.first.is_none()
            }

            /// Ends the portal early. (Dropping it does the same with the next operation.)
            pub $($async)* fn close(mut self) -> Result<(), $crate::Error> {
                if self.done {
                    return Ok(());
                }
                self.done = true;
                let op = $crate::extended::PortalFetch::close(&mut self.conn.engine)?;
                self.conn.run(op)$($await)*.map(drop)
            }
        }

        /// A transaction scope (psycopg 3's `transaction()`, tokio-postgres' `Transaction`).
        /// Derefs to the connection; nested scopes are savepoints.
        pub struct Transaction<'a> {
            conn: &'a mut Connection,
            ended: bool,
        }

        impl<'a> Transaction<'a> {
            /// Commits the scope: COMMIT, or RELEASE SAVEPOINT when nested.
            pub $($async)* fn commit(mut self) -> Result<(), $crate::Error> {
                self.ended = true;
                let op = $crate::session::end_scope(&mut self.conn.engine, true)?;
                self.conn.run(op)$($await)*.map(drop)
            }

            /// Rolls the scope back: ROLLBACK, or ROLLBACK TO SAVEPOINT when nested.
            pub $($async)* fn rollback(mut self) -> Result<(), $crate::Error> {
                self.ended = true;
                let op = $crate::session::end_scope(&mut self.conn.engine, false)?;
                self.conn.run(op)$($await)*.map(drop)
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
                    $crate::session::abandon_scope(&mut self.conn.engine);
                }
            }
        }
    };
}

/// Expands to a transport connection's spinning: `spin_for_answer` (called by `io_step` when a
/// whole request was just sent) and `set_spin_wait`. Needs the fields `engine`, `socket`,
/// `spin` ([`SpinWait`]($crate::drive::SpinWait)) and `read_would_block`.
#[doc(hidden)]
#[macro_export]
macro_rules! spin_methods {
    (sync) => { $crate::spin_methods!(@methods [] []); };
    (async) => {
        $crate::spin_methods!(@methods [async] [$crate::transport_kit::YieldNow::default().await;]);
    };
    (@methods [$($async:tt)*] [$($yield_task:tt)*]) => {
        /// A request was just sent: retry reading for a moment before sleeping (see
        /// [`Config::spin_wait`]($crate::Config::spin_wait)), yielding to the runtime's other
        /// tasks, if any, and to other threads (the server may be waiting for this CPU) between
        /// tries, and never past `deadline`. True if the answer began to arrive.
        $($async)* fn spin_for_answer(&mut self, deadline: Option<std::time::Instant>) -> Result<bool, $crate::Error> {
            let Some(budget) = self.spin.budget() else { return Ok(false) };
            let start = std::time::Instant::now();
            let end = deadline.map_or(start + budget, |d| d.min(start + budget));
            let answered = loop {
                $($yield_task)*
                std::thread::yield_now();
                if $crate::drive::transfer(&mut self.engine, &mut self.socket, $crate::Poll::Read)?.progressed {
                    break true;
                }
                if std::time::Instant::now() >= end {
                    break false;
                }
            };
            self.spin.record(answered);
            self.read_would_block = !answered;
            Ok(answered)
        }

        /// Changes how long this connection spins for an answer before waiting
        /// ([`Config::spin_wait`]($crate::Config::spin_wait)); zero turns spinning off.
        pub fn set_spin_wait(&mut self, limit: std::time::Duration) {
            self.spin.set_limit(limit);
        }
    };
}

/// How many CPUs this process may run on (affinity mask, cgroup quota), for
/// [`spin_limit`]($crate::drive::spin_limit).
#[doc(hidden)]
pub fn available_cpus() -> usize {
    // Asked once: the answer reads cgroup files, and connections are made often.
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get))
}

/// Yields once to the async runtime: wakes itself and returns `Pending`, so the runtime runs
/// its other ready tasks before polling again (any runtime; no timer, no I/O).
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct YieldNow(bool);

impl std::future::Future for YieldNow {
    type Output = ();
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

/// Expands to everything an async transport has besides its socket: the `Connection` type
/// (connect over the host list, `run`, `run_deadline`, the generated methods, `close`,
/// `cancel_token`, `Drop`), its `Transaction`, `RowStream` and `Portal`, and `CancelToken`.
///
/// The transport provides, in scope:
/// * `Socket`: `Debug` + [`TryIo`]($crate::drive::TryIo), with
///   `async fn ready(&self, wanted: Poll) -> std::io::Result<()>`;
/// * `async fn open_socket(target: &Target) -> Result<Socket, Error>`;
/// * `async fn with_deadline<T>(deadline: std::time::Instant, f: impl Future<Output = Result<T, Error>>) -> Result<T, Error>`
///   (its runtime's timer; `Error::Timeout` when it fires).
#[macro_export]
macro_rules! async_transport {
    () => {
        /// An async connection to PostgreSQL.
        #[derive(Debug)]
        pub struct Connection {
            engine: $crate::Connection,
            socket: Socket,
            /// Where we are connected: cancel requests go there.
            target: $crate::config::Target,
            /// The last transfer said a read would find nothing: wait before reading.
            read_would_block: bool,
            /// Whether to spin for an answer before sleeping.
            spin: $crate::drive::SpinWait,
        }

        $crate::transport_transaction!(async);

        /// Cancels the running query of the connection it came from (a CancelRequest on a new
        /// connection to the same server). `Send + Sync`; cancelling when nothing runs is harmless.
        #[derive(Debug, Clone)]
        pub struct CancelToken {
            key: $crate::CancelToken,
            target: $crate::config::Target,
        }

        impl CancelToken {
            /// Sends the cancel request and waits until the server has read it (it closes the socket).
            pub async fn cancel(&self) -> Result<(), $crate::Error> {
                let mut socket = open_socket(&self.target).await?;
                let mut request = $crate::CancelRequest::new(&self.key);
                loop {
                    match request.poll()? {
                        $crate::Poll::Ok => return Ok(()),
                        wanted => match $crate::drive::transfer(&mut request, &mut socket, wanted) {
                            Ok(t) if t.progressed => {}
                            Ok(_) => socket.ready(wanted).await?,
                            Err(_) if request.is_done() => return Ok(()),
                            Err(e) => return Err(e),
                        },
                    }
                }
            }
        }

        impl std::ops::Deref for Connection {
            type Target = $crate::Connection;
            fn deref(&self) -> &$crate::Connection {
                &self.engine
            }
        }

        fn random_nonce() -> Result<$crate::ClientNonce, $crate::Error> {
            let mut bytes = [0u8; 18];
            ::getrandom::getrandom(&mut bytes)
                .map_err(|e| $crate::Error::from(std::io::Error::other(e.to_string())))?;
            Ok($crate::ClientNonce::from_random_bytes(bytes))
        }

        impl Connection {
            /// Connects with a libpq connection string or `postgresql://` URL, completed from
            /// the `PG*` environment variables and `.pgpass` like libpq. Hosts are tried in order.
            pub async fn connect(conninfo: &str) -> Result<Connection, $crate::Error> {
                Self::connect_with(&$crate::Config::load(conninfo)?).await
            }

            /// Connects with a ready configuration (nothing is read from the environment).
            pub async fn connect_with(config: &$crate::Config) -> Result<Connection, $crate::Error> {
                let mut last = None;
                for target in config.targets()? {
                    let attempt = async {
                        let socket = open_socket(&target).await?;
                        let engine = $crate::Connection::new(config, random_nonce()?)?;
                        let mut conn = Connection {
                            engine,
                            socket,
                            target: target.clone(),
                            read_would_block: false,
                            spin: $crate::drive::SpinWait::new($crate::drive::spin_limit(
                                config,
                                $crate::transport_kit::available_cpus(),
                            )),
                        };
                        conn.run($crate::op::Startup).await?;
                        Ok::<_, $crate::Error>(conn)
                    };
                    let result = match config.connect_timeout() {
                        Some(t) => with_deadline(std::time::Instant::now() + t, attempt).await,
                        None => attempt.await,
                    };
                    match result {
                        Ok(c) => return Ok(c),
                        Err(e) => last = Some(e),
                    }
                }
                Err(last
                    .unwrap_or($crate::Error::Config($crate::ConfigError::Unsupported("no host to connect to".into()))))
            }

            /// Runs any engine [`Operation`]($crate::Operation) to completion.
            pub async fn run<O: $crate::Operation>(&mut self, mut op: O) -> Result<O::Output, $crate::Error> {
                loop {
                    match $crate::step(&mut self.engine, &mut op)? {
                        $crate::Step::Done(out) => return Ok(out),
                        $crate::Step::Wait(wanted) => self.io_step(wanted, None).await?,
                    }
                }
            }

            /// Moves bytes for `wanted`, waiting for readiness only if nothing moves.
            async fn io_step(
                &mut self,
                wanted: $crate::Poll,
                _deadline: Option<std::time::Instant>,
            ) -> Result<(), $crate::Error> {
                if wanted == $crate::Poll::Read && self.read_would_block && self.spin_for_answer(None).await? {
                    return Ok(());
                }
                if !(wanted == $crate::Poll::Read && self.read_would_block) {
                    let t = $crate::drive::transfer(&mut self.engine, &mut self.socket, wanted)?;
                    self.read_would_block = t.read_would_block;
                    if t.progressed {
                        return Ok(());
                    }
                }
                self.read_would_block = false;
                match self.socket.ready(wanted).await {
                    Ok(()) => Ok(()),
                    Err(e) => Err(self.engine.transport_error(e.into())),
                }
            }

            $crate::spin_methods!(async);

            /// Runs an operation until `deadline` ([`Error::Timeout`]($crate::Error::Timeout);
            /// the connection stays usable: the abandoned operation is drained by the next one).
            pub async fn run_deadline<O: $crate::Operation>(
                &mut self,
                op: O,
                deadline: Option<std::time::Instant>,
            ) -> Result<O::Output, $crate::Error> {
                match deadline {
                    Some(d) => with_deadline(d, self.run(op)).await,
                    None => self.run(op).await,
                }
            }

            $crate::transport_methods!(async);

            /// Sends Terminate and closes the socket. Idempotent.
            pub async fn close(&mut self) -> Result<(), $crate::Error> {
                if self.engine.is_closed() && self.engine.transmit().is_empty() {
                    return Ok(());
                }
                let op = $crate::op::Terminate::start(&mut self.engine);
                self.run(op).await
            }

            /// A token that cancels this connection's running query from any task or thread.
            pub fn cancel_token(&self) -> Option<CancelToken> {
                Some(CancelToken { key: self.engine.cancel_key()?, target: self.target.clone() })
            }
        }

        impl Drop for Connection {
            fn drop(&mut self) {
                // Best effort, without blocking: tell the server we are leaving.
                if !self.engine.is_closed() {
                    self.engine.terminate();
                    let _ = $crate::drive::TryIo::try_write(&mut self.socket, self.engine.transmit());
                }
            }
        }
    };
}
