//! The requests in flight: submitted (applying psycopg2's rules once), held back while the
//! transaction status they depend on is unknown, abandoned, and the connection's end.

use super::{Connection, InFlight, Phase};
use crate::error::{ClosedReason, Error, UsageError};
use crate::request::{Abandoned, Machine, Request, Started};
use crate::session::conversation::{Conversation, RequestId};
use crate::session::rules;
use crate::session::status::TransactionStatus;
use crate::session::syncs::Predicted;
use crate::wire::codec::frontend;

impl Connection {
    /// Submits a request: its messages are queued (after the automatic BEGIN psycopg2 would
    /// send) and it gets an id to take its response by. Any number may be in flight: they run
    /// in order. The session's rules are checked here, once: a refused request queues nothing
    /// and leaves the connection as it was.
    pub fn submit(&mut self, request: Request) -> Result<RequestId, Error> {
        self.check_ready()?;
        if let Some(why) = self.requests.iter().find_map(|r| r.machine.wants().exclusive) {
            return Err(UsageError::InvalidState(why.into()).into());
        }
        // An open point left by a finished request is a portal the caller must end first; one
        // of a request still running (a statement being described) only makes this one wait.
        if let Some(owner) = self.conv.syncs.open_point() {
            if !request.is_fetch() && !self.requests.iter().any(|r| r.id == owner) {
                return Err(
                    UsageError::InvalidState("a portal is open: fetch it to the end or close it first".into()).into()
                );
            }
        }
        let id = RequestId(self.next_id);
        self.next_id += 1;
        if self.must_wait(&request) {
            self.held.push_back((id, request));
            return Ok(id);
        }
        self.start(id, request)?;
        Ok(id)
    }

    /// [`Request::query`] with the parameters encoded into a buffer a finished query left:
    /// a query made this way, repeated, allocates nothing for its parameters.
    pub fn query_request<'q>(
        &mut self,
        query: impl Into<crate::request::Query<'q>>,
        params: crate::request::Params<'_>,
        mode: crate::request::Mode,
    ) -> Result<Request, Error> {
        let buffer = self.spare_params.pop().unwrap_or_default();
        Request::query_in(query, params, mode, buffer)
    }

    /// A request is finished (answered or dropped): keeps what it leaves that the next one
    /// can use.
    pub(super) fn retire(&mut self, mut machine: Machine) {
        const KEPT: usize = 4;
        if let Some(mut params) = machine.take_params() {
            if self.spare_params.len() < KEPT && params.recycle() {
                self.spare_params.push(params);
            }
        }
    }

    /// Whether `request` must wait in the engine before anything of it is queued: behind
    /// requests already waiting (order is kept), or because what it sends depends on a
    /// transaction status that only the server's answers to work in flight will tell (a
    /// session command still running, a statement that may end or open a block).
    fn must_wait(&self, request: &Request) -> bool {
        // The fetch that continues (or closes) the open portal goes ahead of what waits: they
        // wait for that portal to end.
        let continues_open_portal = request.fetch_portal().is_some_and(|p| self.conv.syncs.open_point() == Some(p));
        (!self.held.is_empty() && !continues_open_portal) || self.blocked(request)
    }

    /// Whether what `request` sends depends on a transaction status (or session state) that
    /// work in flight has yet to settle, or must wait for a running request's open sync point.
    fn blocked(&self, request: &Request) -> bool {
        (request.depends_on_tx(self.conv.session.autocommit)
            && (self.conv.predicted_tx() == Predicted::Unknown
                || self.requests.iter().any(|r| r.machine.is_session_command())))
            // A running request keeps its sync point open (Parse + Describe + Flush: the
            // unnamed statement is its own until its Bind): nothing may be queued behind it.
            || (!request.is_fetch() && self.conv.syncs.open_point().is_some())
            // A scope whose opening was abandoned is closed again when its BEGIN is answered:
            // what comes next must not run inside it, in autocommit mode too.
            || self.requests.iter().any(|r| matches!(r.detached, Some(Abandoned::Detach { undo_scope: true })))
            // A statement that may enter copy-in unasked: what is queued behind it would be
            // read as copy data. So it waits for the requests before it (a pipeline may still
            // queue messages after its describe step), and what comes after waits for it.
            || self.conv.syncs.iter().any(|p| p.copy_in_risk)
            || (request.may_copy_in() && self.requests.iter().any(|r| !r.machine.wants().idle_input))
            // A pipeline describing its SQL queues its queries when the description is in:
            // what comes after it waits for them.
            || (!request.is_fetch() && self.requests.iter().any(|r| r.machine.queues_later()))
            // A request that has the connection to itself (a COPY FROM STDIN, a replication
            // stream) started from the held queue: what was held behind it waits for its end.
            || self.requests.iter().any(|r| r.machine.wants().exclusive.is_some())
    }

    /// The transaction status the rules see for a request queued now: the one the server will
    /// be in when it arrives (see [`Conversation::predicted_tx`]).
    pub(super) fn tx_for_rules(&self) -> TransactionStatus {
        match self.conv.predicted_tx() {
            Predicted::Exactly(s) => s,
            Predicted::InBlock => TransactionStatus::InTransaction,
            Predicted::Unknown => self.conv.tx_status,
        }
    }

    /// Applies the session's rules to `request` and queues its messages (after the automatic
    /// BEGIN psycopg2 would send). A refused request queues nothing.
    fn start(&mut self, id: RequestId, request: Request) -> Result<(), Error> {
        let tx = self.tx_for_rules();
        let plan = match request.command_ref() {
            Some(cmd) => Some(rules::plan(cmd, &self.conv.session, tx)?),
            None => None,
        };
        let begin = match request.runs_sql() {
            Some(what) => rules::before_query(what, &self.conv.session, tx)?,
            None => None,
        }
        .filter(|_| request.may_begin());
        let in_block = begin.is_some() || tx != TransactionStatus::Idle;
        let tx_effect = request.tx_effect();
        let copy_in_risk = request.may_copy_in();
        let conv = &mut self.conv;
        let mark = (conv.send.vec().len(), conv.syncs.len());
        conv.statements.sweep_user();
        let closes = conv.statements.to_close.clone();
        let started = (|| {
            if let Some(b) = &begin {
                conv.queue_prefix(id, b, true)?;
            }
            Machine::start(request, id, begin, in_block, plan, conv)
        })();
        match started {
            Err(e) => {
                conv.send.vec().truncate(mark.0);
                conv.syncs.truncate(mark.1);
                conv.statements.to_close = closes;
                Err(e)
            }
            Ok(Started::Running(machine)) => {
                conv.mark_tx_effect(mark.1, tx_effect);
                if copy_in_risk {
                    conv.syncs.mark_copy_in_risk(id);
                }
                self.requests.push_back(InFlight { id, machine, prefix_error: None, detached: None });
                Ok(())
            }
            Ok(Started::Done(response)) => {
                self.done.push((id, Ok(response)));
                Ok(())
            }
        }
    }

    /// Starts the requests that waited, in order, as far as what they depend on is known.
    pub(super) fn start_held(&mut self) {
        while let Some((_, request)) = self.held.front() {
            if self.blocked(request) {
                return;
            }
            let Some((id, request)) = self.held.pop_front() else { return };
            if let Err(e) = self.start(id, request) {
                self.done.push((id, Err(e)));
            }
        }
    }

    /// Abandons a request: its remaining answers are read and dropped inside the engine (an
    /// open portal is ended with a Sync), its response is never delivered. This is what makes
    /// a dropped future or an interrupted call leave the connection usable. Harmless for a
    /// finished or unknown id. (A session command still runs to its end: its effect on the
    /// session applies when the server has answered — a dropped `commit()` still commits —
    /// and what comes next is planned after it; only its response is dropped.)
    pub fn abandon(&mut self, id: RequestId) {
        self.held.retain(|(h, _)| *h != id);
        self.done.retain(|(d, _)| *d != id);
        let Some(i) = self.requests.iter().position(|r| r.id == id) else {
            // Finished, but it may have left an open point behind (a suspended portal).
            self.conv.abandon(id);
            return;
        };
        if self.stop.is_some_and(|(owner, _, _)| owner == id) {
            // A message half read by this request is dropped whole with the rest of it.
            self.stop = None;
            self.stop_consumed = 0;
        }
        let r = &mut self.requests[i];
        match r.machine.on_abandon(id, &mut self.conv) {
            detach @ Abandoned::Detach { .. } => r.detached = Some(detach),
            Abandoned::Discard => {
                if let Some(r) = self.requests.remove(i) {
                    self.retire(r.machine);
                }
                self.conv.abandon(id);
            }
        }
    }

    /// A dropped transaction scope: its rollback is queued now and its answers drained; the
    /// scope is closed at once.
    pub fn abandon_scope(&mut self) {
        if self.check_ready().is_err() {
            return;
        }
        let tx = self.tx_for_rules();
        let Some(statements) = rules::abandon_scope(&mut self.conv.session, tx) else { return };
        let id = RequestId(self.next_id);
        self.next_id += 1;
        for sql in statements {
            if self.conv.queue_simple(id, &sql).is_err() {
                break;
            }
        }
        self.conv.abandon(id);
    }

    /// Rolls back whatever transaction is open, or will be once the work in flight has ended,
    /// without waiting: a ROLLBACK queued behind that work (its answer drained unseen), the
    /// transaction scopes and a two-phase transaction of the session ended with it (a prepared
    /// one stays on the server, as after `tpc_prepare`). Nothing when the connection certainly
    /// ends idle. For a pool taking a connection back: the server ends the transaction as soon
    /// as it reads the ROLLBACK, not when the connection is next used.
    pub fn abandon_transaction(&mut self) {
        if self.check_ready().is_err() {
            return;
        }
        let idle = self.conv.predicted_tx() == Predicted::Exactly(TransactionStatus::Idle);
        let s = &mut self.conv.session;
        if idle && s.scopes == 0 && s.tpc.is_none() {
            return;
        }
        s.scopes = 0;
        s.scope_began = false;
        s.tpc = None;
        let id = RequestId(self.next_id);
        self.next_id += 1;
        if self.conv.queue_simple(id, "ROLLBACK").is_ok() {
            self.conv.abandon(id);
        }
    }

    /// Queues Terminate. Once [`transmit`](Self::transmit) is fully written the connection is
    /// closed and the transport closes the socket. Idempotent.
    pub fn terminate(&mut self) {
        self.stop = None;
        if matches!(self.phase, Phase::Closing | Phase::Closed) {
            return;
        }
        self.fail_requests(&Error::Closed(ClosedReason::ByClient));
        if self.fatal.is_none() {
            frontend::terminate(self.conv.buf());
            self.seal();
            self.channel.close();
            self.phase = Phase::Closing;
        } else {
            self.phase = Phase::Closed;
        }
        self.conv.tx_status = TransactionStatus::Unknown;
    }

    /// The machine of request `id` in flight.
    pub(crate) fn machine(&self, id: RequestId) -> Option<&Machine> {
        self.requests.iter().find(|r| r.id == id).map(|r| &r.machine)
    }

    /// Lets request `id`'s own method (COPY data, say) act on its machine and the conversation;
    /// what it queues is sealed for the wire.
    pub(crate) fn with_request(
        &mut self,
        id: RequestId,
        act: impl FnOnce(&mut Machine, &mut Conversation) -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.check_ready()?;
        let Some(r) = self.requests.iter_mut().find(|r| r.id == id) else {
            return Err(UsageError::InvalidState("no such request is in flight".into()).into());
        };
        act(&mut r.machine, &mut self.conv)?;
        self.seal();
        Ok(())
    }
}
