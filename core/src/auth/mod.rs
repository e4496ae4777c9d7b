//! Password-based authentication: cleartext, MD5 and SCRAM-SHA-256.
//!
//! These are pure functions and one small state machine ([`scram::ScramClient`]); the nonce is
//! passed in, never drawn here, so a recorded exchange can be replayed byte for byte.

pub(crate) mod cancel;
pub mod scram;
pub(crate) mod startup;
pub(crate) mod target;
pub(crate) mod tls;

use md5::{Digest, Md5};

/// The response to AuthenticationMD5Password: `"md5" + md5hex(md5hex(password + user) + salt)`.
pub fn md5_password(user: &str, password: &[u8], salt: [u8; 4]) -> String {
    let mut h = Md5::new();
    h.update(password);
    h.update(user.as_bytes());
    let inner = hex(&h.finalize());
    let mut h = Md5::new();
    h.update(inner.as_bytes());
    h.update(salt);
    format!("md5{}", hex(&h.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn md5_matches_postgres() {
        // From shared/transcripts/startup-md5.json: user md5_user, password md5pass.
        let salt = [0x42, 0x04, 0x35, 0xa5];
        let got = super::md5_password("md5_user", b"md5pass", salt);
        assert_eq!(got, "md56873f53fb0abaa5daf7ac25be9095c77");
    }
}
