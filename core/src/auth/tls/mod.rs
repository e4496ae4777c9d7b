//! TLS inside the engine: rustls' own sans-IO session sits between the transport's bytes and
//! the message codec, so every transport (and a caller's own event loop) gets TLS unchanged.
//!
//! `sslmode` follows libpq: `disable` and `allow` start in plaintext (`allow` retries with TLS
//! if the server refuses — the client's connect loop does that), `prefer` (the default) asks
//! for TLS and continues in plaintext only if the server answers `N`, `require` insists on TLS
//! without verifying the certificate (unless root certificates are given: then as
//! `verify-ca`), `verify-ca` verifies the chain, `verify-full` the chain and the host name.
//! Unix-domain sockets never use TLS (libpq: "sslmode is ignored for Unix domain socket
//! communication").
//!
//! Nothing here reads a file or the clock: certificates come in the [`Config`] (read by the
//! client's loader at each connect, or given as PEM), and the time to check validity
//! against is given by the caller ([`Connection::set_current_time`](crate::Connection::set_current_time)).
//! The key exchange draws its randomness from the crypto provider (ring), as rustls requires.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme};

mod provider;
mod verify;

pub use provider::crypto_provider;

use crate::config::{Config, Host, SslMode, Target};
use crate::error::{ConfigError, Error};
use crate::wire::buffer::{RecvBuffer, SendBuffer};

/// The 8-byte SSLRequest.
/// The ALPN protocol name PostgreSQL registered.
const ALPN: &[u8] = b"postgresql";

pub(crate) const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// The wall-clock time given by the caller, in seconds since the epoch (0: not given).
#[derive(Debug, Default)]
pub(crate) struct Clock(AtomicU64);

impl rustls::time_provider::TimeProvider for Clock {
    fn current_time(&self) -> Option<UnixTime> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            secs => Some(UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs))),
        }
    }
}

impl Clock {
    pub(crate) fn set(&self, since_epoch: std::time::Duration) {
        self.0.store(since_epoch.as_secs().max(1), Ordering::Relaxed);
    }
}

/// What a connection attempt does about TLS, decided from the configuration and the target.
pub(crate) struct TlsPlan {
    pub(crate) config: Arc<ClientConfig>,
    pub(crate) server_name: ServerName<'static>,
    /// Plaintext is refused (`require` and stronger).
    pub(crate) required: bool,
    /// `sslnegotiation=direct`: the handshake starts at once (no SSLRequest), and the server
    /// must agree to ALPN `postgresql` (PostgreSQL 17+).
    pub(crate) direct: bool,
    /// `sslcertmode=require`: set when the server asked for a client certificate.
    pub(crate) cert_requested: Option<Arc<AtomicBool>>,
}

impl std::fmt::Debug for TlsPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsPlan").field("server_name", &self.server_name).field("required", &self.required).finish()
    }
}

fn config_error(what: impl Into<String>) -> Error {
    ConfigError::Unsupported(what.into()).into()
}

/// The TLS plan for `target`, or `None` when TLS is not tried (disable, allow's first attempt,
/// Unix sockets).
pub(crate) fn plan(config: &Config, target: &Target, clock: &Arc<Clock>) -> Result<Option<TlsPlan>, Error> {
    let mode = config.ssl_mode();
    let host = match &target.host {
        Host::Unix(_) => return Ok(None),
        Host::Tcp(h) => h.clone(),
    };
    let direct = config.get("sslnegotiation") == Some("direct");
    if direct && !matches!(mode, SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull) {
        // libpq 17: a direct handshake cannot fall back to plaintext.
        return Err(config_error(format!(
            "weak sslmode \"{}\" may not be used with sslnegotiation=direct (use \"require\", \"verify-ca\", or \"verify-full\")",
            config.get("sslmode").unwrap_or("prefer")
        )));
    }
    if matches!(mode, SslMode::Disable | SslMode::Allow) {
        return Ok(None);
    }
    let material = config.tls_material();
    let system = config.get("sslrootcert") == Some("system");
    if system && !matches!(mode, SslMode::VerifyFull) {
        // libpq 16: the system store only makes sense with host name checks.
        return Err(config_error(format!(
            "weak sslmode \"{}\" may not be used with sslrootcert=system (use \"verify-full\")",
            config.get("sslmode").unwrap_or("prefer")
        )));
    }
    let provider = provider::crypto_provider();
    // The trusted certificates as given, for the chains webpki refuses and OpenSSL accepts.
    let mut root_ders: Vec<CertificateDer<'static>> = Vec::new();
    let roots = if system {
        let mut store = RootCertStore::empty();
        // Like libpq's (OpenSSL's) default store: the OS's certificates; unparsable ones are
        // skipped, as OpenSSL does.
        let (added, _) =
            store.add_parsable_certificates(material.system_roots.iter().map(|d| CertificateDer::from(d.clone())));
        if added == 0 {
            store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        Some(store)
    } else {
        match &material.root_pem {
            Some(pem) => {
                let mut store = RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(pem) {
                    let cert = cert.map_err(|e| config_error(format!("sslrootcert: {e}")))?;
                    root_ders.push(cert.clone());
                    store.add(cert).map_err(|e| config_error(format!("sslrootcert: {e}")))?;
                }
                if store.is_empty() {
                    return Err(config_error("sslrootcert: no certificate in the file"));
                }
                Some(store)
            }
            None => None,
        }
    };
    // libpq: `require` with a root certificate behaves like verify-ca.
    let verify = match (mode, &roots) {
        (SslMode::VerifyFull, Some(_)) => Verify::Full,
        (SslMode::VerifyCa, Some(_)) | (SslMode::Require, Some(_)) => Verify::Chain,
        (SslMode::VerifyFull | SslMode::VerifyCa, None) => {
            return Err(config_error(
                "root certificate file not given: sslmode verify-ca and verify-full need sslrootcert (a file \
                 (a file, ~/.postgresql/root.crt, or \"system\"), read when connecting",
            ))
        }
        _ => Verify::Nothing,
    };
    let verifier: Arc<dyn ServerCertVerifier> = match verify {
        Verify::Nothing => Arc::new(EncryptOnly { algorithms: provider.signature_verification_algorithms }),
        Verify::Chain | Verify::Full => {
            let mut crls = Vec::new();
            for pem in &material.crl_pem {
                for crl in CertificateRevocationListDer::pem_slice_iter(pem) {
                    crls.push(crl.map_err(|e| config_error(format!("sslcrl: {e}")))?);
                }
            }
            let Some(roots) = roots else { return Err(config_error("no root certificates")) };
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .with_crls(crls.clone())
                .allow_unknown_revocation_status()
                .build()
                .map_err(|e| config_error(format!("TLS verifier: {e}")))?;
            Arc::new(verify::LibpqVerifier {
                webpki,
                roots: root_ders,
                crls,
                check_name: matches!(verify, Verify::Full),
                algorithms: provider.signature_verification_algorithms,
            })
        }
    };
    let versions = protocol_versions(config)?;
    let asked = Arc::new(AtomicBool::new(false));
    let builder = ClientConfig::builder_with_details(provider.clone(), clock.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| config_error(format!("TLS versions: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    // sslcertmode=disable: never send a client certificate.
    let client_cert = match config.get("sslcertmode") {
        Some("disable") => (None, None),
        _ => (material.cert_pem.as_ref(), material.key_pem.as_ref()),
    };
    let cert_mode_require = config.get("sslcertmode") == Some("require");
    let certified = match client_cert {
        (Some(cert), Some(key)) => Some(Arc::new(certified_key(cert, key, config.get("sslpassword"), &provider)?)),
        (Some(_), None) => return Err(config_error("sslcert is given without sslkey")),
        (None, Some(_)) => return Err(config_error("sslkey is given without sslcert")),
        (None, None) => None,
    };
    let mut tls = if certified.is_none() && !cert_mode_require {
        builder.with_no_client_auth()
    } else {
        // rustls asks the resolver only when the server asked for a certificate: that is what
        // sslcertmode=require (libpq 16) checks.
        builder.with_client_cert_resolver(Arc::new(RecordCertRequest { certified, asked: asked.clone() }))
    };
    // libpq sends SNI for host names, never for addresses; sslsni=0 turns it off.
    let server_name = ServerName::try_from(host.clone())
        .map_err(|_| config_error(format!("\"{host}\" is neither a host name nor an address")))?;
    tls.enable_sni = config.get("sslsni") != Some("0") && matches!(server_name, ServerName::DnsName(_));
    // libpq 17+ offers ALPN `postgresql` on every handshake.
    tls.alpn_protocols = vec![ALPN.to_vec()];
    Ok(Some(TlsPlan {
        config: Arc::new(tls),
        server_name,
        required: matches!(mode, SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull),
        direct,
        cert_requested: cert_mode_require.then_some(asked),
    }))
}

/// The client's private key from PEM: plain, or PKCS#8-encrypted (`ENCRYPTED PRIVATE KEY`,
/// PBES2 with PBKDF2 or scrypt, as `openssl pkcs8 -topk8` writes) and decrypted with
/// `sslpassword`.
fn client_key(pem: &[u8], password: Option<&str>) -> Result<PrivateKeyDer<'static>, Error> {
    let text = String::from_utf8_lossy(pem);
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(config_error(
            "sslkey: keys in OpenSSL's legacy encrypted format are not supported; convert it with \
             `openssl pkcs8 -topk8 -v2 aes256`",
        ));
    }
    if !text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        return PrivateKeyDer::from_pem_slice(pem).map_err(|e| config_error(format!("sslkey: {e}")));
    }
    let Some(password) = password else {
        return Err(config_error("sslkey is encrypted: give its password in sslpassword"));
    };
    let (_, doc) = pkcs8::SecretDocument::from_pem(&text).map_err(|e| config_error(format!("sslkey: {e}")))?;
    let encrypted =
        pkcs8::EncryptedPrivateKeyInfo::try_from(doc.as_bytes()).map_err(|e| config_error(format!("sslkey: {e}")))?;
    let plain =
        encrypted.decrypt(password).map_err(|_| config_error("sslkey: could not decrypt the key with sslpassword"))?;
    Ok(PrivateKeyDer::Pkcs8(plain.as_bytes().to_vec().into()))
}

/// The client certificate chain and its key, checked against each other.
fn certified_key(
    cert: &[u8],
    key: &[u8],
    password: Option<&str>,
    provider: &rustls::crypto::CryptoProvider,
) -> Result<rustls::sign::CertifiedKey, Error> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<_, _>>()
        .map_err(|e| config_error(format!("sslcert: {e}")))?;
    let key = client_key(key, password)?;
    rustls::sign::CertifiedKey::from_der(chain, key, provider).map_err(|e| config_error(format!("sslcert/sslkey: {e}")))
}

/// Offers the client certificate (if any) and records that the server asked for one.
#[derive(Debug)]
struct RecordCertRequest {
    certified: Option<Arc<rustls::sign::CertifiedKey>>,
    asked: Arc<AtomicBool>,
}

impl rustls::client::ResolvesClientCert for RecordCertRequest {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<rustls::sign::CertifiedKey>> {
        self.asked.store(true, Ordering::Relaxed);
        self.certified.clone()
    }

    fn has_certs(&self) -> bool {
        self.certified.is_some()
    }
}

#[derive(Clone, Copy)]
enum Verify {
    Nothing,
    Chain,
    Full,
}

fn protocol_versions(config: &Config) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, Error> {
    let rank = |key: &str, default: u8| -> Result<u8, Error> {
        match config.get(key) {
            None | Some("") => Ok(default),
            Some("TLSv1.2") => Ok(2),
            Some("TLSv1.3") => Ok(3),
            Some(v @ ("TLSv1" | "TLSv1.1")) => {
                Err(config_error(format!("{key}={v}: only TLSv1.2 and TLSv1.3 are supported")))
            }
            Some(v) => Err(ConfigError::InvalidValue { key: key.to_owned(), value: v.to_owned() }.into()),
        }
    };
    let (min, max) = (rank("ssl_min_protocol_version", 2)?, rank("ssl_max_protocol_version", 3)?);
    let mut v = Vec::new();
    if min <= 3 && max >= 3 {
        v.push(&rustls::version::TLS13);
    }
    if min <= 2 && max >= 2 {
        v.push(&rustls::version::TLS12);
    }
    if v.is_empty() {
        return Err(config_error("ssl_min_protocol_version is above ssl_max_protocol_version"));
    }
    Ok(v)
}

/// `sslmode=require` without root certificates: the channel is encrypted, the server not
/// authenticated (libpq). The handshake signatures are still checked.
#[derive(Debug)]
struct EncryptOnly {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify::handshake_signature(message, cert, dss, &self.algorithms, false)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify::handshake_signature(message, cert, dss, &self.algorithms, true)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A TLS error, worded for a user: what failed and why.
pub(crate) fn tls_error(e: rustls::Error) -> Error {
    let why = match &e {
        rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext { expected, presented }) => {
            format!(
                "the server certificate is not valid for \"{}\" (it names {})",
                server_name_text(expected),
                presented.iter().map(|p| format!("\"{p}\"")).collect::<Vec<_>>().join(", ")
            )
        }
        rustls::Error::InvalidCertificate(CertificateError::NotValidForName) => {
            "the server certificate is not valid for the host name".to_owned()
        }
        rustls::Error::InvalidCertificate(CertificateError::Expired | CertificateError::ExpiredContext { .. }) => {
            "the server certificate has expired".to_owned()
        }
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. },
        ) => "the server certificate is not valid yet".to_owned(),
        rustls::Error::InvalidCertificate(CertificateError::Revoked) => {
            "the server certificate has been revoked (sslcrl)".to_owned()
        }
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "the server certificate is not signed by a trusted root (sslrootcert)".to_owned()
        }
        rustls::Error::FailedToGetCurrentTime => {
            "no current time to check the certificate against (the transport must call set_current_time)".to_owned()
        }
        other => other.to_string(),
    };
    Error::Tls(why)
}

fn server_name_text(name: &ServerName<'_>) -> String {
    match name {
        ServerName::DnsName(d) => d.as_ref().to_owned(),
        ServerName::IpAddress(ip) => core::net::IpAddr::from(*ip).to_string(),
        other => format!("{other:?}"),
    }
}

/// An established (or establishing) TLS session: plaintext in the engine's buffers, records
/// on the wire.
pub(crate) struct TlsSession {
    conn: ClientConnection,
    /// Records to send.
    out: SendBuffer,
    /// Records read by the transport, not yet given to rustls.
    staging: Vec<u8>,
    /// Direct TLS: the handshake must end with ALPN `postgresql`; checked once.
    check_alpn: bool,
    /// `sslcertmode=require`: the server must have asked for a certificate; checked once.
    check_cert_request: Option<Arc<AtomicBool>>,
}

impl std::fmt::Debug for TlsSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSession").field("handshaking", &self.conn.is_handshaking()).finish_non_exhaustive()
    }
}

/// The least room offered for one read of records.
const STAGING: usize = 16 * 1024 + 512;

impl TlsSession {
    pub(crate) fn new(plan: &TlsPlan) -> Result<TlsSession, Error> {
        let conn = ClientConnection::new(plan.config.clone(), plan.server_name.clone()).map_err(tls_error)?;
        Ok(TlsSession {
            conn,
            out: SendBuffer::default(),
            staging: Vec::new(),
            check_alpn: plan.direct,
            check_cert_request: plan.cert_requested.clone(),
        })
    }

    /// Encrypts the plaintext waiting in `plain` (all of it) and queues the records.
    pub(crate) fn seal(&mut self, plain: &mut SendBuffer) -> Result<(), Error> {
        while !plain.is_empty() {
            let n = self.conn.writer().write(plain.pending()).map_err(|e| Error::Tls(e.to_string()))?;
            plain.advance(n);
            self.flush_records()?;
            if n == 0 {
                break;
            }
        }
        self.flush_records()
    }

    fn flush_records(&mut self) -> Result<(), Error> {
        while self.conn.wants_write() {
            self.conn.write_tls(self.out.vec()).map_err(|e| Error::Tls(e.to_string()))?;
        }
        Ok(())
    }

    /// Ends the session cleanly (close_notify) after what is queued.
    pub(crate) fn close(&mut self) {
        self.conn.send_close_notify();
        let _ = self.flush_records();
    }

    pub(crate) fn transmit(&self) -> &[u8] {
        self.out.pending()
    }

    pub(crate) fn advance(&mut self, n: usize) {
        self.out.advance(n);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    pub(crate) fn recv_buf(&mut self) -> &mut [u8] {
        self.staging.resize(STAGING, 0);
        &mut self.staging
    }

    /// Decrypts `n` bytes read into [`recv_buf`](Self::recv_buf) into `plain`.
    pub(crate) fn recv_commit(&mut self, n: usize, plain: &mut RecvBuffer) -> Result<(), Error> {
        let data = std::mem::take(&mut self.staging);
        let r = self.receive(&data[..n], plain);
        self.staging = data;
        r
    }

    /// Decrypts records into `plain`; answers the handshake (queued for transmit).
    pub(crate) fn receive(&mut self, mut data: &[u8], plain: &mut RecvBuffer) -> Result<(), Error> {
        while !data.is_empty() {
            let n = self.conn.read_tls(&mut data).map_err(|e| Error::Tls(e.to_string()))?;
            let state = self.conn.process_new_packets();
            // An alert to the server before failing, when rustls has one.
            let _ = self.flush_records();
            state.map_err(tls_error)?;
            if !self.conn.is_handshaking() {
                if let Some(asked) = self.check_cert_request.take() {
                    if !asked.load(Ordering::Relaxed) {
                        return Err(Error::Tls(
                            "the server did not request a client certificate, but sslcertmode=require".into(),
                        ));
                    }
                }
            }
            if self.check_alpn && !self.conn.is_handshaking() {
                self.check_alpn = false;
                if self.conn.alpn_protocol() != Some(ALPN) {
                    return Err(Error::Tls(
                        "the server did not agree to ALPN \"postgresql\" on a direct TLS connection \
                         (sslnegotiation=direct needs PostgreSQL 17 or later)"
                            .into(),
                    ));
                }
            }
            self.drain_plaintext(plain)?;
            if n == 0 {
                break;
            }
        }
        self.flush_records()
    }

    fn drain_plaintext(&mut self, plain: &mut RecvBuffer) -> Result<(), Error> {
        loop {
            let spare = plain.spare(STAGING);
            match self.conn.reader().read(spare) {
                Ok(0) => return Ok(()),
                Ok(n) => plain.commit(n),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
                // The peer closed without close_notify: the engine sees the end of the stream.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(Error::Tls(e.to_string())),
            }
        }
    }
}

impl TlsSession {
    /// See [`crate::Connection::ssl_attribute`].
    pub(crate) fn attribute(&self, name: &str) -> Option<String> {
        let suite = self.conn.negotiated_cipher_suite();
        match name {
            "library" => Some("rustls".into()),
            "protocol" => self.conn.protocol_version().map(|v| match v {
                rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_owned(),
                rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_owned(),
                other => format!("{other:?}"),
            }),
            // IANA's names (rustls spells TLS 1.3's `TLS13_…`); for TLS 1.3 they are OpenSSL's too.
            "cipher" => suite.and_then(|s| s.suite().as_str()).map(|n| n.replacen("TLS13_", "TLS_", 1)),
            "key_bits" => suite.map(|s| {
                let name = format!("{:?}", s.suite());
                if name.contains("AES_128") {
                    "128".to_owned()
                } else {
                    "256".to_owned()
                }
            }),
            "compression" => Some("off".into()),
            "alpn" => self.conn.alpn_protocol().map(|p| String::from_utf8_lossy(p).into_owned()),
            _ => None,
        }
    }

    /// The `tls-server-end-point` channel binding data (RFC 5929): the hash of the server's
    /// certificate with the hash function of its signature algorithm, SHA-256 for MD5 and SHA-1,
    /// as libpq and the server compute it.
    pub(crate) fn server_end_point(&self) -> Result<Vec<u8>, Error> {
        let der = self
            .conn
            .peer_certificates()
            .and_then(|c| c.first())
            .ok_or_else(|| Error::Tls("no server certificate to bind the authentication to".into()))?;
        end_point_hash(der.as_ref())
    }
}

/// [`TlsSession::server_end_point`] for one DER certificate.
pub(crate) fn end_point_hash(der: &[u8]) -> Result<Vec<u8>, Error> {
    use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};
    use x509_parser::prelude::FromDer;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der)
        .map_err(|e| Error::Tls(format!("could not parse the server certificate: {e}")))?;
    let oid = cert.signature_algorithm.algorithm.to_id_string();
    Ok(match oid.as_str() {
        // md5WithRSAEncryption, sha1WithRSAEncryption, sha256WithRSAEncryption, ecdsa-with-SHA1,
        // ecdsa-with-SHA256, DSA with SHA-1 and SHA-256
        "1.2.840.113549.1.1.4"
        | "1.2.840.113549.1.1.5"
        | "1.2.840.113549.1.1.11"
        | "1.2.840.10045.4.1"
        | "1.2.840.10045.4.3.2"
        | "1.2.840.10040.4.3"
        | "2.16.840.1.101.3.4.3.2" => Sha256::digest(der).to_vec(),
        // sha224WithRSAEncryption, ecdsa-with-SHA224
        "1.2.840.113549.1.1.14" | "1.2.840.10045.4.3.1" => Sha224::digest(der).to_vec(),
        // sha384WithRSAEncryption, ecdsa-with-SHA384
        "1.2.840.113549.1.1.12" | "1.2.840.10045.4.3.3" => Sha384::digest(der).to_vec(),
        // sha512WithRSAEncryption, ecdsa-with-SHA512
        "1.2.840.113549.1.1.13" | "1.2.840.10045.4.3.4" => Sha512::digest(der).to_vec(),
        // RSASSA-PSS and EdDSA name no single hash function; libpq fails the same way.
        other => {
            return Err(Error::Tls(format!(
                "could not determine the hash for channel binding from the server certificate's \
                 signature algorithm {other}"
            )))
        }
    })
}
