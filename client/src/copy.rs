//! COPY in both directions: a writer that sends `COPY … FROM STDIN` data with back-pressure,
//! and a reader that hands `COPY … TO STDOUT` data over as it arrives, borrowed from the receive
//! buffer. Memory stays bounded whatever the size of the copy.
//!
//! What the COPY methods return is itself the I/O trait object: [`CopyIn`] is the `futures`
//! family's `AsyncWrite` (and Tokio's, with this crate's `tokio` feature, which `pgsans-tokio`
//! turns on), [`CopyOut`] is `AsyncRead` and `AsyncBufRead` — so `futures::io::copy` or
//! `tokio::io::copy` moves a file in or out without an adapter, a boxed future or a copy of each
//! buffer.

use pgsans::SqlState;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use pgsans::{BinaryCopyReader, BinaryCopyWriter, CopyFormat, Error, Request, RequestId};

use crate::connection::Connection;
use crate::runtime::Runtime;

/// How much COPY data may wait in the send buffer before `write` waits for the socket.
pub const COPY_BUFFER: usize = 256 * 1024;

/// Small writes are gathered into CopyData messages of about this size (one message per
/// row written would cost the server a message each, and 5 bytes of header per row).
const COPY_MESSAGE: usize = 64 * 1024;

impl<R: Runtime> Connection<R> {
    /// Starts `COPY … FROM STDIN` (text, CSV or binary: whatever the statement says) and
    /// waits until the server is ready for data. Write it with [`CopyIn::write`] (or as an
    /// `AsyncWrite`) and end with [`CopyIn::finish`] (the row count) or [`CopyIn::abort`].
    /// Dropped without either, the copy is aborted (CopyFail) and the connection stays usable.
    /// Outside autocommit mode a transaction is opened first, as for any statement.
    pub async fn copy_in(&mut self, sql: &str) -> Result<CopyIn<'_, R>, Error> {
        let request = Request::copy_in(sql);
        let trace = crate::trace::Traced::request(&self.driver.engine, &request);
        let id = self.submit(request).await.inspect_err(|e| trace.failed(e))?;
        let mut copy = CopyIn { conn: self, id, done: false, pending: Vec::new(), sent: false, trace, deadline: None };
        let deadline = copy.conn.step_deadline();
        let started = copy
            .conn
            .driver
            .until(deadline, move |e| {
                if e.input_format(id).is_some() {
                    return Some(Ok(true));
                }
                e.take_response(id).map(|r| r.map(|_| false))
            })
            .await;
        match started {
            Ok(true) => Ok(copy),
            Ok(false) => {
                copy.done = true;
                Err(Error::Internal("the COPY ended before it began".into()))
            }
            Err(Error::Timeout) => {
                copy.done = true;
                Err(copy.conn.step_timed_out(id))
            }
            Err(e) => {
                copy.done = true;
                Err(e)
            }
        }
    }

    /// Runs `COPY … TO STDOUT`; take the data with [`CopyOut::next`] (or as an `AsyncRead` /
    /// `AsyncBufRead`). Dropped early, the rest is read and dropped by the engine (and, with
    /// [`set_cancel_on_drop`](Self::set_cancel_on_drop), the server is asked to stop).
    pub async fn copy_out(&mut self, sql: &str) -> Result<CopyOut<'_, R>, Error> {
        let request = Request::copy_out(sql);
        let trace = crate::trace::Traced::request(&self.driver.engine, &request);
        let id = self.submit(request).await.inspect_err(|e| trace.failed(e))?;
        Ok(CopyOut { conn: self, id, done: false, rows: None, trace, deadline: None })
    }
}

/// `COPY … FROM STDIN` in progress: the data goes out as it is written, with at most
/// [`COPY_BUFFER`] bytes waiting in the send buffer. An `AsyncWrite` (`poll_close` only
/// flushes: end with [`finish`](Self::finish)). A server error mid-copy (bad data on some
/// line) ends the copy at once and is returned by the next write, as an `io::Error` carrying
/// the [`Error`].
pub struct CopyIn<'a, R: Runtime> {
    conn: &'a mut Connection<R>,
    id: RequestId,
    done: bool,
    /// Small writes gathered for the next message.
    pending: Vec<u8>,
    /// Data went out since the last look for an early answer from the server.
    sent: bool,
    trace: crate::trace::Traced,
    /// When the current wait for room to write gives up (the call timeout).
    deadline: Option<Instant>,
}

impl<R: Runtime> CopyIn<'_, R> {
    /// The format the server announced (text or binary, per column).
    pub fn format(&self) -> Option<&CopyFormat> {
        self.conn.driver.engine.input_format(self.id)
    }

    /// Moves bytes until the send buffer holds less than `limit`; the server's error, if it
    /// ended the copy (bad data on some line), is returned at once.
    fn poll_drain_to(&mut self, cx: &mut Context<'_>, limit: usize) -> Poll<Result<(), Error>> {
        let id = self.id;
        if self.sent {
            // Data went out: look (without waiting) for an early error from the server, so
            // that a rejected copy stops the writer instead of sending everything.
            self.sent = false;
            self.conn.read_now()?;
        }
        // The engine reads while it writes: the server must never block on us.
        if self.deadline.is_none() {
            self.deadline = self.conn.step_deadline();
        }
        let ended = match ready!(self.conn.driver.poll_until(cx, self.deadline, |e| {
            if e.input_format(id).is_none() {
                return Some(Ok(true));
            }
            (e.transmit().len() < limit.max(1)).then_some(Ok(false))
        })) {
            Ok(ended) => ended,
            Err(Error::Timeout) => {
                self.done = true;
                return Poll::Ready(Err(self.conn.step_timed_out(id)));
            }
            Err(e) => return Poll::Ready(Err(e)),
        };
        self.deadline = None;
        if ended {
            // The server ended the copy (an error): its answer follows.
            let r = ready!(self.conn.driver.poll_until(cx, self.deadline, |e| e.take_response(id)));
            self.done = true;
            r?;
            return Poll::Ready(Err(Error::Internal("the COPY ended before its data did".into())));
        }
        Poll::Ready(Ok(()))
    }

    /// Accepts some of `data` (any split: rows may span writes), waiting while the send buffer
    /// is full: how many bytes were taken.
    pub fn poll_write_data(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<Result<usize, Error>> {
        if self.done {
            return Poll::Ready(Err(Error::Internal("the COPY has ended".into())));
        }
        if self.pending.len() + data.len() < COPY_MESSAGE {
            self.pending.extend_from_slice(data);
            return Poll::Ready(Ok(data.len()));
        }
        // A writer whose data the socket always takes never waits: let other tasks run now
        // and then.
        ready!(self.conn.driver.poll_yield(cx));
        ready!(self.poll_drain_to(cx, COPY_BUFFER))?;
        let taken = if self.pending.is_empty() {
            // A large write goes out from the caller's buffer as it is.
            let n = data.len().min(COPY_BUFFER);
            self.conn.driver.engine.send_data(self.id, &data[..n])?;
            n
        } else {
            let n = data.len().min(COPY_MESSAGE - self.pending.len());
            self.pending.extend_from_slice(&data[..n]);
            self.conn.driver.engine.send_data(self.id, &self.pending)?;
            self.pending.clear();
            n
        };
        // Out at once if the socket takes it: the server never waits for a batch to fill.
        self.conn.write_now()?;
        self.sent = true;
        Poll::Ready(Ok(taken))
    }

    /// Sends everything accepted so far.
    pub fn poll_flush_data(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.done {
            return Poll::Ready(Err(Error::Internal("the COPY has ended".into())));
        }
        if !self.pending.is_empty() {
            ready!(self.poll_drain_to(cx, COPY_BUFFER))?;
            self.conn.driver.engine.send_data(self.id, &self.pending)?;
            self.pending.clear();
            self.conn.write_now()?;
            self.sent = true;
        }
        self.poll_drain_to(cx, 1)
    }

    /// Sends `data` (any split: rows may span writes). Waits while the send buffer is full.
    pub async fn write(&mut self, mut data: &[u8]) -> Result<(), Error> {
        while !data.is_empty() {
            let n = poll_fn(|cx| self.poll_write_data(cx, data)).await?;
            data = &data[n..];
        }
        Ok(())
    }

    /// Sends everything written so far.
    pub async fn flush(&mut self) -> Result<(), Error> {
        poll_fn(|cx| self.poll_flush_data(cx)).await
    }

    /// Ends the data (CopyDone) and returns the number of rows copied, or the server's error.
    pub async fn finish(mut self) -> Result<u64, Error> {
        poll_fn(|cx| {
            if !self.pending.is_empty() {
                ready!(self.poll_drain_to(cx, COPY_BUFFER))?;
                self.conn.driver.engine.send_data(self.id, &self.pending)?;
                self.pending.clear();
            }
            self.poll_drain_to(cx, COPY_BUFFER)
        })
        .await?;
        self.conn.driver.engine.finish_data(self.id)?;
        self.done = true;
        let rows = self.conn.wait(self.id, None).await.and_then(|r| r.into_copy()).map(|c| c.rows);
        match &rows {
            Ok(n) => self.trace.rows(*n),
            Err(e) => self.trace.failed(e),
        }
        rows
    }

    /// Aborts the copy (CopyFail with `message`): nothing is copied and, in a transaction
    /// block, the transaction is aborted (as psycopg2's). Returns once the server confirmed.
    pub async fn abort(mut self, message: &str) -> Result<(), Error> {
        poll_fn(|cx| self.poll_drain_to(cx, COPY_BUFFER)).await?;
        self.conn.driver.engine.fail_data(self.id, message)?;
        self.done = true;
        match self.conn.wait(self.id, None).await {
            // The server's confirmation: 57014 "COPY from stdin failed: <message>".
            Err(e) if e.code() == Some(SqlState::QUERY_CANCELED) => Ok(()),
            Err(e) => Err(e),
            Ok(_) => Err(Error::Internal("the server accepted an aborted COPY".into())),
        }
    }
}

impl<R: Runtime> Drop for CopyIn<'_, R> {
    fn drop(&mut self) {
        if !self.done {
            // CopyFail is queued; the server's answers are drained by the engine.
            self.conn.driver.engine.abandon(self.id);
        }
    }
}

/// An [`Error`] as an `io::Error` (the original is inside: `into_inner` and `downcast`).
fn to_io(e: Error) -> io::Error {
    io::Error::other(e)
}

impl<R: Runtime> futures_lite::AsyncWrite for CopyIn<'_, R> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_data(cx, buf).map_err(to_io)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush_data(cx).map_err(to_io)
    }
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush_data(cx).map_err(to_io)
    }
}

#[cfg(feature = "tokio")]
impl<R: Runtime> tokio::io::AsyncWrite for CopyIn<'_, R> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_data(cx, buf).map_err(to_io)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush_data(cx).map_err(to_io)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush_data(cx).map_err(to_io)
    }
}

/// `COPY … TO STDOUT` in progress: the data as it arrives, borrowed from the receive buffer
/// (with the text formats each chunk is one row). An `AsyncRead` and `AsyncBufRead`; or take
/// whole chunks with [`next`](Self::next).
pub struct CopyOut<'a, R: Runtime> {
    conn: &'a mut Connection<R>,
    id: RequestId,
    done: bool,
    rows: Option<u64>,
    trace: crate::trace::Traced,
    /// When the current wait for data gives up (the call timeout).
    deadline: Option<Instant>,
}

impl<R: Runtime> CopyOut<'_, R> {
    /// Waits until data is ready (`true`) or the copy has ended (`false`; then
    /// [`rows`](Self::rows) is known); a server error mid-copy is returned here.
    fn poll_ready_data(&mut self, cx: &mut Context<'_>) -> Poll<Result<bool, Error>> {
        if self.done {
            return Poll::Ready(Ok(false));
        }
        let id = self.id;
        if self.deadline.is_none() {
            self.deadline = self.conn.step_deadline();
        }
        let r = ready!(self.conn.driver.poll_until(cx, self.deadline, |e| {
            if e.data_ready(id) {
                return Some(Ok(None));
            }
            e.take_response(id).map(|r| r.and_then(|r| r.into_copy()).map(|c| Some(c.rows)))
        }));
        self.deadline = None;
        match r {
            Ok(None) => Poll::Ready(Ok(true)),
            Err(Error::Timeout) => {
                self.done = true;
                let e = self.conn.step_timed_out(id);
                self.trace.failed(&e);
                Poll::Ready(Err(e))
            }
            Ok(Some(rows)) => {
                self.done = true;
                self.rows = Some(rows);
                self.trace.rows(rows);
                Poll::Ready(Ok(false))
            }
            Err(e) => {
                self.done = true;
                self.trace.failed(&e);
                Poll::Ready(Err(e))
            }
        }
    }

    /// The unread rest of the current chunk, waiting for the next when it is used up; empty at
    /// the end. Mark what was used with [`consume_data`](Self::consume_data).
    pub fn poll_fill_data(&mut self, cx: &mut Context<'_>) -> Poll<Result<&[u8], Error>> {
        loop {
            if !ready!(self.poll_ready_data(cx))? {
                return Poll::Ready(Ok(&[]));
            }
            let id = self.id;
            if self.conn.driver.engine.peek_data(id).is_some_and(<[u8]>::is_empty) {
                // An empty message: nothing to hand out.
                self.conn.driver.engine.consume_data(id, 0);
                continue;
            }
            return Poll::Ready(Ok(self.conn.driver.engine.peek_data(id).unwrap_or(&[])));
        }
    }

    /// Marks `n` bytes of what [`poll_fill_data`](Self::poll_fill_data) returned as read.
    pub fn consume_data(&mut self, n: usize) {
        self.conn.driver.engine.consume_data(self.id, n);
    }

    /// The next chunk of data (the unread rest of the current one), or `None` at the end (then
    /// [`rows`](Self::rows) is known); a server error mid-copy is returned here.
    pub async fn next(&mut self) -> Result<Option<&[u8]>, Error> {
        if !poll_fn(|cx| self.poll_ready_data(cx)).await? {
            return Ok(None);
        }
        Ok(self.conn.driver.engine.take_data(self.id))
    }

    /// Whether the next chunk is already received (for a blocking driver's fast path).
    pub fn ready_now(&mut self) -> Result<bool, Error> {
        if self.done {
            return Ok(false);
        }
        self.conn.driver.engine.poll()?;
        Ok(self.conn.driver.engine.data_ready(self.id))
    }

    /// The chunk [`ready_now`](Self::ready_now) found.
    pub fn take_ready(&mut self) -> Option<&[u8]> {
        self.conn.driver.engine.take_data(self.id)
    }

    /// The format the server announced, once it has.
    pub fn format(&self) -> Option<&CopyFormat> {
        self.conn.driver.engine.output_format(self.id)
    }

    /// Rows copied, once the data has ended.
    pub fn rows(&self) -> Option<u64> {
        self.rows
    }
}

impl<R: Runtime> Drop for CopyOut<'_, R> {
    fn drop(&mut self) {
        if !self.done {
            self.conn.driver.engine.abandon(self.id);
            self.conn.abandoned_mid_flight();
        }
    }
}

impl<R: Runtime> futures_lite::AsyncRead for CopyOut<'_, R> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut [u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let available = ready!(this.poll_fill_data(cx)).map_err(to_io)?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        this.consume_data(n);
        Poll::Ready(Ok(n))
    }
}

impl<R: Runtime> futures_lite::AsyncBufRead for CopyOut<'_, R> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        self.get_mut().poll_fill_data(cx).map_err(to_io)
    }
    fn consume(self: Pin<&mut Self>, amt: usize) {
        self.get_mut().consume_data(amt)
    }
}

#[cfg(feature = "tokio")]
impl<R: Runtime> tokio::io::AsyncRead for CopyOut<'_, R> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut tokio::io::ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let available = ready!(this.poll_fill_data(cx)).map_err(to_io)?;
        let n = available.len().min(out.remaining());
        out.put_slice(&available[..n]);
        this.consume_data(n);
        Poll::Ready(Ok(()))
    }
}

#[cfg(feature = "tokio")]
impl<R: Runtime> tokio::io::AsyncBufRead for CopyOut<'_, R> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        self.get_mut().poll_fill_data(cx).map_err(to_io)
    }
    fn consume(self: Pin<&mut Self>, amt: usize) {
        self.get_mut().consume_data(amt)
    }
}

impl<R: Runtime> Connection<R> {
    /// Starts `COPY … FROM STDIN (FORMAT binary)` for columns of `types` (OIDs, in the order of
    /// the COPY's column list): write rows of [`ToSql`](pgsans::ToSql) values with
    /// [`BinaryCopyIn::write_row`], end with [`BinaryCopyIn::finish`].
    pub async fn copy_in_binary(&mut self, sql: &str, types: &[u32]) -> Result<BinaryCopyIn<'_, R>, Error> {
        let copy = self.copy_in(sql).await?;
        if !copy.format().is_some_and(|f| f.binary) {
            return Err(pgsans::UsageError::InvalidArgument(
                "copy_in_binary needs a COPY … FROM STDIN (FORMAT binary) statement".into(),
            )
            .into());
        }
        Ok(BinaryCopyIn { copy, writer: BinaryCopyWriter::new(types) })
    }

    /// Runs `COPY … TO STDOUT (FORMAT binary)` and decodes its rows for columns of `types`:
    /// take them with [`BinaryCopyOut::next`] and read values with `get::<T>(i)`.
    pub async fn copy_out_binary(&mut self, sql: &str, types: &[u32]) -> Result<BinaryCopyOut<'_, R>, Error> {
        let reader = BinaryCopyReader::new(types, self.driver.engine.encoding());
        Ok(BinaryCopyOut { copy: self.copy_out(sql).await?, reader })
    }
}

/// Typed rows for a binary `COPY … FROM STDIN`, encoded as they are written.
pub struct BinaryCopyIn<'a, R: Runtime> {
    copy: CopyIn<'a, R>,
    writer: BinaryCopyWriter,
}

impl<R: Runtime> BinaryCopyIn<'_, R> {
    /// Encodes and queues one row (sent as the buffer fills). A value of the wrong type or a
    /// wrong number of values is a typed error; the copy can go on.
    pub async fn write_row(&mut self, values: &[&(dyn pgsans::ToSql + Sync)]) -> Result<(), Error> {
        if self.encode_row(values)? {
            self.send_encoded().await?;
        }
        Ok(())
    }

    /// Encodes one row without sending anything: `true` when enough is encoded to send
    /// ([`send_encoded`](Self::send_encoded)). For a blocking driver's fast path.
    pub fn encode_row(&mut self, values: &[&(dyn pgsans::ToSql + Sync)]) -> Result<bool, Error> {
        self.writer.write_row(values)?;
        Ok(self.writer.buffer().len() >= COPY_MESSAGE)
    }

    /// Sends the rows encoded so far.
    pub async fn send_encoded(&mut self) -> Result<(), Error> {
        self.copy.write(self.writer.buffer()).await?;
        self.writer.clear();
        Ok(())
    }

    /// Ends the data and returns the number of rows copied, or the server's error.
    pub async fn finish(mut self) -> Result<u64, Error> {
        self.writer.finish();
        self.copy.write(self.writer.buffer()).await?;
        self.copy.finish().await
    }

    /// Aborts the copy; see [`CopyIn::abort`].
    pub async fn abort(self, message: &str) -> Result<(), Error> {
        self.copy.abort(message).await
    }
}

/// Typed rows of a binary `COPY … TO STDOUT`.
pub struct BinaryCopyOut<'a, R: Runtime> {
    copy: CopyOut<'a, R>,
    reader: BinaryCopyReader,
}

impl<R: Runtime> BinaryCopyOut<'_, R> {
    /// The next row, borrowed until the next call; `None` at the end.
    pub async fn next(&mut self) -> Result<Option<pgsans::Row<'_>>, Error> {
        while !self.reader.has_row()? {
            match self.copy.next().await? {
                Some(chunk) => self.reader.push(chunk),
                None if self.reader.is_finished() => return Ok(None),
                None => {
                    return Err(pgsans::ProtocolError::Malformed {
                        message: "binary COPY data",
                        what: "it ended in the middle of a row",
                    }
                    .into())
                }
            }
        }
        self.reader.next_row()
    }

    /// Rows copied, once the data has ended.
    pub fn rows(&self) -> Option<u64> {
        self.copy.rows()
    }
}
