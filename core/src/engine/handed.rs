//! What requests hand their callers themselves, borrowed from the receive buffer: streamed
//! rows, and data (a COPY OUT's chunks) — the engine stops before such a message
//! ([`Wants::stop_before`](crate::request::Wants)) until the caller takes it — and what callers
//! hand requests (a COPY IN's data).

use super::Connection;
use crate::error::Error;
use crate::replication::{HotStandbyFeedback, ReplicationMessage, StandbyStatus};
use crate::request::replication::ReplicationMachine;
use crate::request::{CallerData, CopyFormat};
use crate::session::conversation::Conversation;
use crate::session::conversation::RequestId;
use crate::types::row::Row;

impl Connection {
    /// Whether a streamed row of request `id` is ready for [`take_row`](Self::take_row).
    pub fn row_ready(&self, id: RequestId) -> bool {
        self.stopped_before(id, b'D').is_some()
    }

    /// The next row of a streaming request ([`Mode::Stream`](crate::Mode::Stream)), borrowed
    /// from the receive buffer until the next call on the engine; `None` when no row of `id`
    /// is ready (call [`poll`](Self::poll) and move bytes).
    pub fn take_row(&mut self, id: RequestId) -> Result<Option<Row<'_>>, Error> {
        let Some(len) = self.stopped_before(id, b'D') else {
            return Ok(None);
        };
        self.stop = None;
        let range = self.channel.recv.consume(len);
        let body = range.start + 5..range.end;
        if let Err(e) = self.index_row(body.clone()) {
            return Err(self.fail(e));
        }
        Ok(Some(Row::new(self.columns.as_ref(), self.channel.recv.slice(body), &self.row_ranges)))
    }

    /// The framed length of the message of type `ty` of request `id` the engine stopped
    /// before, if it did.
    pub(crate) fn stopped_before(&self, id: RequestId, ty: u8) -> Option<usize> {
        let (owner, stopped_ty, len) = self.stop?;
        (owner == id && stopped_ty == ty).then_some(len)
    }

    /// The unread rest of the body of that message, without taking it.
    pub(crate) fn peek_stopped(&self, id: RequestId, ty: u8) -> Option<&[u8]> {
        let len = self.stopped_before(id, ty)?;
        let message = self.channel.recv.unread().get(..len)?;
        message.get((5 + self.stop_consumed).min(len)..)
    }

    /// Takes the unread rest of the body of that message (the engine moves past it).
    pub(crate) fn take_stopped(&mut self, id: RequestId, ty: u8) -> Option<&[u8]> {
        let len = self.stopped_before(id, ty)?;
        self.stop = None;
        let range = self.channel.recv.consume(len);
        let start = range.start + 5 + std::mem::take(&mut self.stop_consumed);
        Some(self.channel.recv.slice(start.min(range.end)..range.end))
    }

    /// Marks `n` more bytes of that message's body as read; once all of it is, the engine
    /// moves past it.
    pub(crate) fn consume_stopped(&mut self, id: RequestId, ty: u8, n: usize) {
        let Some(len) = self.stopped_before(id, ty) else { return };
        self.stop_consumed += n;
        if 5 + self.stop_consumed >= len {
            self.stop_consumed = 0;
            self.stop = None;
            self.channel.recv.consume(len);
        }
    }

    /// Whether data of request `id` (a COPY OUT's CopyData) is ready for
    /// [`take_data`](Self::take_data).
    pub fn data_ready(&self, id: RequestId) -> bool {
        self.stopped_before(id, b'd').is_some()
    }

    /// The next chunk of data a request hands its caller (a COPY OUT:
    /// [`Request::copy_out`](crate::Request::copy_out)), borrowed from the receive buffer until
    /// the next call on the engine (with COPY's text formats, usually one row); `None` when none
    /// is ready (call [`poll`](Self::poll) and move bytes). The end of the data is the
    /// request's response.
    pub fn take_data(&mut self, id: RequestId) -> Option<&[u8]> {
        self.take_stopped(id, b'd')
    }

    /// The unread rest of the chunk [`take_data`](Self::take_data) would take, without taking
    /// it (for a reader that hands out less than a chunk at a time: `AsyncBufRead`); `None`
    /// when none is ready. Mark what was used with [`consume_data`](Self::consume_data).
    pub fn peek_data(&self, id: RequestId) -> Option<&[u8]> {
        self.peek_stopped(id, b'd')
    }

    /// Marks `n` more bytes of the chunk [`peek_data`](Self::peek_data) shows as read; once all
    /// of it is, the engine moves past it (and `n == 0` on an empty chunk moves past it too).
    pub fn consume_data(&mut self, id: RequestId, n: usize) {
        self.consume_stopped(id, b'd', n)
    }

    /// The format of the data request `id` hands its caller (a COPY OUT), once announced.
    pub fn output_format(&self, id: RequestId) -> Option<&CopyFormat> {
        self.machine(id)?.output_format()
    }

    /// `Some(format)` while request `id` waits for data from its caller (a COPY IN): send it
    /// with [`send_data`](Self::send_data). `None` before the server is ready and once the data
    /// has ended (a server error mid-copy ends it: see [`take_response`](Self::take_response)).
    pub fn input_format(&self, id: RequestId) -> Option<&CopyFormat> {
        self.machine(id)?.input_format()
    }

    /// Sends `data` for request `id` (a COPY IN, while [`input_format`](Self::input_format) is
    /// `Some`). The bytes are queued in [`transmit`](Self::transmit): write them out before
    /// queueing much more (the transports keep at most a few hundred KiB queued).
    pub fn send_data(&mut self, id: RequestId, data: &[u8]) -> Result<(), Error> {
        self.with_request(id, |machine, conv| machine.caller_data(CallerData::Bytes(data), conv))
    }

    /// Ends the data of request `id` (a COPY IN: CopyDone; its response is the row count).
    pub fn finish_data(&mut self, id: RequestId) -> Result<(), Error> {
        self.with_request(id, |machine, conv| machine.caller_data(CallerData::End, conv))
    }

    /// Abandons the data of request `id` with `message` (a COPY IN: CopyFail): the server
    /// rejects it (the response is the server's 57014 error naming the message) and, in a
    /// transaction block, aborts the transaction.
    pub fn fail_data(&mut self, id: RequestId, message: &str) -> Result<(), Error> {
        self.with_request(id, |machine, conv| machine.caller_data(CallerData::Fail(message), conv))
    }

    /// The next message of replication stream `id`
    /// ([`Request::start_replication`](crate::Request::start_replication)), borrowed from the
    /// receive buffer until the next call on the engine; `None` when none is ready (call
    /// [`poll`](Self::poll) and move bytes). The engine reads nothing more for the stream
    /// until it is taken. A keepalive that asks for a reply is answered at once (the positions
    /// last reported, at the time last given to [`set_current_time`](Self::set_current_time)).
    /// A message that is neither XLogData nor a keepalive breaks the connection.
    pub fn take_replication(&mut self, id: RequestId) -> Result<Option<ReplicationMessage<'_>>, Error> {
        let Some(body) = self.peek_stopped(id, b'd') else {
            return Ok(None);
        };
        // Without its data, so that the receive buffer is free to move on.
        let message: ReplicationMessage<'static> = match ReplicationMessage::parse(body) {
            Ok(ReplicationMessage::XLogData { wal_start, wal_end, server_time, .. }) => {
                ReplicationMessage::XLogData { wal_start, wal_end, server_time, data: &[] }
            }
            Ok(ReplicationMessage::Keepalive { wal_end, server_time, reply_requested }) => {
                ReplicationMessage::Keepalive { wal_end, server_time, reply_requested }
            }
            Err(e) => return Err(self.fail(e)),
        };
        let now = crate::replication::pg_time(self.wall_clock);
        if let Err(e) = self.with_replication(id, |r, conv| r.taken(&message, now, conv)) {
            return Err(self.fail(e));
        }
        let Some(body) = self.take_stopped(id, b'd') else {
            return Err(Error::Internal("a replication message vanished".into()));
        };
        ReplicationMessage::parse(body).map(Some)
    }

    /// Whether replication stream `id` has started (the server answered with the stream) and
    /// is not over.
    pub fn replication_started(&self, id: RequestId) -> bool {
        matches!(self.machine(id), Some(crate::request::Machine::Replication(r)) if r.streaming().is_ok())
    }

    /// Sends a standby status update on replication stream `id`: how far the caller has
    /// written, flushed and applied what it received (positions never move back; the server
    /// may recycle WAL before `flushed`, and a logical slot's `confirmed_flush_lsn` follows
    /// it). `reply_requested` asks the server for a keepalive at once.
    pub fn send_standby_status(
        &mut self,
        id: RequestId,
        status: StandbyStatus,
        reply_requested: bool,
    ) -> Result<(), Error> {
        let now = crate::replication::pg_time(self.wall_clock);
        self.with_replication(id, |r, conv| r.send_status(status, now, reply_requested, conv))
    }

    /// Records the positions of replication stream `id` without sending them: they go out with
    /// the next status update (a keepalive's reply, or [`send_standby_status`](Self::send_standby_status)).
    pub fn record_standby_status(&mut self, id: RequestId, status: StandbyStatus) -> Result<(), Error> {
        self.with_replication(id, |r, _| r.record_status(status))
    }

    /// The positions last reported on replication stream `id` (by the caller, or moved on by
    /// a keepalive once everything received was flushed).
    pub fn standby_status(&self, id: RequestId) -> Option<StandbyStatus> {
        match self.machine(id)? {
            crate::request::Machine::Replication(r) => Some(r.status()),
            _ => None,
        }
    }

    /// Sends hot standby feedback on physical replication stream `id`.
    pub fn send_hot_standby_feedback(&mut self, id: RequestId, feedback: HotStandbyFeedback) -> Result<(), Error> {
        let now = crate::replication::pg_time(self.wall_clock);
        self.with_replication(id, |r, conv| r.send_feedback(feedback, now, conv))
    }

    /// Ends replication stream `id` (CopyDone): what the server still sends is dropped; the
    /// response ([`Response::ReplicationEnded`](crate::Response::ReplicationEnded)) follows.
    pub fn stop_replication(&mut self, id: RequestId) -> Result<(), Error> {
        if self.stop.is_some_and(|(owner, _, _)| owner == id) {
            self.stop = None;
            self.stop_consumed = 0;
        }
        self.with_replication(id, |r, conv| {
            r.stop(conv);
            Ok(())
        })
    }

    fn with_replication(
        &mut self,
        id: RequestId,
        act: impl FnOnce(&mut ReplicationMachine, &mut Conversation) -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.with_request(id, |machine, conv| match machine.replication() {
            Some(r) => act(r, conv),
            None => Err(crate::UsageError::InvalidState("this request is not a replication stream".into()).into()),
        })
    }
}
