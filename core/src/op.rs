//! Operations: the protocol procedures a transport runs to completion.
//!
//! This is psycopg 3's generator model in Rust: an [`Operation`] consumes the engine's events
//! and says when it is done; [`step`] combines that with [`Connection::poll`] into one answer,
//! so a transport's whole job is this loop (shown blocking; the async ones only add `.await`):
//!
//! ```ignore
//! loop {
//!     match pgsans::step(&mut engine, &mut op)? {
//!         Step::Done(output) => return Ok(output),
//!         Step::Wait(Poll::Write) => { let n = socket.write(engine.transmit())?; engine.advance(n); }
//!         Step::Wait(Poll::Read) => { let n = socket.read(engine.recv_buf())?;
//!                                     if n == 0 { engine.receive_eof() } else { engine.recv_commit(n) } }
//!         Step::Wait(Poll::ReadWrite) => { /* wait for either, then do the one that is ready */ }
//!         Step::Wait(Poll::Ok) => unreachable!(),
//!     }
//! }
//! ```

use crate::connection::{Connection, Event, Poll};
use crate::error::{DbError, Error, ProtocolError};
use crate::row::{ResultSet, SimpleBatch};

/// A protocol procedure driven by a transport.
pub trait Operation {
    type Output;
    /// Consumes the events available now. Returns `Some(output)` when the operation is complete,
    /// `None` when it needs more I/O.
    fn drive(&mut self, conn: &mut Connection) -> Result<Option<Self::Output>, Error>;
}

/// What a transport does next.
#[derive(Debug)]
pub enum Step<T> {
    /// The operation finished.
    Done(T),
    /// Wait for this, move bytes, and call [`step`] again. Never [`Poll::Ok`].
    Wait(Poll),
}

impl<T> Step<T> {
    /// Maps the output of a finished step.
    pub fn map_done<U>(self, f: impl FnOnce(T) -> U) -> Step<U> {
        match self {
            Step::Done(t) => Step::Done(f(t)),
            Step::Wait(p) => Step::Wait(p),
        }
    }
}

/// Drives `op` as far as the buffered bytes allow and says what to wait for.
pub fn step<O: Operation>(conn: &mut Connection, op: &mut O) -> Result<Step<O::Output>, Error> {
    if let Some(out) = op.drive(conn)? {
        return Ok(Step::Done(out));
    }
    match conn.poll()? {
        // The operation drained every event and is not done, yet the engine awaits nothing:
        // that is a bug, and hanging would hide it.
        Poll::Ok => Err(ProtocolError::Unexpected { ty: '-', state: "the operation stalled" }.into()),
        wait => Ok(Step::Wait(wait)),
    }
}

/// Startup: runs until the first ReadyForQuery.
#[derive(Debug, Default)]
pub struct Startup;

impl Operation for Startup {
    type Output = ();
    fn drive(&mut self, conn: &mut Connection) -> Result<Option<()>, Error> {
        while let Some(ev) = conn.poll_event()? {
            if let Event::ReadyForQuery(_) = ev {
                return Ok(Some(()));
            }
        }
        Ok(None)
    }
}

/// A simple-protocol query: collects one [`ResultSet`] per statement up to the first error.
#[derive(Debug)]
pub struct SimpleQuery {
    /// Requests queued ahead of the user's (the automatic BEGIN) whose events are not results.
    prefix: usize,
    collected: ResultSets,
    keep_rows: bool,
}

/// The result sets of simple-query statements (one per statement) and the first error, built
/// from their events; shared by [`SimpleQuery`] and the session's commands.
#[derive(Debug, Default)]
pub(crate) struct ResultSets {
    pub(crate) results: Vec<ResultSet>,
    current: Option<ResultSet>,
    pub(crate) error: Option<Box<DbError>>,
}

impl ResultSets {
    /// Takes a result event (description, row — dropped unless `keep_rows` —, completion,
    /// empty query, error); gives any other event back.
    pub(crate) fn take<'e>(&mut self, ev: Event<'e>, keep_rows: bool) -> Option<Event<'e>> {
        let empty = || ResultSet { columns: None, rows: Vec::new(), tag: None };
        match ev {
            Event::RowDescription(cols) => {
                self.current = Some(ResultSet { columns: Some(cols.clone()), rows: Vec::new(), tag: None });
            }
            Event::DataRow(row) => {
                if keep_rows {
                    self.current.get_or_insert_with(empty).rows.push(row.to_owned());
                }
            }
            Event::CommandComplete(tag) => {
                let mut rs = self.current.take().unwrap_or_else(empty);
                rs.tag = Some(tag.to_owned());
                self.results.push(rs);
            }
            Event::EmptyQueryResponse => self.results.push(empty()),
            Event::Error(e) => {
                self.current = None;
                self.error.get_or_insert(e);
            }
            other => return Some(other),
        }
        None
    }
}

impl SimpleQuery {
    /// Queues `sql` and returns the operation that collects its results. Anything still
    /// outstanding from an abandoned operation is drained and dropped first.
    ///
    /// Outside autocommit mode, with no transaction open, the session's `BEGIN` is queued first
    /// (psycopg2's behaviour); after `tpc_prepare` queries are a misuse error.
    pub fn start(conn: &mut Connection, sql: &str) -> Result<SimpleQuery, Error> {
        crate::session::check_not_prepared(conn, "execute")?;
        if sql.contains('\0') {
            return Err(crate::UsageError::NulInString("query").into());
        }
        conn.abandon_outstanding();
        let mut prefix = 0;
        if let Some(begin) = crate::session::needs_begin(conn) {
            conn.simple_query(&begin)?;
            prefix = 1;
        }
        conn.simple_query(sql)?;
        Ok(SimpleQuery { prefix, collected: ResultSets::default(), keep_rows: true })
    }

    /// Like [`start`](Self::start) but rows are counted by the server and not kept
    /// (tokio-postgres' `batch_execute`).
    pub fn start_discarding_rows(conn: &mut Connection, sql: &str) -> Result<SimpleQuery, Error> {
        let mut q = Self::start(conn, sql)?;
        q.keep_rows = false;
        Ok(q)
    }
}

impl Operation for SimpleQuery {
    type Output = SimpleBatch;
    fn drive(&mut self, conn: &mut Connection) -> Result<Option<SimpleBatch>, Error> {
        while let Some(ev) = conn.poll_event()? {
            if crate::connection::consume_prefix(&mut self.prefix, &ev, &mut self.collected.error) {
                continue;
            }
            if let Some(Event::ReadyForQuery(_)) = self.collected.take(ev, self.keep_rows) {
                let collected = std::mem::take(&mut self.collected);
                return Ok(Some(SimpleBatch { results: collected.results, error: collected.error }));
            }
        }
        Ok(None)
    }
}

/// Waits while idle until at least one notification has arrived, and returns them all.
#[derive(Debug)]
pub struct WaitNotifications;

impl WaitNotifications {
    pub fn start(conn: &mut Connection) -> Result<WaitNotifications, Error> {
        conn.check_ready()?;
        conn.abandon_outstanding();
        conn.set_idle_read(true);
        Ok(WaitNotifications)
    }
}

impl Operation for WaitNotifications {
    type Output = Vec<crate::Notification>;
    fn drive(&mut self, conn: &mut Connection) -> Result<Option<Self::Output>, Error> {
        while conn.poll_event()?.is_some() {}
        let got = conn.take_notifications();
        if got.is_empty() {
            Ok(None)
        } else {
            conn.set_idle_read(false);
            Ok(Some(got))
        }
    }
}

/// Close: queues Terminate and finishes once it is written.
#[derive(Debug)]
pub struct Terminate;

impl Terminate {
    pub fn start(conn: &mut Connection) -> Terminate {
        conn.terminate();
        Terminate
    }
}

impl Operation for Terminate {
    type Output = ();
    fn drive(&mut self, conn: &mut Connection) -> Result<Option<()>, Error> {
        Ok(conn.transmit().is_empty().then_some(()))
    }
}
