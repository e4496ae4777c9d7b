//! A replication stream: `START_REPLICATION …` sent as a simple Query on a replication
//! connection, answered with CopyBothResponse; then the server sends XLogData and keepalives
//! (the engine stops before each for the caller,
//! [`Connection::take_replication`](crate::Connection::take_replication)) while the client sends
//! status updates. Either side ends it with CopyDone; the other answers with its own, and
//! after a physical stream that reached the end of its timeline the server sends the next
//! timeline as a one-row result set. The request stays in flight for the whole stream and
//! holds the connection to itself.

use super::{Progress, Response, Wants};
use crate::error::{DbError, Error, UsageError};
use crate::replication::{self, ReplicationEnd, ReplicationMessage, StandbyStatus};
use crate::request::event::Event;
use crate::session::conversation::Conversation;
use crate::types::PgLsn;
use crate::wire::codec::frontend;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The Query is sent; the server has not started streaming.
    Waiting,
    /// Both directions are open.
    Streaming,
    /// Our CopyDone is sent: what the server still sends before its own is dropped.
    Stopping,
    /// The stream is over (or never started); the ReadyForQuery ends the request.
    After,
}

#[derive(Debug)]
pub(crate) struct ReplicationMachine {
    state: State,
    /// Our CopyDone went out.
    sent_done: bool,
    /// The positions last reported (what an automatic reply to a keepalive reports).
    status: StandbyStatus,
    /// Where the last XLogData taken started: once everything up to it is flushed, a
    /// keepalive moves the reported positions on to the server's WAL end (nothing the caller
    /// must see lies before it), as psycopg2 does, so that an idle slot does not hold WAL.
    last_data_start: PgLsn,
    next_timeline: Option<(u32, PgLsn)>,
    error: Option<Box<DbError>>,
    refused: Option<Error>,
    /// `START_REPLICATION … LOGICAL`.
    logical: bool,
}

impl ReplicationMachine {
    pub(crate) fn start(sql: &str, id: crate::RequestId, conv: &mut Conversation) -> Result<Self, Error> {
        let logical = sql.split_ascii_whitespace().any(|w| w.eq_ignore_ascii_case("LOGICAL"));
        if logical && conv.logical_streamed {
            // PostgreSQL's walsender keeps a logical stream's end in flags that the next
            // START_REPLICATION … LOGICAL does not reset: it would end at once.
            return Err(UsageError::InvalidState(
                "a logical replication stream already ran on this connection, and PostgreSQL \
                 ends every later one at once: open a new replication connection"
                    .into(),
            )
            .into());
        }
        conv.queue_simple(id, sql)?;
        Ok(ReplicationMachine {
            state: State::Waiting,
            sent_done: false,
            status: StandbyStatus::default(),
            last_data_start: PgLsn(0),
            next_timeline: None,
            error: None,
            refused: None,
            logical,
        })
    }

    pub(crate) fn wants(&self) -> Wants {
        Wants {
            stop_before: (self.state == State::Streaming).then_some(b'd'),
            caller_first: false,
            exclusive: (self.state != State::After)
                .then_some("a replication stream is running: stop it (and take its response) first"),
            idle_input: false,
        }
    }

    /// Whether the stream is open for status updates.
    pub(crate) fn streaming(&self) -> Result<(), Error> {
        match self.state {
            State::Streaming => Ok(()),
            State::Waiting => Err(UsageError::InvalidState("the replication stream has not started yet".into()).into()),
            _ => Err(UsageError::InvalidState("the replication stream is over".into()).into()),
        }
    }

    /// The caller took `message`: a keepalive that asks for a reply is answered now.
    pub(crate) fn taken(
        &mut self,
        message: &ReplicationMessage<'_>,
        now: i64,
        conv: &mut Conversation,
    ) -> Result<(), Error> {
        match *message {
            ReplicationMessage::XLogData { wal_start, .. } => self.last_data_start = wal_start,
            ReplicationMessage::Keepalive { wal_end, reply_requested, .. } => {
                if self.status.flushed >= self.last_data_start {
                    self.status = self.status.max(StandbyStatus::at(wal_end));
                }
                if reply_requested {
                    replication::standby_status_update(self.status, now, false, conv.buf())?;
                }
            }
        }
        Ok(())
    }

    /// A standby status update with `status` (positions never move back).
    pub(crate) fn send_status(
        &mut self,
        status: StandbyStatus,
        now: i64,
        reply_requested: bool,
        conv: &mut Conversation,
    ) -> Result<(), Error> {
        self.streaming()?;
        self.status = self.status.max(status);
        replication::standby_status_update(self.status, now, reply_requested, conv.buf())
    }

    /// Positions to report with the next update.
    pub(crate) fn record_status(&mut self, status: StandbyStatus) -> Result<(), Error> {
        self.streaming()?;
        self.status = self.status.max(status);
        Ok(())
    }

    /// Positions last reported.
    pub(crate) fn status(&self) -> StandbyStatus {
        self.status
    }

    pub(crate) fn send_feedback(
        &mut self,
        feedback: replication::HotStandbyFeedback,
        now: i64,
        conv: &mut Conversation,
    ) -> Result<(), Error> {
        self.streaming()?;
        replication::hot_standby_feedback(feedback, now, conv.buf())
    }

    /// Ends our side of the stream (CopyDone): the server answers with its own and ends the
    /// command. Safe before the server has started streaming: outside copy mode it ignores a
    /// CopyDone.
    pub(crate) fn stop(&mut self, conv: &mut Conversation) {
        if !self.sent_done {
            frontend::copy_done(conv.buf());
            self.sent_done = true;
        }
        if self.state == State::Streaming {
            self.state = State::Stopping;
        }
    }

    pub(crate) fn on_event(&mut self, ev: Event<'_>, conv: &mut Conversation) -> Progress {
        match ev {
            Event::CopyBothResponse { .. } if self.state == State::Waiting => {
                conv.logical_streamed |= self.logical;
                self.state = if self.sent_done { State::Stopping } else { State::Streaming };
            }
            Event::CopyBothResponse { .. } | Event::CopyOutResponse { .. } | Event::CopyInResponse { .. } => {
                self.refused.get_or_insert_with(not_replication);
            }
            Event::CopyData(_) => {} // After our CopyDone: dropped.
            Event::CopyDone => {
                // The server ended the stream: answer with ours, unless it went already.
                if !self.sent_done {
                    frontend::copy_done(conv.buf());
                    self.sent_done = true;
                }
                self.state = State::After;
            }
            Event::DataRow(row) if self.state != State::Waiting => {
                // The next timeline, after a physical stream reached the end of its own.
                let tli = row.get_str(0).ok().flatten().and_then(|s| s.parse::<u32>().ok());
                let lsn = row.get_str(1).ok().flatten().and_then(|s| s.parse::<PgLsn>().ok());
                if let (Some(tli), Some(lsn)) = (tli, lsn) {
                    self.next_timeline = Some((tli, lsn));
                }
            }
            Event::RowDescription(_) | Event::CommandComplete(_) if self.state != State::Waiting => {}
            Event::RowDescription(_) | Event::DataRow(_) | Event::CommandComplete(_) | Event::EmptyQueryResponse => {
                self.refused.get_or_insert_with(not_replication);
            }
            Event::Error(e) => {
                self.error.get_or_insert(e);
                self.state = State::After;
            }
            Event::ReadyForQuery(_) => {
                self.state = State::After;
                if let Some(e) = self.error.take() {
                    return Progress::Done(Err(Error::Db(e)));
                }
                if let Some(e) = self.refused.take() {
                    return Progress::Done(Err(e));
                }
                let end = ReplicationEnd { next_timeline: self.next_timeline };
                return Progress::Done(Ok(Response::ReplicationEnded(end)));
            }
            _ => {}
        }
        Progress::Pending
    }
}

fn not_replication() -> Error {
    UsageError::InvalidArgument(
        "a replication stream needs a START_REPLICATION command on a replication connection \
         (replication=database or replication=true); the server ran something else"
            .into(),
    )
    .into()
}
