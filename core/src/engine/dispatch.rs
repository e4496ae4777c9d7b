//! Dispatch: every complete message received is framed, decoded and handled — what only the
//! engine cares about here (parameters, notices, notifications, startup, ReadyForQuery's
//! transaction status), everything else handed as an [`Event`] to the request whose sync point
//! it answers. The engine stops before a message a request wants to hand its caller itself
//! ([`Wants::stop_before`](crate::request::Wants)).

use std::ops::Range;
use std::sync::Arc;

use super::{Connection, Phase};
use crate::encoding::Encoding;
use crate::error::{ClosedReason, DbError, Error, ProtocolError};
use crate::request::event::Event;
use crate::request::{Abandoned, Progress, Response};
use crate::session::status::{Notification, TransactionStatus};
use crate::session::syncs::{Delivery, SyncPoint};
use crate::types::row::{Column, Row};
use crate::wire::codec::backend::{self, BackendMessage};

/// Where the next message's bytes are, or what to report instead (decided while mutating,
/// turned into a borrowing [`Event`] afterwards).
pub(super) enum Next {
    Owned(Event<'static>),
    RowDescription,
    DataRow(Range<usize>),
    CommandComplete(Range<usize>),
    CopyData(Range<usize>),
}

impl Connection {
    /// Handles every complete message buffered, stopping before a message a request hands its
    /// caller itself; then lets requests react (idle input, held requests, queueing more).
    pub(super) fn pump(&mut self) -> Result<(), Error> {
        self.stop = None;
        if let Some(e) = &self.fatal {
            return Err(e.clone());
        }
        if matches!(self.channel.ssl, super::channel::Ssl::Requested { .. }) {
            if let Err(e) = self.channel.ssl_answer(&mut self.conv.send) {
                return Err(self.fail(e));
            }
        }
        loop {
            self.stop = self.stop_owner();
            if self.stop.is_some() {
                break;
            }
            if !self.expects_messages() {
                // Nothing is outstanding: what follows cannot be an answer yet. Leave it for
                // when it can be (a real server never gets ahead of us; garbage is judged the
                // same way however it was cut).
                break;
            }
            let first = matches!(&self.phase, Phase::Startup(s) if s.nothing_received());
            let seen =
                if first { self.channel.recv.unread().get(..5).unwrap_or_default().to_vec() } else { Vec::new() };
            let frame = match backend::frame(self.channel.recv.unread(), self.channel.max_message_len) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    let e = not_postgres(first, &seen, e.into());
                    return Err(self.fail(e));
                }
            };
            let range = self.channel.recv.consume(frame.total_len);
            if matches!(self.phase, Phase::Closing | Phase::Closed) {
                continue; // After Terminate nothing more matters.
            }
            let body = range.start + 5..range.end;
            if let Err(e) = self.handle(frame.ty, body) {
                // A message a server may start with is judged as that message.
                let startup_type = matches!(frame.ty, b'R' | b'E' | b'N' | b'v');
                let e = not_postgres(first && !startup_type, &seen, e);
                return Err(self.fail(e));
            }
        }
        if self.stop.is_none() {
            self.channel.recv.shrink_if_idle();
            if self.channel.eof && !self.channel.recv.unread().is_empty() {
                return Err(self.fail(Error::Closed(ClosedReason::UnexpectedEof)));
            }
            if self.channel.eof
                && matches!(self.phase, Phase::Ready)
                && self.conv.syncs.is_empty()
                && !self.requests.iter().any(|r| r.machine.wants().idle_input)
            {
                return Err(self.fail(Error::Closed(ClosedReason::ServerClosed)));
            }
        }
        self.idle_input();
        if !self.held.is_empty() && self.stop.is_none() {
            self.start_held();
        }
        for r in self.requests.iter_mut() {
            // Never behind another request's open point (Parse + Describe + Flush, its Sync
            // still to come): after an error there the server skips everything until that Sync,
            // and what was queued would never be answered.
            if self.conv.syncs.open_point().is_some_and(|owner| owner != r.id) {
                continue;
            }
            if let Err(e) = r.machine.queue_more(r.id, &mut self.conv) {
                return Err(self.fail(e));
            }
        }
        Ok(())
    }

    /// Requests waiting for what the server sends unasked (notifications) see what arrived.
    fn idle_input(&mut self) {
        let mut i = 0;
        while i < self.requests.len() {
            let r = &mut self.requests[i];
            if r.machine.wants().idle_input {
                if let Some(result) = r.machine.on_idle(&self.conv) {
                    let id = r.id;
                    self.requests.remove(i);
                    self.done.push((id, result));
                    continue;
                }
            }
            i += 1;
        }
    }

    /// Whether a message can be handled now: during startup, or while a sync point someone
    /// waits on (and not for the caller first) or a request taking idle input is outstanding.
    /// (Notices, notifications and parameter changes that follow the last ReadyForQuery wait
    /// too: they are handled with what comes next.)
    pub(super) fn expects_messages(&self) -> bool {
        match self.phase {
            Phase::Startup(_) | Phase::Closing | Phase::Closed => true,
            // A suspended portal's point waits for the fetch that adopts it, a request waiting
            // for its caller first (a COPY IN before its first data): what was already received
            // stays unread until then, as it would had it not arrived yet.
            Phase::Ready => match self.conv.syncs.front() {
                Some(p) => {
                    p.discarded() || self.requests.iter().any(|r| r.id == p.owner && !r.machine.wants().caller_first)
                }
                None => self.requests.iter().any(|r| r.machine.wants().idle_input),
            },
        }
    }

    /// The request the next message belongs to, if it wants the engine to stop before it (and
    /// the message's framed length).
    fn stop_owner(&self) -> Option<(crate::RequestId, u8, usize)> {
        if self.fatal.is_some() {
            return None;
        }
        let front = self.conv.syncs.front()?;
        let &ty = self.channel.recv.unread().first()?;
        if front.discarded() || front.is_prefix() {
            return None;
        }
        let owner = self.requests.iter().find(|r| r.id == front.owner)?;
        if owner.machine.wants().stop_before != Some(ty) {
            return None;
        }
        backend::frame(self.channel.recv.unread(), self.channel.max_message_len)
            .ok()
            .flatten()
            .map(|f| (front.owner, ty, f.total_len))
    }

    /// Validates and indexes a DataRow body against the current RowDescription.
    pub(super) fn index_row(&mut self, body: Range<usize>) -> Result<(), Error> {
        // Every execution is described (simple queries always are; pgsans sends Describe with
        // every Execute), so a row is always decoded with its own execution's description.
        let Some(cols) = self.columns.as_ref() else {
            return Err(ProtocolError::Unexpected { ty: 'D', state: "no RowDescription preceded it" }.into());
        };
        backend::data_row_ranges(self.channel.recv.slice(body), &mut self.row_ranges)?;
        if cols.len() != self.row_ranges.len() {
            return Err(ProtocolError::Malformed {
                message: "DataRow",
                what: "column count differs from RowDescription",
            }
            .into());
        }
        Ok(())
    }

    fn handle(&mut self, ty: u8, body: Range<usize>) -> Result<(), Error> {
        // During startup a row can only answer the target_session_attrs check.
        if ty == b'D' && !matches!(self.phase, Phase::Startup(_)) {
            if self.conv.syncs.is_empty() {
                return Err(ProtocolError::Unexpected { ty: 'D', state: "idle" }.into());
            }
            self.index_row(body.clone())?;
            return self.deliver(Next::DataRow(body), None);
        }
        // The message borrows the receive buffer while the handler mutates the rest of the
        // engine; moving the buffer out for the duration is two pointer-sized moves.
        let recv = std::mem::take(&mut self.channel.recv);
        let result = backend::decode(ty, recv.slice(body.clone()))
            .map_err(Error::from)
            .and_then(|msg| self.handle_message(ty, body, msg));
        self.channel.recv = recv;
        match result? {
            Some((next, popped)) => self.deliver(next, popped),
            None => Ok(()),
        }
    }

    /// Handles a decoded message: what only the engine cares about is done here; what belongs
    /// to a request is returned (with the sync point a ReadyForQuery ended).
    fn handle_message(
        &mut self,
        ty: u8,
        body: Range<usize>,
        msg: BackendMessage<'_>,
    ) -> Result<Option<(Next, Option<SyncPoint>)>, Error> {
        let conv = &mut self.conv;
        // Messages that can arrive at any time.
        match msg {
            BackendMessage::ParameterStatus { name, value } => {
                let name = conv.encoding.decode_lossy(name).into_owned();
                let value = conv.encoding.decode_lossy(value).into_owned();
                match name.as_str() {
                    "client_encoding" => conv.encoding = Encoding::from_name(&value),
                    "search_path" => conv.statements.observe_search_path(),
                    _ => {}
                }
                conv.status.set_parameter(name, value);
                return Ok(None);
            }
            BackendMessage::NoticeResponse(fields) => {
                let notice = DbError::parse_in(fields, conv.encoding)?;
                conv.status.push_notice(notice);
                return Ok(None);
            }
            BackendMessage::NotificationResponse { process_id, channel, payload } => {
                let encoding = conv.encoding;
                conv.status.push_notification(Notification {
                    process_id,
                    channel: encoding.decode_lossy(channel).into_owned(),
                    payload: encoding.decode_lossy(payload).into_owned(),
                });
                return Ok(None);
            }
            _ => {}
        }
        if let Phase::Startup(startup) = &mut self.phase {
            let encoding = conv.encoding;
            if let Some(status) =
                startup.on_message(ty, msg, conv.send.vec(), &mut conv.status, encoding, self.channel.tls())?
            {
                conv.tx_status = status;
                conv.status.auth_method = Some(startup.method);
                self.phase = Phase::Ready;
            }
            return Ok(None);
        }
        // Ready: everything else answers the sync point at the front of the queue.
        if let BackendMessage::ErrorResponse(fields) = msg {
            let err = DbError::parse_in(fields, conv.encoding)?;
            if err.is_fatal() {
                return Err(Error::Db(Box::new(err)));
            }
            if conv.syncs.is_empty() {
                return Err(ProtocolError::Unexpected { ty: 'E', state: "idle" }.into());
            }
            self.copy_out = false;
            self.copy_both = false;
            conv.statements.observe_error();
            return Ok(Some((Next::Owned(Event::Error(Box::new(err))), None)));
        }
        let Some(front) = conv.syncs.front() else {
            return Err(ProtocolError::Unexpected { ty: ty as char, state: "idle" }.into());
        };
        let next = match msg {
            BackendMessage::ReadyForQuery { .. } if front.open() => {
                // Only a Sync (or a simple Query) is answered with ReadyForQuery.
                return Err(ProtocolError::Unexpected { ty: 'Z', state: "no Sync was sent" }.into());
            }
            BackendMessage::ReadyForQuery { status } => {
                let status = TransactionStatus::from_ready_for_query(status)?;
                let point = conv.syncs.pop_front();
                if conv.tx_status == TransactionStatus::Idle && status != TransactionStatus::Idle {
                    conv.transactions_begun += 1;
                }
                conv.tx_status = status;
                self.columns = None;
                self.copy_out = false;
                self.copy_both = false;
                conv.statements.observe_ready(status == TransactionStatus::Idle);
                return Ok(Some((Next::Owned(Event::ReadyForQuery(status)), point)));
            }
            BackendMessage::RowDescription(desc) => {
                let raw = desc.raw();
                let encoding = conv.encoding;
                let cols = match &self.last_row_description {
                    (enc, bytes, Some(cols)) if *enc == encoding && bytes.as_slice() == raw => cols.clone(),
                    _ => {
                        let cols: Arc<[Column]> =
                            desc.fields().map(|f| Column::from_field(f, encoding)).collect::<Vec<_>>().into();
                        self.last_row_description = (encoding, raw.to_vec(), Some(cols.clone()));
                        cols
                    }
                };
                self.columns = Some(cols);
                Next::RowDescription
            }
            BackendMessage::CommandComplete { tag } => {
                conv.statements.observe_tag(tag, front.search_path);
                Next::CommandComplete(body.start..body.start + tag.len())
            }
            BackendMessage::EmptyQueryResponse => Next::Owned(Event::EmptyQueryResponse),
            BackendMessage::ParseComplete => Next::Owned(Event::ParseComplete),
            BackendMessage::BindComplete => Next::Owned(Event::BindComplete),
            BackendMessage::CloseComplete => Next::Owned(Event::CloseComplete),
            BackendMessage::NoData => Next::Owned(Event::NoData),
            BackendMessage::PortalSuspended => Next::Owned(Event::PortalSuspended),
            BackendMessage::ParameterDescription(p) => Next::Owned(Event::ParameterDescription(p.types().collect())),
            BackendMessage::CopyInResponse(c) => {
                Next::Owned(Event::CopyInResponse { format: c.format, column_formats: c.column_formats().collect() })
            }
            BackendMessage::CopyOutResponse(c) => {
                self.copy_out = true;
                Next::Owned(Event::CopyOutResponse { format: c.format, column_formats: c.column_formats().collect() })
            }
            BackendMessage::CopyBothResponse(c) => {
                self.copy_out = true;
                self.copy_both = true;
                Next::Owned(Event::CopyBothResponse { format: c.format, column_formats: c.column_formats().collect() })
            }
            // Data only between a CopyOutResponse and its CopyDone: anything else is a server
            // out of step, not data to drop.
            BackendMessage::CopyData(_) if self.copy_out => Next::CopyData(body),
            BackendMessage::CopyDone if self.copy_out => {
                // A walsender still decoding a transaction when told to stop sends the rest of
                // it after its CopyDone (PostgreSQL 15): data may trail until the command ends.
                self.copy_out = self.copy_both;
                Next::Owned(Event::CopyDone)
            }
            BackendMessage::CopyData(_) | BackendMessage::CopyDone => {
                return Err(ProtocolError::Unexpected {
                    ty: ty as char,
                    state: "no COPY OUT or replication stream was started",
                }
                .into())
            }
            _ => return Err(ProtocolError::Unexpected { ty: ty as char, state: "a request was running" }.into()),
        };
        Ok(Some((next, None)))
    }

    /// Hands an event to the request whose sync point it answers (`popped`: the one a
    /// ReadyForQuery just ended; else the front one): swallowed for an abandoned request,
    /// recorded (its first error) for what was sent on a request's behalf.
    fn deliver(&mut self, next: Next, popped: Option<SyncPoint>) -> Result<(), Error> {
        let point = match &popped {
            Some(p) => p.clone(),
            None => match self.conv.syncs.front() {
                Some(p) => p.clone(),
                None => return Err(ProtocolError::Unexpected { ty: '?', state: "idle" }.into()),
            },
        };
        let starts_copy_in = matches!(next, Next::Owned(Event::CopyInResponse { .. }));
        if let Delivery::Discard { copy_failed } = point.delivery {
            // Nobody will send this copy-in its data (unless a CopyFail already went ahead).
            if starts_copy_in && !copy_failed {
                self.conv.end_copy_in()?;
            }
            return Ok(());
        }
        let owner = point.owner;
        let Some(i) = self.requests.iter().position(|r| r.id == owner) else {
            return Err(ProtocolError::Unexpected { ty: '?', state: "no request is waiting for it" }.into());
        };
        let ev = match next {
            Next::Owned(e) => e,
            Next::RowDescription => match self.columns.as_ref() {
                Some(c) => Event::RowDescription(c),
                None => return Err(Error::Internal("a RowDescription without columns".into())),
            },
            Next::DataRow(body) => {
                Event::DataRow(Row::new(self.columns.as_ref(), self.channel.recv.slice(body), &self.row_ranges))
            }
            Next::CommandComplete(r) => {
                Event::CommandComplete(std::str::from_utf8(self.channel.recv.slice(r)).unwrap_or(""))
            }
            Next::CopyData(r) => Event::CopyData(self.channel.recv.slice(r)),
        };
        let request = &mut self.requests[i];
        if point.is_prefix() {
            if matches!(ev, Event::CopyBothResponse { .. }) {
                return Err(ProtocolError::Unexpected { ty: 'W', state: "an automatic BEGIN was answered" }.into());
            }
            if starts_copy_in {
                self.conv.end_copy_in()?;
            }
            if let Event::Error(e) = ev {
                request.prefix_error.get_or_insert(e);
            }
            return Ok(());
        }
        match request.machine.on_event(ev, owner, &mut self.conv)? {
            Progress::Pending => {}
            Progress::Done(result) => {
                let request = self.requests.remove(i).ok_or_else(|| Error::Internal("request vanished".into()))?;
                let (detached, prefix_error) = (request.detached, request.prefix_error);
                self.retire(request.machine);
                if let Some(Abandoned::Detach { undo_scope }) = detached {
                    // Nobody waits: its effect is applied; a scope opened for a guard that
                    // was never handed out is closed again at once.
                    if undo_scope && result.is_ok() {
                        self.abandon_scope();
                    }
                    return Ok(());
                }
                let result = match prefix_error {
                    Some(e) => Err(Error::Db(e)),
                    None => result,
                };
                // A request may finish before its last sync point is answered (misuse found
                // after a describe): what is left is swallowed. A suspended portal keeps its
                // open point for the fetch that adopts it — unless the caller gets an error
                // instead (its automatic BEGIN failed): nobody will fetch, so it is ended now.
                if !matches!(result, Ok(Response::Suspended(_))) {
                    self.conv.abandon(owner);
                }
                self.done.push((owner, result));
            }
        }
        Ok(())
    }
}

/// A protocol error in the server's very first message: the peer does not speak the
/// PostgreSQL protocol at all (an HTTP server answers `HTTP/1.1 400 …`, which would frame as a
/// 1.4 GB 'H' message). Says so, with the first five bytes it sent.
fn not_postgres(first: bool, seen: &[u8], e: Error) -> Error {
    if first && matches!(e, Error::Protocol(_)) {
        return ProtocolError::NotPostgres(String::from_utf8_lossy(seen).into_owned()).into();
    }
    e
}
