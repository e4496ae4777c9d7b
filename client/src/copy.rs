//! COPY in both directions: a writer that sends `COPY … FROM STDIN` data with back-pressure,
//! and a reader that hands `COPY … TO STDOUT` data over chunk by chunk, borrowed from the
//! receive buffer. Memory stays bounded whatever the size of the copy.

use pgsans::{BinaryCopyReader, BinaryCopyWriter, CopyFormat, Error, Interest, Request, RequestId};

use crate::connection::Connection;
use crate::runtime::Runtime;

/// How much COPY data may wait in the send buffer before `write` waits for the socket.
pub const COPY_BUFFER: usize = 256 * 1024;

/// Small writes are gathered into CopyData messages of about this size (one message per
/// row written would cost the server a message each, and 5 bytes of header per row).
const COPY_MESSAGE: usize = 64 * 1024;

impl<R: Runtime> Connection<R> {
    /// Starts `COPY … FROM STDIN` (text, CSV or binary: whatever the statement says) and
    /// waits until the server is ready for data. Write it with [`CopyIn::write`] and end with
    /// [`CopyIn::finish`] (the row count) or [`CopyIn::abort`]. Dropped without either, the
    /// copy is aborted (CopyFail) and the connection stays usable. Outside autocommit mode a
    /// transaction is opened first, as for any statement.
    pub async fn copy_in(&mut self, sql: &str) -> Result<CopyIn<'_, R>, Error> {
        let id = self.submit(Request::copy_in(sql)).await?;
        let mut copy = CopyIn { conn: self, id, done: false, pending: Vec::new(), sent: false };
        loop {
            let interest = copy.conn.engine.poll()?;
            if copy.conn.engine.copy_in_format(id).is_some() {
                return Ok(copy);
            }
            if let Some(r) = copy.conn.engine.take_response(id) {
                copy.done = true;
                r?;
                return Err(Error::Internal("the COPY ended before it began".into()));
            }
            let Some(interest) = interest else {
                return Err(Error::Internal("a COPY cannot make progress".into()));
            };
            copy.conn.io(interest, None).await?;
        }
    }

    /// Runs `COPY … TO STDOUT`; take the data with [`CopyOut::next`]. Dropped early, the
    /// rest is read and dropped by the engine.
    pub async fn copy_out(&mut self, sql: &str) -> Result<CopyOut<'_, R>, Error> {
        let id = self.submit(Request::copy_out(sql)).await?;
        Ok(CopyOut { conn: self, id, done: false, rows: None })
    }
}

/// `COPY … FROM STDIN` in progress: the data goes out as it is written, with at most
/// [`COPY_BUFFER`] bytes waiting in the send buffer.
pub struct CopyIn<'a, R: Runtime> {
    conn: &'a mut Connection<R>,
    id: RequestId,
    done: bool,
    /// Small writes gathered for the next message.
    pending: Vec<u8>,
    /// Data went out since the last look for an early answer from the server.
    sent: bool,
}

impl<R: Runtime> CopyIn<'_, R> {
    /// The format the server announced (text or binary, per column).
    pub fn format(&self) -> Option<&CopyFormat> {
        self.conn.engine.copy_in_format(self.id)
    }

    /// Moves bytes until the send buffer holds less than `limit`; the server's error, if it
    /// ended the copy (bad data on some line), is returned at once.
    async fn drain_to(&mut self, limit: usize) -> Result<(), Error> {
        loop {
            let interest = self.conn.engine.poll()?;
            if self.conn.engine.copy_in_format(self.id).is_none() {
                // The server ended the copy (an error): its answer follows.
                self.done = true;
                self.conn.wait(self.id, None).await?;
                return Err(Error::Internal("the COPY ended before its data did".into()));
            }
            if self.conn.engine.transmit().len() < limit.max(1) {
                if !self.sent {
                    return Ok(());
                }
                // Data went out: look (without waiting) for an early error from the server,
                // so that a rejected copy stops the writer instead of sending everything.
                self.sent = false;
                self.conn.read_now()?;
                continue;
            }
            // Read too (notices, an early error): the server must never block on us.
            let interest = interest.unwrap_or(Interest::Write);
            self.conn.io(interest, None).await?;
            self.sent = true;
        }
    }

    /// Sends `data` (any split: rows may span writes). Waits while the send buffer is full.
    pub async fn write(&mut self, mut data: &[u8]) -> Result<(), Error> {
        if !self.pending.is_empty() {
            let n = data.len().min(COPY_MESSAGE - self.pending.len());
            self.pending.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.pending.len() < COPY_MESSAGE {
                return Ok(());
            }
            self.send_pending().await?;
        }
        while data.len() >= COPY_MESSAGE {
            let (message, rest) = data.split_at(COPY_MESSAGE.max(data.len().min(COPY_BUFFER)));
            self.drain_to(COPY_BUFFER).await?;
            self.conn.engine.copy_send(self.id, message)?;
            // Out at once if the socket takes it: the server never waits for a batch to fill.
            self.conn.write_now()?;
            self.sent = true;
            data = rest;
        }
        self.pending.extend_from_slice(data);
        Ok(())
    }

    async fn send_pending(&mut self) -> Result<(), Error> {
        if !self.pending.is_empty() {
            self.drain_to(COPY_BUFFER).await?;
            self.conn.engine.copy_send(self.id, &self.pending)?;
            self.conn.write_now()?;
            self.sent = true;
            self.pending.clear();
        }
        Ok(())
    }

    /// Sends everything written so far.
    pub async fn flush(&mut self) -> Result<(), Error> {
        self.send_pending().await?;
        self.drain_to(1).await
    }

    /// Ends the data (CopyDone) and returns the number of rows copied, or the server's error.
    pub async fn finish(mut self) -> Result<u64, Error> {
        self.send_pending().await?;
        self.drain_to(COPY_BUFFER).await?;
        self.conn.engine.copy_finish(self.id)?;
        self.done = true;
        Ok(self.conn.wait(self.id, None).await?.into_copy()?.rows)
    }

    /// Aborts the copy (CopyFail with `message`): nothing is copied and, in a transaction
    /// block, the transaction is aborted (as psycopg2's). Returns once the server confirmed.
    pub async fn abort(mut self, message: &str) -> Result<(), Error> {
        self.drain_to(COPY_BUFFER).await?;
        self.conn.engine.copy_abort(self.id, message)?;
        self.done = true;
        match self.conn.wait(self.id, None).await {
            // The server's confirmation: 57014 "COPY from stdin failed: <message>".
            Err(e) if e.code() == Some("57014") => Ok(()),
            Err(e) => Err(e),
            Ok(_) => Err(Error::Internal("the server accepted an aborted COPY".into())),
        }
    }
}

impl<R: Runtime> Drop for CopyIn<'_, R> {
    fn drop(&mut self) {
        if !self.done {
            // CopyFail is queued; the server's answers are drained by the engine.
            self.conn.engine.abandon(self.id);
        }
    }
}

/// `COPY … TO STDOUT` in progress: the data chunk by chunk (with the text formats, one row
/// per chunk), each borrowed from the receive buffer until the next call.
pub struct CopyOut<'a, R: Runtime> {
    conn: &'a mut Connection<R>,
    id: RequestId,
    done: bool,
    rows: Option<u64>,
}

impl<R: Runtime> CopyOut<'_, R> {
    /// The next chunk of data, or `None` at the end (then [`rows`](Self::rows) is known); a
    /// server error mid-copy is returned here.
    pub async fn next(&mut self) -> Result<Option<&[u8]>, Error> {
        if self.done {
            return Ok(None);
        }
        loop {
            let interest = self.conn.engine.poll()?;
            if self.conn.engine.copy_data_ready(self.id) {
                break;
            }
            if let Some(r) = self.conn.engine.take_response(self.id) {
                self.done = true;
                self.rows = Some(r?.into_copy()?.rows);
                return Ok(None);
            }
            let Some(interest) = interest else {
                return Err(Error::Internal("a COPY cannot make progress".into()));
            };
            self.conn.io(interest, None).await?;
        }
        Ok(self.conn.engine.take_copy_data(self.id))
    }

    /// Whether the next chunk is already received (for a blocking driver's fast path).
    pub fn ready_now(&mut self) -> Result<bool, Error> {
        if self.done {
            return Ok(false);
        }
        self.conn.engine.poll()?;
        Ok(self.conn.engine.copy_data_ready(self.id))
    }

    /// The chunk [`ready_now`](Self::ready_now) found.
    pub fn take_ready(&mut self) -> Option<&[u8]> {
        self.conn.engine.take_copy_data(self.id)
    }

    /// The format the server announced, once it has.
    pub fn format(&self) -> Option<&CopyFormat> {
        self.conn.engine.copy_out_format(self.id)
    }

    /// Rows copied, once the data has ended.
    pub fn rows(&self) -> Option<u64> {
        self.rows
    }
}

impl<R: Runtime> Drop for CopyOut<'_, R> {
    fn drop(&mut self) {
        if !self.done {
            self.conn.engine.abandon(self.id);
            self.conn.abandoned_mid_flight();
        }
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
        let reader = BinaryCopyReader::new(types, self.engine.encoding());
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
