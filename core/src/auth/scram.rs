//! SCRAM-SHA-256 (RFC 5802 / RFC 7677) as PostgreSQL uses it: the user name in the SCRAM
//! messages is empty (the server takes it from the StartupMessage), and channel binding is
//! `tls-server-end-point` for the `-PLUS` variant.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::error::{AuthError, ProtocolError};
use crate::Error;

type HmacSha256 = Hmac<Sha256>;

/// Highest iteration count accepted from a server; each iteration costs one HMAC, so an absurd
/// count from a hostile server would otherwise pin a core for minutes.
pub const MAX_ITERATIONS: u32 = 10_000_000;

/// How the client binds the SCRAM exchange to the TLS channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelBinding {
    /// The client does not support channel binding (`n,,`).
    Unsupported,
    /// The client supports it but the server did not offer `-PLUS` (`y,,`).
    UnusedBySever,
    /// `tls-server-end-point` with the hash of the server's certificate (`p=tls-server-end-point,,`).
    TlsServerEndPoint(Vec<u8>),
}

impl ChannelBinding {
    fn gs2_header(&self) -> &'static str {
        match self {
            ChannelBinding::Unsupported => "n,,",
            ChannelBinding::UnusedBySever => "y,,",
            ChannelBinding::TlsServerEndPoint(_) => "p=tls-server-end-point,,",
        }
    }

    fn cbind_input(&self) -> Vec<u8> {
        let mut v = self.gs2_header().as_bytes().to_vec();
        if let ChannelBinding::TlsServerEndPoint(data) = self {
            v.extend_from_slice(data);
        }
        v
    }

    /// The SASL mechanism name this binding goes with.
    pub fn mechanism(&self) -> &'static str {
        match self {
            ChannelBinding::TlsServerEndPoint(_) => "SCRAM-SHA-256-PLUS",
            _ => "SCRAM-SHA-256",
        }
    }
}

enum State {
    SentFirst,
    SentFinal { server_signature: [u8; 32] },
    Done,
}

/// The client side of one SCRAM-SHA-256 exchange.
pub struct ScramClient {
    password: Vec<u8>,
    nonce: String,
    binding: ChannelBinding,
    client_first_bare: String,
    state: State,
}

impl Drop for ScramClient {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.password);
    }
}

impl std::fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramClient").field("nonce", &self.nonce).finish_non_exhaustive()
    }
}

fn bad(what: &'static str) -> Error {
    Error::Protocol(ProtocolError::Scram(what))
}

/// SASLprep (RFC 4013) of the password, falling back to the raw bytes when the password is not
/// valid UTF-8 or is not allowed by SASLprep, as libpq does.
fn normalize(password: &[u8]) -> Vec<u8> {
    match std::str::from_utf8(password) {
        Ok(s) => match stringprep::saslprep(s) {
            Ok(p) => p.into_owned().into_bytes(),
            Err(_) => password.to_vec(),
        },
        Err(_) => password.to_vec(),
    }
}

impl ScramClient {
    /// Starts an exchange. `nonce` must be printable ASCII without `,` (libpq uses the base64 of
    /// 18 random bytes); see [`nonce_from_random`].
    pub fn new(password: &[u8], nonce: &str, binding: ChannelBinding) -> Self {
        let client_first_bare = format!("n=,r={nonce}");
        ScramClient {
            password: normalize(password),
            nonce: nonce.to_owned(),
            binding,
            client_first_bare,
            state: State::SentFirst,
        }
    }

    /// The mechanism name to put in SASLInitialResponse.
    pub fn mechanism(&self) -> &'static str {
        self.binding.mechanism()
    }

    /// client-first-message, for SASLInitialResponse.
    pub fn client_first(&self) -> String {
        format!("{}{}", self.binding.gs2_header(), self.client_first_bare)
    }

    /// Consumes server-first-message (AuthenticationSASLContinue) and returns
    /// client-final-message (for SASLResponse).
    pub fn handle_server_first(&mut self, data: &[u8]) -> Result<String, Error> {
        if !matches!(self.state, State::SentFirst) {
            return Err(bad("unexpected SASLContinue"));
        }
        let server_first = std::str::from_utf8(data).map_err(|_| bad("server-first-message is not UTF-8"))?;
        let mut parts = server_first.split(',');
        let nonce = parts.next().and_then(|p| p.strip_prefix("r=")).ok_or(bad("server-first-message has no nonce"))?;
        let salt = parts.next().and_then(|p| p.strip_prefix("s=")).ok_or(bad("server-first-message has no salt"))?;
        let iterations = parts
            .next()
            .and_then(|p| p.strip_prefix("i="))
            .ok_or(bad("server-first-message has no iteration count"))?;
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err(bad("server nonce does not extend the client nonce"));
        }
        let salt = B64.decode(salt).map_err(|_| bad("salt is not valid base64"))?;
        let iterations: u32 = iterations.parse().map_err(|_| bad("invalid iteration count"))?;
        if iterations == 0 || iterations > MAX_ITERATIONS {
            return Err(bad("iteration count out of range"));
        }

        use zeroize::Zeroize;
        let mut salted = salted_password(&self.password, &salt, iterations);
        let mut client_key = hmac(&salted, b"Client Key");
        let mut stored_key: [u8; 32] = Sha256::digest(client_key).into();
        let without_proof = format!("c={},r={}", B64.encode(self.binding.cbind_input()), nonce);
        let auth_message = format!("{},{},{}", self.client_first_bare, server_first, without_proof);
        let client_signature = hmac(&stored_key, auth_message.as_bytes());
        let mut proof = client_key;
        for (p, s) in proof.iter_mut().zip(client_signature) {
            *p ^= s;
        }
        let mut server_key = hmac(&salted, b"Server Key");
        let server_signature = hmac(&server_key, auth_message.as_bytes());
        // The keys derived from the password are not left behind in memory.
        for secret in [&mut salted, &mut client_key, &mut stored_key, &mut server_key] {
            secret.zeroize();
        }
        self.password.zeroize();
        self.state = State::SentFinal { server_signature };
        Ok(format!("{},p={}", without_proof, B64.encode(proof)))
    }

    /// Verifies server-final-message (AuthenticationSASLFinal).
    pub fn handle_server_final(&mut self, data: &[u8]) -> Result<(), Error> {
        let State::SentFinal { server_signature } = self.state else {
            return Err(bad("unexpected SASLFinal"));
        };
        let text = std::str::from_utf8(data).map_err(|_| bad("server-final-message is not UTF-8"))?;
        if let Some(e) = text.strip_prefix("e=") {
            return Err(Error::Auth(AuthError::ServerReported(e.to_owned())));
        }
        let v = text
            .split(',')
            .next()
            .and_then(|p| p.strip_prefix("v="))
            .ok_or(bad("server-final-message has no verifier"))?;
        let got = B64.decode(v).map_err(|_| bad("verifier is not valid base64"))?;
        // Not secret-dependent timing on our side: the expected value is already known to the
        // server, so a plain comparison leaks nothing an attacker does not have.
        if got != server_signature {
            return Err(Error::Auth(AuthError::ServerSignatureMismatch));
        }
        self.state = State::Done;
        Ok(())
    }

    /// Whether the exchange is bound to the TLS channel (SCRAM-SHA-256-PLUS).
    pub fn is_bound(&self) -> bool {
        matches!(self.binding, ChannelBinding::TlsServerEndPoint(_))
    }

    /// Whether the server's signature has been verified.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }
}

/// SCRAM's `Hi()`: PBKDF2-HMAC-SHA-256 for one 32-byte block, the connect's main cost (4,096
/// iterations by default). Each iteration hashes `ipad || U` and `opad || inner`, both 96 bytes:
/// with the key blocks' states computed once, that is two SHA-256 compressions of one prepared
/// block — no HMAC state copied, finalised or re-padded per iteration (the `pbkdf2` crate spends
/// about a third of its time there). Checked against `pbkdf2` below.
fn salted_password(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    const IV: [u32; 8] =
        [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    let mut key = [0u8; 64];
    if password.len() > 64 {
        key[..32].copy_from_slice(&Sha256::digest(password));
    } else {
        key[..password.len()].copy_from_slice(password);
    }
    let (mut ipad, mut opad) = ([0x36u8; 64], [0x5cu8; 64]);
    for ((i, o), k) in ipad.iter_mut().zip(opad.iter_mut()).zip(key) {
        *i ^= k;
        *o ^= k;
    }
    let (mut inner_state, mut outer_state) = (IV, IV);
    sha2::compress256(&mut inner_state, &[ipad.into()]);
    sha2::compress256(&mut outer_state, &[opad.into()]);
    // U1 = HMAC(password, salt || INT(1)).
    let mut salt1 = Vec::with_capacity(salt.len() + 4);
    salt1.extend_from_slice(salt);
    salt1.extend_from_slice(&1u32.to_be_bytes());
    let mut u = hmac(password, &salt1);
    let mut result = u;
    // A 32-byte message after a 64-byte key block, padded: 0x80, zeros, the length (768 bits).
    let mut block = [0u8; 64];
    block[32] = 0x80;
    block[56..].copy_from_slice(&768u64.to_be_bytes());
    let words_to_bytes = |state: [u32; 8], out: &mut [u8]| {
        for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
    };
    for _ in 1..iterations {
        block[..32].copy_from_slice(&u);
        let mut state = inner_state;
        sha2::compress256(&mut state, &[block.into()]);
        words_to_bytes(state, &mut block[..32]);
        let mut state = outer_state;
        sha2::compress256(&mut state, &[block.into()]);
        words_to_bytes(state, &mut u);
        for (r, x) in result.iter_mut().zip(u) {
            *r ^= x;
        }
    }
    result
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length: the error case does not exist.
    #[allow(clippy::expect_used)]
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    m.update(data);
    m.finalize().into_bytes().into()
}

/// The printable nonce libpq would send for these 18 random bytes.
pub fn nonce_from_random(bytes: &[u8; 18]) -> String {
    B64.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salted_password_is_pbkdf2_hmac_sha256() {
        // Passwords shorter, as long as and longer than SHA-256's block; salts of any length;
        // one iteration and many.
        for password in [&b""[..], b"pencil", &[7u8; 64], &[9u8; 100]] {
            for salt in [&b""[..], b"QSXCR+Q6sek8bf92", &[1u8; 70]] {
                for iterations in [1, 2, 4096] {
                    let mut expected = [0u8; 32];
                    pbkdf2::pbkdf2::<HmacSha256>(password, salt, iterations, &mut expected).unwrap();
                    assert_eq!(
                        salted_password(password, salt, iterations),
                        expected,
                        "{password:?} {salt:?} {iterations}"
                    );
                }
            }
        }
    }

    // The exchange recorded in shared/transcripts/startup-scram.json.
    const NONCE: &str = "NYJ45gxb2wH0lj0il2eLKHJi";
    const SERVER_FIRST: &str = "r=NYJ45gxb2wH0lj0il2eLKHJiik/iIbSMjcteW1jEaDwXHXFL,s=G41SMu4Sm9KyaI9oXJvpsw==,i=4096";
    const CLIENT_FINAL: &str =
        "c=biws,r=NYJ45gxb2wH0lj0il2eLKHJiik/iIbSMjcteW1jEaDwXHXFL,p=weSZ7cDXWkmZUUr8Apyl5yuYmmQJ7ORQEYyKJ2JVhsk=";
    const SERVER_FINAL: &str = "v=NXcLYNWlT/mZIlGTxWznierFXSuU+FIYmHOa9A+bn6w=";

    #[test]
    fn replays_recorded_exchange() {
        let mut c = ScramClient::new(b"scrampass", NONCE, ChannelBinding::Unsupported);
        assert_eq!(c.client_first(), format!("n,,n=,r={NONCE}"));
        assert!(!c.password.is_empty());
        assert_eq!(c.handle_server_first(SERVER_FIRST.as_bytes()).unwrap(), CLIENT_FINAL);
        assert!(c.password.is_empty(), "the password is zeroed once the proof is made");
        c.handle_server_final(SERVER_FINAL.as_bytes()).unwrap();
        assert!(c.is_done());
    }

    #[test]
    fn wrong_server_signature_is_rejected() {
        let mut c = ScramClient::new(b"otherpass", NONCE, ChannelBinding::Unsupported);
        c.handle_server_first(SERVER_FIRST.as_bytes()).unwrap();
        let err = c.handle_server_final(SERVER_FINAL.as_bytes()).unwrap_err();
        assert!(matches!(err, Error::Auth(AuthError::ServerSignatureMismatch)));
    }

    #[test]
    fn hostile_server_first_messages() {
        for msg in [
            "r=someoneelse,s=AAAA,i=4096",
            &format!("r={NONCE},s=AAAA,i=4096"),
            &format!("r={NONCE}x,s=!!!,i=4096"),
            &format!("r={NONCE}x,s=AAAA,i=0"),
            &format!("r={NONCE}x,s=AAAA,i=4294967295"),
            &format!("r={NONCE}x,s=AAAA"),
            "",
        ] {
            let mut c = ScramClient::new(b"p", NONCE, ChannelBinding::Unsupported);
            assert!(c.handle_server_first(msg.as_bytes()).is_err(), "{msg}");
        }
    }
}
