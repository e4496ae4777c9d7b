//! What the requests in flight share and write to: the send buffer, the queue of sync points
//! (every Sync or simple Query the server will answer with a ReadyForQuery, with the request it
//! belongs to), the statement cache, the client encoding and the session state.

use std::borrow::Cow;
use std::collections::VecDeque;

use crate::buffer::SendBuffer;
use crate::codec::frontend::{self, Target};
use crate::encoding::Encoding;
use crate::error::{Error, UsageError};
use crate::session::SessionState;
use crate::sql::TxEffect;
use crate::statement::StatementCache;
use crate::status::TransactionStatus;

/// The id of a request submitted to the engine; responses and rows are asked for by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub(crate) u64);

/// A point in the request stream the server answers with ReadyForQuery: a simple Query, or
/// extended-protocol messages up to a Sync (or, while `unsynced`, up to the Sync to come).
#[derive(Debug)]
pub(crate) struct SyncPoint {
    pub(crate) owner: RequestId,
    /// Its request was abandoned: its answers are read and dropped.
    pub(crate) discard: bool,
    /// The messages sent so far end with Flush, not Sync (an open portal, a statement being
    /// described before its Bind): no ReadyForQuery until the Sync is sent.
    pub(crate) unsynced: bool,
    /// Sent for its request rather than by it (the automatic BEGIN, a retry's ROLLBACK): its
    /// answers are not the request's results, but its first error is the request's error.
    pub(crate) prefix: bool,
    /// It is our automatic BEGIN.
    pub(crate) begin: bool,
    /// What it does to the transaction status, as far as its SQL tells.
    pub(crate) tx_effect: TxEffect,
    /// Its SQL may change `search_path`: its completion drops the statement cache.
    pub(crate) search_path: bool,
    /// A simple Query (else extended-protocol messages).
    pub(crate) simple: bool,
    /// A CopyFail was sent ahead for it (an abandoned COPY IN): a copy-in it starts is
    /// already ended.
    pub(crate) copy_failed: bool,
}

/// The state requests in flight write to.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) send: SendBuffer,
    pub(crate) syncs: VecDeque<SyncPoint>,
    pub(crate) statements: StatementCache,
    pub(crate) encoding: Encoding,
    pub(crate) session: SessionState,
    /// The transaction status of the last ReadyForQuery.
    pub(crate) tx_status: TransactionStatus,
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

impl Shared {
    /// The buffer outgoing messages are appended to.
    pub(crate) fn buf(&mut self) -> &mut Vec<u8> {
        self.send.vec()
    }

    /// `s` in the client encoding, or a usage error naming the first character it cannot hold.
    pub(crate) fn encode_text<'s>(&self, s: &'s str) -> Result<Cow<'s, [u8]>, Error> {
        self.encoding
            .encode(s)
            .map_err(|character| UsageError::NotEncodable { character, encoding: self.encoding.to_string() }.into())
    }

    fn push(&mut self, owner: RequestId, unsynced: bool) {
        self.syncs.push_back(SyncPoint {
            owner,
            discard: false,
            unsynced,
            prefix: false,
            begin: false,
            tx_effect: TxEffect::Unchanged,
            search_path: false,
            simple: false,
            copy_failed: false,
        });
    }

    /// Queues a simple Query for `owner`.
    pub(crate) fn queue_simple(&mut self, owner: RequestId, sql: &str) -> Result<(), Error> {
        let encoded = self.encode_text(sql)?;
        frontend::query(&encoded, self.send.vec())?;
        self.push(owner, false);
        let point = self.syncs.back_mut().expect("just queued");
        point.simple = true;
        point.tx_effect = crate::sql::transaction_effect(sql);
        if crate::statement::mentions_search_path(sql) {
            self.mark_search_path();
        }
        Ok(())
    }

    /// Queues a simple Query sent for `owner` whose answers are not its results (the
    /// automatic BEGIN when `begin`, a retry's ROLLBACK).
    pub(crate) fn queue_prefix(&mut self, owner: RequestId, sql: &str, begin: bool) -> Result<(), Error> {
        self.queue_simple(owner, sql)?;
        let point = self.syncs.back_mut().expect("just queued");
        point.prefix = true;
        point.begin = begin;
        Ok(())
    }

    /// The transaction status once every queued sync point is answered (see [`Predicted`]):
    /// the automatic BEGIN opens a block, `COMMIT` / `ROLLBACK` end it, other statements keep
    /// an idle session idle and a failed block failed, and may fail an open one.
    pub(crate) fn predicted_tx(&self) -> Predicted {
        use TransactionStatus::{Idle, InError, InTransaction};
        let mut p = Predicted::Exactly(self.tx_status);
        for point in &self.syncs {
            p = match (point.begin, point.tx_effect, p) {
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

    /// Gives the sync points queued from `from` on that carry no effect of their own the
    /// effect of the request's SQL (an extended query, a pipeline).
    pub(crate) fn mark_tx_effect(&mut self, from: usize, effect: TxEffect) {
        for p in self.syncs.iter_mut().skip(from).filter(|p| !p.prefix && !p.simple) {
            p.tx_effect = effect;
        }
    }

    /// Appends Parse for `sql` (in the client encoding).
    pub(crate) fn queue_parse(&mut self, name: &str, sql: &str, types: &[u32]) -> Result<(), Error> {
        let encoded = self.encode_text(sql)?;
        frontend::parse(name, &encoded, types, self.send.vec())?;
        Ok(())
    }

    /// Registers extended-protocol messages just queued, ended by a Sync.
    pub(crate) fn push_sync(&mut self, owner: RequestId) {
        self.push(owner, false);
    }

    /// Registers messages just queued, ended by Flush: the Sync comes with
    /// [`sync_open`](Self::sync_open).
    pub(crate) fn push_unsynced(&mut self, owner: RequestId) {
        self.push(owner, true);
    }

    /// Appends the Sync that ends `owner`'s open sync point.
    pub(crate) fn sync_open(&mut self, owner: RequestId) {
        if let Some(p) = self.syncs.iter_mut().find(|p| p.owner == owner && p.unsynced) {
            p.unsynced = false;
            frontend::sync(self.send.vec());
        }
    }

    /// The server entered copy-in for the front sync point (a COPY FROM STDIN run through a
    /// query method): ends it with CopyFail. For the extended protocol, a Sync follows: the
    /// server ignored the one sent with the query while copying, and now waits for one. Only
    /// possible when nothing was queued after that point; otherwise the server has taken the
    /// messages behind it as bad copy data, and the connection cannot be trusted.
    pub(crate) fn end_copy_in(&mut self) -> Result<(), Error> {
        if self.syncs.len() != 1 {
            return Err(UsageError::CopyWithRequestsQueued.into());
        }
        frontend::copy_fail("COPY FROM STDIN refused by pgsans: not started through its COPY API", self.send.vec())?;
        let point = self.syncs.front_mut().expect("one point");
        if !point.simple {
            point.unsynced = false;
            frontend::sync(self.send.vec());
        }
        Ok(())
    }

    /// Notes that `owner`'s query got its CopyFail ahead of time.
    pub(crate) fn mark_copy_failed(&mut self, owner: RequestId) {
        for p in self.syncs.iter_mut().filter(|p| p.owner == owner) {
            p.copy_failed = true;
        }
    }

    /// Hands the open sync point of `from` (an open portal) to `to`.
    pub(crate) fn adopt_open(&mut self, from: RequestId, to: RequestId) -> bool {
        match self.syncs.iter_mut().find(|p| p.owner == from && p.unsynced && !p.discard) {
            Some(p) => {
                p.owner = to;
                true
            }
            None => false,
        }
    }

    /// The open sync point, if a finished request left one (an open portal).
    pub(crate) fn open_point(&self) -> Option<RequestId> {
        self.syncs.iter().find(|p| p.unsynced && !p.discard).map(|p| p.owner)
    }

    /// Marks the last sync point as one whose SQL may change `search_path`.
    pub(crate) fn mark_search_path(&mut self) {
        if let Some(p) = self.syncs.back_mut() {
            p.search_path = true;
        }
    }

    /// Queues Close for statements the cache evicted or the user dropped; their CloseComplete
    /// arrives inside the request that follows (queued right after by the caller).
    pub(crate) fn flush_closes(&mut self) -> Result<(), Error> {
        self.statements.sweep_user();
        let names = std::mem::take(&mut self.statements.to_close);
        for name in names {
            frontend::close(Target::Statement, &name, self.send.vec())?;
        }
        Ok(())
    }

    /// Marks every sync point of `owner` abandoned (its answers are drained inside the engine)
    /// and ends an open one with a Sync.
    pub(crate) fn abandon(&mut self, owner: RequestId) {
        let mut needs_sync = false;
        for p in self.syncs.iter_mut().filter(|p| p.owner == owner) {
            p.discard = true;
            if p.unsynced {
                p.unsynced = false;
                needs_sync = true;
            }
        }
        if needs_sync {
            frontend::sync(self.send.vec());
        }
    }
}
