//! TLS against the real server (a fresh test CA per run; `ssl=on`): every `sslmode`, root and
//! client certificates, host-name checks, libpq's second attempts for `allow` and `prefer`,
//! and hostile answers to the SSLRequest.

use pgsans::SqlState;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use pgsans::{AuthError, Error, ProtocolError};
use pgsans_tests::*;

fn server() -> &'static TestServer {
    TestServer::shared()
}

/// A TCP conninfo for `user` with extra keywords.
fn conninfo(host: &str, user: &str, extra: &str) -> String {
    format!("host={host} port={} user={user} dbname=postgres {extra}", server().port)
}

fn ca() -> String {
    server().tls.ca.display().to_string()
}

/// Whether the server sees this session encrypted.
async fn server_sees_tls<R: TestRt>(c: &mut Conn<R>) -> bool {
    scalar(c, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").await.unwrap().as_deref() == Some("t")
}

pub async fn verify_full_with_the_test_ca<R: TestRt>() {
    let mut c =
        Conn::<R>::connect(&conninfo("localhost", "postgres", &format!("sslmode=verify-full sslrootcert={}", ca())))
            .await
            .unwrap();
    c.set_autocommit(true).await.unwrap();
    assert!(c.engine().ssl_in_use());
    assert!(server_sees_tls(&mut c).await);
    // libpq's PQsslAttribute, agreeing with what the server reports.
    let row = c
        .query_one("SELECT version, cipher, bits::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])
        .await
        .unwrap();
    let engine = c.engine();
    assert_eq!(engine.ssl_attribute("protocol").as_deref(), Some(row.get::<&str, _>(0).unwrap()));
    assert_eq!(engine.ssl_attribute("cipher").as_deref(), Some(row.get::<&str, _>(1).unwrap()));
    assert_eq!(engine.ssl_attribute("key_bits").as_deref(), Some(row.get::<&str, _>(2).unwrap()));
    assert_eq!(engine.ssl_attribute("library").as_deref(), Some("rustls"));
    assert_eq!(engine.ssl_attribute("nonsense"), None);
    // Enough data both ways to span many TLS records.
    let rows = c.query("SELECT i, md5(i::text) FROM generate_series(1, 20000) i", &[]).await.unwrap();
    assert_eq!(rows.len(), 20_000);
    c.batch_execute("CREATE TEMP TABLE tls_copy (a int, b text)").await.unwrap();
    let mut w = c.copy_in("COPY tls_copy FROM STDIN").await.unwrap();
    let data: String = (0..50_000).map(|i| format!("{i}\tvalue {i}\n")).collect();
    w.write(data.as_bytes()).await.unwrap();
    assert_eq!(w.finish().await.unwrap(), 50_000);
    let big = "x".repeat(1 << 20);
    let echoed = c.query_one("SELECT $1::text", &[&big]).await.unwrap();
    assert_eq!(echoed.get::<&str, _>(0).unwrap().len(), 1 << 20);
    // The address is in the certificate too.
    let mut by_ip =
        Conn::<R>::connect(&conninfo("127.0.0.1", "postgres", &format!("sslmode=verify-full sslrootcert={}", ca())))
            .await
            .unwrap();
    assert!(server_sees_tls(&mut by_ip).await);
    c.close().await.unwrap();
}

pub async fn host_name_and_issuer_are_checked<R: TestRt>() {
    // The name the certificate must carry is `host`; `hostaddr` says where to connect.
    let wrong = conninfo(
        "db.example.invalid",
        "postgres",
        &format!("hostaddr=127.0.0.1 sslmode=verify-full sslrootcert={}", ca()),
    );
    let err = Conn::<R>::connect(&wrong).await.expect_err("wrong host name");
    let text = err.to_string();
    assert!(matches!(err, Error::Tls(_)), "{err:?}");
    assert!(text.contains("db.example.invalid") && text.contains("localhost"), "{text}");
    // verify-ca checks the chain only.
    let mut c = Conn::<R>::connect(&wrong.replace("verify-full", "verify-ca")).await.unwrap();
    assert!(server_sees_tls(&mut c).await);
    // A root that did not sign the server's certificate.
    let other = server().tls.other_ca.display().to_string();
    let err = Conn::<R>::connect(&conninfo("localhost", "postgres", &format!("sslmode=verify-ca sslrootcert={other}")))
        .await
        .expect_err("unknown issuer");
    assert!(matches!(&err, Error::Tls(t) if t.contains("trusted root")), "{err:?}");
    // verify modes without a root certificate are refused before connecting.
    let err =
        Conn::<R>::connect(&conninfo("localhost", "postgres", "sslmode=verify-full sslrootcert=/nonexistent/ca.crt"))
            .await
            .expect_err("missing root file");
    assert!(matches!(err, Error::Config(_)), "{err:?}");
}

pub async fn require_prefer_and_disable<R: TestRt>() {
    // require: encrypted, the certificate not verified (no root given).
    let mut c = Conn::<R>::connect(&conninfo("localhost", "postgres", "sslmode=require")).await.unwrap();
    assert!(server_sees_tls(&mut c).await);
    // prefer is the default, and really tries TLS (as libpq).
    let mut c = Conn::<R>::connect(&conninfo("localhost", "postgres", "")).await.unwrap();
    assert!(server_sees_tls(&mut c).await);
    let mut c = Conn::<R>::connect(&conninfo("localhost", "postgres", "sslmode=disable")).await.unwrap();
    assert!(!c.engine().ssl_in_use());
    assert!(!server_sees_tls(&mut c).await);
    // A server without TLS: prefer goes on in plaintext, require refuses.
    let plain = second_server();
    let info = |mode: &str| format!("host=127.0.0.1 port={} user=postgres dbname=postgres sslmode={mode}", plain.port);
    let mut c = Conn::<R>::connect(&info("prefer")).await.unwrap();
    assert!(!c.engine().ssl_in_use());
    assert!(!server_sees_tls(&mut c).await);
    let err = Conn::<R>::connect(&info("require")).await.expect_err("no TLS on this server");
    assert!(matches!(&err, Error::Tls(t) if t.contains("does not support TLS")), "{err:?}");
}

pub async fn second_attempts_for_allow_and_prefer<R: TestRt>() {
    // allow: plaintext first; the server refuses plaintext for this user: again with TLS.
    let mut c = Conn::<R>::connect(&conninfo("localhost", "ssl_only_user", "sslmode=allow")).await.unwrap();
    assert!(server_sees_tls(&mut c).await);
    let err = Conn::<R>::connect(&conninfo("localhost", "ssl_only_user", "sslmode=disable")).await.err().unwrap();
    assert_eq!(err.code(), Some(SqlState::INVALID_AUTHORIZATION_SPECIFICATION), "{err:?}");
    // prefer: TLS first; the server refuses this user over TLS: again in plaintext.
    let mut c = Conn::<R>::connect(&conninfo("localhost", "nossl_user", "sslmode=prefer")).await.unwrap();
    assert!(!server_sees_tls(&mut c).await);
    let err = Conn::<R>::connect(&conninfo("localhost", "nossl_user", "sslmode=require")).await.err().unwrap();
    assert_eq!(err.code(), Some(SqlState::INVALID_AUTHORIZATION_SPECIFICATION), "{err:?}");
}

pub async fn client_certificates<R: TestRt>() {
    let tls = &server().tls;
    let with_cert = conninfo(
        "localhost",
        "cert_user",
        &format!(
            "sslmode=verify-full sslrootcert={} sslcert={} sslkey={}",
            ca(),
            tls.client_cert.display(),
            tls.client_key.display()
        ),
    );
    let mut c = Conn::<R>::connect(&with_cert).await.unwrap();
    assert_eq!(scalar(&mut c, "SELECT current_user").await.unwrap().as_deref(), Some("cert_user"));
    // Without it, pg_hba's `cert` method refuses.
    let without = conninfo("localhost", "cert_user", &format!("sslmode=verify-full sslrootcert={}", ca()));
    let err = Conn::<R>::connect(&without).await.expect_err("no certificate");
    assert_eq!(err.code(), Some(SqlState::INVALID_AUTHORIZATION_SPECIFICATION), "{err:?}");
    // sslcertmode=disable never sends it.
    let err = Conn::<R>::connect(&format!("{with_cert} sslcertmode=disable")).await.expect_err("not sent");
    assert_eq!(err.code(), Some(SqlState::INVALID_AUTHORIZATION_SPECIFICATION), "{err:?}");
    // sslcertmode=require: this server asks for certificates (it has a CA), with or without one
    // to give; a server without a CA never asks, and the connection is refused.
    let mut c = Conn::<R>::connect(&format!("{with_cert} sslcertmode=require")).await.unwrap();
    assert_eq!(scalar(&mut c, "SELECT current_user").await.unwrap().as_deref(), Some("cert_user"));
    let plain =
        conninfo("localhost", "postgres", &format!("sslmode=verify-full sslrootcert={} sslcertmode=require", ca()));
    Conn::<R>::connect(&plain).await.unwrap();
    let pg18 = pg18_server();
    let no_ca = format!(
        "host=localhost port={} user=postgres dbname=postgres sslmode=verify-full sslrootcert={} sslcertmode=require",
        pg18.port,
        pg18.tls.ca.display()
    );
    let err = Conn::<R>::connect(&no_ca).await.expect_err("the server did not ask");
    assert!(matches!(&err, Error::Tls(t) if t.contains("sslcertmode=require")), "{err:?}");
    assert!(Conn::<R>::connect(&no_ca.replace("=require", "=allow")).await.is_ok());
    // A PKCS#8-encrypted key, opened with sslpassword; without it or with a wrong one, a
    // configuration error before connecting.
    let encrypted =
        with_cert.replace(&tls.client_key.display().to_string(), &tls.client_key_encrypted.display().to_string());
    let mut c =
        Conn::<R>::connect(&format!("{encrypted} sslpassword={}", pgsans_harness::CLIENT_KEY_PASSWORD)).await.unwrap();
    assert_eq!(scalar(&mut c, "SELECT current_user").await.unwrap().as_deref(), Some("cert_user"));
    for (extra, why) in [("", "give its password in sslpassword"), ("sslpassword=wrong", "could not decrypt")] {
        let err = Conn::<R>::connect(&format!("{encrypted} {extra}")).await.expect_err(why);
        assert!(matches!(&err, Error::Config(_)) && err.to_string().contains(why), "{err:?}");
    }
}

/// A fake server: reads the SSLRequest, then runs `then` on the socket (on a thread per
/// connection, at most four).
fn fake(then: fn(&mut std::net::TcpStream)) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let Ok(mut s) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 8];
                if s.read_exact(&mut buf).is_ok() {
                    then(&mut s);
                }
            });
        }
    });
    port
}

/// A fake server: answers the SSLRequest with `answer`, then stays silent (holding the socket).
macro_rules! fake_server {
    ($answer:expr) => {
        fake(|s| {
            let _ = s.write_all($answer);
            std::thread::sleep(Duration::from_secs(5));
        })
    };
}

pub async fn hostile_answers_to_the_ssl_request<R: TestRt>() {
    let connect = |port: u16, extra: &str| {
        format!("host=127.0.0.1 port={port} user=x dbname=postgres sslmode=require connect_timeout=2 {extra}")
    };
    // Plaintext right after `S` (CVE-2021-23222): refused, not read as messages.
    let err = Conn::<R>::connect(&connect(fake_server!(b"SR\0\0\0\x08\0\0\0\0"), "")).await.err().unwrap();
    assert!(matches!(&err, Error::Tls(t) if t.contains("CVE-2021-23222")), "{err:?}");
    // Neither S nor N.
    let err = Conn::<R>::connect(&connect(fake_server!(b"HTTP/1.1 400 Bad Request\r\n\r\n"), "")).await.err().unwrap();
    assert!(matches!(err, Error::Protocol(ProtocolError::NotPostgres(_))), "{err:?}");
    // A server that accepts TLS and then never speaks: connect_timeout covers the handshake.
    let started = Instant::now();
    let err = Conn::<R>::connect(&connect(fake_server!(b"S"), "")).await.err().unwrap();
    assert!(matches!(err, Error::Timeout), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
}

/// A fake server that accepts TLS (`S`), reads the ClientHello, answers `reply` and closes.
macro_rules! tls_liar {
    ($reply:expr) => {
        fake(|s| {
            if s.write_all(b"S").is_ok() {
                let mut hello = [0u8; 4096];
                let _ = s.read(&mut hello);
                let _ = s.write_all($reply);
            }
        })
    };
}

pub async fn hostile_tls_handshakes<R: TestRt>() {
    let connect =
        |port: u16| format!("host=localhost port={port} user=x dbname=postgres sslmode=require connect_timeout=5");
    // A fatal handshake_failure alert: the alert, as a TLS error.
    let started = Instant::now();
    let err = Conn::<R>::connect(&connect(tls_liar!(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]))).await.unwrap_err();
    assert!(matches!(&err, Error::Tls(t) if t.to_lowercase().contains("handshakefailure")), "{err:?}");
    // A ServerHello cut short, then the connection closed: an error at once, no hang.
    let err =
        Conn::<R>::connect(&connect(tls_liar!(&[0x16, 0x03, 0x03, 0x00, 0x7a, 0x02, 0x00, 0x00]))).await.unwrap_err();
    assert!(matches!(err, Error::Tls(_) | Error::Closed(_)), "{err:?}");
    // Not TLS at all after `S`.
    let err = Conn::<R>::connect(&connect(tls_liar!(b"HTTP/1.1 400 Bad Request\r\n\r\n"))).await.unwrap_err();
    assert!(matches!(err, Error::Tls(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
}

pub async fn cancel_travels_over_tls<R: TestRt>() {
    let mut c =
        Conn::<R>::connect(&conninfo("localhost", "postgres", &format!("sslmode=verify-full sslrootcert={}", ca())))
            .await
            .unwrap();
    assert!(c.cancel_token().unwrap().key().uses_tls());
    let canceller = cancel_after(&c, Duration::from_millis(300));
    let started = Instant::now();
    let err = c.batch_execute("SELECT pg_sleep(10)").await.unwrap_err();
    canceller.join().unwrap().unwrap();
    assert_eq!(err.code(), Some(SqlState::QUERY_CANCELED), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
    c.rollback().await.unwrap();
    // A call timeout's cancel goes the same way.
    c.set_call_timeout(Some(Duration::from_millis(200)));
    assert!(matches!(c.query("SELECT pg_sleep(10)", &[]).await, Err(Error::Timeout)));
    c.rollback().await.unwrap();
}

/// AuthenticationSASL offering `mechanisms`, as a hostile server would send it.
fn sasl_offer(mechanisms: &[&str]) -> &'static [u8] {
    let mut body = 10i32.to_be_bytes().to_vec();
    for m in mechanisms {
        body.extend_from_slice(m.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut msg = vec![b'R'];
    msg.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
    msg.extend_from_slice(&body);
    Box::leak(msg.into_boxed_slice())
}

pub async fn scram_channel_binding<R: TestRt>() {
    let tls = format!("sslmode=verify-full sslrootcert={}", ca());
    let scram = |extra: &str| format!("{} password=scrampass {extra}", conninfo("localhost", "scram_user", ""));
    // Over TLS the server offers SCRAM-SHA-256-PLUS; require only succeeds when the server
    // checked our tls-server-end-point hash of its certificate.
    for mode in ["require", "prefer", "disable"] {
        let mut c = Conn::<R>::connect(&scram(&format!("{tls} channel_binding={mode}"))).await.unwrap();
        assert_eq!(scalar(&mut c, "SELECT current_user").await.unwrap().as_deref(), Some("scram_user"));
        assert!(server_sees_tls(&mut c).await);
    }
    // sslmode=require (no verification) binds too: binding is what authenticates the server.
    Conn::<R>::connect(&scram("sslmode=require channel_binding=require")).await.unwrap();
    // A wrong password is still refused with binding.
    let err = Conn::<R>::connect(&scram(&format!("{tls} channel_binding=require")).replace("scrampass", "nope"))
        .await
        .expect_err("wrong password");
    assert_eq!(err.code(), Some(SqlState::INVALID_PASSWORD), "{err:?}");
    // Without TLS there is nothing to bind to.
    let err = Conn::<R>::connect(&scram("sslmode=disable channel_binding=require")).await.expect_err("no TLS");
    assert!(matches!(&err, Error::Auth(AuthError::ChannelBinding(_))), "{err:?}");
    // No downgrade: MD5, cleartext and trust are refused before a password is sent.
    for (user, password) in [("md5_user", "md5pass"), ("pass_user", "passpass"), ("postgres", "")] {
        let info = format!("{} password={password} {tls} channel_binding=require", conninfo("localhost", user, ""));
        let err = Conn::<R>::connect(&info).await.expect_err(user);
        assert!(matches!(&err, Error::Auth(AuthError::ChannelBinding(_))), "{user}: {err:?}");
    }
    // A server that offers the PLUS mechanism without TLS is lying.
    let port = fake_server!(sasl_offer(&["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]));
    let info = format!("host=127.0.0.1 port={port} user=x password=y sslmode=disable connect_timeout=2");
    let err = Conn::<R>::connect(&info).await.expect_err("PLUS without TLS");
    assert!(matches!(&err, Error::Protocol(ProtocolError::Scram(t)) if t.contains("without TLS")), "{err:?}");
}

pub async fn require_auth<R: TestRt>() {
    let user = |name: &str, password: &str, require: &str| {
        format!("{} password={password} sslmode=disable require_auth={require}", conninfo("localhost", name, ""))
    };
    Conn::<R>::connect(&user("scram_user", "scrampass", "scram-sha-256")).await.unwrap();
    Conn::<R>::connect(&user("md5_user", "md5pass", "md5,scram-sha-256")).await.unwrap();
    Conn::<R>::connect(&user("pass_user", "passpass", "!md5")).await.unwrap();
    Conn::<R>::connect(&user("postgres", "", "none")).await.unwrap();
    for (name, password, require, why) in [
        ("md5_user", "md5pass", "scram-sha-256", "hashed password"),
        ("pass_user", "passpass", "md5,scram-sha-256", "cleartext password"),
        ("scram_user", "scrampass", "!scram-sha-256", "SASL"),
        ("postgres", "", "scram-sha-256", "did not complete authentication"),
        ("postgres", "", "!none", "did not complete authentication"),
    ] {
        let err = Conn::<R>::connect(&user(name, password, require)).await.expect_err(require);
        assert!(
            matches!(&err, Error::Auth(AuthError::RequirementFailed { required, why: w })
                if required == require && w.contains(why)),
            "{name} {require}: {err:?}"
        );
    }
    // Mistakes in the list are configuration errors.
    for bad in ["md5,!none", "scram-sha-256,scram-sha-256", "kerberos"] {
        let err = Conn::<R>::connect(&user("postgres", "", bad)).await.expect_err(bad);
        assert!(matches!(err, Error::Config(_)), "{bad}: {err:?}");
    }
}

/// ClientHellos a fake server received, by its port.
static HELLOS: std::sync::Mutex<Vec<(u16, Vec<u8>)>> = std::sync::Mutex::new(Vec::new());

pub async fn crls_sni_and_tls_versions<R: TestRt>() {
    let tls = &server().tls;
    let verified =
        |extra: &str| conninfo("localhost", "postgres", &format!("sslmode=verify-full sslrootcert={} {extra}", ca()));
    // A CRL that revokes the server's certificate, in a file or in a directory; an empty one.
    let err =
        Conn::<R>::connect(&verified(&format!("sslcrl={}", tls.crl_revoking_server.display()))).await.unwrap_err();
    assert!(matches!(&err, Error::Tls(t) if t.contains("revoked")), "{err:?}");
    Conn::<R>::connect(&verified(&format!("sslcrl={}", tls.crl_empty.display()))).await.unwrap();
    let dir = std::env::temp_dir().join(format!("pgsans-crldir-{}-{}", std::process::id(), R::NAME));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&tls.crl_revoking_server, dir.join("revoked.crl")).unwrap();
    let err = Conn::<R>::connect(&verified(&format!("sslcrldir={}", dir.display()))).await.unwrap_err();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(matches!(&err, Error::Tls(t) if t.contains("revoked")), "{err:?}");
    // TLS versions, as the server sees them.
    let sql = "SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
    for (extra, want) in [
        ("", "TLSv1.3"),
        ("ssl_max_protocol_version=TLSv1.2", "TLSv1.2"),
        ("ssl_min_protocol_version=TLSv1.3", "TLSv1.3"),
    ] {
        let mut c = Conn::<R>::connect(&verified(extra)).await.unwrap();
        assert_eq!(scalar(&mut c, sql).await.unwrap().as_deref(), Some(want), "{extra}");
    }
    let err = Conn::<R>::connect(&verified("ssl_min_protocol_version=TLSv1.3 ssl_max_protocol_version=TLSv1.2"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    // SNI: the host name in the ClientHello, unless sslsni=0; never an address.
    let port = fake(|s| {
        if s.write_all(b"S").is_ok() {
            let mut hello = vec![0u8; 4096];
            let n = s.read(&mut hello).unwrap_or(0);
            hello.truncate(n);
            let port = s.local_addr().unwrap().port();
            HELLOS.lock().unwrap().push((port, hello));
        }
    });
    let hello = |host: &str, extra: &str| {
        let info =
            format!("host={host} hostaddr=127.0.0.1 port={port} user=x sslmode=require connect_timeout=2 {extra}");
        async move {
            let _ = Conn::<R>::connect(&info).await;
            let mut hellos = HELLOS.lock().unwrap();
            let i = hellos.iter().position(|(p, _)| *p == port).expect("a ClientHello");
            hellos.remove(i).1
        }
    };
    let has = |hello: &[u8], name: &[u8]| hello.windows(name.len()).any(|w| w == name);
    assert!(has(&hello("db.sni-test.example", "").await, b"db.sni-test.example"));
    assert!(!has(&hello("db.sni-test.example", "sslsni=0").await, b"db.sni-test.example"));
}

/// Drives a bare engine over a blocking socket until it is ready or fails.
fn drive_engine(mut engine: pgsans::Connection) -> Result<(), Error> {
    let mut socket = std::net::TcpStream::connect(("127.0.0.1", server().port)).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    loop {
        let interest = engine.poll()?;
        if engine.is_ready() {
            return Ok(());
        }
        if !engine.transmit().is_empty() {
            let n = socket.write(engine.transmit()).unwrap();
            engine.advance(n);
        } else if interest.is_some() {
            let n = socket.read(engine.recv_buf()).unwrap();
            if n == 0 {
                engine.receive_eof();
            } else {
                engine.recv_commit(n);
            }
        } else {
            panic!("nothing to wait for");
        }
    }
}

#[test]
fn certificate_time_comes_from_the_caller() {
    let mut config =
        pgsans_client::load(&conninfo("localhost", "postgres", &format!("sslmode=verify-full sslrootcert={}", ca())))
            .unwrap();
    config.set("connect_timeout", "5").unwrap();
    // A bare engine reads no file: the loader reads the root certificate into the configuration.
    let config = pgsans_client::with_files(&config).unwrap();
    let engine = || pgsans::Connection::new(&config, pgsans::ClientNonce::from_random_bytes([3; 18])).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    // The time the caller gives is the time the certificate is checked against.
    let mut e = engine();
    e.set_current_time(now);
    drive_engine(e).unwrap();
    let mut e = engine();
    // (rcgen's certificates are valid until 4096.)
    e.set_current_time(now + Duration::from_secs(2200 * 366 * 24 * 3600));
    let err = drive_engine(e).unwrap_err();
    assert!(matches!(&err, Error::Tls(t) if t.contains("expired")), "{err:?}");
    let mut e = engine();
    e.set_current_time(Duration::from_secs(86_400));
    let err = drive_engine(e).unwrap_err();
    assert!(matches!(&err, Error::Tls(t) if t.contains("not valid yet")), "{err:?}");
    // No time given: said so, not guessed.
    let err = drive_engine(engine()).unwrap_err();
    assert!(matches!(&err, Error::Tls(t) if t.contains("set_current_time")), "{err:?}");
}
