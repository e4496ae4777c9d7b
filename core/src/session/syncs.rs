//! The sync queue: every point in the request stream the server will answer with a
//! ReadyForQuery — a simple Query, or extended-protocol messages up to a Sync — oldest first,
//! with the request its answers belong to and what is known of its effect. The one place that
//! says whose answer the next message is, whether anyone waits for it, and what transaction
//! status the work queued so far leaves.

use std::collections::VecDeque;

use super::conversation::RequestId;
use super::sql::TxEffect;
use super::status::TransactionStatus;

/// Why a sync point was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The request's own statements: their answers are its results.
    Request,
    /// Sent for the request rather than by it — the automatic BEGIN (`begin`), a retry's
    /// ROLLBACK — its answers are not the request's results, but its first error is the
    /// request's error.
    Prefix { begin: bool },
}

/// Where the answers go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// To the request.
    Owner,
    /// Nobody waits (the request was abandoned): read and dropped. `copy_failed`: a CopyFail
    /// was sent ahead for it (an abandoned COPY IN), so a copy-in it starts is already ended.
    Discard { copy_failed: bool },
}

/// How the point's messages end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// A simple Query: answered with ReadyForQuery.
    Query,
    /// Extended-protocol messages ended by Sync.
    Sync,
    /// Extended-protocol messages ended by Flush (an open portal, a statement being described
    /// before its Bind): no ReadyForQuery until the Sync is sent.
    Flush,
}

/// A point the server answers with ReadyForQuery.
#[derive(Debug, Clone)]
pub(crate) struct SyncPoint {
    pub(crate) owner: RequestId,
    pub(crate) role: Role,
    pub(crate) delivery: Delivery,
    pub(crate) end: End,
    /// What it does to the transaction status, as far as its SQL tells.
    pub(crate) tx: TxEffect,
    /// Its SQL may change `search_path`: its completion drops the statement cache.
    pub(crate) search_path: bool,
    /// Its SQL may run `COPY … FROM STDIN` outside the COPY API: nothing is queued behind it
    /// until it is answered (the server would read what follows as copy data).
    pub(crate) copy_in_risk: bool,
}

impl SyncPoint {
    pub(crate) fn discarded(&self) -> bool {
        matches!(self.delivery, Delivery::Discard { .. })
    }

    pub(crate) fn is_prefix(&self) -> bool {
        matches!(self.role, Role::Prefix { .. })
    }

    /// Its messages end with Flush: the Sync is still to come.
    pub(crate) fn open(&self) -> bool {
        self.end == End::Flush
    }
}

/// The transaction status the connection will have once every sync point queued so far is
/// answered, as far as what was sent tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Predicted {
    Exactly(TransactionStatus),
    /// In a transaction block, open or failed.
    InBlock,
    /// Only the server's answers will tell (a statement that may end or open a block).
    Unknown,
}

/// The sync points in flight, oldest first.
#[derive(Debug, Default)]
pub(crate) struct SyncQueue {
    points: VecDeque<SyncPoint>,
}

impl SyncQueue {
    /// Registers a point whose messages were just queued.
    pub(crate) fn push(&mut self, owner: RequestId, end: End, tx: TxEffect) -> &mut SyncPoint {
        self.points.push_back(SyncPoint {
            owner,
            role: Role::Request,
            delivery: Delivery::Owner,
            end,
            tx,
            search_path: false,
            copy_in_risk: false,
        });
        let last = self.points.len() - 1;
        &mut self.points[last]
    }

    pub(crate) fn front(&self) -> Option<&SyncPoint> {
        self.points.front()
    }

    pub(crate) fn back_mut(&mut self) -> Option<&mut SyncPoint> {
        self.points.back_mut()
    }

    /// The ReadyForQuery of the oldest point arrived: it is answered.
    pub(crate) fn pop_front(&mut self) -> Option<SyncPoint> {
        self.points.pop_front()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.points.len()
    }

    /// Takes back the points registered after the first `len` (a request that failed to queue).
    pub(crate) fn truncate(&mut self, len: usize) {
        self.points.truncate(len);
    }

    /// The connection is gone: nothing will be answered.
    pub(crate) fn clear(&mut self) {
        self.points.clear();
    }

    /// Marks every point of `owner` as one that may enter copy-in.
    pub(crate) fn mark_copy_in_risk(&mut self, owner: RequestId) {
        for p in self.points.iter_mut().filter(|p| p.owner == owner) {
            p.copy_in_risk = true;
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &SyncPoint> {
        self.points.iter()
    }

    /// The open point of `owner` gets its Sync: `true` if one must be written.
    pub(crate) fn close_open(&mut self, owner: RequestId) -> bool {
        match self.points.iter_mut().find(|p| p.owner == owner && p.open()) {
            Some(p) => {
                p.end = End::Sync;
                true
            }
            None => false,
        }
    }

    /// Hands the open point of `from` (an open portal) to `to`.
    pub(crate) fn adopt_open(&mut self, from: RequestId, to: RequestId) -> bool {
        match self.points.iter_mut().find(|p| p.owner == from && p.open() && !p.discarded()) {
            Some(p) => {
                p.owner = to;
                true
            }
            None => false,
        }
    }

    /// The open point a finished request left (an open portal), if any.
    pub(crate) fn open_point(&self) -> Option<RequestId> {
        self.points.iter().find(|p| p.open() && !p.discarded()).map(|p| p.owner)
    }

    /// Every point of `owner` is abandoned (its answers are drained): `true` if it had an open
    /// point, whose Sync must now be written.
    pub(crate) fn abandon(&mut self, owner: RequestId) -> bool {
        let mut needs_sync = false;
        for p in self.points.iter_mut().filter(|p| p.owner == owner) {
            if !p.discarded() {
                p.delivery = Delivery::Discard { copy_failed: false };
            }
            if p.open() {
                p.end = End::Sync;
                needs_sync = true;
            }
        }
        needs_sync
    }

    /// `owner`'s points got a CopyFail ahead of time (an abandoned COPY IN).
    pub(crate) fn mark_copy_failed(&mut self, owner: RequestId) {
        for p in self.points.iter_mut().filter(|p| p.owner == owner) {
            p.delivery = Delivery::Discard { copy_failed: true };
        }
    }

    /// Gives the points from index `from` on that are the request's own and were queued
    /// through the extended protocol the effect of the request's SQL.
    pub(crate) fn mark_tx_effect(&mut self, from: usize, effect: TxEffect) {
        for p in self.points.iter_mut().skip(from).filter(|p| p.role == Role::Request && p.end != End::Query) {
            p.tx = effect;
        }
    }

    /// Whether points nobody waits for are in flight, and only such points.
    pub(crate) fn only_discarded(&self) -> bool {
        !self.points.is_empty() && self.points.iter().all(SyncPoint::discarded)
    }

    /// The transaction status once every point is answered, starting from `now` (see
    /// [`Predicted`]): the automatic BEGIN opens a block, `COMMIT` / `ROLLBACK` end it, other
    /// statements keep an idle session idle and a failed block failed, and may fail an open one.
    pub(crate) fn predicted_tx(&self, now: TransactionStatus) -> Predicted {
        use TransactionStatus::{Idle, InError, InTransaction};
        let mut p = Predicted::Exactly(now);
        for point in &self.points {
            let our_begin = point.role == Role::Prefix { begin: true };
            p = match (our_begin, point.tx, p) {
                // Our own BEGIN: opens a block unless one is open (a warning) or failed.
                (true, _, Predicted::Exactly(Idle)) => Predicted::Exactly(InTransaction),
                (true, _, other) => other,
                (false, TxEffect::Ends, _) => Predicted::Exactly(Idle),
                (false, TxEffect::Unknown | TxEffect::Opens, _) => Predicted::Unknown,
                (false, TxEffect::Unchanged, Predicted::Exactly(InTransaction)) => Predicted::InBlock,
                (false, TxEffect::Unchanged, Predicted::Exactly(Idle | InError) | Predicted::InBlock) => p,
                (false, TxEffect::Unchanged, _) => Predicted::Unknown,
            };
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TransactionStatus::{Idle, InTransaction};

    #[test]
    fn predicts_what_queued_statements_leave() {
        let mut q = SyncQueue::default();
        assert_eq!(q.predicted_tx(Idle), Predicted::Exactly(Idle));
        q.push(RequestId(1), End::Query, TxEffect::Unchanged).role = Role::Prefix { begin: true };
        assert_eq!(q.predicted_tx(Idle), Predicted::Exactly(InTransaction));
        q.push(RequestId(1), End::Sync, TxEffect::Unchanged);
        assert_eq!(q.predicted_tx(Idle), Predicted::InBlock);
        q.push(RequestId(2), End::Query, TxEffect::Ends);
        assert_eq!(q.predicted_tx(Idle), Predicted::Exactly(Idle));
        q.push(RequestId(3), End::Query, TxEffect::Unknown);
        assert_eq!(q.predicted_tx(Idle), Predicted::Unknown);
    }

    #[test]
    fn open_points_are_adopted_closed_and_abandoned() {
        let mut q = SyncQueue::default();
        q.push(RequestId(1), End::Flush, TxEffect::Unchanged);
        assert_eq!(q.open_point(), Some(RequestId(1)));
        assert!(q.adopt_open(RequestId(1), RequestId(2)));
        assert!(!q.close_open(RequestId(1)));
        assert!(q.abandon(RequestId(2)), "the open point needs its Sync");
        assert_eq!(q.open_point(), None);
        assert!(q.only_discarded());
        assert!(!q.abandon(RequestId(2)));
    }
}
