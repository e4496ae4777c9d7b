//! Cancelling a running query from elsewhere.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use pgsans::config::Target;
use pgsans::{CancelRequest, Error};

use crate::connection::Connection;
use crate::io::transfer;
use crate::runtime::{connect_socket, Runtime, Socket};

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
        let mut cancel = CancelInFlight::<R>::start(self.key.clone(), self.target.clone(), deadline);
        std::future::poll_fn(|cx| cancel.poll(cx)).await
    }
}

type Connect<R> = Pin<Box<dyn Future<Output = Result<<R as Runtime>::Socket, Error>> + Send>>;

/// A cancel request on its way: connecting, then writing the request and waiting until the
/// server has read it (it closes the socket), until a deadline. It owns everything it needs, so
/// a connection can keep one across dropped futures and finish it later: a cancel request left
/// half sent could reach the server at any later moment and cancel an unrelated statement.
pub(crate) struct CancelInFlight<R: Runtime> {
    key: pgsans::CancelToken,
    stage: Stage<R>,
    deadline: Instant,
}

enum Stage<R: Runtime> {
    Connecting(Connect<R>),
    Sending(Box<CancelRequest>, R::Socket),
}

impl<R: Runtime> CancelInFlight<R> {
    pub(crate) fn start(key: pgsans::CancelToken, target: Target, deadline: Instant) -> Self {
        let connect: Connect<R> =
            Box::pin(async move { connect_socket::<R>(&target, &Default::default(), Some(deadline)).await });
        CancelInFlight { key, stage: Stage::Connecting(connect), deadline }
    }

    /// `Ready` once the server has read the request, or on failure, or at the deadline
    /// ([`Error::Timeout`]).
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            match &mut self.stage {
                Stage::Connecting(connect) => {
                    let socket = ready!(connect.as_mut().poll(cx))?;
                    self.stage = Stage::Sending(Box::new(CancelRequest::new(&self.key)), socket);
                }
                Stage::Sending(request, socket) => {
                    let Some(wanted) = request.poll()? else { return Poll::Ready(Ok(())) };
                    match transfer(&mut **request, socket, wanted) {
                        Ok(t) if t.progressed => {}
                        Ok(_) => match ready!(socket.poll_ready(cx, wanted, Some(self.deadline))) {
                            Ok(true) => {}
                            Ok(false) => return Poll::Ready(Err(Error::Timeout)),
                            Err(e) => return Poll::Ready(Err(e.into())),
                        },
                        Err(_) if request.is_done() => return Poll::Ready(Ok(())),
                        Err(e) => return Poll::Ready(Err(e)),
                    }
                }
            }
        }
    }
}
