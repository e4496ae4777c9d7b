//! An r2d2 `ManageConnection` for blocking connections (feature `r2d2`). It recycles as
//! [`Pool`](crate::Pool) does: a connection returned inside a transaction, a COPY or a result
//! gets its ROLLBACK written as it comes back (r2d2's `has_broken`), and is drained before it
//! is handed out again (`is_valid`, run at checkout with r2d2's default `test_on_check_out`).

use std::time::{Duration, Instant};

use pgsans::{Config, Error};

use crate::runtime::block_on;
use crate::Connection;

/// Makes blocking pgsans connections for r2d2.
#[derive(Debug, Clone)]
pub struct Manager {
    config: Config,
    check: bool,
    recycle_timeout: Duration,
}

impl Manager {
    /// Connections made with `config`; checked at checkout without a round trip (the engine
    /// knows whether a connection is usable) unless [`check`](Self::check) is set.
    pub fn new(config: Config) -> Self {
        Manager { config, check: false, recycle_timeout: Duration::from_secs(5) }
    }

    /// Whether checkout also proves the server is there with a round trip.
    pub fn check(mut self, on: bool) -> Self {
        self.check = on;
        self
    }

    /// How long a checkout waits for what the last user left running to end. Default 5 s.
    pub fn recycle_timeout(mut self, timeout: Duration) -> Self {
        self.recycle_timeout = timeout;
        self
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = Connection;
    type Error = Error;

    fn connect(&self) -> Result<Connection, Error> {
        Connection::connect_with(&self.config)
    }

    fn is_valid(&self, conn: &mut Connection) -> Result<(), Error> {
        block_on(conn.as_async().recycle(Instant::now() + self.recycle_timeout, self.check))
    }

    fn has_broken(&self, conn: &mut Connection) -> bool {
        conn.as_async().release().is_none()
    }
}
