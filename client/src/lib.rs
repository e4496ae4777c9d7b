//! The pgsans connection, written once over a small [`Runtime`] trait.
//!
//! [`Connection<R>`] is everything a user calls — connect over several hosts with
//! `connect_timeout`, `query` / `query_one` / `query_opt` / `execute` / `prepare`, streamed rows,
//! portals, pipelines, simple queries, COPY in both directions, psycopg2's transactions and session characteristics,
//! two-phase commit, notifications, cancel, close — as ordinary `async fn`s. Each one submits
//! requests to the [`pgsans`] engine and moves bytes until their responses are there; all the
//! protocol is in the engine. A runtime provides a socket it can wait on, a way to connect and
//! a timer ([`Runtime`], [`Socket`]): `pgsans-tokio` and `pgsans-smol` in a few dozen lines each,
//! `pgsans-std` with its own single-socket executor that parks in `poll(2)` or a wait callback.
//!
//! ```ignore
//! let mut conn = pgsans_tokio::Connection::connect("postgresql://app@localhost/shop").await?;
//! let row = conn.query_one("SELECT $1::int4 + 1", &[&41i32]).await?;
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod cancel;
pub mod connect_error;
mod connection;
mod copy;
mod cursor;
mod driver;
pub mod io;
pub mod load;
mod lobject;
#[cfg(any(feature = "deadpool", feature = "bb8"))]
mod managers;
mod pool;
mod replication;
mod runtime;
mod shared;
mod stream;
mod trace;
mod transaction;

pub use cancel::CancelToken;
pub use connection::Connection;
pub use copy::{BinaryCopyIn, BinaryCopyOut, CopyIn, CopyOut, COPY_BUFFER};
pub use cursor::{CursorOptions, NamedCursor, ScrollMode};
pub use driver::Driver;
pub use load::{load, load_with_env, with_files};
pub use lobject::{LargeObject, LoMode, Whence};
#[cfg(any(feature = "deadpool", feature = "bb8"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "deadpool", feature = "bb8"))))]
pub use managers::Manager;
pub use pgsans::replication::{ReplicationSlot, SlotKind, SlotOptions, SystemIdentity};
pub use pool::{HealthCheck, Pool, PoolItem, PoolOptions, PoolStats, PooledConnection, Recycle};
pub use replication::{OwnedReplicationMessage, ReplicationStream, DEFAULT_STATUS_INTERVAL};
pub use runtime::{ready, set_socket_options, Runtime, Socket};
pub use shared::{Client, ClientTransaction, Lease};
pub use stream::{Portal, RowStream};
pub use transaction::Transaction;

pub use pgsans;
