//! The byte-moving half of a transport, shared by all of them.
//!
//! A transport implements [`TryIo`] for its socket (non-blocking reads and writes that may
//! answer `WouldBlock`) and calls [`transfer`] whenever [`step`](crate::step) asks to wait; only
//! if nothing could move does it actually wait, in whatever way its runtime waits.

use std::io;

use crate::connection::{Connection, Poll};
use crate::error::Error;

/// Non-blocking socket operations: `Ok(0)` from `try_read` is end of stream; `WouldBlock`
/// means "not now".
pub trait TryIo {
    fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    fn try_write(&mut self, buf: &[u8]) -> io::Result<usize>;
}

fn not_now(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted)
}

/// A bytes-in, bytes-out endpoint [`transfer`] can feed: the connection engine, or the
/// short-lived cancel connection.
pub trait Wire {
    fn transmit(&self) -> &[u8];
    fn advance(&mut self, n: usize);
    fn recv_buf(&mut self) -> &mut [u8];
    fn recv_commit(&mut self, n: usize);
    fn receive_eof(&mut self);
    /// Records a socket error (the connection engine becomes broken) and returns it.
    fn transport_error(&mut self, e: Error) -> Error;
}

impl Wire for Connection {
    fn transmit(&self) -> &[u8] {
        Connection::transmit(self)
    }
    fn advance(&mut self, n: usize) {
        Connection::advance(self, n)
    }
    fn recv_buf(&mut self) -> &mut [u8] {
        Connection::recv_buf(self)
    }
    fn recv_commit(&mut self, n: usize) {
        Connection::recv_commit(self, n)
    }
    fn receive_eof(&mut self) {
        Connection::receive_eof(self)
    }
    fn transport_error(&mut self, e: Error) -> Error {
        Connection::transport_error(self, e)
    }
}

/// What [`transfer`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Transfer {
    /// Bytes moved (or end of stream was seen): call [`step`](crate::step) again.
    pub progressed: bool,
    /// Reading now would find nothing: a read returned `WouldBlock`, or the whole request was
    /// just written and its answer cannot be there yet. The transport should wait for
    /// readability before its next read instead of trying (and failing) again — one syscall
    /// saved per round trip.
    pub read_would_block: bool,
}

/// Writes and/or reads as much as `wanted` allows without blocking, feeding the engine.
/// A socket error marks the connection broken and is returned.
pub fn transfer(engine: &mut impl Wire, io: &mut impl TryIo, wanted: Poll) -> Result<Transfer, Error> {
    let mut t = Transfer::default();
    if matches!(wanted, Poll::Write | Poll::ReadWrite) && !engine.transmit().is_empty() {
        match io.try_write(engine.transmit()) {
            Ok(n) => {
                engine.advance(n);
                t.progressed = true;
                if engine.transmit().is_empty() {
                    // Everything is sent: the server has not answered it yet.
                    t.read_would_block = true;
                    return Ok(t);
                }
            }
            Err(e) if not_now(&e) => {}
            Err(e) => return Err(engine.transport_error(e.into())),
        }
    }
    if matches!(wanted, Poll::Read | Poll::ReadWrite) {
        match io.try_read(engine.recv_buf()) {
            Ok(0) => {
                engine.receive_eof();
                t.progressed = true;
            }
            Ok(n) => {
                engine.recv_commit(n);
                t.progressed = true;
            }
            Err(e) if not_now(&e) => t.read_would_block = true,
            Err(e) => return Err(engine.transport_error(e.into())),
        }
    }
    Ok(t)
}
