//! # pgsans: a PostgreSQL client as a pure state machine
//!
//! `pgsans` is the protocol engine of a PostgreSQL client. It consumes bytes, emits bytes, and
//! reports typed events; it never opens a socket, reads a clock, draws randomness or awaits
//! anything. Transports (`pgsans-std`, `pgsans-tokio`, `pgsans-smol`) drive the same engine from
//! blocking code, Tokio, smol / async-std, or your own event loop.
//!
//! ## The run loop
//!
//! Everything happens through a [`Connection`] and an [`Operation`]:
//!
//! 1. Build the engine: [`Connection::new`] with a [`Config`] and a SCRAM [`ClientNonce`] (the
//!    caller supplies the randomness). The StartupMessage is queued at once.
//! 2. Start an operation: [`op::Startup`], [`op::SimpleQuery::start`], [`op::Terminate::start`].
//! 3. Call [`step`]. It drains the engine's events into the operation and answers either
//!    [`Step::Done`] with the result, or [`Step::Wait`] with what to wait for:
//!    [`Poll::Read`] (read into [`Connection::recv_buf`], then [`Connection::recv_commit`]),
//!    [`Poll::Write`] (write [`Connection::transmit`], then [`Connection::advance`]) or
//!    [`Poll::ReadWrite`] (either; never wait for only one of them then).
//! 4. Repeat until done.
//!
//! ```
//! use pgsans::{ClientNonce, Config, Connection, Poll, Step};
//!
//! let config = Config::parse("user=alice dbname=shop").unwrap();
//! let mut engine = Connection::new(&config, ClientNonce::from_random_bytes([7; 18])).unwrap();
//! let mut op = pgsans::op::Startup;
//! // The first thing to do is to send the StartupMessage.
//! assert!(matches!(pgsans::step(&mut engine, &mut op).unwrap(), Step::Wait(Poll::Write)));
//! let startup = engine.transmit().to_vec();
//! engine.advance(startup.len());
//! // Now we wait for the server: trust authentication, then ReadyForQuery.
//! assert!(matches!(pgsans::step(&mut engine, &mut op).unwrap(), Step::Wait(Poll::Read)));
//! engine.receive(b"R\0\0\0\x08\0\0\0\0K\0\0\0\x0c\0\0\x30\x39\x01\x02\x03\x04Z\0\0\0\x05I");
//! assert!(matches!(pgsans::step(&mut engine, &mut op).unwrap(), Step::Done(())));
//! assert_eq!(engine.backend_pid(), 12345);
//! ```
//!
//! ## Guarantees
//!
//! * Any split of the server's bytes gives the same events (property-tested against recordings
//!   of real PostgreSQL 15 sessions).
//! * Malformed input is a typed [`Error`], never a panic; incoming messages are capped
//!   ([`Config::max_message_len`]); fatal errors are sticky.
//! * Misuse is reported before any byte is queued.

#![forbid(unsafe_code)]

pub mod auth;
mod buffer;
mod cancel;
pub mod codec;
pub mod config;
mod connection;
pub mod drive;
pub mod extended;
pub mod pipeline;
mod statement;
pub use cancel::{CancelRequest, CancelToken};
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod op;
mod row;
pub mod session;
mod transport_kit;
pub mod types;

pub use config::Config;
pub use connection::{
    parse_server_version, BackendKey, ClientNonce, Connection, Event, NoticeHandler, Notification, Poll,
    TransactionStatus, DEFAULT_NOTICE_LIMIT,
};
pub use error::{AuthError, ClosedReason, ConfigError, DbError, Error, ErrorClass, Notice, ProtocolError, UsageError};
pub use extended::{Mode, Params, Query, QueryResult, QueryStep};
pub use op::{step, Operation, Step};
pub use pipeline::Pipeline;
pub use row::{rows_affected, Column, ColumnIndex, OwnedRow, ResultSet, Row, SimpleBatch};
pub use session::{ConnectionStatus, IsolationLevel, RecoveredXid, SessionChange, Setting, Xid};
pub use statement::{Described, Statement};
pub use types::{FromSql, ToSql};
