//! The connection pool for threads: the pool of `pgsans-client` (one implementation on every
//! transport) with blocking calls; threads waiting for a connection sleep until one comes
//! back or `acquire_timeout` passes.

use pgsans::{Config, Error};
use pgsans_client::{PoolItem, PoolOptions, PoolStats};

use crate::runtime::{block_on, Std};
use crate::Connection;

impl PoolItem<Std> for Connection {
    fn open(config: &Config) -> impl std::future::Future<Output = Result<Self, Error>> + Send {
        let config = config.clone();
        async move { Connection::connect_with(&config) }
    }
    fn connection(&mut self) -> &mut pgsans_client::Connection<Std> {
        self.as_async()
    }
}

/// A connection out of a [`Pool`]: derefs to the blocking [`Connection`]; dropped, it goes
/// back to the pool, its transaction rolled back (see [`pgsans_client::Pool`]).
pub type PooledConnection = pgsans_client::PooledConnection<Std, Connection>;

/// A pool of blocking connections, shared between threads (`Clone + Send + Sync`): max size,
/// min idle, acquire timeout, max lifetime, idle timeout, health check, recycle policy and
/// statistics ([`PoolOptions`]). A connection given back inside a transaction, a COPY or a
/// result is rolled back, drained or discarded; never handed out as it was.
#[derive(Debug, Clone)]
pub struct Pool {
    inner: pgsans_client::Pool<Std, Connection>,
}

impl Pool {
    /// A pool for a libpq connection string or URL (completed from the environment like libpq).
    /// Nothing is opened until needed.
    pub fn connect(conninfo: &str, options: PoolOptions) -> Result<Pool, Error> {
        Ok(Pool { inner: pgsans_client::Pool::connect(conninfo, options)? })
    }

    /// A pool of connections made with `config`.
    pub fn new(config: Config, options: PoolOptions) -> Pool {
        Pool { inner: pgsans_client::Pool::new(config, options) }
    }

    /// A connection, waiting at most `acquire_timeout` ([`Error::Timeout`]).
    pub fn get(&self) -> Result<PooledConnection, Error> {
        block_on(self.inner.get())
    }

    /// Closes expired idle connections and opens up to `min_idle` (call it from a thread now
    /// and then).
    pub fn maintain(&self) -> Result<(), Error> {
        block_on(self.inner.maintain())
    }

    /// What it holds and has done.
    pub fn stats(&self) -> PoolStats {
        self.inner.stats()
    }

    /// Its options.
    pub fn options(&self) -> &PoolOptions {
        self.inner.options()
    }

    /// Closes idle connections now and the others as they come back; `get` then fails.
    pub fn close(&self) {
        self.inner.close()
    }

    /// The pool underneath, for code written over any runtime.
    pub fn as_async(&self) -> &pgsans_client::Pool<Std, Connection> {
        &self.inner
    }
}
