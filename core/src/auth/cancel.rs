//! Cancel requests: a new connection to the same server carrying the backend's pid and key,
//! over TLS when the connection used TLS.

use std::sync::Arc;

use crate::auth::tls::{TlsPlan, TlsSession, SSL_REQUEST};
use crate::error::{Error, ProtocolError};
use crate::wire::buffer::{RecvBuffer, SendBuffer};
use crate::wire::codec::frontend;
use crate::wire::{Interest, Wire};

/// What is needed to cancel a connection's running query: `Send + Sync`, usable from any
/// thread or task. Transports wrap it with the address to connect to.
#[derive(Debug, Clone)]
pub struct CancelToken {
    pub process_id: i32,
    /// 4 bytes in protocol 3.0; up to 256 in protocol 3.2.
    pub secret_key: Vec<u8>,
    /// The connection's TLS setup, when it used TLS: the cancel request is encrypted too.
    pub(crate) tls: Option<Arc<TlsPlan>>,
}

impl PartialEq for CancelToken {
    fn eq(&self, other: &Self) -> bool {
        self.process_id == other.process_id && self.secret_key == other.secret_key
    }
}

impl Eq for CancelToken {}

impl CancelToken {
    /// A token for a plaintext connection.
    pub fn new(process_id: i32, secret_key: Vec<u8>) -> CancelToken {
        CancelToken { process_id, secret_key, tls: None }
    }

    /// The CancelRequest packet to write on the new connection; the server answers nothing
    /// and closes it.
    pub fn request_bytes(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(12 + self.secret_key.len());
        frontend::cancel_request(self.process_id, &self.secret_key, &mut buf);
        buf
    }

    /// Whether the request goes over TLS.
    pub fn uses_tls(&self) -> bool {
        self.tls.is_some()
    }
}

#[derive(Debug)]
enum Stage {
    /// SSLRequest sent; waiting for `S` / `N`.
    AskTls(Arc<TlsPlan>),
    /// The request is queued (in plaintext or through TLS); then the server closes.
    Sending,
}

/// The cancel connection as a state machine: (SSLRequest and TLS, when the connection used
/// them,) write the CancelRequest, then wait for the server to close the socket (it never
/// answers). Driven like the connection engine, through the same [`Wire`]: [`poll`](Self::poll)
/// says what to wait for.
#[derive(Debug)]
pub struct CancelRequest {
    packet: Vec<u8>,
    stage: Stage,
    out: SendBuffer,
    tls: Option<Box<TlsSession>>,
    plain_in: RecvBuffer,
    sink: [u8; 64],
    closed: bool,
    error: Option<Error>,
}

impl CancelRequest {
    pub fn new(token: &CancelToken) -> CancelRequest {
        let mut out = SendBuffer::default();
        let mut tls = None;
        let stage = match &token.tls {
            // Direct TLS, as the connection did: the request is the first plaintext.
            Some(plan) if plan.direct => {
                match TlsSession::new(plan) {
                    Ok(session) => tls = Some(Box::new(session)),
                    Err(e) => return CancelRequest::failed(token, e),
                }
                out.vec().extend_from_slice(&token.request_bytes());
                Stage::Sending
            }
            Some(plan) => {
                out.vec().extend_from_slice(&SSL_REQUEST);
                Stage::AskTls(plan.clone())
            }
            None => {
                out.vec().extend_from_slice(&token.request_bytes());
                Stage::Sending
            }
        };
        CancelRequest {
            packet: token.request_bytes(),
            stage,
            out,
            tls,
            plain_in: RecvBuffer::default(),
            sink: [0; 64],
            closed: false,
            error: None,
        }
    }

    /// A request that cannot be sent: `poll` reports `error`.
    fn failed(token: &CancelToken, error: Error) -> CancelRequest {
        CancelRequest {
            packet: token.request_bytes(),
            stage: Stage::Sending,
            out: SendBuffer::default(),
            tls: None,
            plain_in: RecvBuffer::default(),
            sink: [0; 64],
            closed: false,
            error: Some(error),
        }
    }

    /// Write until the request is out, then Read until the server closes; `None` when done.
    pub fn poll(&mut self) -> Result<Option<Interest>, Error> {
        if let Some(tls) = &mut self.tls {
            if let Err(e) = tls.seal(&mut self.out) {
                self.error.get_or_insert(e);
            }
        }
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        Ok(if !self.transmit().is_empty() {
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

    fn sent(&self) -> bool {
        matches!(self.stage, Stage::Sending) && self.transmit().is_empty()
    }

    /// The server's answer to the SSLRequest.
    fn tls_answer(&mut self, answer: &[u8], plan: Arc<TlsPlan>) -> Result<(), Error> {
        match answer {
            [b'S'] => {
                let tls = TlsSession::new(&plan)?;
                self.tls = Some(Box::new(tls));
                self.out.vec().extend_from_slice(&self.packet);
            }
            [b'N'] if !plan.required => self.out.vec().extend_from_slice(&self.packet),
            [b'N'] => return Err(Error::Tls("the server does not support TLS, but sslmode requires it".into())),
            [b'S', ..] => {
                return Err(Error::Tls(
                    "the server sent unencrypted data after accepting TLS (refused: CVE-2021-23222)".into(),
                ))
            }
            _ => return Err(ProtocolError::Unexpected { ty: '?', state: "answering the cancel's SSLRequest" }.into()),
        }
        self.stage = Stage::Sending;
        Ok(())
    }
}

impl Wire for CancelRequest {
    fn transmit(&self) -> &[u8] {
        match &self.tls {
            Some(tls) => tls.transmit(),
            None => self.out.pending(),
        }
    }
    fn advance(&mut self, n: usize) {
        match &mut self.tls {
            Some(tls) => tls.advance(n),
            None => self.out.advance(n),
        }
    }
    fn recv_buf(&mut self) -> &mut [u8] {
        match &mut self.tls {
            Some(tls) => tls.recv_buf(),
            None => &mut self.sink,
        }
    }
    fn recv_commit(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        if let Stage::AskTls(plan) = &self.stage {
            let plan = plan.clone();
            let answer = self.sink[..n].to_vec();
            if let Err(e) = self.tls_answer(&answer, plan) {
                self.error.get_or_insert(e);
            }
            return;
        }
        let r = match &mut self.tls {
            Some(tls) => tls.recv_commit(n, &mut self.plain_in),
            None => {
                self.plain_in.extend(&self.sink[..n]);
                Ok(())
            }
        };
        if let Err(e) = r {
            self.error.get_or_insert(e);
        } else if !self.plain_in.unread().is_empty() {
            // libpq: "received unexpected response from server"
            self.error.get_or_insert(
                ProtocolError::Unexpected { ty: '?', state: "waiting for the cancel connection to close" }.into(),
            );
        }
    }
    fn receive_eof(&mut self) {
        if self.sent() {
            self.closed = true;
        } else {
            self.error.get_or_insert(Error::Closed(crate::error::ClosedReason::UnexpectedEof));
        }
    }
    fn transport_error(&mut self, e: Error) -> Error {
        // A reset after the request went out is the server closing on us: done.
        if let Error::Io(io) = &e {
            if io.kind() == std::io::ErrorKind::ConnectionReset && self.sent() {
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
        let t = CancelToken::new(0x01020304, vec![9, 8, 7, 6]);
        assert_eq!(t.request_bytes(), [0, 0, 0, 16, 4, 210, 22, 46, 1, 2, 3, 4, 9, 8, 7, 6]);
    }

    #[test]
    fn cancel_connection_states() {
        let t = CancelToken::new(7, vec![1, 2, 3, 4]);
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
