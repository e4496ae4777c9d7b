//! The wire: PostgreSQL's messages as bytes (`codec`: framing, decoding and encoding of every
//! protocol 3.0 and 3.2 message) and the byte buffers the engine reads into and writes from.

pub(crate) mod buffer;
pub mod codec;

use crate::error::Error;

/// What to wait for before calling the engine again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    /// Until the socket is readable, then read into [`Connection::recv_buf`](crate::Connection::recv_buf).
    Read,
    /// Until the socket is writable, then write [`Connection::transmit`](crate::Connection::transmit).
    Write,
    /// Until the socket is readable *or* writable, then do whichever is possible. Asked while
    /// requests are being sent and answers may already be coming back: a transport that only
    /// waited for writability could deadlock against a server blocked on writing to us.
    ReadWrite,
}

/// The byte-level half of the contract, shared by the connection engine and the short-lived
/// cancel connection, so one byte mover can feed either.
pub trait Wire {
    /// Bytes to write, in order; empty when there is nothing to send.
    fn transmit(&self) -> &[u8];
    /// The first `n` bytes of [`transmit`](Wire::transmit) were written.
    fn advance(&mut self, n: usize);
    /// Space to read socket bytes into; then [`recv_commit`](Wire::recv_commit) the count.
    fn recv_buf(&mut self) -> &mut [u8];
    /// `n` bytes were read into [`recv_buf`](Wire::recv_buf).
    fn recv_commit(&mut self, n: usize);
    /// The peer closed its end.
    fn receive_eof(&mut self);
    /// A socket error: recorded (the connection becomes broken) and returned.
    fn transport_error(&mut self, e: Error) -> Error;
}
