//! Cancelling a running query from elsewhere.

use std::marker::PhantomData;
use std::time::{Duration, Instant};

use pgsans::config::Target;
use pgsans::{CancelRequest, Error};

use crate::connection::Connection;
use crate::io::transfer;
use crate::runtime::{connect_socket, ready, Runtime};

impl<R: Runtime> Connection<R> {
    /// A token that cancels this connection's running query from any task or thread. A
    /// misuse error after `tpc_prepare` (psycopg2).
    pub fn cancel_token(&self) -> Result<CancelToken<R>, Error> {
        Ok(CancelToken::new(self.driver.engine.cancel_key()?, self.driver.target.clone()))
    }
}

/// Cancels the running query of the connection it came from: a CancelRequest on a new
/// connection to the same server. `Send + Sync`, usable from any task or thread; cancelling
/// when nothing runs is harmless.
pub struct CancelToken<R: Runtime> {
    key: pgsans::CancelToken,
    target: Target,
    runtime: PhantomData<fn() -> R>,
}

impl<R: Runtime> Clone for CancelToken<R> {
    fn clone(&self) -> Self {
        CancelToken { key: self.key.clone(), target: self.target.clone(), runtime: PhantomData }
    }
}

impl<R: Runtime> std::fmt::Debug for CancelToken<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelToken").field("key", &self.key).field("target", &self.target).finish()
    }
}

impl<R: Runtime> CancelToken<R> {
    /// A token for the connection with `key`, reachable at `target`.
    pub fn new(key: pgsans::CancelToken, target: Target) -> Self {
        CancelToken { key, target, runtime: PhantomData }
    }

    /// The engine's key (the backend, and whether the request goes over TLS).
    pub fn key(&self) -> &pgsans::CancelToken {
        &self.key
    }

    /// Sends the cancel request and waits until the server has read it (it closes the
    /// socket); at most 30 seconds.
    pub async fn cancel(&self) -> Result<(), Error> {
        self.cancel_until(Instant::now() + Duration::from_secs(30)).await
    }

    /// [`cancel`](Self::cancel), giving up at `deadline` ([`Error::Timeout`]).
    pub async fn cancel_until(&self, deadline: Instant) -> Result<(), Error> {
        let deadline = Some(deadline);
        let mut socket = connect_socket::<R>(&self.target, &Default::default(), deadline).await?;
        let mut request = CancelRequest::new(&self.key);
        loop {
            match request.poll()? {
                None => return Ok(()),
                Some(wanted) => match transfer(&mut request, &mut socket, wanted) {
                    Ok(t) if t.progressed => {}
                    Ok(_) => {
                        if !ready(&mut socket, wanted, deadline).await? {
                            return Err(Error::Timeout);
                        }
                    }
                    Err(_) if request.is_done() => return Ok(()),
                    Err(e) => return Err(e),
                },
            }
        }
    }
}
