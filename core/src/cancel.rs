//! Cancel requests: a new connection to the same server carrying the backend's pid and key.

use crate::codec::frontend;
use crate::engine::{Interest, Wire};
use crate::error::{Error, ProtocolError};

/// What is needed to cancel a connection's running query: `Send + Sync`, usable from any
/// thread or task. Transports wrap it with the address to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelToken {
    pub process_id: i32,
    /// 4 bytes in protocol 3.0; up to 256 in protocol 3.2.
    pub secret_key: Vec<u8>,
}

impl CancelToken {
    /// The CancelRequest packet to write on the new connection; the server answers nothing
    /// and closes it.
    pub fn request_bytes(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(12 + self.secret_key.len());
        frontend::cancel_request(self.process_id, &self.secret_key, &mut buf);
        buf
    }
}

/// The cancel connection as a state machine: write the CancelRequest, then wait for the server
/// to close the socket (it never answers). Driven like the connection engine, through the same
/// [`Wire`]: [`poll`](Self::poll) says what to wait for.
#[derive(Debug)]
pub struct CancelRequest {
    out: Vec<u8>,
    sent: usize,
    sink: [u8; 64],
    closed: bool,
    unexpected_data: bool,
}

impl CancelRequest {
    pub fn new(token: &CancelToken) -> CancelRequest {
        CancelRequest { out: token.request_bytes(), sent: 0, sink: [0; 64], closed: false, unexpected_data: false }
    }

    /// Write until the request is out, then Read until the server closes; `None` when done.
    pub fn poll(&mut self) -> Result<Option<Interest>, Error> {
        if self.unexpected_data {
            // libpq: "received unexpected response from server"
            return Err(
                ProtocolError::Unexpected { ty: '?', state: "waiting for the cancel connection to close" }.into()
            );
        }
        Ok(if self.sent < self.out.len() {
            Some(Interest::Write)
        } else if !self.closed {
            Some(Interest::Read)
        } else {
            None
        })
    }

    /// Whether the request was sent and the server closed the connection.
    pub fn is_done(&self) -> bool {
        self.closed
    }
}

impl Wire for CancelRequest {
    fn transmit(&self) -> &[u8] {
        &self.out[self.sent..]
    }
    fn advance(&mut self, n: usize) {
        self.sent = (self.sent + n).min(self.out.len());
    }
    fn recv_buf(&mut self) -> &mut [u8] {
        &mut self.sink
    }
    fn recv_commit(&mut self, n: usize) {
        if n > 0 {
            self.unexpected_data = true;
        }
    }
    fn receive_eof(&mut self) {
        self.closed = true;
    }
    fn transport_error(&mut self, e: Error) -> Error {
        // A reset after the request went out is the server closing on us: done.
        if let Error::Io(io) = &e {
            if io.kind() == std::io::ErrorKind::ConnectionReset && self.sent == self.out.len() {
                self.closed = true;
            }
        }
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bytes() {
        let t = CancelToken { process_id: 0x01020304, secret_key: vec![9, 8, 7, 6] };
        assert_eq!(t.request_bytes(), [0, 0, 0, 16, 4, 210, 22, 46, 1, 2, 3, 4, 9, 8, 7, 6]);
    }

    #[test]
    fn cancel_connection_states() {
        let t = CancelToken { process_id: 7, secret_key: vec![1, 2, 3, 4] };
        let mut c = CancelRequest::new(&t);
        assert_eq!(c.poll().unwrap(), Some(Interest::Write));
        c.advance(10);
        assert_eq!(c.poll().unwrap(), Some(Interest::Write), "partial write");
        c.advance(6);
        assert_eq!(c.poll().unwrap(), Some(Interest::Read));
        c.receive_eof();
        assert_eq!(c.poll().unwrap(), None);
        let mut d = CancelRequest::new(&t);
        d.advance(16);
        d.recv_commit(3);
        assert!(d.poll().is_err(), "the server must not answer a cancel request");
    }
}
