//! COPY as the async I/O traits of the `futures` family (`AsyncWrite` for COPY IN,
//! `AsyncRead` / `AsyncBufRead` for COPY OUT), which smol and async-std use directly and Tokio
//! users reach through `pgsans-tokio`'s adapters — so `futures::io::copy` (or
//! `tokio::io::copy`) moves a file in or out in bounded memory.
//!
//! Each adapter owns the [`CopyIn`] / [`CopyOut`] and runs its `async fn`s one at a time as a
//! boxed future: a write is accepted at once (copied), and the next call first finishes the
//! previous one — that is the back-pressure.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pgsans::Error;

use crate::copy::{CopyIn, CopyOut};
use crate::runtime::Runtime;

type Step<'a, T> = Pin<Box<dyn Future<Output = (T, Result<(), Error>)> + Send + 'a>>;

fn gone() -> io::Error {
    io::Error::other("the COPY has ended")
}

/// A [`CopyIn`] as `AsyncWrite`. End it with [`finish`](Self::finish) (the row count);
/// `poll_close` only flushes. Dropped, the copy is aborted.
pub struct CopyInWrite<'a, R: Runtime> {
    copy: Option<CopyIn<'a, R>>,
    busy: Option<Step<'a, CopyIn<'a, R>>>,
}

impl<'a, R: Runtime> CopyIn<'a, R> {
    /// This copy as an `AsyncWrite` (see [`CopyInWrite`]).
    pub fn into_async_write(self) -> CopyInWrite<'a, R> {
        CopyInWrite { copy: Some(self), busy: None }
    }
}

impl<'a, R: Runtime> CopyInWrite<'a, R> {
    /// Finishes the step in flight, if any.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(step) = &mut self.busy {
            let (copy, r) = ready!(step.as_mut().poll(cx));
            self.busy = None;
            self.copy = Some(copy);
            r.map_err(io::Error::other)?;
        }
        Poll::Ready(Ok(()))
    }

    /// Accepts `buf` (copied) and starts sending it.
    pub fn poll_write_copy(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        ready!(self.poll_idle(cx))?;
        let mut copy = self.copy.take().ok_or_else(gone)?;
        let data = buf.to_vec();
        self.busy = Some(Box::pin(async move {
            let r = copy.write(&data).await;
            (copy, r)
        }));
        Poll::Ready(Ok(buf.len()))
    }

    /// Sends everything accepted so far.
    pub fn poll_flush_copy(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_idle(cx))?;
        let mut copy = self.copy.take().ok_or_else(gone)?;
        self.busy = Some(Box::pin(async move {
            let r = copy.flush().await;
            (copy, r)
        }));
        self.poll_idle(cx)
    }

    /// Ends the data and returns the number of rows copied, or the server's error.
    pub async fn finish(mut self) -> Result<u64, Error> {
        futures_lite::future::poll_fn(|cx| self.poll_idle(cx)).await.map_err(from_io)?;
        self.copy.take().ok_or_else(|| from_io(gone()))?.finish().await
    }
}

/// Back from `io::Error` to the pgsans error it carries.
fn from_io(e: io::Error) -> Error {
    match e.into_inner().map(|inner| inner.downcast::<Error>()) {
        Some(Ok(e)) => *e,
        Some(Err(other)) => Error::Io(std::sync::Arc::new(io::Error::other(other))),
        None => Error::Internal("the COPY has ended".into()),
    }
}

impl<R: Runtime> futures_lite::AsyncWrite for CopyInWrite<'_, R> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_copy(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush_copy(cx)
    }
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush_copy(cx)
    }
}

/// A fetch of the next chunk gives back the copy and the chunk (`None` at the end).
type NextChunk<'a, R> = (CopyOut<'a, R>, Option<Vec<u8>>);

/// A [`CopyOut`] as `AsyncRead` / `AsyncBufRead`.
pub struct CopyOutRead<'a, R: Runtime> {
    copy: Option<CopyOut<'a, R>>,
    busy: Option<Step<'a, NextChunk<'a, R>>>,
    chunk: Vec<u8>,
    pos: usize,
    ended: bool,
}

impl<'a, R: Runtime> CopyOut<'a, R> {
    /// This copy as an `AsyncRead` / `AsyncBufRead` (see [`CopyOutRead`]).
    pub fn into_async_read(self) -> CopyOutRead<'a, R> {
        CopyOutRead { copy: Some(self), busy: None, chunk: Vec::new(), pos: 0, ended: false }
    }
}

impl<'a, R: Runtime> CopyOutRead<'a, R> {
    /// The unread rest of the current chunk, fetching the next one when it is used up.
    pub fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        while self.pos == self.chunk.len() && !self.ended {
            if self.busy.is_none() {
                let mut copy = self.copy.take().ok_or_else(gone)?;
                self.busy = Some(Box::pin(async move {
                    let r = copy.next().await.map(|c| c.map(<[u8]>::to_vec));
                    match r {
                        Ok(chunk) => ((copy, chunk), Ok(())),
                        Err(e) => ((copy, None), Err(e)),
                    }
                }));
            }
            let step = self.busy.as_mut().expect("just set");
            let ((copy, chunk), r) = ready!(step.as_mut().poll(cx));
            self.busy = None;
            self.copy = Some(copy);
            r.map_err(io::Error::other)?;
            match chunk {
                Some(c) => {
                    self.chunk = c;
                    self.pos = 0;
                }
                None => self.ended = true,
            }
        }
        Poll::Ready(Ok(&self.chunk[self.pos..]))
    }

    /// Rows copied, once the data has ended.
    pub fn rows(&self) -> Option<u64> {
        self.copy.as_ref().and_then(CopyOut::rows)
    }

    /// Marks `n` bytes of the current chunk as read.
    pub fn consume_bytes(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.chunk.len());
    }
}

impl<R: Runtime> futures_lite::AsyncRead for CopyOutRead<'_, R> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut [u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let available = ready!(this.poll_fill(cx))?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        this.consume_bytes(n);
        Poll::Ready(Ok(n))
    }
}

impl<R: Runtime> futures_lite::AsyncBufRead for CopyOutRead<'_, R> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        self.get_mut().poll_fill(cx)
    }
    fn consume(self: Pin<&mut Self>, amt: usize) {
        self.get_mut().consume_bytes(amt)
    }
}
