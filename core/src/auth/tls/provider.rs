//! The crypto provider TLS runs on: *ring* by default, assembled here from its public parts
//! (rustls 0.23.48 deprecated `rustls::crypto::ring::default_provider` because ring has no
//! post-quantum key exchange; ring stays pgsans' default because it builds with nothing but a
//! C compiler and connects with less CPU and memory — BENCHMARKS.md), or aws-lc-rs with the
//! `aws-lc-rs` feature (post-quantum X25519MLKEM768 key exchange).
//!
//! This file holds the one source of randomness in the engine: the TLS handshake's key shares
//! and nonces come from the provider's secure random generator, as TLS requires.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
#[cfg(not(feature = "aws-lc-rs"))]
use rustls::{
    crypto::{GetRandomFailed, KeyProvider, SecureRandom, WebPkiSupportedAlgorithms},
    pki_types::PrivateKeyDer,
    SignatureScheme,
};

/// The provider every pgsans connection uses (and what a caller building its own rustls
/// configuration next to pgsans may use, to match it).
pub fn crypto_provider() -> Arc<CryptoProvider> {
    static PROVIDER: std::sync::OnceLock<Arc<CryptoProvider>> = std::sync::OnceLock::new();
    PROVIDER.get_or_init(|| Arc::new(build())).clone()
}

#[cfg(feature = "aws-lc-rs")]
fn build() -> CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

#[cfg(not(feature = "aws-lc-rs"))]
fn build() -> CryptoProvider {
    CryptoProvider {
        cipher_suites: rustls::crypto::ring::DEFAULT_CIPHER_SUITES.to_vec(),
        kx_groups: rustls::crypto::ring::DEFAULT_KX_GROUPS.to_vec(),
        signature_verification_algorithms: RING_SIGNATURES,
        secure_random: &Ring,
        key_provider: &Ring,
    }
}

#[cfg(not(feature = "aws-lc-rs"))]
#[derive(Debug)]
struct Ring;

#[cfg(not(feature = "aws-lc-rs"))]
impl SecureRandom for Ring {
    fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
        use ring::rand::SecureRandom as _;
        ring::rand::SystemRandom::new().fill(buf).map_err(|_| GetRandomFailed)
    }
}

#[cfg(not(feature = "aws-lc-rs"))]
impl KeyProvider for Ring {
    fn load_private_key(
        &self,
        key: PrivateKeyDer<'static>,
    ) -> Result<Arc<dyn rustls::sign::SigningKey>, rustls::Error> {
        rustls::crypto::ring::sign::any_supported_type(&key)
    }
}

/// The signature algorithms webpki verifies with ring, and which TLS signature scheme each
/// serves (for TLS 1.2 the curve is not fixed by the scheme; for TLS 1.3 it is).
#[cfg(not(feature = "aws-lc-rs"))]
static RING_SIGNATURES: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
    all: &[
        webpki::ring::ECDSA_P256_SHA256,
        webpki::ring::ECDSA_P256_SHA384,
        webpki::ring::ECDSA_P384_SHA256,
        webpki::ring::ECDSA_P384_SHA384,
        webpki::ring::ED25519,
        webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
        webpki::ring::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
        webpki::ring::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
        webpki::ring::RSA_PKCS1_2048_8192_SHA256,
        webpki::ring::RSA_PKCS1_2048_8192_SHA384,
        webpki::ring::RSA_PKCS1_2048_8192_SHA512,
        webpki::ring::RSA_PKCS1_2048_8192_SHA256_ABSENT_PARAMS,
        webpki::ring::RSA_PKCS1_2048_8192_SHA384_ABSENT_PARAMS,
        webpki::ring::RSA_PKCS1_2048_8192_SHA512_ABSENT_PARAMS,
    ],
    mapping: &[
        (SignatureScheme::ECDSA_NISTP384_SHA384, &[webpki::ring::ECDSA_P384_SHA384, webpki::ring::ECDSA_P256_SHA384]),
        (SignatureScheme::ECDSA_NISTP256_SHA256, &[webpki::ring::ECDSA_P256_SHA256, webpki::ring::ECDSA_P384_SHA256]),
        (SignatureScheme::ED25519, &[webpki::ring::ED25519]),
        (SignatureScheme::RSA_PSS_SHA512, &[webpki::ring::RSA_PSS_2048_8192_SHA512_LEGACY_KEY]),
        (SignatureScheme::RSA_PSS_SHA384, &[webpki::ring::RSA_PSS_2048_8192_SHA384_LEGACY_KEY]),
        (SignatureScheme::RSA_PSS_SHA256, &[webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY]),
        (SignatureScheme::RSA_PKCS1_SHA512, &[webpki::ring::RSA_PKCS1_2048_8192_SHA512]),
        (SignatureScheme::RSA_PKCS1_SHA384, &[webpki::ring::RSA_PKCS1_2048_8192_SHA384]),
        (SignatureScheme::RSA_PKCS1_SHA256, &[webpki::ring::RSA_PKCS1_2048_8192_SHA256]),
    ],
};
