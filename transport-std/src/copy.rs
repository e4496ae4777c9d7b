//! COPY on the blocking connection: a [`CopyInWriter`] that is an [`io::Write`] and a
//! [`CopyOutReader`] that is an [`io::Read`] and [`io::BufRead`], so `io::copy` moves a file in
//! or out in bounded memory.
//!
//! ```no_run
//! use std::io::Write;
//! let mut conn = pgsans_std::Connection::connect("postgresql://app@localhost/shop")?;
//! let mut writer = conn.copy_in("COPY items (id, name) FROM STDIN (FORMAT csv)")?;
//! writer.write_all(b"1,apple\n2,pear\n")?;
//! let rows = writer.finish()?;
//!
//! let mut reader = conn.copy_out("COPY items TO STDOUT (FORMAT csv, HEADER)")?;
//! std::io::copy(&mut reader, &mut std::io::stdout())?;
//! drop(reader);
//! conn.commit()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io;

use pgsans::{CopyFormat, Error};

use crate::runtime::{block_on, Std};
use crate::Connection;

impl Connection {
    /// Starts `COPY … FROM STDIN` and waits until the server is ready for data: write it with
    /// [`io::Write`], end with [`CopyInWriter::finish`] (the row count). Dropped without
    /// `finish`, the copy is aborted and the connection stays usable.
    pub fn copy_in(&mut self, sql: &str) -> Result<CopyInWriter<'_>, Error> {
        block_on(self.inner.copy_in(sql)).map(|inner| CopyInWriter { inner })
    }

    /// Runs `COPY … TO STDOUT`: read the data with [`io::Read`] / [`io::BufRead`] (or chunk
    /// by chunk with [`CopyOutReader::next_chunk`]).
    pub fn copy_out(&mut self, sql: &str) -> Result<CopyOutReader<'_>, Error> {
        block_on(self.inner.copy_out(sql)).map(|inner| CopyOutReader { inner, buf: Vec::new(), pos: 0 })
    }
}

/// `COPY … FROM STDIN` data, sent as it is written (at most
/// [`COPY_BUFFER`](pgsans_client::COPY_BUFFER) bytes wait in the send buffer; a write blocks
/// beyond that). A server error mid-copy (bad data on some line) is returned by the next write
/// as an [`io::Error`] wrapping the [`pgsans::Error`].
pub struct CopyInWriter<'a> {
    inner: pgsans_client::CopyIn<'a, Std>,
}

impl CopyInWriter<'_> {
    /// The format the server announced.
    pub fn format(&self) -> Option<&CopyFormat> {
        self.inner.format()
    }

    /// Ends the data and returns the number of rows copied, or the server's error.
    pub fn finish(self) -> Result<u64, Error> {
        block_on(self.inner.finish())
    }

    /// Aborts the copy with `message`: nothing is copied (and a transaction block is aborted).
    pub fn abort(self, message: &str) -> Result<(), Error> {
        block_on(self.inner.abort(message))
    }
}

impl io::Write for CopyInWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        block_on(self.inner.write(buf)).map_err(io::Error::other)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        block_on(self.inner.flush()).map_err(io::Error::other)
    }
}

/// `COPY … TO STDOUT` data. With the text formats each chunk is usually one row.
pub struct CopyOutReader<'a> {
    inner: pgsans_client::CopyOut<'a, Std>,
    /// The current chunk (copied out of the receive buffer so that `BufRead` can lend it).
    buf: Vec<u8>,
    pos: usize,
}

impl CopyOutReader<'_> {
    /// The next chunk, borrowed from the receive buffer (no copy); `None` at the end. Do not
    /// mix with the `Read` methods.
    pub fn next_chunk(&mut self) -> Result<Option<&[u8]>, Error> {
        next_chunk(&mut self.inner)
    }

    /// Rows copied, once the data has ended.
    pub fn rows(&self) -> Option<u64> {
        self.inner.rows()
    }

    /// The format the server announced.
    pub fn format(&self) -> Option<&CopyFormat> {
        self.inner.format()
    }
}

impl io::BufRead for CopyOutReader<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            if let Some(chunk) = next_chunk(&mut self.inner).map_err(io::Error::other)? {
                self.buf.extend_from_slice(chunk);
            }
        }
        Ok(&self.buf[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
    }
}

impl io::Read for CopyOutReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = io::BufRead::fill_buf(self)?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        io::BufRead::consume(self, n);
        Ok(n)
    }
}

/// A chunk already received needs no executor.
fn next_chunk<'c>(inner: &'c mut pgsans_client::CopyOut<'_, Std>) -> Result<Option<&'c [u8]>, Error> {
    if inner.ready_now()? {
        return Ok(inner.take_ready());
    }
    block_on(inner.next())
}

impl Connection {
    /// Starts `COPY … FROM STDIN (FORMAT binary)` for columns of `types` (OIDs): write typed
    /// rows with [`BinaryCopyInWriter::write_row`], end with [`BinaryCopyInWriter::finish`].
    pub fn copy_in_binary(&mut self, sql: &str, types: &[u32]) -> Result<BinaryCopyInWriter<'_>, Error> {
        block_on(self.inner.copy_in_binary(sql, types)).map(|inner| BinaryCopyInWriter { inner })
    }

    /// Runs `COPY … TO STDOUT (FORMAT binary)`: rows decoded for columns of `types`.
    pub fn copy_out_binary(&mut self, sql: &str, types: &[u32]) -> Result<BinaryCopyOutReader<'_>, Error> {
        block_on(self.inner.copy_out_binary(sql, types)).map(|inner| BinaryCopyOutReader { inner })
    }
}

/// Typed rows for a binary `COPY … FROM STDIN`.
pub struct BinaryCopyInWriter<'a> {
    inner: pgsans_client::BinaryCopyIn<'a, Std>,
}

impl BinaryCopyInWriter<'_> {
    /// Encodes and queues one row; see [`pgsans_client::BinaryCopyIn::write_row`].
    pub fn write_row(&mut self, values: &[&(dyn pgsans::ToSql + Sync)]) -> Result<(), Error> {
        // Rows are encoded without the executor; it runs once per 64 KiB sent.
        if self.inner.encode_row(values)? {
            block_on(self.inner.send_encoded())?;
        }
        Ok(())
    }

    /// Ends the data and returns the number of rows copied.
    pub fn finish(self) -> Result<u64, Error> {
        block_on(self.inner.finish())
    }

    /// Aborts the copy with `message`.
    pub fn abort(self, message: &str) -> Result<(), Error> {
        block_on(self.inner.abort(message))
    }
}

/// Typed rows of a binary `COPY … TO STDOUT`.
pub struct BinaryCopyOutReader<'a> {
    inner: pgsans_client::BinaryCopyOut<'a, Std>,
}

impl BinaryCopyOutReader<'_> {
    /// The next row, borrowed until the next call; `None` at the end.
    // Not `Iterator`: each row borrows the reader (a lending iterator).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<pgsans::Row<'_>>, Error> {
        block_on(self.inner.next())
    }

    /// Rows copied, once the data has ended.
    pub fn rows(&self) -> Option<u64> {
        self.inner.rows()
    }
}
