//! Cancel requests: a new connection to the same server carrying the backend's pid and key.

use crate::codec::frontend;

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

#[cfg(test)]
mod tests {
    #[test]
    fn matches_recorded_cancel_request() {
        // shared/transcripts/cancel-request.json: pid 27720? -> check length and code only here;
        // the transcript test compares bytes.
        let t = super::CancelToken { process_id: 0x01020304, secret_key: vec![9, 8, 7, 6] };
        assert_eq!(t.request_bytes(), [0, 0, 0, 16, 4, 210, 22, 46, 1, 2, 3, 4, 9, 8, 7, 6]);
    }
}
