//! Several hosts, as libpq tries them: `target_session_attrs` against a primary and its
//! streaming standby, `load_balance_hosts=random`, dead and silent hosts skipped within
//! `connect_timeout`, and a server that refuses the session ending the attempt.

use pgsans::SqlState;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use pgsans::Error;
use pgsans_tests::*;

fn primary() -> u16 {
    TestServer::shared().port
}

fn standby() -> u16 {
    standby_server().port
}

/// A port nobody listens on.
fn dead_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A host that accepts the TCP connection and then never says anything.
fn silent_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().take(8) {
            held.push(s);
        }
        std::thread::sleep(Duration::from_secs(30));
    });
    port
}

/// A blackhole: a listener whose accept queue is full and that never accepts, so the kernel
/// drops further SYNs and a connect hangs as to a host that is gone.
fn blackhole_port() -> u16 {
    use socket2::{Domain, Socket, Type};
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    listener.bind(&"127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap().into()).unwrap();
    listener.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..3 {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        s.set_nonblocking(true).unwrap();
        let _ = s.connect(&addr);
        fillers.push(s);
    }
    std::thread::sleep(Duration::from_millis(100));
    let port = addr.as_socket().unwrap().port();
    // Kept open for the test binary's lifetime.
    std::mem::forget((listener, fillers));
    port
}

fn hosts(ports: &[u16], extra: &str) -> String {
    let hosts = vec!["localhost"; ports.len()].join(",");
    let ports = ports.iter().map(u16::to_string).collect::<Vec<_>>().join(",");
    format!("host={hosts} port={ports} user=postgres dbname=postgres sslmode=disable {extra}")
}

async fn in_recovery<R: TestRt>(info: &str) -> Result<bool, Error> {
    let mut c = Conn::<R>::connect(info).await?;
    Ok(scalar(&mut c, "SELECT pg_is_in_recovery()").await?.as_deref() == Some("t"))
}

pub async fn target_session_attrs_pick_the_right_server<R: TestRt>() {
    let (p, s) = (primary(), standby());
    // read-write picks the primary even when the standby is listed first.
    assert!(!in_recovery::<R>(&hosts(&[s, p], "target_session_attrs=read-write")).await.unwrap());
    assert!(!in_recovery::<R>(&hosts(&[s, p], "target_session_attrs=primary")).await.unwrap());
    // standby and read-only pick the standby.
    assert!(in_recovery::<R>(&hosts(&[p, s], "target_session_attrs=standby")).await.unwrap());
    assert!(in_recovery::<R>(&hosts(&[p, s], "target_session_attrs=read-only")).await.unwrap());
    assert!(in_recovery::<R>(&hosts(&[p, s], "target_session_attrs=prefer-standby")).await.unwrap());
    // any takes the first that answers.
    assert!(in_recovery::<R>(&hosts(&[s, p], "target_session_attrs=any")).await.unwrap());
    // The URI form, over TLS.
    let uri = format!(
        "postgresql://postgres@localhost:{s},localhost:{p}/postgres?target_session_attrs=read-write\
         &sslmode=verify-full&sslrootcert={}",
        TestServer::shared().tls.ca.display()
    );
    let mut c = Conn::<R>::connect(&uri).await.unwrap();
    assert!(c.engine().ssl_in_use());
    assert_eq!(scalar(&mut c, "SELECT pg_is_in_recovery()").await.unwrap().as_deref(), Some("f"));
    // No host of the kind asked for: libpq's message for the last one.
    let err = in_recovery::<R>(&hosts(&[p], "target_session_attrs=standby")).await.unwrap_err();
    assert!(
        matches!(err, Error::TargetSessionAttrs { wanted: "standby", why: "server is not in hot standby mode" }),
        "{err:?}"
    );
    let err = in_recovery::<R>(&hosts(&[s], "target_session_attrs=read-write")).await.unwrap_err();
    assert!(matches!(err, Error::TargetSessionAttrs { why: "session is read-only", .. }), "{err:?}");
}

pub async fn prefer_standby_falls_back_to_the_primary<R: TestRt>() {
    let p = primary();
    // The standby is down (nobody listens where it was): the primary is taken.
    assert!(!in_recovery::<R>(&hosts(&[dead_port(), p], "target_session_attrs=prefer-standby")).await.unwrap());
    assert!(!in_recovery::<R>(&hosts(&[p, dead_port()], "target_session_attrs=prefer-standby")).await.unwrap());
}

pub async fn dead_and_silent_hosts_are_skipped<R: TestRt>() {
    let (p, s) = (primary(), standby());
    let started = Instant::now();
    assert!(!in_recovery::<R>(&hosts(&[dead_port(), p], "")).await.unwrap());
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    // A host that accepts and never answers costs one connect_timeout (at least 2 s, as libpq).
    let started = Instant::now();
    assert!(in_recovery::<R>(&hosts(&[silent_port(), s], "connect_timeout=2")).await.unwrap());
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(1900) && took < Duration::from_secs(4), "{took:?}");
    // A host whose SYNs go unanswered: the same.
    let started = Instant::now();
    assert!(in_recovery::<R>(&hosts(&[blackhole_port(), s], "connect_timeout=2")).await.unwrap());
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(1900) && took < Duration::from_secs(4), "{took:?}");
    // Every host dead: the last error.
    let err = in_recovery::<R>(&hosts(&[dead_port(), dead_port()], "")).await.unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err:?}");
}

/// A server that refuses every session with a FATAL error.
fn refusing_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in listener.incoming().take(4) {
            let Ok(mut s) = s else { continue };
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf);
            let body = b"SFATAL\0C28000\0Mno pg_hba.conf entry\0\0";
            let mut msg = vec![b'E'];
            msg.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
            msg.extend_from_slice(body);
            let _ = s.write_all(&msg);
        }
    });
    port
}

pub async fn a_refused_session_ends_the_attempt<R: TestRt>() {
    // As libpq: once a server answered, its refusal is final; the next host is not tried.
    let err = in_recovery::<R>(&hosts(&[refusing_port(), primary()], "")).await.unwrap_err();
    assert_eq!(err.code(), Some(SqlState::INVALID_AUTHORIZATION_SPECIFICATION), "{err:?}");
}

pub async fn load_balance_hosts_random<R: TestRt>() {
    let (p, s) = (primary(), standby());
    let mut seen = [0; 2];
    for _ in 0..24 {
        let standby = in_recovery::<R>(&hosts(&[p, s], "load_balance_hosts=random")).await.unwrap();
        seen[standby as usize] += 1;
    }
    // Both hosts get connections (all 24 on one host: probability 2^-23).
    assert!(seen[0] > 0 && seen[1] > 0, "{seen:?}");
    // In order without it.
    for _ in 0..4 {
        assert!(!in_recovery::<R>(&hosts(&[p, s], "load_balance_hosts=disable")).await.unwrap());
    }
}

pub async fn tcp_keepalive_options<R: TestRt>() {
    use std::os::fd::AsFd;
    let p = primary();
    let read = |c: &Conn<R>| {
        let fd = c.socket().as_fd();
        let s = socket2::SockRef::from(&fd);
        (
            s.keepalive().unwrap(),
            s.tcp_keepalive_time().unwrap(),
            s.tcp_keepalive_interval().unwrap(),
            s.tcp_keepalive_retries().unwrap(),
            s.tcp_user_timeout().unwrap(),
        )
    };
    let c = Conn::<R>::connect(&hosts(
        &[p],
        "keepalives_idle=7 keepalives_interval=3 keepalives_count=4 tcp_user_timeout=9000",
    ))
    .await
    .unwrap();
    assert_eq!(read(&c), (true, Duration::from_secs(7), Duration::from_secs(3), 4, Some(Duration::from_millis(9000))));
    // On by default, as libpq; off when asked.
    let c = Conn::<R>::connect(&hosts(&[p], "")).await.unwrap();
    assert!(read(&c).0);
    let c = Conn::<R>::connect(&hosts(&[p], "keepalives=0")).await.unwrap();
    assert!(!read(&c).0);
    // Over a Unix socket there is nothing to set.
    Conn::<R>::connect(&TestServer::shared().unix_conninfo(AuthMethod::Trust)).await.unwrap();
    // A negative time is refused.
    let err = Conn::<R>::connect(&hosts(&[p], "keepalives_idle=-1")).await.unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
}

pub async fn requirepeer_on_unix_sockets<R: TestRt>() {
    let unix = TestServer::shared().unix_conninfo(AuthMethod::Trust);
    // The server runs as some OS user; another name is refused before anything is sent.
    let err = Conn::<R>::connect(&format!("{unix} requirepeer=pgsans_nobody")).await.unwrap_err();
    let Error::Auth(pgsans::AuthError::PeerMismatch { required, actual }) = &err else { panic!("{err:?}") };
    assert_eq!(required, "pgsans_nobody");
    // The harness runs the server as `postgres` when the tests run as root, else as ourselves.
    let our_uid = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap());
    if our_uid == 0 {
        assert_eq!(actual, "postgres");
    }
    // Its own name passes; over TCP there is no peer to check.
    Conn::<R>::connect(&format!("{unix} requirepeer={actual}")).await.unwrap();
    Conn::<R>::connect(&hosts(&[primary()], "requirepeer=pgsans_nobody")).await.unwrap();
}
