//! Errors, one enum for the whole client with a variant per layer.
//!
//! The split follows h11 and rustls: [`Error::Usage`] is *you* misusing the API (reported before any
//! byte is queued, the connection is left as it was); [`Error::Protocol`] is *the peer* breaking
//! the protocol (fatal and sticky: every later call returns it again); [`Error::Db`] is an
//! `ErrorResponse` from the server, which is fatal only when its severity is `FATAL` or `PANIC`
//! or when it arrives during startup.

use std::fmt;
use std::sync::Arc;

mod sqlstate;
pub use sqlstate::SqlState;

/// Every error pgsans returns.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an `ErrorResponse`.
    #[error("{0}")]
    Db(Box<DbError>),
    /// The server sent bytes that break the protocol. Fatal and sticky.
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// The caller misused the API; nothing was sent and the connection is unchanged.
    #[error("usage error: {0}")]
    Usage(#[from] UsageError),
    /// Authentication could not be carried out on the client side.
    #[error("authentication error: {0}")]
    Auth(#[from] AuthError),
    /// The connection string or configuration is invalid.
    #[error("invalid connection configuration: {0}")]
    Config(#[from] ConfigError),
    /// The connection is closed: by [`close`](crate::Connection::terminate), or by the server.
    #[error("connection closed: {0}")]
    Closed(ClosedReason),
    /// A socket error reported by a transport.
    #[error("I/O error: {0}")]
    Io(Arc<std::io::Error>),
    /// An earlier query of the same pipeline Sync group failed, so the server skipped this one
    /// (libpq's `PGRES_PIPELINE_ABORTED`).
    #[error("pipeline aborted: an earlier query in the same sync group failed")]
    PipelineAborted,
    /// A deadline passed before the operation completed.
    #[error("timeout expired")]
    Timeout,
    /// TLS could not be set up or failed: the reason (a certificate that does not verify says
    /// why). Fatal.
    #[error("TLS: {0}")]
    Tls(String),
    /// The server is not the kind `target_session_attrs` asks for (libpq's wording); the
    /// connection is closed and the next host is tried.
    #[error("server does not satisfy target_session_attrs={wanted}: {why}")]
    TargetSessionAttrs { wanted: &'static str, why: &'static str },
    /// pgsans itself went wrong (a request that can make no progress, a response of the wrong
    /// kind): a bug to report, not the server's fault nor the caller's.
    #[error("internal error in pgsans (please report it): {0}")]
    Internal(String),
}

impl Error {
    /// The server error, if this is one.
    pub fn as_db_error(&self) -> Option<&DbError> {
        match self {
            Error::Db(e) => Some(e),
            _ => None,
        }
    }

    /// The SQLSTATE of a server error: `err.code() == Some(SqlState::UNIQUE_VIOLATION)`.
    pub fn code(&self) -> Option<SqlState> {
        self.as_db_error().map(|e| e.code())
    }

    /// psycopg's class for a server error, and for a COPY refused by the client
    /// ([`ErrorClass::NotSupported`], as psycopg 3); `None` for other errors raised by the
    /// client itself.
    pub fn class(&self) -> Option<ErrorClass> {
        match self {
            Error::Usage(UsageError::CopyNotSupported(_)) => Some(ErrorClass::NotSupported),
            Error::Usage(
                UsageError::NamedCursorOutsideTransaction
                | UsageError::LargeObjectOutsideTransaction
                | UsageError::LargeObjectClosed,
            ) => Some(ErrorClass::Programming),
            _ => self.as_db_error().map(DbError::class),
        }
    }

    /// Whether a connection attempt that failed with this error goes on to the next host, as
    /// libpq does: the host could not be reached, closed the connection, did not answer in
    /// time, or is not the kind `target_session_attrs` asks for. A server that refused the
    /// session (authentication, unknown database) ends the attempt: the remaining hosts are
    /// not tried.
    pub fn tries_next_host(&self) -> bool {
        matches!(self, Error::Io(_) | Error::Timeout | Error::Closed(_) | Error::TargetSessionAttrs { .. })
    }

    /// Whether the connection can no longer be used after this error.
    pub fn is_fatal(&self) -> bool {
        match self {
            Error::Db(e) => e.is_fatal(),
            Error::Protocol(_)
            | Error::Closed(_)
            | Error::Io(_)
            | Error::Auth(_)
            | Error::Internal(_)
            | Error::Tls(_)
            | Error::TargetSessionAttrs { .. } => true,
            Error::Usage(e) => matches!(e, UsageError::CopyWithRequestsQueued),
            Error::Config(_) | Error::Timeout | Error::PipelineAborted => false,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(Arc::new(e))
    }
}

impl From<DbError> for Error {
    fn from(e: DbError) -> Self {
        Error::Db(Box::new(e))
    }
}

/// Why a connection is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClosedReason {
    /// The client closed it (Terminate was sent).
    ByClient,
    /// The server closed the socket while a response was still expected.
    UnexpectedEof,
    /// The server closed the socket while the connection was idle.
    ServerClosed,
}

impl fmt::Display for ClosedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClosedReason::ByClient => "the connection was closed by the client",
            ClosedReason::UnexpectedEof => "server closed the connection unexpectedly",
            ClosedReason::ServerClosed => "the server closed the connection",
        })
    }
}

/// The server broke the wire protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A message announced a length over the configured cap.
    #[error("message of type {ty:?} is {len} bytes long, over the limit of {max}")]
    MessageTooLarge { ty: char, len: usize, max: usize },
    /// A message's length field is smaller than the length field itself.
    #[error("message of type {ty:?} has an invalid length {len}")]
    InvalidLength { ty: char, len: i32 },
    /// A message body ended early or had bytes left over.
    #[error("malformed {message} message: {what}")]
    Malformed { message: &'static str, what: &'static str },
    /// A message type that is unknown or not expected at this point.
    #[error("unexpected message {ty:?} while {state}")]
    Unexpected { ty: char, state: &'static str },
    /// The server's reply to SSLRequest was neither `S` nor `N`.
    #[error("invalid response to SSLRequest: {0:#04x}")]
    InvalidSslResponse(u8),
    /// The server sent an authentication request this client does not support.
    #[error("unsupported authentication method: {0}")]
    UnsupportedAuth(String),
    /// The SCRAM exchange from the server is malformed.
    #[error("invalid SCRAM message from server: {0}")]
    Scram(&'static str),
    /// The server offered a protocol version below `min_protocol_version`.
    #[error("server only supports protocol version 3.{0}, below min_protocol_version")]
    UnsupportedVersion(u16),
    /// Text that should be UTF-8 is not.
    #[error("invalid UTF-8 in {0}")]
    InvalidUtf8(&'static str),
    /// The server sent more data after the connection ended.
    #[error("data received after the connection ended")]
    DataAfterClose,
    /// The peer's first bytes are not a PostgreSQL message: it does not speak the protocol.
    #[error("the server does not speak the PostgreSQL protocol (it sent {0:?})")]
    NotPostgres(String),
}

/// The caller misused the API. Nothing was queued; the connection is as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// A string sent to the server contains a NUL byte, which the protocol cannot carry.
    #[error("{0} contains a NUL byte")]
    NulInString(&'static str),
    /// Text to send contains a character the session's client encoding cannot represent.
    #[error("character {character:?} cannot be represented in the client encoding {encoding}")]
    NotEncodable { character: char, encoding: String },
    /// A message is too large to be sent (over 1 GiB).
    #[error("message too large to send")]
    MessageTooLarge,
    /// The operation needs an established connection.
    #[error("the connection is not ready: {0}")]
    NotReady(&'static str),
    /// The operation is not allowed in the connection's current state.
    #[error("{0}")]
    InvalidState(String),
    /// A column index or name does not exist in this row.
    #[error("column {0} does not exist")]
    NoSuchColumn(String),
    /// A column or parameter has a type the Rust type cannot represent.
    #[error("cannot convert between the Rust type `{rust}` and the PostgreSQL type `{pg}`{}", column_suffix(column))]
    WrongType { column: String, rust: &'static str, pg: String },
    /// A NULL was read into a Rust type that cannot hold it (use `Option<T>`).
    #[error("unexpected NULL{} for the Rust type `{rust}` (use Option)", column_suffix(column))]
    UnexpectedNull { column: String, rust: &'static str },
    /// `query_one` / `query_opt` got another number of rows.
    #[error("expected {expected} row, got {got}")]
    RowCount { expected: &'static str, got: usize },
    /// The wrong number of parameters for a statement.
    #[error("the statement expects {expected} parameters but {given} were given")]
    ParameterCount { expected: usize, given: usize },
    /// A value could not be converted.
    #[error("{0}")]
    Conversion(String),
    /// Called with the wrong argument.
    #[error("{0}")]
    InvalidArgument(String),
    /// A COPY statement ran through a query method (`COPY … FROM STDIN` or `TO STDOUT`): the
    /// server's copy was ended (a COPY FROM STDIN fails on the server, which aborts an open
    /// transaction) and the connection is usable. psycopg 3 raises NotSupportedError.
    #[error(
        "COPY {0} cannot run through a query method: use the connection's copy_in / copy_in_binary \
         (COPY … FROM STDIN) or copy_out / copy_out_binary (COPY … TO STDOUT)"
    )]
    CopyNotSupported(&'static str),
    /// A named cursor without `WITH HOLD` in autocommit mode: it would be closed as soon as it
    /// is declared (psycopg2's "can't use a named cursor outside of transactions").
    #[error("can't use a named cursor outside of transactions: turn autocommit off or declare it WITH HOLD")]
    NamedCursorOutsideTransaction,
    /// A large object used in autocommit mode: its descriptor would be closed at once
    /// (psycopg2's "can't use a lobject outside of transactions").
    #[error("can't use a large object outside of transactions: turn autocommit off")]
    LargeObjectOutsideTransaction,
    /// A large object used after it was closed, or after the transaction it was opened in
    /// ended (commit, rollback, `tpc_prepare`, `tpc_commit`): its descriptor is gone.
    #[error("the large object is closed (closed by the caller, or its transaction ended)")]
    LargeObjectClosed,
    /// A COPY FROM STDIN ran, outside the COPY API, with messages of its own request queued
    /// behind it (a pipeline with later sync groups): the server took them as copy data. The
    /// connection is closed (the only case where a usage error is fatal). Other requests are
    /// never queued behind a statement that may copy in, so they cannot cause it.
    #[error("COPY FROM STDIN ran with other requests queued behind it; the connection cannot continue")]
    CopyWithRequestsQueued,
}

fn column_suffix(column: &str) -> String {
    if column.is_empty() {
        String::new()
    } else {
        format!(" (column {column})")
    }
}

/// Authentication failed on the client side.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The server asked for a password and none was configured.
    #[error("the server requested {0} authentication, but no password was provided")]
    PasswordMissing(&'static str),
    /// The server's SCRAM signature did not verify: it does not know the password.
    #[error("SCRAM server signature does not match: the server could not prove it knows the password")]
    ServerSignatureMismatch,
    /// The server reported a SCRAM error (`e=...` in server-final-message).
    #[error("SCRAM authentication failed on the server: {0}")]
    ServerReported(String),
    /// None of the offered SASL mechanisms is supported.
    #[error("none of the server's SASL mechanisms is supported: {0}")]
    NoCommonMechanism(String),
    /// The server asked for a method `require_auth` does not allow, or for none when one is
    /// required (libpq's wording).
    #[error("authentication method requirement \"{required}\" failed: {why}")]
    RequirementFailed { required: String, why: &'static str },
    /// `requirepeer`: the server on the Unix socket runs as another OS user (libpq's wording).
    #[error("requirepeer specifies \"{required}\", but actual peer user name is \"{actual}\"")]
    PeerMismatch { required: String, actual: String },
    /// `channel_binding=require` and the authentication would not bind to the TLS channel.
    #[error("{0}")]
    ChannelBinding(&'static str),
}

/// An invalid connection string or configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("missing \"=\" after \"{key}\" in connection info string")]
    MissingEquals { key: String },
    #[error("unterminated quoted string in connection info string")]
    UnterminatedQuote,
    #[error("invalid connection option \"{0}\"")]
    UnknownOption(String),
    #[error("invalid URI query parameter: \"{0}\"")]
    UnknownUriParameter(String),
    #[error("invalid {key} value: \"{value}\"")]
    InvalidValue { key: String, value: String },
    #[error("invalid integer value \"{value}\" for connection option \"{key}\"")]
    InvalidInteger { key: String, value: String },
    #[error("invalid port number: \"{0}\"")]
    InvalidPort(String),
    #[error("invalid percent-encoded token at byte {pos}: \"{token}\"")]
    InvalidPercentEncoding { pos: usize, token: String },
    #[error("forbidden value %00 in percent-encoded value at byte {0}")]
    PercentEncodedNul(usize),
    #[error("invalid URI at byte {pos}: {what}")]
    InvalidUri { pos: usize, what: &'static str },
    #[error("missing key/value separator \"=\" in URI query parameter: \"{0}\"")]
    UriMissingSeparator(String),
    #[error("extra key/value separator \"=\" in URI query parameter: \"{0}\"")]
    UriExtraSeparator(String),
    #[error("could not match {ports} port numbers to {hosts} hosts")]
    PortCount { ports: usize, hosts: usize },
    #[error("could not match {hosts} host names to {hostaddrs} hostaddr values")]
    HostaddrCount { hosts: usize, hostaddrs: usize },
    #[error("{0} contains a NUL byte")]
    Nul(String),
    #[error("no user name: set user in the connection string or the PGUSER/USER environment variable")]
    NoUser,
    #[error("{0}")]
    Unsupported(String),
    #[error("could not read {path}: {message}")]
    File { path: String, message: String },
    /// `service` names a service no service file defines (libpq's wording).
    #[error("definition of service \"{0}\" not found")]
    ServiceNotFound(String),
    #[error("syntax error in service file \"{path}\", line {line}: {message}")]
    ServiceFile { path: String, line: usize, message: String },
}

/// psycopg2's classification of server errors by SQLSTATE (`psycopg2.errors` base classes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorClass {
    /// Connection exceptions (08), resources (53), operator intervention (57), system (58),
    /// configuration (F0 is Internal), invalid authorization (28), FDW (HV) …
    Operational,
    /// 0A: feature not supported.
    NotSupported,
    /// Syntax errors, undefined objects, access rules (42), cardinality (21), …
    Programming,
    /// 22: data exceptions (division by zero, invalid text representation, …).
    Data,
    /// 23: integrity constraint violations.
    Integrity,
    /// Invalid transaction state (25), internal errors (XX), PL/pgSQL (P0), …
    Internal,
    /// 40: serialization failure (40001), deadlock (40P01), … — retry the transaction.
    TransactionRollback,
    /// 57014: the query was canceled.
    QueryCanceled,
    /// Anything else.
    Database,
}

impl ErrorClass {
    /// The class psycopg2 raises for `sqlstate`.
    pub fn from_sqlstate(sqlstate: &str) -> ErrorClass {
        if sqlstate == "57014" {
            return ErrorClass::QueryCanceled;
        }
        let class = sqlstate.get(..2).unwrap_or("");
        match class {
            "08" | "26" | "27" | "28" | "34" | "HV" => ErrorClass::Operational,
            "0A" => ErrorClass::NotSupported,
            "20" | "21" | "3D" | "3F" | "42" | "44" => ErrorClass::Programming,
            "22" => ErrorClass::Data,
            "23" => ErrorClass::Integrity,
            "24" | "25" | "2B" | "2D" | "2F" | "38" | "39" | "3B" | "F0" | "P0" | "XX" => ErrorClass::Internal,
            "40" => ErrorClass::TransactionRollback,
            c if c.starts_with('5') => ErrorClass::Operational,
            _ => ErrorClass::Database,
        }
    }
}

/// One `ErrorResponse` or `NoticeResponse`: every field the server sent.
///
/// Field codes follow the protocol documentation ("Error and Notice Message Fields").
#[derive(Clone, PartialEq, Eq, Default)]
pub struct DbError {
    pub(crate) severity: String,
    pub(crate) severity_nonlocalized: Option<String>,
    pub(crate) code: String,
    pub(crate) message: String,
    pub(crate) detail: Option<String>,
    pub(crate) hint: Option<String>,
    pub(crate) position: Option<u32>,
    pub(crate) internal_position: Option<u32>,
    pub(crate) internal_query: Option<String>,
    pub(crate) where_: Option<String>,
    pub(crate) schema: Option<String>,
    pub(crate) table: Option<String>,
    pub(crate) column: Option<String>,
    pub(crate) datatype: Option<String>,
    pub(crate) constraint: Option<String>,
    pub(crate) file: Option<String>,
    pub(crate) line: Option<u32>,
    pub(crate) routine: Option<String>,
    /// psycopg's class where it is not the SQLSTATE's (`tpc_prepare` on a server without
    /// prepared transactions: NotSupported).
    pub(crate) class_override: Option<ErrorClass>,
}

/// A notice is the same set of fields as an error.
pub type Notice = DbError;

impl DbError {
    /// Parses the fields of an ErrorResponse / NoticeResponse body (UTF-8 text).
    pub(crate) fn parse(body: &[u8]) -> Result<DbError, ProtocolError> {
        Self::parse_in(body, crate::encoding::Encoding::UTF8)
    }

    /// Parses the fields of an ErrorResponse / NoticeResponse body whose text is in `encoding`
    /// (the session's client encoding). Text that is not valid there is kept with U+FFFD.
    pub(crate) fn parse_in(body: &[u8], encoding: crate::encoding::Encoding) -> Result<DbError, ProtocolError> {
        const M: &str = "ErrorResponse";
        let mut e = DbError::default();
        let mut rest = body;
        loop {
            let (&code, tail) =
                rest.split_first().ok_or(ProtocolError::Malformed { message: M, what: "missing terminator" })?;
            if code == 0 {
                if !tail.is_empty() {
                    return Err(ProtocolError::Malformed { message: M, what: "trailing bytes" });
                }
                break;
            }
            let nul =
                memchr::memchr(0, tail).ok_or(ProtocolError::Malformed { message: M, what: "unterminated field" })?;
            let value = encoding.decode_lossy(&tail[..nul]).into_owned();
            rest = &tail[nul + 1..];
            let num = || value.parse::<u32>().ok();
            match code {
                b'S' => e.severity = value,
                b'V' => e.severity_nonlocalized = Some(value),
                b'C' => e.code = value,
                b'M' => e.message = value,
                b'D' => e.detail = Some(value),
                b'H' => e.hint = Some(value),
                b'P' => e.position = num(),
                b'p' => e.internal_position = num(),
                b'q' => e.internal_query = Some(value),
                b'W' => e.where_ = Some(value),
                b's' => e.schema = Some(value),
                b't' => e.table = Some(value),
                b'c' => e.column = Some(value),
                b'd' => e.datatype = Some(value),
                b'n' => e.constraint = Some(value),
                b'F' => e.file = Some(value),
                b'L' => e.line = num(),
                b'R' => e.routine = Some(value),
                _ => {} // "frontends should silently ignore fields of unrecognized type"
            }
        }
        Ok(e)
    }

    /// Localized severity: `ERROR`, `FATAL`, `PANIC`, `WARNING`, `NOTICE`, `DEBUG`, `INFO`, `LOG`.
    pub fn severity(&self) -> &str {
        &self.severity
    }
    /// Severity that is never localized (PostgreSQL 9.6+).
    pub fn severity_nonlocalized(&self) -> Option<&str> {
        self.severity_nonlocalized.as_deref()
    }
    /// The SQLSTATE code, e.g. [`SqlState::UNIQUE_VIOLATION`] (`23505`). A code that is not
    /// five digits or upper-case letters (PostgreSQL never sends one) reads as
    /// [`SqlState::INTERNAL_ERROR`]; [`code_str`](Self::code_str) has it as sent.
    pub fn code(&self) -> SqlState {
        SqlState::from_code(&self.code).unwrap_or(SqlState::INTERNAL_ERROR)
    }
    /// The SQLSTATE code exactly as the server sent it.
    pub fn code_str(&self) -> &str {
        &self.code
    }
    /// The primary message.
    pub fn message(&self) -> &str {
        &self.message
    }
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }
    /// 1-based character position in the query string.
    pub fn position(&self) -> Option<u32> {
        self.position
    }
    pub fn internal_position(&self) -> Option<u32> {
        self.internal_position
    }
    pub fn internal_query(&self) -> Option<&str> {
        self.internal_query.as_deref()
    }
    /// The context (`W` field): call stack of the error.
    pub fn where_(&self) -> Option<&str> {
        self.where_.as_deref()
    }
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }
    pub fn table(&self) -> Option<&str> {
        self.table.as_deref()
    }
    pub fn column(&self) -> Option<&str> {
        self.column.as_deref()
    }
    pub fn datatype(&self) -> Option<&str> {
        self.datatype.as_deref()
    }
    pub fn constraint(&self) -> Option<&str> {
        self.constraint.as_deref()
    }
    pub fn file(&self) -> Option<&str> {
        self.file.as_deref()
    }
    pub fn line(&self) -> Option<u32> {
        self.line
    }
    pub fn routine(&self) -> Option<&str> {
        self.routine.as_deref()
    }

    /// psycopg2's exception class for this SQLSTATE (psycopg 3's where psycopg2 has none).
    pub fn class(&self) -> ErrorClass {
        self.class_override.unwrap_or_else(|| ErrorClass::from_sqlstate(&self.code))
    }

    /// `FATAL` or `PANIC`: the server ends the session after sending it.
    pub fn is_fatal(&self) -> bool {
        let sev = self.severity_nonlocalized.as_deref().unwrap_or(&self.severity);
        sev == "FATAL" || sev == "PANIC"
    }
}

impl fmt::Debug for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("DbError");
        d.field("severity", &self.severity).field("code", &self.code).field("message", &self.message);
        macro_rules! opt {
            ($($name:ident),*) => {$( if let Some(v) = &self.$name { d.field(stringify!($name), v); } )*};
        }
        opt!(
            detail,
            hint,
            position,
            internal_position,
            internal_query,
            where_,
            schema,
            table,
            column,
            datatype,
            constraint,
            file,
            line,
            routine
        );
        d.finish()
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.severity, self.message)?;
        if !self.code.is_empty() {
            write!(f, " (SQLSTATE {})", self.code)?;
        }
        if let Some(d) = &self.detail {
            write!(f, "\nDETAIL: {d}")?;
        }
        if let Some(h) = &self.hint {
            write!(f, "\nHINT: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for DbError {}

#[cfg(test)]
mod tests {
    use super::ErrorClass as C;

    #[test]
    fn psycopg2_classes() {
        for (code, class) in [
            ("23505", C::Integrity),
            ("22012", C::Data),
            ("42P01", C::Programming),
            ("40001", C::TransactionRollback),
            ("40P01", C::TransactionRollback),
            ("57014", C::QueryCanceled),
            ("57P01", C::Operational),
            ("08006", C::Operational),
            ("25P02", C::Internal),
            ("0A000", C::NotSupported),
            ("XX000", C::Internal),
            ("99999", C::Database),
        ] {
            assert_eq!(C::from_sqlstate(code), class, "{code}");
        }
    }
}
