//! One client interface over every transport, so one behavioural suite runs over all of them.
//!
//! Each async transport is driven by its own runtime's `block_on`: Tokio (current-thread
//! runtime), smol, and async-std (which runs the smol transport on its own executor).

use pgsans::{Error, ResultSet, SimpleBatch};

pub use pgsans_harness::{AuthMethod, TestServer};

/// The operations the suite exercises, the same on every transport.
pub trait Client: Sized {
    const NAME: &'static str;
    fn connect(conninfo: &str) -> Result<Self, Error>;
    fn simple_query(&mut self, sql: &str) -> Result<Vec<ResultSet>, Error>;
    fn simple_query_batch(&mut self, sql: &str) -> Result<SimpleBatch, Error>;
    fn batch_execute(&mut self, sql: &str) -> Result<(), Error>;
    fn close(&mut self) -> Result<(), Error>;
    fn engine(&self) -> &pgsans::Connection;
    fn take_notifications(&mut self) -> Vec<pgsans::Notification>;

    /// The first column of the first row of `sql`.
    fn scalar(&mut self, sql: &str) -> Result<Option<String>, Error> {
        let results = self.simple_query(sql)?;
        Ok(results
            .first()
            .and_then(|r| r.rows().first())
            .and_then(|r| r.get(0))
            .map(str::to_owned))
    }
}

impl Client for pgsans_std::Connection {
    const NAME: &'static str = "std";
    fn connect(conninfo: &str) -> Result<Self, Error> {
        pgsans_std::Connection::connect(conninfo)
    }
    fn simple_query(&mut self, sql: &str) -> Result<Vec<ResultSet>, Error> {
        pgsans_std::Connection::simple_query(self, sql)
    }
    fn simple_query_batch(&mut self, sql: &str) -> Result<SimpleBatch, Error> {
        pgsans_std::Connection::simple_query_batch(self, sql)
    }
    fn batch_execute(&mut self, sql: &str) -> Result<(), Error> {
        pgsans_std::Connection::batch_execute(self, sql)
    }
    fn close(&mut self) -> Result<(), Error> {
        pgsans_std::Connection::close(self)
    }
    fn engine(&self) -> &pgsans::Connection {
        pgsans_std::Connection::engine(self)
    }
    fn take_notifications(&mut self) -> Vec<pgsans::Notification> {
        pgsans_std::Connection::take_notifications(self)
    }
}

/// A way to run a future to completion from blocking code.
pub trait BlockOn {
    fn new() -> Self;
    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output;
}

/// A Tokio current-thread runtime; a Tokio socket lives as long as the runtime it was made on.
pub struct TokioRt(tokio::runtime::Runtime);
impl BlockOn for TokioRt {
    fn new() -> Self {
        TokioRt(
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime"),
        )
    }
    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.0.block_on(f)
    }
}

pub struct SmolRt;
impl BlockOn for SmolRt {
    fn new() -> Self {
        SmolRt
    }
    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        smol::block_on(f)
    }
}

pub struct AsyncStdRt;
impl BlockOn for AsyncStdRt {
    fn new() -> Self {
        AsyncStdRt
    }
    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        async_std::task::block_on(f)
    }
}

/// Implements [`Client`] for an async transport by blocking on each call.
macro_rules! async_client {
    ($name:ident, $conn:ty, $rt:ty, $label:literal) => {
        pub struct $name {
            pub rt: $rt,
            pub conn: $conn,
        }
        impl Client for $name {
            const NAME: &'static str = $label;
            fn connect(conninfo: &str) -> Result<Self, Error> {
                let rt = <$rt>::new();
                let conn = rt.block_on(<$conn>::connect(conninfo))?;
                Ok($name { rt, conn })
            }
            fn simple_query(&mut self, sql: &str) -> Result<Vec<ResultSet>, Error> {
                self.rt.block_on(self.conn.simple_query(sql))
            }
            fn simple_query_batch(&mut self, sql: &str) -> Result<SimpleBatch, Error> {
                self.rt.block_on(self.conn.simple_query_batch(sql))
            }
            fn batch_execute(&mut self, sql: &str) -> Result<(), Error> {
                self.rt.block_on(self.conn.batch_execute(sql))
            }
            fn close(&mut self) -> Result<(), Error> {
                self.rt.block_on(self.conn.close())
            }
            fn engine(&self) -> &pgsans::Connection {
                self.conn.engine()
            }
            fn take_notifications(&mut self) -> Vec<pgsans::Notification> {
                self.conn.take_notifications()
            }
        }
    };
}

async_client!(TokioClient, pgsans_tokio::Connection, TokioRt, "tokio");
async_client!(SmolClient, pgsans_smol::Connection, SmolRt, "smol");
async_client!(
    AsyncStdClient,
    pgsans_smol::Connection,
    AsyncStdRt,
    "async-std"
);
