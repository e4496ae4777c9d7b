//! # pgsans: a PostgreSQL client as a pure state machine
//!
//! `pgsans` is the protocol engine of a PostgreSQL client. It consumes bytes, emits bytes, and
//! hands out typed results; it never opens a socket, reads a clock, draws randomness, reads a
//! file or awaits anything. `pgsans-client` writes the user-facing connection once over it;
//! `pgsans-std`, `pgsans-tokio` and `pgsans-smol` adapt that to a runtime — or drive the engine
//! yourself, from your own event loop, a simulator or a fuzzer, with the contract below.
//!
//! **TLS** runs inside the engine, through rustls' own sans-IO session: the engine encrypts what
//! it queues and decrypts what it is given, so every transport gets it unchanged. The time a
//! certificate is checked against comes from the caller
//! ([`set_current_time`](Connection::set_current_time)). One exception to "no randomness": the
//! TLS handshake's key shares and nonces come from the crypto provider's own secure random
//! source (ring's), as they must; everything else, the SCRAM nonce included, is given by the
//! caller, and a connection without TLS stays fully deterministic.
//!
//! ## The contract: one [`Connection`], four kinds of method
//!
//! | kind | methods | what they do |
//! |---|---|---|
//! | **inputs** | [`recv_buf`](Connection::recv_buf) + [`recv_commit`](Connection::recv_commit), [`receive`](Connection::receive), [`receive_eof`](Connection::receive_eof), [`transport_error`](Connection::transport_error) | bytes (or the end of them) from the server |
//! | **outputs** | [`poll`](Connection::poll), [`transmit`](Connection::transmit) + [`advance`](Connection::advance), [`take_response`](Connection::take_response), [`row_ready`](Connection::row_ready) / [`take_row`](Connection::take_row), [`data_ready`](Connection::data_ready) / [`take_data`](Connection::take_data), [`input_format`](Connection::input_format), [`take_notices`](Connection::take_notices), [`take_notifications`](Connection::take_notifications) | what to wait for, bytes to send, results |
//! | **commands** | [`submit`](Connection::submit) a [`Request`], [`send_data`](Connection::send_data) / [`finish_data`](Connection::finish_data) / [`fail_data`](Connection::fail_data), [`abandon`](Connection::abandon), [`abandon_scope`](Connection::abandon_scope), [`terminate`](Connection::terminate), settings and handlers (`set_*`) | queue work; misuse is refused before anything is queued |
//! | **getters** | [`transaction_status`](Connection::transaction_status), [`connection_status`](Connection::connection_status), [`parameter_status`](Connection::parameter_status), [`backend_pid`](Connection::backend_pid), … | never change anything |
//!
//! The run loop, after building the engine with [`Connection::new`] (the StartupMessage is
//! queued at once; the SCRAM nonce is the caller's randomness):
//!
//! 1. **Submit** requests: [`Connection::submit`] returns a [`RequestId`]. Requests are owned
//!    values ([`Request::query`], [`Request::simple`], [`Request::pipeline`],
//!    [`Request::command`], …); any number may be in flight and they run in order — that is
//!    pipelining. psycopg2's rules ([`session::Command`], the automatic `BEGIN`) are applied
//!    here, once.
//! 2. **Poll**: [`Connection::poll`] handles every message received so far and says what to
//!    wait for — [`Interest::Read`], [`Interest::Write`], [`Interest::ReadWrite`] (wait for
//!    either; never for only one of them then), or `None` (nothing is outstanding, or a
//!    streamed row is ready).
//! 3. **Move bytes**: write [`transmit`](Connection::transmit) and [`advance`](Connection::advance)
//!    by what was written; read into [`recv_buf`](Connection::recv_buf) and
//!    [`recv_commit`](Connection::recv_commit) what was read (0 bytes read:
//!    [`receive_eof`](Connection::receive_eof)).
//! 4. **Take results**: [`take_response`](Connection::take_response) gives a finished
//!    request's [`Response`]; a streaming query's rows come one at a time from
//!    [`take_row`](Connection::take_row), borrowed from the receive buffer. Repeat from 2.
//!
//! Every mutation must be followed by a call to `poll` before waiting: it is what processes
//! input and lets a pipeline queue more. A request nobody waits for any more is
//! [`abandon`](Connection::abandon)ed: its answers are drained inside the engine, and the
//! connection stays usable. Starting a request never abandons another.
//!
//! ```
//! use pgsans::{ClientNonce, Config, Connection, Interest, Mode, Request};
//!
//! let config = Config::parse("user=alice dbname=shop sslmode=disable").unwrap();
//! let mut engine = Connection::new(&config, ClientNonce::from_random_bytes([7; 18])).unwrap();
//! // The StartupMessage waits to be written.
//! assert_eq!(engine.poll().unwrap(), Some(Interest::Write));
//! let n = engine.transmit().len();
//! engine.advance(n);
//! // Trust authentication, BackendKeyData, ReadyForQuery.
//! assert_eq!(engine.poll().unwrap(), Some(Interest::Read));
//! engine.receive(b"R\0\0\0\x08\0\0\0\0K\0\0\0\x0c\0\0\x30\x39\x01\x02\x03\x04Z\0\0\0\x05I");
//! assert_eq!(engine.poll().unwrap(), None);
//! assert!(engine.is_ready());
//! assert_eq!(engine.backend_pid(), 12345);
//!
//! let id = engine.submit(Request::query("SELECT $1::int4 + 1", &[&41i32], Mode::Collect).unwrap()).unwrap();
//! // Parse + Describe + Flush to send; answers may come while we send: wait for either.
//! assert_eq!(engine.poll().unwrap(), Some(Interest::ReadWrite));
//! assert!(engine.take_response(id).is_none());
//! ```
//!
//! ## Layout
//!
//! The modules are layers; each uses only those above it in this list (a test,
//! `tests/layers.rs`, checks it, inline `crate::` paths included):
//!
//! | module | holds |
//! |---|---|
//! | `encoding`, `error` | client encodings; the error types |
//! | [`wire`] | PostgreSQL's messages as bytes (`codec`), the byte buffers, [`Interest`] and [`Wire`] |
//! | [`types`] | `ToSql` / `FromSql`, rows and columns, binary COPY rows |
//! | [`config`] | connection strings, libpq's keywords and host list ([`config::ConnectPlan`]), authentication policy |
//! | [`session`] | psycopg2's rules, the conversation the requests share: the [sync queue](session) of points the server answers, the statement cache, what the server reported |
//! | [`auth`] | startup and authentication, TLS, cancel requests |
//! | `request` | the request kinds, each a state machine meeting the engine through one small interface (what it needs next: to stop before a message, the caller to act first, the connection to itself) |
//! | `engine` | [`Connection`]: the channel of bytes and TLS, the dispatch of messages, the requests in flight |
//!
//! ## Guarantees
//!
//! * Any split of the server's bytes gives the same results (property-tested against
//!   recordings of real PostgreSQL 15 sessions).
//! * Malformed input is a typed [`Error`], never a panic; incoming messages are capped
//!   ([`Config::max_message_len`]); fatal errors are sticky: every later call returns them.
//! * Misuse is reported before any byte is queued; errors the caller causes
//!   ([`Error::Usage`]) are distinct from the server breaking the protocol
//!   ([`Error::Protocol`]) and from pgsans' own bugs ([`Error::Internal`]).
//! * Rows are always decoded with the RowDescription of their own execution.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod auth;
pub mod config;
pub mod encoding;
mod engine;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod replication;
mod request;
pub mod session;
pub mod types;
pub mod wire;

pub use auth::cancel::{CancelRequest, CancelToken};
pub use auth::startup::ClientNonce;
pub use auth::tls::crypto_provider;
pub use config::Config;
pub use engine::{Connection, Interest, Wire};
pub use error::{
    AuthError, ClosedReason, ConfigError, DbError, Error, ErrorClass, Notice, ProtocolError, SqlState, UsageError,
};
pub use request::event::Event;
pub use request::{
    CopyDirection, CopyFormat, CopyResult, Mode, Params, Pipeline, Query, QueryResult, Request, RequestSummary,
    Response,
};
pub use session::conversation::RequestId;
pub use session::statements::{Described, Statement};
pub use session::status::{
    parse_server_version, BackendKey, NoticeHandler, Notification, NotificationHandler, TransactionStatus,
    DEFAULT_NOTICE_LIMIT,
};
pub use session::{ConnectionStatus, IsolationLevel, LegacyIsolationLevel, RecoveredXid, SessionChange, Setting, Xid};
pub use types::copy_binary::{BinaryCopyReader, BinaryCopyWriter};
pub use types::row::{rows_affected, Column, ColumnIndex, CommandTag, OwnedRow, ResultSet, Row, SimpleBatch};
pub use types::{FromRow, FromSql, ToSql};
