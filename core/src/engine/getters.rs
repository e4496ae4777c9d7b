//! The engine's getters: status, session characteristics, what the server reported. None of
//! them changes anything.

use super::{Connection, Phase};
use crate::encoding::Encoding;
use crate::error::{ClosedReason, Error, Notice, UsageError};
use crate::session::status::{BackendKey, Notification, TransactionStatus};
use crate::session::syncs::Predicted;
use crate::session::{rules, ConnectionStatus, IsolationLevel, Xid};

impl Connection {
    /// Whether TLS is in use (psycopg 3's `pgconn.ssl_in_use`).
    pub fn ssl_in_use(&self) -> bool {
        self.channel.tls().is_some()
    }

    /// A TLS attribute, as libpq's `PQsslAttribute` (psycopg 3's `pgconn.ssl_attribute`):
    /// `library` (`"rustls"`), `protocol` (`"TLSv1.3"`), `cipher` (IANA name),
    /// `key_bits` (the cipher's key size), `compression` (`"off"`), `alpn`. `None` without TLS
    /// or before the handshake has settled it.
    pub fn ssl_attribute(&self, name: &str) -> Option<String> {
        self.channel.tls().and_then(|tls| tls.attribute(name))
    }

    /// The names [`ssl_attribute`](Self::ssl_attribute) knows (libpq's `PQsslAttributeNames`).
    pub fn ssl_attribute_names() -> &'static [&'static str] {
        &["library", "protocol", "cipher", "key_bits", "compression", "alpn"]
    }

    // ----- getters ----------------------------------------------------------------------

    /// Whether startup is complete and the connection is neither closed nor broken.
    pub fn is_ready(&self) -> bool {
        matches!(self.phase, Phase::Ready) && self.fatal.is_none()
    }

    /// Whether [`terminate`](Self::terminate) was called or a fatal error happened.
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closing | Phase::Closed) || self.fatal.is_some()
    }

    /// psycopg 3's `broken`: whether the connection was lost to a fatal error (the server went
    /// away, the protocol broke, a socket error) — and stays lost: it remains true after
    /// [`terminate`](Self::terminate) (`close()`), while psycopg2's [`closed`](Self::closed)
    /// turns from 2 (broken) to 1 (closed).
    pub fn is_broken(&self) -> bool {
        self.fatal.as_ref().is_some_and(|e| !matches!(e, Error::Closed(ClosedReason::ByClient)))
    }

    /// psycopg2's `closed`: 0 open, 1 closed (by the client, even after it broke), 2 broken.
    pub fn closed(&self) -> u8 {
        if matches!(self.phase, Phase::Closing | Phase::Closed) {
            1
        } else if self.fatal.is_some() {
            2
        } else {
            0
        }
    }

    /// The sticky fatal error, if any.
    pub fn fatal_error(&self) -> Option<&Error> {
        self.fatal.as_ref()
    }

    /// Whether requests are in flight or bytes wait to be sent.
    pub fn is_busy(&self) -> bool {
        match self.phase {
            Phase::Startup(_) => true,
            Phase::Ready => {
                !self.requests.is_empty() || !self.held.is_empty() || !self.channel.send_empty(&self.conv.send)
            }
            Phase::Closing => !self.channel.send_empty(&self.conv.send),
            Phase::Closed => false,
        }
    }

    /// Whether any answer is still expected from the server — abandoned work being drained
    /// included, which [`is_busy`](Self::is_busy) does not count. What a pool waits for before
    /// it hands a connection to its next user.
    pub fn answers_pending(&self) -> bool {
        self.is_busy() || !self.conv.syncs.is_empty()
    }

    /// `PQtransactionStatus`: `Active` while a request someone waits for is outstanding,
    /// `Unknown` when not connected. While only work nobody waits for is in flight (what a
    /// dropped future or transaction scope left), the status that work will certainly leave
    /// (a dropped scope's ROLLBACK: `Idle`), so that what the connection reports agrees with
    /// what it does next.
    pub fn transaction_status(&self) -> TransactionStatus {
        if !self.is_ready() {
            TransactionStatus::Unknown
        } else if self.conv.syncs.is_empty() && self.held.is_empty() {
            self.conv.tx_status
        } else if let (true, Predicted::Exactly(s)) = (self.nobody_waits(), self.conv.predicted_tx()) {
            s
        } else {
            TransactionStatus::Active
        }
    }

    /// How many transaction blocks the server has begun on this connection: what was opened in
    /// one (a large object's descriptor, a cursor without hold) is gone once the number
    /// changes or the connection is idle.
    pub fn transaction_serial(&self) -> u64 {
        self.conv.transactions_begun
    }

    /// Whether work nobody waits for (abandoned requests, a dropped scope's rollback) is still
    /// in flight, and only such work: nothing else a cancel request could hit — no request
    /// someone waits for, no abandoned session command (whose effect must happen), nothing
    /// held. What a transport checks before it cancels what a dropped future left running.
    pub fn abandoned_work_in_flight(&self) -> bool {
        self.is_ready()
            && self.held.is_empty()
            && self.requests.iter().all(|r| r.machine.wants().idle_input)
            && self.conv.syncs.only_discarded()
    }

    /// Whether every sync point in flight belongs to work nobody waits for (abandoned
    /// requests, a dropped scope's rollback) and no request is held.
    fn nobody_waits(&self) -> bool {
        self.held.is_empty()
            && self.conv.syncs.iter().all(|p| {
                p.discarded() || self.requests.iter().find(|r| r.id == p.owner).is_none_or(|r| r.detached.is_some())
            })
    }

    /// The transaction status of the last ReadyForQuery, even while a request is outstanding.
    pub fn server_transaction_status(&self) -> TransactionStatus {
        if self.is_ready() {
            self.conv.tx_status
        } else {
            TransactionStatus::Unknown
        }
    }

    /// psycopg2's `status`: READY, BEGIN (a transaction is open, as the server reports it) or
    /// PREPARED (after `tpc_prepare`). While only work nobody waits for is in flight, the
    /// status it will leave where that is certain (a dropped scope: READY at once).
    pub fn connection_status(&self) -> ConnectionStatus {
        let tx = match (self.is_ready() && self.nobody_waits(), self.conv.predicted_tx()) {
            (true, Predicted::Exactly(s)) => s,
            (true, Predicted::InBlock) => TransactionStatus::InTransaction,
            _ => self.server_transaction_status(),
        };
        rules::connection_status(&self.conv.session, tx)
    }

    /// Whether each statement commits by itself (no BEGIN is sent for you).
    pub fn autocommit(&self) -> bool {
        self.conv.session.autocommit
    }

    /// The isolation level put on BEGIN (or set as default in autocommit); `None` = server default.
    pub fn isolation_level(&self) -> Option<IsolationLevel> {
        self.conv.session.isolation_level
    }

    /// Read-only setting; `None` = server default.
    pub fn read_only(&self) -> Option<bool> {
        self.conv.session.read_only
    }

    /// Deferrable setting; `None` = server default.
    pub fn deferrable(&self) -> Option<bool> {
        self.conv.session.deferrable
    }

    /// The xid of the current two-phase transaction.
    pub fn tpc_xid(&self) -> Option<&Xid> {
        self.conv.session.tpc.as_ref().map(|(x, _)| x)
    }

    /// The nesting depth of open transaction scopes.
    pub fn transaction_depth(&self) -> usize {
        self.conv.session.scopes
    }

    /// The current prepare threshold.
    pub fn prepare_threshold(&self) -> Option<usize> {
        self.conv.statements.threshold
    }

    /// A type of this connection: built in, or learnt with [`learn_types`](Self::learn_types)
    /// since the schema last changed; `None` when it has to be looked up
    /// ([`unknown_types`](Self::unknown_types)).
    pub fn type_info(&self, oid: u32) -> Option<std::sync::Arc<crate::types::Type>> {
        self.conv.statements.types.get(oid)
    }

    /// Of `oids`, and of the types the known ones are built from, those to look up: run
    /// [`type_lookup_sql`](Self::type_lookup_sql) with them as an `oid[]` and hand the rows
    /// to [`learn_types`](Self::learn_types).
    pub fn unknown_types(&self, oids: impl IntoIterator<Item = u32>) -> Vec<u32> {
        self.conv.statements.types.unknown(oids)
    }

    /// The query that describes types, for this server's version.
    pub fn type_lookup_sql(&self) -> &'static str {
        crate::types::catalogue::lookup_sql(self.server_version())
    }

    /// The request that looks up what is unknown of `oids` (and of the types they are built
    /// from); `None` when all are known. Run it and hand its answer to
    /// [`learn_lookup`](Self::learn_lookup); repeat until `None` or nothing new is learnt
    /// (a type that does not exist stays unknown).
    pub fn type_lookup_request(&self, oids: &[u32]) -> Result<Option<crate::Request>, Error> {
        let unknown = self.unknown_types(oids.iter().copied());
        if unknown.is_empty() {
            return Ok(None);
        }
        crate::Request::type_lookup(self.type_lookup_sql(), &unknown).map(Some)
    }

    /// Learns the types in the answer to [`type_lookup_request`](Self::type_lookup_request);
    /// whether there were any.
    pub fn learn_lookup(&mut self, answer: crate::Response) -> Result<bool, Error> {
        let rows = answer.into_query()?.rows;
        let types = rows.iter().map(|r| crate::types::Type::from_row(&r.as_row())).collect::<Result<Vec<_>, _>>()?;
        let learnt = !types.is_empty();
        self.learn_types(types);
        Ok(learnt)
    }

    /// Keeps types looked up with [`type_lookup_sql`](Self::type_lookup_sql) until the
    /// session's schema changes. A parameter of a domain type then takes values of the
    /// domain's base type.
    pub fn learn_types(&mut self, types: impl IntoIterator<Item = crate::types::Type>) {
        self.conv.statements.types.learn(types);
    }

    /// How the client authenticated: `trust` (the server asked for nothing), `password`,
    /// `md5`, `SCRAM-SHA-256` or `SCRAM-SHA-256-PLUS`; `None` before the connection is made.
    pub fn auth_method(&self) -> Option<&'static str> {
        self.conv.status.auth_method
    }

    /// `(cached, prepared server-side)` statement counts.
    pub fn statement_cache_stats(&self) -> (usize, usize) {
        (self.conv.statements.len(), self.conv.statements.prepared_count())
    }

    /// The client encoding the server reported.
    pub fn client_encoding(&self) -> Option<&str> {
        self.parameter_status("client_encoding")
    }

    /// The session's client encoding (UTF8 unless the session changed it).
    pub fn encoding(&self) -> Encoding {
        self.conv.encoding
    }

    /// What a cancel request for this connection's running query needs (the transport adds
    /// where to connect). A misuse error after `tpc_prepare`, as in psycopg2; not ready before
    /// BackendKeyData.
    pub fn cancel_key(&self) -> Result<crate::CancelToken, Error> {
        rules::before_cancel(&self.conv.session, self.server_transaction_status())?;
        let key = self.conv.status.backend_key.as_ref().ok_or(UsageError::NotReady("no BackendKeyData yet"))?;
        Ok(crate::CancelToken {
            process_id: key.process_id,
            secret_key: key.secret_key.clone(),
            tls: self.channel.tls_plan.clone(),
        })
    }

    /// The last value the server reported for a run-time parameter (`ParameterStatus`).
    pub fn parameter_status(&self, name: &str) -> Option<&str> {
        self.conv.status.parameter(name)
    }

    /// Every parameter the server reported, in first-reported order.
    pub fn parameters(&self) -> impl Iterator<Item = (&str, &str)> {
        self.conv.status.parameters.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// `server_version` as an integer the way libpq computes it (15.4 → 150004, 9.6.1 → 90601).
    pub fn server_version(&self) -> i32 {
        self.parameter_status("server_version").map(crate::session::status::parse_server_version).unwrap_or(0)
    }

    /// psycopg2's `dsn`: the connection string, with the password shown as `xxx`.
    pub fn dsn(&self) -> &str {
        &self.dsn
    }

    /// Whether a client's trace spans carry the SQL text ([`Config::trace_query_text`](crate::Config::trace_query_text)).
    pub fn trace_query_text(&self) -> bool {
        self.trace_query_text
    }

    /// psycopg2's `get_dsn_parameters()`: the effective connection parameters, no password.
    pub fn dsn_parameters(&self) -> &[(String, String)] {
        &self.dsn_parameters
    }

    /// The backend process id and cancel key.
    pub fn backend_key(&self) -> Option<&BackendKey> {
        self.conv.status.backend_key.as_ref()
    }

    /// The backend process id (0 before BackendKeyData).
    pub fn backend_pid(&self) -> i32 {
        self.conv.status.backend_key.as_ref().map(|k| k.process_id).unwrap_or(0)
    }

    /// The protocol version in use, as `(3, minor)`.
    pub fn protocol_version(&self) -> (u16, u16) {
        (3, self.conv.status.protocol_minor)
    }

    /// Notices received so far (oldest first), at most the notice limit.
    pub fn notices(&self) -> impl Iterator<Item = &Notice> {
        self.conv.status.notices.iter()
    }

    /// Notifications received so far, oldest first.
    pub fn notifications(&self) -> impl Iterator<Item = &Notification> {
        self.conv.status.notifications.iter()
    }
}
