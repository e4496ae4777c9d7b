//! The channel: the bytes the engine receives and sends, and TLS between them and the wire —
//! not yet asked for, asked for (SSLRequest sent, the StartupMessage held back until the
//! server's `S` or `N`), or in use (rustls' own sans-IO session encrypting what is queued and
//! decrypting what arrives).

use std::sync::Arc;

use crate::auth::tls::{Clock, TlsPlan, TlsSession};
use crate::error::{ClosedReason, Error, ProtocolError};
use crate::wire::buffer::{RecvBuffer, SendBuffer};
use crate::wire::codec::backend;

/// Where TLS stands for this connection.
#[derive(Debug)]
pub(super) enum Ssl {
    Off,
    /// SSLRequest sent; the StartupMessage waits for the server's `S` or `N`.
    Requested {
        plan: TlsPlan,
        startup: Vec<u8>,
    },
    On(Box<TlsSession>),
}

/// Received bytes (plaintext), the TLS state, and what the server's end has done.
#[derive(Debug)]
pub(super) struct Channel {
    pub(super) recv: RecvBuffer,
    pub(super) ssl: Ssl,
    /// The server closed its end.
    pub(super) eof: bool,
    pub(super) max_message_len: usize,
    /// The wall-clock time the caller gave, for certificate validity.
    pub(super) clock: Arc<Clock>,
    /// The TLS setup in use, for cancel requests.
    pub(super) tls_plan: Option<Arc<TlsPlan>>,
}

impl Channel {
    pub(super) fn new(ssl: Ssl, max_message_len: usize, clock: Arc<Clock>, tls_plan: Option<Arc<TlsPlan>>) -> Channel {
        Channel { recv: RecvBuffer::default(), ssl, eof: false, max_message_len, clock, tls_plan }
    }

    /// Spare space to read socket bytes into: enough for the message being received, up to
    /// the message cap (or what TLS takes).
    pub(super) fn recv_buf(&mut self) -> &mut [u8] {
        if let Ssl::On(tls) = &mut self.ssl {
            return tls.recv_buf();
        }
        let unread = self.recv.unread();
        let needed = backend::bytes_needed(unread).min(self.max_message_len + 5);
        // Memory follows the bytes that arrived, not the length a header claims: at most as
        // much again as is already here (the buffer doubles while a big message comes in), so
        // a 5-byte header claiming 63 MiB costs one read's worth until the bytes exist.
        let want = needed.saturating_sub(unread.len()).min(unread.len());
        self.recv.spare(want)
    }

    /// `n` bytes were read into [`recv_buf`](Self::recv_buf) (decrypted when TLS is on).
    pub(super) fn recv_commit(&mut self, n: usize) -> Result<(), Error> {
        match &mut self.ssl {
            Ssl::On(tls) => tls.recv_commit(n, &mut self.recv),
            _ => {
                self.recv.commit(n);
                Ok(())
            }
        }
    }

    /// Bytes received from the server (decrypted when TLS is on).
    pub(super) fn receive(&mut self, data: &[u8]) -> Result<(), Error> {
        match &mut self.ssl {
            Ssl::On(tls) => tls.receive(data, &mut self.recv),
            _ => {
                self.recv.extend(data);
                Ok(())
            }
        }
    }

    /// Bytes to write: TLS records, or the plaintext queue itself.
    pub(super) fn transmit<'a>(&'a self, plain: &'a SendBuffer) -> &'a [u8] {
        match &self.ssl {
            Ssl::On(tls) => tls.transmit(),
            _ => plain.pending(),
        }
    }

    /// Whether nothing waits to be written.
    pub(super) fn send_empty(&self, plain: &SendBuffer) -> bool {
        match &self.ssl {
            Ssl::On(tls) => tls.is_empty() && plain.is_empty(),
            _ => plain.is_empty(),
        }
    }

    /// Encrypts what was queued in `plain`, when TLS is in use.
    pub(super) fn seal(&mut self, plain: &mut SendBuffer) -> Result<(), Error> {
        match &mut self.ssl {
            Ssl::On(tls) => tls.seal(plain),
            _ => Ok(()),
        }
    }

    /// The first `n` bytes of [`transmit`](Self::transmit) were written.
    pub(super) fn advance(&mut self, plain: &mut SendBuffer, n: usize) {
        match &mut self.ssl {
            Ssl::On(tls) => tls.advance(n),
            _ => plain.advance(n),
        }
    }

    /// Ends the TLS session cleanly (close_notify), after what is queued.
    pub(super) fn close(&mut self) {
        if let Ssl::On(tls) = &mut self.ssl {
            tls.close();
        }
    }

    pub(super) fn tls(&self) -> Option<&TlsSession> {
        match &self.ssl {
            Ssl::On(t) => Some(t),
            _ => None,
        }
    }

    /// The server's answer to the SSLRequest: `S` starts TLS (and nothing may follow it in
    /// plaintext: CVE-2021-23222), `N` continues in plaintext unless TLS is required; anything
    /// else is not PostgreSQL's answer (an `E` is left for the startup to report). The held
    /// StartupMessage is queued in `plain` once TLS is settled.
    pub(super) fn ssl_answer(&mut self, plain: &mut SendBuffer) -> Result<(), Error> {
        let Some(&first) = self.recv.unread().first() else {
            if self.eof {
                return Err(Error::Closed(ClosedReason::UnexpectedEof));
            }
            return Ok(());
        };
        let Ssl::Requested { plan, startup } = std::mem::replace(&mut self.ssl, Ssl::Off) else {
            return Ok(());
        };
        match first {
            b'S' => {
                if self.recv.unread().len() > 1 {
                    return Err(Error::Tls(
                        "the server sent unencrypted data after accepting TLS (refused: CVE-2021-23222)".into(),
                    ));
                }
                self.recv.consume(1);
                let tls = TlsSession::new(&plan)?;
                self.ssl = Ssl::On(Box::new(tls));
                self.tls_plan = Some(Arc::new(plan));
                plain.vec().extend_from_slice(&startup);
            }
            b'N' if plan.required => {
                return Err(Error::Tls("the server does not support TLS, but sslmode requires it".into()));
            }
            b'N' => {
                self.recv.consume(1);
                plain.vec().extend_from_slice(&startup);
            }
            // An old server's error: the startup reports it.
            b'E' => {}
            _ => {
                let seen = self.recv.unread().get(..5).unwrap_or(self.recv.unread()).to_vec();
                return Err(ProtocolError::NotPostgres(String::from_utf8_lossy(&seen).into_owned()).into());
            }
        }
        Ok(())
    }
}
