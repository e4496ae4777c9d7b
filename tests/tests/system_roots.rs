//! `sslrootcert=system` reads the OS trust store (as libpq's OpenSSL does), which honours
//! `SSL_CERT_FILE`: pointed at the test CA, the system store trusts the test server. Its own
//! test binary, because it sets a process-wide variable.

use pgsans_tests::TestServer;

#[test]
fn system_trust_store_is_the_os_store() {
    let server = TestServer::shared();
    let info = format!(
        "host=localhost port={} user=postgres dbname=postgres sslmode=verify-full sslrootcert=system",
        server.port
    );
    // Mozilla's roots (or this machine's store) do not know the test CA.
    let err = pgsans_std::Connection::connect(&info).unwrap_err();
    assert!(matches!(&err, pgsans::Error::Tls(t) if t.contains("trusted root")), "{err:?}");
    // Single-threaded here: nothing else reads the environment while it changes.
    std::env::set_var("SSL_CERT_FILE", &server.tls.ca);
    let mut c = pgsans_std::Connection::connect(&info).unwrap();
    assert!(c.engine().ssl_in_use());
    c.close().unwrap();
    // system needs verify-full, as in libpq 16.
    let err = pgsans_std::Connection::connect(&info.replace("verify-full", "require")).unwrap_err();
    assert!(matches!(err, pgsans::Error::Config(_)), "{err:?}");
}
