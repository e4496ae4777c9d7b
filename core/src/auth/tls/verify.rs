//! Server certificates judged as libpq judges them (OpenSSL's chain rules, libpq's host-name
//! rules), with rustls underneath.
//!
//! rustls' webpki verifier checks the chain first. It is stricter than OpenSSL in two ways that
//! refuse certificates made exactly as PostgreSQL's documentation says:
//!
//! * a self-signed server certificate that is itself the client's `root.crt`
//!   (`openssl req -new -x509 …`: `CA:TRUE`) — webpki: `CaUsedAsEndEntity`;
//! * a server certificate signed with `openssl x509 -req …` and no extension file: an X.509
//!   version 1 certificate — webpki: `UnsupportedCertVersion`.
//!
//! For those two refusals only, the chain is checked again with OpenSSL's rules: a certificate
//! found in the trusted roots is trusted as it is; otherwise each certificate must be signed
//! (verified with the crypto provider's algorithms) by the next one up to a trusted root, every
//! issuer must be a CA (`CA:TRUE`, or a version 1 self-signed root), with `keyCertSign` if it
//! states a key usage and within its path length; every certificate must be valid at the time
//! the caller gave; a server certificate that states extended key usages must allow
//! `serverAuth`; unknown critical extensions are refused; and a certificate a given CRL lists
//! is revoked.
//!
//! The host name (`verify-full`) is always checked by libpq's rules, not webpki's: the
//! subjectAltNames of the host's kind (DNS names for a name, IP addresses for an address), and
//! the Common Name when there is none of that kind; names compare case-insensitively, and a
//! `*.` wildcard matches exactly one leftmost label.

use core::net::IpAddr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

/// `verify-ca` (chain only) and `verify-full` (chain and host name), as libpq.
#[derive(Debug)]
pub(crate) struct LibpqVerifier {
    pub(crate) webpki: Arc<WebPkiServerVerifier>,
    /// The trusted roots as given (DER).
    pub(crate) roots: Vec<CertificateDer<'static>>,
    pub(crate) crls: Vec<CertificateRevocationListDer<'static>>,
    /// Check the host name (`verify-full`).
    pub(crate) check_name: bool,
    pub(crate) algorithms: WebPkiSupportedAlgorithms,
}

fn bad(e: CertificateError) -> rustls::Error {
    rustls::Error::InvalidCertificate(e)
}

fn bad_encoding() -> rustls::Error {
    bad(CertificateError::BadEncoding)
}

impl ServerCertVerifier for LibpqVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            // webpki checks the chain first and the name last: a name error means the chain
            // held. The name is judged below, by libpq's rules.
            Ok(_)
            | Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => {}
            Err(e)
                if webpki_refused(&e, &[webpki::Error::CaUsedAsEndEntity, webpki::Error::UnsupportedCertVersion]) =>
            {
                self.openssl_chain(end_entity, intermediates, now)?;
            }
            Err(e) => return Err(e),
        }
        if self.check_name {
            check_host_name(end_entity, server_name)?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        handshake_signature(message, cert, dss, &self.algorithms, false)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        handshake_signature(message, cert, dss, &self.algorithms, true)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

fn parse(der: &[u8]) -> Result<X509Certificate<'_>, rustls::Error> {
    X509Certificate::from_der(der).map(|(_, c)| c).map_err(|_| bad_encoding())
}

/// Whether `e` is webpki refusing with one of `errors`.
fn webpki_refused(e: &rustls::Error, errors: &[webpki::Error]) -> bool {
    match e {
        rustls::Error::InvalidCertificate(CertificateError::Other(o)) => {
            o.0.downcast_ref::<webpki::Error>().is_some_and(|w| errors.contains(w))
        }
        _ => false,
    }
}

/// The server's signature over the handshake, by the key in its certificate: rustls' check,
/// or — for a certificate webpki cannot read (X.509 version 1, which OpenSSL and so libpq
/// accept) — the same check with the key taken from the certificate here.
pub(crate) fn handshake_signature(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
    algorithms: &WebPkiSupportedAlgorithms,
    tls13: bool,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    let checked = if tls13 {
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    } else {
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    };
    match checked {
        Err(e) if webpki_refused(&e, &[webpki::Error::UnsupportedCertVersion]) => {}
        other => return other,
    }
    // TLS 1.3 forbids PKCS#1 v1.5 and SHA-1 handshake signatures.
    let legacy = matches!(
        dss.scheme,
        SignatureScheme::RSA_PKCS1_SHA1
            | SignatureScheme::RSA_PKCS1_SHA256
            | SignatureScheme::RSA_PKCS1_SHA384
            | SignatureScheme::RSA_PKCS1_SHA512
            | SignatureScheme::ECDSA_SHA1_Legacy
    );
    if tls13 && legacy {
        return Err(rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme.into());
    }
    let (_, parsed) = X509Certificate::from_der(cert).map_err(|_| bad_encoding())?;
    let Some((key_alg, key)) = spki_parts(parsed.public_key().raw) else { return Err(bad_encoding()) };
    let candidates = algorithms.mapping.iter().find(|(scheme, _)| *scheme == dss.scheme).map(|(_, algs)| *algs);
    let Some(candidates) = candidates else {
        return Err(rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme.into());
    };
    let ok = candidates.iter().any(|alg| {
        alg.public_key_alg_id().as_ref() == key_alg && alg.verify_signature(key, message, dss.signature()).is_ok()
    });
    if ok {
        Ok(HandshakeSignatureValid::assertion())
    } else {
        Err(bad(CertificateError::BadSignature))
    }
}

/// The longest chain followed (OpenSSL's default depth is 100; PostgreSQL chains are short).
const MAX_DEPTH: usize = 10;

impl LibpqVerifier {
    /// OpenSSL's chain rules, for what webpki refuses and OpenSSL accepts (see the module docs).
    fn openssl_chain(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<(), rustls::Error> {
        let now = now.as_secs() as i64;
        let leaf = parse(end_entity)?;
        check_extensions(&leaf)?;
        if let Ok(Some(eku)) = leaf.extended_key_usage() {
            if !(eku.value.server_auth || eku.value.any) {
                return Err(bad(CertificateError::InvalidPurpose));
            }
        }
        let roots: Vec<(&[u8], X509Certificate<'_>)> =
            self.roots.iter().filter_map(|d| parse(d).ok().map(|c| (d.as_ref(), c))).collect();
        let presented: Vec<(&[u8], X509Certificate<'_>)> =
            intermediates.iter().filter_map(|d| parse(d).ok().map(|c| (d.as_ref(), c))).collect();
        let mut current = leaf;
        let mut current_der: &[u8] = end_entity.as_ref();
        // `below`: CA certificates between the leaf and the current one (for path lengths).
        for below in 0..MAX_DEPTH as u32 {
            check_time(&current, now)?;
            // A certificate the client trusts as it is: the chain ends here.
            if roots.iter().any(|(d, _)| *d == current_der) {
                return Ok(());
            }
            self.check_revocation(&current, roots.iter().chain(&presented).map(|(_, c)| c))?;
            let issuer_of = |candidates: &[(&[u8], X509Certificate<'_>)]| -> Option<usize> {
                candidates.iter().position(|(_, c)| {
                    c.subject().as_raw() == current.issuer().as_raw()
                        && verify_signed(&self.algorithms, c.public_key().raw, current_der)
                })
            };
            let (issuer, trusted) = match issuer_of(&roots) {
                Some(i) => (&roots[i], true),
                None => match issuer_of(&presented) {
                    Some(i) => (&presented[i], false),
                    None => return Err(bad(CertificateError::UnknownIssuer)),
                },
            };
            check_issuer(&issuer.1, trusted, below)?;
            if trusted {
                return check_time(&issuer.1, now);
            }
            check_extensions(&issuer.1)?;
            current_der = issuer.0;
            current = issuer.1.clone();
        }
        Err(bad(CertificateError::UnknownIssuer))
    }

    /// Whether a CRL from `cert`'s issuer (its signature checked) lists `cert`.
    fn check_revocation<'c>(
        &self,
        cert: &X509Certificate<'_>,
        issuers: impl Iterator<Item = &'c X509Certificate<'c>> + Clone,
    ) -> Result<(), rustls::Error> {
        for der in &self.crls {
            let Ok((_, crl)) = x509_parser::parse_x509_crl(der) else { continue };
            if crl.issuer().as_raw() != cert.issuer().as_raw() {
                continue;
            }
            let signed_by_issuer = issuers.clone().any(|c| {
                c.subject().as_raw() == cert.issuer().as_raw()
                    && verify_signed(&self.algorithms, c.public_key().raw, der)
            });
            if signed_by_issuer && crl.iter_revoked_certificates().any(|r| r.raw_serial() == cert.raw_serial()) {
                return Err(bad(CertificateError::Revoked));
            }
        }
        Ok(())
    }
}

fn check_time(cert: &X509Certificate<'_>, now: i64) -> Result<(), rustls::Error> {
    let validity = cert.validity();
    if now < validity.not_before.timestamp() {
        return Err(bad(CertificateError::NotValidYet));
    }
    if now > validity.not_after.timestamp() {
        return Err(bad(CertificateError::Expired));
    }
    Ok(())
}

/// OpenSSL refuses a certificate with a critical extension it does not handle.
fn check_extensions(cert: &X509Certificate<'_>) -> Result<(), rustls::Error> {
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::ParseError { .. } => return Err(bad_encoding()),
            p if ext.critical && p.unsupported() => {
                return Err(bad(CertificateError::Other(rustls::OtherError(Arc::new(UnhandledCritical)))))
            }
            _ => {}
        }
    }
    Ok(())
}

#[derive(Debug)]
struct UnhandledCritical;

impl std::fmt::Display for UnhandledCritical {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the certificate has a critical extension that is not understood")
    }
}

impl std::error::Error for UnhandledCritical {}

/// An issuer must be a CA: `CA:TRUE` (within its path length), or a version 1 self-signed
/// certificate the client trusts; with `keyCertSign` if it states key usages.
fn check_issuer(issuer: &X509Certificate<'_>, trusted: bool, below: u32) -> Result<(), rustls::Error> {
    let not_ca = || bad(CertificateError::Other(rustls::OtherError(Arc::new(NotACa))));
    match issuer.basic_constraints() {
        Ok(Some(bc)) => {
            if !bc.value.ca {
                return Err(not_ca());
            }
            if bc.value.path_len_constraint.is_some_and(|n| below > n) {
                return Err(not_ca());
            }
        }
        Ok(None) => {
            let v1_root = issuer.version().0 == 0 && trusted && issuer.subject().as_raw() == issuer.issuer().as_raw();
            if !v1_root {
                return Err(not_ca());
            }
        }
        Err(_) => return Err(bad_encoding()),
    }
    if let Ok(Some(ku)) = issuer.key_usage() {
        if !ku.value.key_cert_sign() {
            return Err(not_ca());
        }
    }
    Ok(())
}

#[derive(Debug)]
struct NotACa;

impl std::fmt::Display for NotACa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a certificate in the chain signed another but is not a certificate authority")
    }
}

impl std::error::Error for NotACa {}

/// A DER element: its tag, the whole element, its contents, and what follows it.
type Element<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);

/// The DER element at the start of `input`.
fn der(input: &[u8]) -> Option<Element<'_>> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, &b| (acc << 8) | b as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    let header = input.len() - rest.len();
    Some((tag, &input[..header + len], &rest[..len], &rest[len..]))
}

/// The parts of a signed structure (a certificate or a CRL: `SEQUENCE { tbs, algorithm,
/// BIT STRING signature }`): the signed bytes, the algorithm's contents, the signature.
fn signed_parts(signed: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let (0x30, _, body, _) = der(signed)? else { return None };
    let (_, tbs, _, rest) = der(body)?;
    let (0x30, _, algorithm, rest) = der(rest)? else { return None };
    let (0x03, _, bits, _) = der(rest)? else { return None };
    let (&0, signature) = bits.split_first()? else { return None };
    Some((tbs, algorithm, signature))
}

/// The algorithm's contents and the key of a SubjectPublicKeyInfo.
fn spki_parts(spki: &[u8]) -> Option<(&[u8], &[u8])> {
    let (0x30, _, body, _) = der(spki)? else { return None };
    let (0x30, _, key_alg, rest) = der(body)? else { return None };
    let (0x03, _, key_bits, _) = der(rest)? else { return None };
    let (&0, key) = key_bits.split_first()? else { return None };
    Some((key_alg, key))
}

/// Whether `signed` carries a valid signature by the key in `spki` (a SubjectPublicKeyInfo),
/// with one of the provider's algorithms.
fn verify_signed(algorithms: &WebPkiSupportedAlgorithms, spki: &[u8], signed: &[u8]) -> bool {
    let Some((tbs, sig_alg, signature)) = signed_parts(signed) else { return false };
    let Some((key_alg, key)) = spki_parts(spki) else { return false };
    algorithms.all.iter().any(|alg| {
        alg.public_key_alg_id().as_ref() == key_alg
            && alg.signature_alg_id().as_ref() == sig_alg
            && alg.verify_signature(key, tbs, signature).is_ok()
    })
}

/// libpq's host-name check (see the module docs); the error names what the certificate names.
fn check_host_name(end_entity: &CertificateDer<'_>, server_name: &ServerName<'_>) -> Result<(), rustls::Error> {
    let (_, cert) = X509Certificate::from_der(end_entity).map_err(|_| bad_encoding())?;
    let host_ip = match server_name {
        ServerName::IpAddress(ip) => Some(IpAddr::from(*ip)),
        _ => None,
    };
    let host = match server_name {
        ServerName::DnsName(d) => d.as_ref().to_owned(),
        _ => host_ip.map(|ip| ip.to_string()).unwrap_or_default(),
    };
    let mut presented = Vec::new();
    let mut check_cn = true;
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => {
                    if host_ip.is_none() {
                        check_cn = false;
                    }
                    presented.push(dns.to_string());
                    if host_ip.is_none() && name_matches(dns, &host) {
                        return Ok(());
                    }
                }
                GeneralName::IPAddress(bytes) => {
                    if host_ip.is_some() {
                        check_cn = false;
                    }
                    let ip = match bytes.len() {
                        4 => <[u8; 4]>::try_from(*bytes).ok().map(IpAddr::from),
                        16 => <[u8; 16]>::try_from(*bytes).ok().map(IpAddr::from),
                        _ => None,
                    };
                    if let Some(ip) = ip {
                        presented.push(ip.to_string());
                        if host_ip == Some(ip) {
                            return Ok(());
                        }
                    }
                }
                _ => {}
            }
        }
    }
    if check_cn {
        if let Some(cn) = cert.subject().iter_common_name().next().and_then(|a| a.as_str().ok()) {
            presented.push(cn.to_owned());
            if name_matches(cn, &host) {
                return Ok(());
            }
        }
    }
    Err(bad(CertificateError::NotValidForNameContext { expected: server_name.to_owned(), presented }))
}

/// libpq's comparison of a certificate name with the host: case-insensitive, and a `*.` at
/// the start matches exactly one label (`*.example.com` matches `db.example.com`, not
/// `example.com` nor `a.b.example.com`). A name with a NUL in it never matches.
fn name_matches(pattern: &str, host: &str) -> bool {
    if pattern.contains('\0') {
        return false;
    }
    if pattern.eq_ignore_ascii_case(host) {
        return true;
    }
    let Some(suffix) = pattern.strip_prefix('*') else { return false };
    if !suffix.starts_with('.') || suffix.len() < 2 || pattern.len() > host.len() {
        return false;
    }
    let start = host.len() - suffix.len();
    host.is_char_boundary(start)
        && host[start..].eq_ignore_ascii_case(suffix)
        && start > 0
        && !host[..start].contains('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_wildcards() {
        assert!(name_matches("localhost", "LOCALHOST"));
        assert!(name_matches("*.example.com", "db.example.com"));
        assert!(name_matches("*.Example.COM", "db.example.com"));
        assert!(!name_matches("*.example.com", "example.com"));
        assert!(!name_matches("*.example.com", "a.b.example.com"));
        assert!(!name_matches("*.example.com", ".example.com"));
        assert!(!name_matches("db*.example.com", "db1.example.com"), "only a whole leftmost label");
        assert!(!name_matches("*", "localhost"));
        assert!(!name_matches("*.com\0.evil", "x.com"));
    }

    #[test]
    fn der_walker_refuses_truncation() {
        assert!(der(&[0x30, 0x03, 1, 2]).is_none());
        assert!(der(&[0x30, 0x81]).is_none());
        assert_eq!(
            der(&[0x04, 0x01, 9, 7]).map(|(t, w, c, r)| (t, w.len(), c, r)),
            Some((4, 3, &[9u8][..], &[7u8][..]))
        );
        assert!(signed_parts(&[0x30, 0x00]).is_none());
    }

    fn verifier(roots: &[&rcgen::Certificate], check_name: bool) -> LibpqVerifier {
        let provider = crate::auth::tls::crypto_provider();
        let mut store = rustls::RootCertStore::empty();
        let roots: Vec<CertificateDer<'static>> = roots.iter().map(|c| c.der().clone()).collect();
        for r in &roots {
            store.add(r.clone()).unwrap();
        }
        LibpqVerifier {
            webpki: WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone()).build().unwrap(),
            roots,
            crls: Vec::new(),
            check_name,
            algorithms: provider.signature_verification_algorithms,
        }
    }

    /// A self-signed CA certificate, as `openssl req -x509` makes one, valid in 2025.
    fn self_signed_ca(cn: &str, sans: Vec<String>) -> rcgen::Certificate {
        let mut params = rcgen::CertificateParams::new(sans).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, cn);
        params.not_before = rcgen::date_time_ymd(2025, 1, 1);
        params.not_after = rcgen::date_time_ymd(2026, 1, 1);
        params.self_signed(&rcgen::KeyPair::generate().unwrap()).unwrap()
    }

    fn at(year_2025_day: u64) -> UnixTime {
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_735_689_600 + year_2025_day * 86_400))
    }

    fn name(host: &str) -> ServerName<'static> {
        ServerName::try_from(host.to_owned()).unwrap()
    }

    #[test]
    fn a_trusted_self_signed_ca_certificate_is_judged_by_openssl_rules() {
        let cert = self_signed_ca("localhost", Vec::new());
        let v = verifier(&[&cert], true);
        let check = |host: &str, when| v.verify_server_cert(cert.der(), &[], &name(host), &[], when).map(drop);
        // webpki alone: CaUsedAsEndEntity, and no name (no subjectAltName).
        assert!(v.webpki.verify_server_cert(cert.der(), &[], &name("localhost"), &[], at(100)).is_err());
        check("localhost", at(100)).unwrap();
        assert!(matches!(
            check("localhost", at(400)),
            Err(rustls::Error::InvalidCertificate(CertificateError::Expired | CertificateError::ExpiredContext { .. }))
        ));
        assert!(matches!(
            v.verify_server_cert(
                cert.der(),
                &[],
                &name("localhost"),
                &[],
                UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_700_000_000))
            ),
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. }
            ))
        ));
        let Err(rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext { presented, .. })) =
            check("db.example.com", at(100))
        else {
            panic!("the CN is not db.example.com")
        };
        assert_eq!(presented, ["localhost"]);
        // Not trusted: another root.
        let other = self_signed_ca("localhost", Vec::new());
        let v = verifier(&[&other], false);
        assert!(matches!(
            v.verify_server_cert(cert.der(), &[], &name("localhost"), &[], at(100)),
            Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer))
        ));
    }

    #[test]
    fn host_names_by_libpq_rules() {
        let check = |cert: &rcgen::Certificate, host: &str| check_host_name(cert.der(), &name(host)).is_ok();
        let dns = self_signed_ca("other.example", vec!["localhost".into(), "*.db.example".into()]);
        assert!(check(&dns, "localhost"));
        assert!(check(&dns, "eu.db.example"));
        assert!(!check(&dns, "other.example"), "a DNS subjectAltName hides the CN");
        assert!(!check(&dns, "127.0.0.1"), "no IP subjectAltName: the CN, which is not the address");
        let ip = self_signed_ca("localhost", vec!["127.0.0.1".into()]);
        assert!(check(&ip, "127.0.0.1"));
        assert!(check(&ip, "localhost"), "no DNS subjectAltName: the CN");
        assert!(!check(&ip, "::1"));
        let cn_ip = self_signed_ca("127.0.0.1", Vec::new());
        assert!(check(&cn_ip, "127.0.0.1"), "an address in the CN, no subjectAltName");
    }
}
