//! The engine stays pure: no runtime, socket, clock or randomness in its dependencies or its
//! state machine. (DESIGN.md: "No sockets, no async, no clock reads, no ambient randomness.")

use std::path::Path;

#[test]
fn no_runtime_or_socket_dependencies() {
    let manifest = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let deps = manifest.split("[dependencies]").nth(1).unwrap().split("\n[").next().unwrap();
    let allowed = [
        "memchr",
        "smallvec",
        "encoding_rs",
        "thiserror",
        "sha2",
        "hmac",
        "md-5",
        "base64",
        "stringprep",
        "rustls",
        // Mozilla's root certificates as static data (sslrootcert=system): no I/O.
        "webpki-roots",
        // Reads the server certificate's signature algorithm (channel binding) and the fields
        // libpq's chain and host-name rules look at: a pure parser.
        "x509-parser",
        // rustls' own certificate verifier, named to recognise its refusals: pure.
        "webpki",
        // The TLS crypto provider's primitives; its random generator is the one documented
        // source of randomness (tls/provider.rs).
        "ring",
        // Decrypts PKCS#8-encrypted client keys (sslpassword): pure; its optional encryption
        // side, which would take an RNG, is never called.
        "pkcs8",
        "bytes",
        "chrono",
        "time",
        "serde_json",
        "uuid",
        "rust_decimal",
        // Procedural macros: run by the compiler, nothing at run time.
        "pgsans-derive",
        // Overwrites secrets before their memory is freed: pure.
        "zeroize",
    ];
    for line in deps.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let name = line.split(['=', '.']).next().unwrap().trim();
        assert!(
            allowed.contains(&name),
            "core depends on {name}: the engine must not pull in a runtime, sockets or randomness"
        );
    }
}

#[test]
fn state_machine_sources_touch_no_io() {
    // The TLS provider holds the handshake's secure random generator (the crate page's one
    // exception to "no randomness"). Nothing reads the environment or a file.
    let exempt = ["auth/tls/provider.rs"];
    let forbidden = [
        "std::net",
        "std::fs",
        "std::env",
        "Instant::now",
        "SystemTime::now",
        "tokio",
        "async fn",
        ".await",
        "getrandom",
        "rand::",
        "thread::sleep",
        "std::process",
        "TcpStream",
        "UnixStream",
        "thread::yield_now",
        "available_parallelism",
    ];
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut checked = 0;
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/");
            if exempt.contains(&rel.as_str()) || path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap();
                for f in forbidden {
                    assert!(!code.contains(f), "{rel}:{}: `{f}` in the engine: {line}", n + 1);
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} source files found");
}
