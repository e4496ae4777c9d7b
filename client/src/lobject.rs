//! Large objects, as psycopg2's `connection.lobject(oid, mode, new_oid, new_file)`: created,
//! opened, read, written, sought (64-bit offsets), truncated, exported, imported, unlinked —
//! through the server's `lo_*` functions, valid inside the transaction that opened them.

use std::io;
use std::path::Path;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pgsans::{Error, TransactionStatus, UsageError};

use crate::connection::Connection;
use crate::runtime::Runtime;

/// `INV_WRITE` / `INV_READ` of `libpq/libpq-fs.h`.
const INV_WRITE: i32 = 0x0002_0000;
const INV_READ: i32 = 0x0004_0000;

/// Bytes moved per `loread` / `lowrite` when importing, exporting or reading everything.
const CHUNK: usize = 256 * 1024;

/// Where [`LargeObject::seek`] counts from (`SEEK_SET`, `SEEK_CUR`, `SEEK_END`: psycopg2's
/// whence 0, 1, 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whence {
    Start = 0,
    Current = 1,
    End = 2,
}

/// psycopg2's mode string: `r`, `w`, `rw` (read and write), `n` (not opened), each with an
/// optional `b` (bytes, the default) or `t` (text in the client encoding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoMode {
    pub read: bool,
    pub write: bool,
    /// Opened at all (`n`: no).
    pub open: bool,
    /// Reads return text (`t`).
    pub text: bool,
}

impl LoMode {
    /// Parses a psycopg2 mode (`""` is `r`).
    pub fn parse(mode: &str) -> Result<LoMode, Error> {
        let bad = || -> Error { UsageError::InvalidArgument(format!("invalid large object mode {mode:?}")).into() };
        let (base, text) = match mode.strip_suffix('t') {
            Some(b) => (b, true),
            None => (mode.strip_suffix('b').unwrap_or(mode), false),
        };
        let (read, write, open) = match base {
            "" | "r" => (true, false, true),
            "w" => (false, true, true),
            "rw" | "wr" => (true, true, true),
            "n" => (false, false, false),
            _ => return Err(bad()),
        };
        Ok(LoMode { read, write, open, text })
    }

    fn flags(self) -> i32 {
        (if self.read { INV_READ } else { 0 }) | (if self.write { INV_WRITE } else { 0 })
    }
}

impl<R: Runtime> Connection<R> {
    /// Opens large object `oid` in `mode` — or, with `oid` 0, creates one first (with OID
    /// `new_oid`, or one the server picks when it is 0) and, with `new_file`, fills it from that
    /// client-side file. Only inside a transaction (outside autocommit the automatic BEGIN
    /// opens one): [`UsageError::LargeObjectOutsideTransaction`] in autocommit.
    pub async fn lobject(
        &mut self,
        oid: u32,
        mode: &str,
        new_oid: u32,
        new_file: Option<&Path>,
    ) -> Result<LargeObject<'_, R>, Error> {
        let mode = LoMode::parse(mode)?;
        if self.autocommit() {
            return Err(UsageError::LargeObjectOutsideTransaction.into());
        }
        let oid = if oid == 0 {
            self.query_one("SELECT pg_catalog.lo_create($1)", &[&new_oid]).await?.get::<u32, _>(0)?
        } else {
            oid
        };
        // A new object filled from a file is written to, whatever the mode says.
        let open_mode = if new_file.is_some() { LoMode { write: true, open: true, ..mode } } else { mode };
        let fd = if open_mode.open {
            Some(
                self.query_one("SELECT pg_catalog.lo_open($1, $2)", &[&oid, &open_mode.flags()])
                    .await?
                    .get::<i32, _>(0)?,
            )
        } else {
            None
        };
        let serial = self.engine().transaction_serial();
        let mut lo = LargeObject { conn: self, oid, fd, mode, serial, in_flight: None, seek_target: None };
        if let Some(path) = new_file {
            let data = std::fs::read(path)?;
            for chunk in data.chunks(CHUNK) {
                lo.write(chunk).await?;
            }
            lo.seek(0, Whence::Start).await?;
        }
        Ok(lo)
    }
}

/// An open large object (psycopg2's `lobject`). Its descriptor lives as long as the
/// transaction that opened it: after a commit, a rollback, `tpc_prepare` or `tpc_commit`
/// every call is [`UsageError::LargeObjectClosed`].
pub struct LargeObject<'a, R: Runtime> {
    conn: &'a mut Connection<R>,
    oid: u32,
    fd: Option<i32>,
    mode: LoMode,
    /// The transaction it was opened in.
    serial: u64,
    /// The server call of a poll-based read, write or seek in flight.
    in_flight: Option<(pgsans::RequestId, IoOp)>,
    /// Tokio's `start_seek` target, until `poll_complete` has run it.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    seek_target: Option<io::SeekFrom>,
}

impl<R: Runtime> LargeObject<'_, R> {
    pub fn oid(&self) -> u32 {
        self.oid
    }

    pub fn mode(&self) -> LoMode {
        self.mode
    }

    /// Closed by [`close`](Self::close), never opened (`n`), or its transaction ended.
    pub fn closed(&self) -> bool {
        self.fd.is_none() || !self.same_transaction()
    }

    fn same_transaction(&self) -> bool {
        let e = self.conn.engine();
        e.transaction_serial() == self.serial
            && matches!(e.transaction_status(), TransactionStatus::InTransaction | TransactionStatus::InError)
    }

    /// The descriptor, if the object is still open in its transaction.
    fn fd(&mut self) -> Result<i32, Error> {
        match self.fd {
            Some(fd) if self.same_transaction() => Ok(fd),
            _ => {
                self.fd = None;
                Err(UsageError::LargeObjectClosed.into())
            }
        }
    }

    /// Up to `n` bytes from the current position (fewer at the end); `None` reads to the end.
    pub async fn read(&mut self, n: Option<usize>) -> Result<Vec<u8>, Error> {
        let fd = self.fd()?;
        let mut out = Vec::new();
        loop {
            let want = n.map_or(CHUNK, |n| (n - out.len()).min(CHUNK));
            if want == 0 {
                break;
            }
            let want = i32::try_from(want).map_err(|_| UsageError::MessageTooLarge)?;
            let chunk: Vec<u8> =
                self.conn.query_one("SELECT pg_catalog.loread($1, $2)", &[&fd, &want]).await?.get(0)?;
            let got = chunk.len();
            out.extend_from_slice(&chunk);
            if got < want as usize || n.is_some_and(|n| out.len() >= n) {
                break;
            }
        }
        Ok(out)
    }

    /// [`read`](Self::read) as text in the client encoding (psycopg2's `t` modes).
    pub async fn read_text(&mut self, n: Option<usize>) -> Result<String, Error> {
        let bytes = self.read(n).await?;
        let encoding = self.conn.engine().encoding();
        encoding
            .decode(&bytes)
            .map(std::borrow::Cow::into_owned)
            .ok_or_else(|| UsageError::Conversion(format!("the large object's bytes are not {encoding} text")).into())
    }

    /// Writes `data` at the current position; the bytes written.
    pub async fn write(&mut self, data: &[u8]) -> Result<usize, Error> {
        let fd = self.fd()?;
        let mut written = 0;
        for chunk in data.chunks(CHUNK) {
            let n: i32 = self.conn.query_one("SELECT pg_catalog.lowrite($1, $2)", &[&fd, &chunk]).await?.get(0)?;
            written += usize::try_from(n).unwrap_or(0);
        }
        Ok(written)
    }

    /// Moves the position (64-bit: offsets past 2 GB work); the new position.
    pub async fn seek(&mut self, offset: i64, whence: Whence) -> Result<i64, Error> {
        let fd = self.fd()?;
        self.conn.query_one("SELECT pg_catalog.lo_lseek64($1, $2, $3)", &[&fd, &offset, &(whence as i32)]).await?.get(0)
    }

    /// The current position.
    pub async fn tell(&mut self) -> Result<i64, Error> {
        let fd = self.fd()?;
        self.conn.query_one("SELECT pg_catalog.lo_tell64($1)", &[&fd]).await?.get(0)
    }

    /// Cuts (or extends with zeros) the object to `len` bytes.
    pub async fn truncate(&mut self, len: i64) -> Result<(), Error> {
        let fd = self.fd()?;
        self.conn.query_one("SELECT pg_catalog.lo_truncate64($1, $2)", &[&fd, &len]).await.map(drop)
    }

    /// Writes the whole object to a client-side file (psycopg2's `export`).
    pub async fn export(&mut self, path: &Path) -> Result<(), Error> {
        let here = self.tell().await?;
        self.seek(0, Whence::Start).await?;
        let data = self.read(None).await?;
        self.seek(here, Whence::Start).await?;
        std::fs::write(path, data)?;
        Ok(())
    }

    /// Closes the descriptor. Idempotent, and nothing to do once the transaction ended.
    pub async fn close(&mut self) -> Result<(), Error> {
        if let Some(fd) = self.fd.take() {
            if self.same_transaction() {
                self.conn.query_one("SELECT pg_catalog.lo_close($1)", &[&fd]).await?;
            }
        }
        Ok(())
    }

    /// Deletes the object from the database (closing it first).
    pub async fn unlink(mut self) -> Result<(), Error> {
        self.close().await?;
        self.conn.query_one("SELECT pg_catalog.lo_unlink($1)", &[&self.oid]).await.map(drop)
    }

    /// The connection, to run other statements meanwhile.
    pub fn connection(&mut self) -> &mut Connection<R> {
        self.conn
    }
}

/// A server call of the poll-based I/O in flight, and what it was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IoOp {
    Read,
    Write,
    Seek,
}

impl<R: Runtime> LargeObject<'_, R> {
    /// Runs `sql` with `params` for the poll-based I/O: submitted on the first poll, its one
    /// value taken when it is answered. Only one such call at a time: polling for another
    /// kind while one is in flight is a misuse.
    fn poll_call<T: for<'v> pgsans::FromSql<'v>>(
        &mut self,
        cx: &mut Context<'_>,
        op: IoOp,
        sql: &str,
        params: pgsans::Params<'_>,
    ) -> Poll<Result<T, Error>> {
        let id = match self.in_flight {
            Some((id, pending)) if pending == op => id,
            Some(_) => {
                return Poll::Ready(Err(UsageError::InvalidState(
                    "another read, write or seek of this large object is in flight".into(),
                )
                .into()))
            }
            None => {
                let engine = &mut self.conn.driver.engine;
                let request = engine.query_request(sql, params, pgsans::Mode::Collect)?;
                let id = engine.submit(request)?;
                self.in_flight = Some((id, op));
                id
            }
        };
        let response = ready!(self.conn.driver.poll_until(cx, None, |e| e.take_response(id)));
        self.in_flight = None;
        let result = response?.into_query()?;
        let row = result.rows.first().ok_or(UsageError::RowCount { expected: "one", got: 0 })?;
        Poll::Ready(row.get::<T, _>(0))
    }

    /// The descriptor for a poll-based call: checked when the call starts (while it is in
    /// flight the connection is busy with it, and the parameters are already sent).
    fn io_fd(&mut self) -> Result<i32, Error> {
        match (self.in_flight, self.fd) {
            (Some(_), Some(fd)) => Ok(fd),
            _ => self.fd(),
        }
    }

    fn poll_read_into(&mut self, cx: &mut Context<'_>, out: &mut [u8]) -> Poll<Result<usize, Error>> {
        let fd = self.io_fd()?;
        let want = i32::try_from(out.len().min(CHUNK)).unwrap_or(i32::MAX);
        let data: Vec<u8> = ready!(self.poll_call(cx, IoOp::Read, "SELECT pg_catalog.loread($1, $2)", &[&fd, &want]))?;
        // The server never sends more than asked; refuse rather than truncate if it did.
        let Some(dest) = out.get_mut(..data.len()) else {
            return Poll::Ready(Err(pgsans::ProtocolError::Malformed {
                message: "loread",
                what: "more bytes than were asked for",
            }
            .into()));
        };
        dest.copy_from_slice(&data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_write_from(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<Result<usize, Error>> {
        let fd = self.io_fd()?;
        let chunk = &data[..data.len().min(CHUNK)];
        let n: i32 = ready!(self.poll_call(cx, IoOp::Write, "SELECT pg_catalog.lowrite($1, $2)", &[&fd, &chunk]))?;
        Poll::Ready(Ok(usize::try_from(n).unwrap_or(0)))
    }

    fn poll_seek_to(&mut self, cx: &mut Context<'_>, pos: io::SeekFrom) -> Poll<Result<u64, Error>> {
        let fd = self.io_fd()?;
        let (offset, whence) = match pos {
            io::SeekFrom::Start(n) => (i64::try_from(n).map_err(|_| UsageError::InvalidArgument("offset".into()))?, 0),
            io::SeekFrom::Current(n) => (n, 1),
            io::SeekFrom::End(n) => (n, 2),
        };
        let at: i64 = ready!(self.poll_call(
            cx,
            IoOp::Seek,
            "SELECT pg_catalog.lo_lseek64($1, $2, $3)",
            &[&fd, &offset, &whence]
        ))?;
        Poll::Ready(u64::try_from(at).map_err(|_| UsageError::Conversion(format!("position {at}")).into()))
    }
}

fn to_io(e: Error) -> io::Error {
    io::Error::other(e)
}

/// Reads through `loread`, one call per poll (at most 256 KiB each).
impl<R: Runtime> futures_lite::AsyncRead for LargeObject<'_, R> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut [u8]) -> Poll<io::Result<usize>> {
        self.get_mut().poll_read_into(cx, out).map_err(to_io)
    }
}

/// Writes through `lowrite`; each write is done on the server when it returns (`poll_flush`
/// and `poll_close` have nothing to do: [`close`](LargeObject::close) closes the descriptor).
impl<R: Runtime> futures_lite::AsyncWrite for LargeObject<'_, R> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_from(cx, data).map_err(to_io)
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Seeks through `lo_lseek64` (offsets past 2 GB work).
impl<R: Runtime> futures_lite::AsyncSeek for LargeObject<'_, R> {
    fn poll_seek(self: Pin<&mut Self>, cx: &mut Context<'_>, pos: io::SeekFrom) -> Poll<io::Result<u64>> {
        self.get_mut().poll_seek_to(cx, pos).map_err(to_io)
    }
}

#[cfg(feature = "tokio")]
impl<R: Runtime> tokio::io::AsyncRead for LargeObject<'_, R> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut tokio::io::ReadBuf<'_>) -> Poll<io::Result<()>> {
        let n = ready!(self.get_mut().poll_read_into(cx, out.initialize_unfilled())).map_err(to_io)?;
        out.advance(n);
        Poll::Ready(Ok(()))
    }
}

#[cfg(feature = "tokio")]
impl<R: Runtime> tokio::io::AsyncWrite for LargeObject<'_, R> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_from(cx, data).map_err(to_io)
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Tokio's two-step seek: `start_seek` notes the target, `poll_complete` runs the call.
#[cfg(feature = "tokio")]
impl<R: Runtime> tokio::io::AsyncSeek for LargeObject<'_, R> {
    fn start_seek(self: Pin<&mut Self>, pos: io::SeekFrom) -> io::Result<()> {
        let this = self.get_mut();
        if this.in_flight.is_some() {
            return Err(io::Error::other("a call of this large object is in flight"));
        }
        this.seek_target = Some(pos);
        Ok(())
    }
    fn poll_complete(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        let this = self.get_mut();
        let Some(pos) = this.seek_target else {
            // No seek started: the current position.
            return this.poll_seek_to(cx, io::SeekFrom::Current(0)).map_err(to_io);
        };
        let at = ready!(this.poll_seek_to(cx, pos)).map_err(to_io)?;
        this.seek_target = None;
        Poll::Ready(Ok(at))
    }
}

impl<R: Runtime> Drop for LargeObject<'_, R> {
    fn drop(&mut self) {
        // A poll-based call dropped before its answer: the engine drains it.
        if let Some((id, _)) = self.in_flight.take() {
            self.conn.driver.engine.abandon(id);
        }
    }
}
