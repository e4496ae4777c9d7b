//! The conversation with the server that requests in flight share and write to: the send
//! buffer, the [sync queue](super::syncs), the statement cache, the client encoding, the session
//! state and what the server reported ([`ServerStatus`]).

use std::borrow::Cow;

use super::sql::TxEffect;
use super::statements::StatementCache;
use super::status::{ServerStatus, TransactionStatus};
use super::syncs::{End, Predicted, Role, SyncQueue};
use super::SessionState;
use crate::encoding::Encoding;
use crate::error::{Error, UsageError};
use crate::wire::buffer::SendBuffer;
use crate::wire::codec::frontend::{self, Target};

/// The id of a request submitted to the engine; responses and rows are asked for by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub(crate) u64);

/// The state requests in flight write to.
#[derive(Debug, Default)]
pub(crate) struct Conversation {
    pub(crate) send: SendBuffer,
    pub(crate) syncs: SyncQueue,
    pub(crate) statements: StatementCache,
    pub(crate) encoding: Encoding,
    pub(crate) session: SessionState,
    /// The transaction status of the last ReadyForQuery.
    pub(crate) tx_status: TransactionStatus,
    /// Parameters, notices, notifications, the backend key: what the server reported.
    pub(crate) status: ServerStatus,
    /// Every result column in binary ([`Config::binary_results`](crate::Config::binary_results)).
    pub(crate) binary_results: bool,
    /// Transaction blocks the server has begun (ReadyForQuery leaving Idle).
    pub(crate) transactions_begun: u64,
    /// A logical replication stream has run on this connection: the walsender ends every
    /// later one at once.
    pub(crate) logical_streamed: bool,
}

impl Conversation {
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

    /// Queues a simple Query for `owner`.
    pub(crate) fn queue_simple(&mut self, owner: RequestId, sql: &str) -> Result<(), Error> {
        let encoded = self.encode_text(sql)?;
        frontend::query(&encoded, self.send.vec())?;
        let point = self.syncs.push(owner, End::Query, super::sql::transaction_effect(sql));
        point.search_path = super::statements::mentions_search_path(sql);
        Ok(())
    }

    /// Queues a simple Query sent for `owner` whose answers are not its results (the
    /// automatic BEGIN when `begin`, a retry's ROLLBACK).
    pub(crate) fn queue_prefix(&mut self, owner: RequestId, sql: &str, begin: bool) -> Result<(), Error> {
        self.queue_simple(owner, sql)?;
        if let Some(point) = self.syncs.back_mut() {
            point.role = Role::Prefix { begin };
        }
        Ok(())
    }

    /// The transaction status once every queued sync point is answered (see [`Predicted`]).
    pub(crate) fn predicted_tx(&self) -> Predicted {
        self.syncs.predicted_tx(self.tx_status)
    }

    /// Gives the sync points queued from index `from` on that carry no effect of their own the
    /// effect of the request's SQL (an extended query, a pipeline).
    pub(crate) fn mark_tx_effect(&mut self, from: usize, effect: TxEffect) {
        self.syncs.mark_tx_effect(from, effect);
    }

    /// Appends Parse for `sql` (in the client encoding).
    pub(crate) fn queue_parse(&mut self, name: &str, sql: &str, types: &[u32]) -> Result<(), Error> {
        let encoded = self.encode_text(sql)?;
        frontend::parse(name, &encoded, types, self.send.vec())?;
        Ok(())
    }

    /// Registers extended-protocol messages just queued, ended by a Sync.
    pub(crate) fn push_sync(&mut self, owner: RequestId) {
        self.syncs.push(owner, End::Sync, TxEffect::Unchanged);
    }

    /// Registers messages just queued, ended by Flush: the Sync comes with
    /// [`sync_open`](Self::sync_open).
    pub(crate) fn push_unsynced(&mut self, owner: RequestId) {
        self.syncs.push(owner, End::Flush, TxEffect::Unchanged);
    }

    /// Appends the Sync that ends `owner`'s open sync point.
    pub(crate) fn sync_open(&mut self, owner: RequestId) {
        if self.syncs.close_open(owner) {
            frontend::sync(self.send.vec());
        }
    }

    /// The server entered copy-in for the front sync point, and nobody will send it data (a
    /// COPY FROM STDIN run through a query method, or by an abandoned request): ends it with
    /// CopyFail. For the extended protocol, a Sync follows: the server ignored the one sent
    /// with the query while copying, and now waits for one. Only possible when nothing was
    /// queued after that point; otherwise the server has taken the messages behind it as bad
    /// copy data, and the connection cannot be trusted.
    pub(crate) fn end_copy_in(&mut self) -> Result<(), Error> {
        if self.syncs.len() != 1 {
            return Err(UsageError::CopyWithRequestsQueued.into());
        }
        frontend::copy_fail("COPY FROM STDIN refused by pgsans: not started through its COPY API", self.send.vec())?;
        let owner = self.syncs.front().map(|p| p.owner);
        if let Some(owner) = owner {
            if self.syncs.front().is_some_and(|p| p.end != End::Query) {
                self.syncs.close_open(owner);
                frontend::sync(self.send.vec());
            }
        }
        Ok(())
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
        if self.syncs.abandon(owner) {
            frontend::sync(self.send.vec());
        }
    }
}
