//! PostgreSQL 18 (fetched by the harness): direct TLS (`sslnegotiation=direct`, ALPN
//! `postgresql`) and protocol 3.2 (32-byte cancel keys), and how a PostgreSQL 15 server
//! answers each.

use pgsans::SqlState;
use std::time::{Duration, Instant};

use pgsans::{Error, ProtocolError};
use pgsans_tests::*;

fn info(server: &TestServer, user: &str, extra: &str) -> String {
    format!(
        "host=localhost port={} user={user} dbname=postgres sslrootcert={} {extra}",
        server.port,
        server.tls.ca.display()
    )
}

/// A 10 s sleep, cancelled after 300 ms through the connection's cancel token.
async fn cancel_works<R: TestRt>(c: &mut Conn<R>) {
    let canceller = cancel_after(c, Duration::from_millis(300));
    let started = Instant::now();
    let err = c.batch_execute("SELECT pg_sleep(10)").await.unwrap_err();
    canceller.join().unwrap().unwrap();
    assert_eq!(err.code(), Some(SqlState::QUERY_CANCELED), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

pub async fn direct_tls<R: TestRt>() {
    let pg18 = pg18_server();
    let direct = info(pg18, "postgres", "sslmode=verify-full sslnegotiation=direct");
    let mut c = Conn::<R>::connect(&direct).await.unwrap();
    assert!(c.engine().ssl_in_use());
    assert_eq!(
        scalar(&mut c, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").await.unwrap().as_deref(),
        Some("t")
    );
    assert!(c.engine().server_version() >= 180000, "{}", c.engine().server_version());
    // The cancel request goes the same way.
    cancel_works(&mut c).await;
    // SCRAM bound to the direct channel.
    let scram = info(
        pg18,
        "scram_user",
        "password=scrampass sslmode=verify-full sslnegotiation=direct channel_binding=require",
    );
    Conn::<R>::connect(&scram).await.unwrap();
    // A weak sslmode cannot be direct (no plaintext fallback), as libpq.
    let err = Conn::<R>::connect(&direct.replace("verify-full", "prefer")).await.unwrap_err();
    assert!(matches!(&err, Error::Config(_)) && err.to_string().contains("sslnegotiation=direct"), "{err:?}");
    // PostgreSQL 15 reads a TLS ClientHello as a broken startup packet: a quick failure.
    let started = Instant::now();
    let pg15 = info(TestServer::shared(), "postgres", "sslmode=require sslnegotiation=direct connect_timeout=5");
    let err = Conn::<R>::connect(&pg15).await.unwrap_err();
    assert!(matches!(err, Error::Tls(_) | Error::Closed(_) | Error::Io(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
}

pub async fn protocol_3_2<R: TestRt>() {
    let pg18 = pg18_server();
    // Asked for, PostgreSQL 18 speaks 3.2 and hands out a 32-byte cancel key that works.
    let mut c = Conn::<R>::connect(&info(pg18, "postgres", "sslmode=disable max_protocol_version=3.2")).await.unwrap();
    assert_eq!(c.engine().protocol_version(), (3, 2));
    assert_eq!(c.cancel_token().unwrap().key().secret_key.len(), 32);
    cancel_works(&mut c).await;
    // Over TLS too, and with `latest`.
    let mut c =
        Conn::<R>::connect(&info(pg18, "postgres", "sslmode=verify-full min_protocol_version=latest")).await.unwrap();
    assert_eq!(c.engine().protocol_version(), (3, 2));
    cancel_works(&mut c).await;
    // The default stays 3.0 (libpq 18's), with a 4-byte key.
    let c = Conn::<R>::connect(&info(pg18, "postgres", "sslmode=disable")).await.unwrap();
    assert_eq!(c.engine().protocol_version(), (3, 0));
    assert_eq!(c.cancel_token().unwrap().key().secret_key.len(), 4);
    // PostgreSQL 15 negotiates 3.2 down to 3.0, unless 3.2 is the minimum.
    let pg15 = TestServer::shared();
    let mut c = Conn::<R>::connect(&info(pg15, "postgres", "sslmode=disable max_protocol_version=3.2")).await.unwrap();
    assert_eq!(c.engine().protocol_version(), (3, 0));
    cancel_works(&mut c).await;
    let err =
        Conn::<R>::connect(&info(pg15, "postgres", "sslmode=disable min_protocol_version=3.2")).await.unwrap_err();
    assert!(matches!(err, Error::Protocol(ProtocolError::UnsupportedVersion(0))), "{err:?}");
}
