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

/// Writes and/or reads as much as `wanted` allows without blocking, feeding the engine.
/// Returns whether anything moved (`false`: the socket would block, so wait for `wanted`).
/// A socket error marks the connection broken and is returned.
pub fn transfer(engine: &mut Connection, io: &mut impl TryIo, wanted: Poll) -> Result<bool, Error> {
    let mut progressed = false;
    if matches!(wanted, Poll::Write | Poll::ReadWrite) && !engine.transmit().is_empty() {
        match io.try_write(engine.transmit()) {
            Ok(n) => {
                engine.advance(n);
                progressed = true;
            }
            Err(e) if not_now(&e) => {}
            Err(e) => return Err(engine.transport_error(e.into())),
        }
    }
    if matches!(wanted, Poll::Read | Poll::ReadWrite) {
        match io.try_read(engine.recv_buf()) {
            Ok(0) => {
                engine.receive_eof();
                progressed = true;
            }
            Ok(n) => {
                engine.recv_commit(n);
                progressed = true;
            }
            Err(e) if not_now(&e) => {}
            Err(e) => return Err(engine.transport_error(e.into())),
        }
    }
    Ok(progressed)
}
