//! pgsans connections in the pools users already have: a deadpool `managed::Manager` (feature
//! `deadpool`) and a bb8 `ManageConnection` (feature `bb8`), both over any runtime. They
//! recycle as [`Pool`](crate::Pool) does, from the engine's own state: a connection returned
//! inside a transaction, a COPY or a result is rolled back and drained before it is handed out
//! again, a broken one is discarded. bb8 tells the manager when a connection comes back
//! (`has_broken`), so the ROLLBACK is written at once; deadpool does not, so there it goes out
//! at the next checkout.

use std::time::{Duration, Instant};

use pgsans::{Config, Error};

use crate::connection::Connection;
use crate::runtime::Runtime;

/// Makes pgsans connections for deadpool and bb8.
#[derive(Debug, Clone)]
pub struct Manager<R: Runtime> {
    config: Config,
    check: bool,
    recycle_timeout: Duration,
    _runtime: std::marker::PhantomData<fn() -> R>,
}

impl<R: Runtime> Manager<R> {
    /// Connections made with `config`; recycled without a round trip (the engine knows whether
    /// a connection is usable) unless [`check`](Self::check) is set.
    pub fn new(config: Config) -> Self {
        Manager { config, check: false, recycle_timeout: Duration::from_secs(5), _runtime: std::marker::PhantomData }
    }

    /// Whether recycling also proves the server is there with a round trip (an empty query).
    pub fn check(mut self, on: bool) -> Self {
        self.check = on;
        self
    }

    /// How long recycling waits for what the last user left running to end. Default 5 s.
    pub fn recycle_timeout(mut self, timeout: Duration) -> Self {
        self.recycle_timeout = timeout;
        self
    }

    async fn recycle_connection(&self, conn: &mut Connection<R>) -> Result<(), Error> {
        conn.recycle(Instant::now() + self.recycle_timeout, self.check).await
    }
}

#[cfg(feature = "deadpool")]
#[cfg_attr(docsrs, doc(cfg(feature = "deadpool")))]
impl<R: Runtime> deadpool::managed::Manager for Manager<R> {
    type Type = Connection<R>;
    type Error = Error;

    async fn create(&self) -> Result<Connection<R>, Error> {
        Connection::connect_with(&self.config).await
    }

    async fn recycle(
        &self,
        conn: &mut Connection<R>,
        _: &deadpool::managed::Metrics,
    ) -> deadpool::managed::RecycleResult<Error> {
        self.recycle_connection(conn).await.map_err(deadpool::managed::RecycleError::Backend)
    }
}

#[cfg(feature = "bb8")]
#[cfg_attr(docsrs, doc(cfg(feature = "bb8")))]
impl<R: Runtime> bb8::ManageConnection for Manager<R> {
    type Connection = Connection<R>;
    type Error = Error;

    async fn connect(&self) -> Result<Connection<R>, Error> {
        Connection::connect_with(&self.config).await
    }

    async fn is_valid(&self, conn: &mut Connection<R>) -> Result<(), Error> {
        self.recycle_connection(conn).await
    }

    /// Called as the connection comes back: the ROLLBACK it needs is queued and written now.
    fn has_broken(&self, conn: &mut Connection<R>) -> bool {
        conn.release().is_none()
    }
}
