//! The PostgreSQL protocol 3.0 wire codec.
//!
//! [`frontend`] encodes every message a client sends into a caller-owned `Vec<u8>`;
//! [`backend`] frames and decodes every message a server sends, borrowing from the receive buffer.
//! Neither allocates per message on the hot path (DataRow decoding only fills a reusable index).

pub mod backend;
pub mod frontend;

use crate::error::ProtocolError;

/// Protocol version 3.0 as sent in StartupMessage.
pub const PROTOCOL_3_0: i32 = 196_608;
/// The SSLRequest code (1234 << 16 | 5679).
pub const SSL_REQUEST_CODE: i32 = 80_877_103;
/// The GSSENCRequest code (1234 << 16 | 5680).
pub const GSSENC_REQUEST_CODE: i32 = 80_877_104;
/// The CancelRequest code (1234 << 16 | 5678).
pub const CANCEL_REQUEST_CODE: i32 = 80_877_102;

/// Default cap on an incoming message's length: 64 MiB. PostgreSQL itself allows up to 1 GiB;
/// raise it with [`Config::max_message_len`](crate::Config) if you fetch larger values.
pub const DEFAULT_MAX_MESSAGE_LEN: usize = 64 << 20;

/// A cursor over a message body that reports malformed input as a typed error.
#[derive(Clone, Copy)]
pub(crate) struct Reader<'a> {
    pub(crate) buf: &'a [u8],
    message: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], message: &'static str) -> Self {
        Reader { buf, message }
    }

    fn short(&self) -> ProtocolError {
        ProtocolError::Malformed { message: self.message, what: "message body too short" }
    }

    pub(crate) fn err(&self, what: &'static str) -> ProtocolError {
        ProtocolError::Malformed { message: self.message, what }
    }

    pub(crate) fn u8(&mut self) -> Result<u8, ProtocolError> {
        let (&b, rest) = self.buf.split_first().ok_or_else(|| self.short())?;
        self.buf = rest;
        Ok(b)
    }

    pub(crate) fn i16(&mut self) -> Result<i16, ProtocolError> {
        Ok(i16::from_be_bytes(self.array::<2>()?))
    }

    pub(crate) fn i32(&mut self) -> Result<i32, ProtocolError> {
        Ok(i32::from_be_bytes(self.array::<4>()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, ProtocolError> {
        Ok(u32::from_be_bytes(self.array::<4>()?))
    }

    pub(crate) fn i64(&mut self) -> Result<i64, ProtocolError> {
        Ok(i64::from_be_bytes(self.array::<8>()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, ProtocolError> {
        Ok(u64::from_be_bytes(self.array::<8>()?))
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ProtocolError> {
        if self.buf.len() < N {
            return Err(self.short());
        }
        let (head, rest) = self.buf.split_at(N);
        self.buf = rest;
        let mut out = [0u8; N];
        out.copy_from_slice(head);
        Ok(out)
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], ProtocolError> {
        if self.buf.len() < n {
            return Err(self.short());
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    /// A NUL-terminated string, as bytes (without the NUL).
    pub(crate) fn cstr_bytes(&mut self) -> Result<&'a [u8], ProtocolError> {
        let nul = memchr::memchr(0, self.buf).ok_or_else(|| self.err("unterminated string"))?;
        let s = &self.buf[..nul];
        self.buf = &self.buf[nul + 1..];
        Ok(s)
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    pub(crate) fn finish(&self) -> Result<(), ProtocolError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(self.err("trailing bytes"))
        }
    }
}

/// Whether a parameter value is NULL (what a value's encoder reports to the Bind it writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsNull {
    Yes,
    No,
}
