//! Server certificates made exactly as PostgreSQL's documentation says ("Creating
//! Certificates": a self-signed certificate, and a root → intermediate → server chain signed
//! with `openssl x509 -req`, which makes a version 1 server certificate), plus the
//! subjectAltName shapes libpq's host-name rules distinguish. For each, `verify-ca` and
//! `verify-full` by name and by address: pgsans (blocking, Tokio and smol) must accept exactly
//! what libpq (`psql`) accepts.

use std::path::{Path, PathBuf};
use std::process::Command;

use pgsans_tests::TestServer;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new(pgsans_harness::openssl().unwrap()).args(args).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap()
}

/// A certificate shape: the server's certificate file (with its chain), its key, the client's
/// root certificate file.
struct Shape {
    name: &'static str,
    server_cert: Vec<u8>,
    server_key: Vec<u8>,
    root: PathBuf,
    /// What libpq does for (localhost verify-ca, localhost verify-full, 127.0.0.1 verify-full).
    expected: [bool; 3],
}

fn self_signed(dir: &Path, name: &str, extra: &[&str]) -> (Vec<u8>, Vec<u8>) {
    let (crt, key) = (format!("{name}.crt"), format!("{name}.key"));
    let mut args = vec!["req", "-new", "-x509", "-days", "365", "-nodes", "-text", "-out", &crt, "-keyout", &key];
    args.extend_from_slice(extra);
    openssl(dir, &args);
    (read(dir, &crt), read(dir, &key))
}

fn shapes(dir: &Path) -> Vec<Shape> {
    let mut shapes = Vec::new();
    let config = "/etc/ssl/openssl.cnf";

    // The documentation's self-signed certificate, used as the client's root.crt.
    let (cert, key) = self_signed(dir, "docs_self_signed", &["-subj", "/CN=localhost"]);
    shapes.push(Shape {
        name: "self-signed (docs)",
        server_cert: cert,
        server_key: key,
        root: dir.join("docs_self_signed.crt"),
        expected: [true, true, false],
    });

    // The documentation's chain: root and intermediate CAs (v3_ca), a server certificate
    // signed by the intermediate with `x509 -req` (version 1, no extensions), the server's
    // file holding the server certificate and the intermediate.
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-nodes",
            "-text",
            "-out",
            "root.csr",
            "-keyout",
            "root.key",
            "-subj",
            "/CN=root.yourdomain.com",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "root.csr",
            "-text",
            "-days",
            "3650",
            "-extfile",
            config,
            "-extensions",
            "v3_ca",
            "-signkey",
            "root.key",
            "-out",
            "root.crt",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-nodes",
            "-text",
            "-out",
            "intermediate.csr",
            "-keyout",
            "intermediate.key",
            "-subj",
            "/CN=intermediate.yourdomain.com",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "intermediate.csr",
            "-text",
            "-days",
            "1825",
            "-extfile",
            config,
            "-extensions",
            "v3_ca",
            "-CA",
            "root.crt",
            "-CAkey",
            "root.key",
            "-CAcreateserial",
            "-out",
            "intermediate.crt",
        ],
    );
    openssl(
        dir,
        &["req", "-new", "-nodes", "-text", "-out", "server.csr", "-keyout", "server.key", "-subj", "/CN=localhost"],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-text",
            "-days",
            "365",
            "-CA",
            "intermediate.crt",
            "-CAkey",
            "intermediate.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
        ],
    );
    let version = Command::new(pgsans_harness::openssl().unwrap())
        .args(["x509", "-in", "server.crt", "-noout", "-text"])
        .current_dir(dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&version.stdout).into_owned();
    let mut bundle = read(dir, "server.crt");
    bundle.extend(read(dir, "intermediate.crt"));
    shapes.push(Shape {
        name: if text.contains("Version: 1") { "chain (docs), version 1 server certificate" } else { "chain (docs)" },
        server_cert: bundle,
        server_key: read(dir, "server.key"),
        root: dir.join("root.crt"),
        expected: [true, true, false],
    });

    // A DNS name in subjectAltName: the CN is ignored for host names.
    let (cert, key) =
        self_signed(dir, "san_dns", &["-subj", "/CN=other.example", "-addext", "subjectAltName=DNS:localhost"]);
    shapes.push(Shape {
        name: "SAN DNS:localhost, CN other",
        server_cert: cert,
        server_key: key,
        root: dir.join("san_dns.crt"),
        expected: [true, true, false],
    });
    let (cert, key) =
        self_signed(dir, "san_other", &["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:other.example"]);
    shapes.push(Shape {
        name: "SAN DNS:other, CN localhost",
        server_cert: cert,
        server_key: key,
        root: dir.join("san_other.crt"),
        expected: [true, false, false],
    });
    // Only an IP address in subjectAltName: a host name still falls back to the CN.
    let (cert, key) = self_signed(dir, "san_ip", &["-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"]);
    shapes.push(Shape {
        name: "SAN IP:127.0.0.1, CN localhost",
        server_cert: cert,
        server_key: key,
        root: dir.join("san_ip.crt"),
        expected: [true, true, true],
    });
    // A root the server's certificate has nothing to do with.
    let (cert, key) = self_signed(dir, "unrelated_server", &["-subj", "/CN=localhost"]);
    self_signed(dir, "unrelated_root", &["-subj", "/CN=localhost"]);
    shapes.push(Shape {
        name: "not signed by the root",
        server_cert: cert,
        server_key: key,
        root: dir.join("unrelated_root.crt"),
        expected: [false, false, false],
    });
    shapes
}

fn conninfo(server: &TestServer, host: &str, mode: &str, root: &Path) -> String {
    format!(
        "host={host} port={} user=postgres dbname=postgres sslmode={mode} sslrootcert={} connect_timeout=10",
        server.port,
        root.display()
    )
}

/// Whether libpq connects.
fn libpq_accepts(server: &TestServer, conninfo: &str) -> bool {
    let out = Command::new(server.psql()).args(["-X", "-Atc", "SELECT 1", conninfo]).output().unwrap();
    out.status.success()
}

#[test]
fn certificates_made_as_the_postgresql_docs_say() {
    let server = TestServer::start().unwrap();
    let dir = server.root_dir().join("cert-shapes");
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [("localhost", "verify-ca"), ("localhost", "verify-full"), ("127.0.0.1", "verify-full")];
    for shape in shapes(&dir) {
        server.replace_server_certificate(&shape.server_cert, &shape.server_key).unwrap();
        for ((host, mode), expected) in cases.into_iter().zip(shape.expected) {
            let conninfo = conninfo(&server, host, mode, &shape.root);
            let what = format!("{} with host={host} sslmode={mode}", shape.name);
            assert_eq!(libpq_accepts(&server, &conninfo), expected, "libpq: {what}");
            let std = pgsans_std::Connection::connect(&conninfo);
            assert_eq!(std.is_ok(), expected, "pgsans-std: {what}: {:?}", std.err());
            let tokio = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(pgsans_tokio::Connection::connect(&conninfo));
            assert_eq!(tokio.is_ok(), expected, "pgsans-tokio: {what}: {:?}", tokio.err());
            let smol = smol::block_on(pgsans_smol::Connection::connect(&conninfo));
            assert_eq!(smol.is_ok(), expected, "pgsans-smol: {what}: {:?}", smol.err());
            if let Err(e) = std {
                // The refusal says why.
                let text = e.to_string();
                assert!(
                    text.contains("not valid for") || text.contains("not signed by a trusted root"),
                    "{what}: {text}"
                );
            }
        }
    }
}
