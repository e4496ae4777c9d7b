//! Connection settings from files, as libpq reads them: `pg_service.conf` (the user's file,
//! then the system one, explicit settings over the service over the environment) and
//! `.pgpass`. Temporary files; the environment is injected, never changed for the process.

use pgsans::SqlState;
use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use pgsans::{Config, ConfigError, Error};
use pgsans_tests::*;

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("pgsans-files-{}-{tag}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, contents: &str, mode: u32) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path.display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn load(conninfo: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    pgsans_client::load_with_env(conninfo, |k| env.get(k).cloned()).map_err(|e| match e {
        Error::Config(c) => c,
        other => panic!("not a configuration error: {other}"),
    })
}

async fn who<R: TestRt>(config: &Config) -> Result<(String, String), Error> {
    let mut c = Conn::<R>::connect_with(config).await?;
    let row = c.query_one("SELECT current_user::text, current_database()::text", &[]).await?;
    Ok((row.get::<String, _>(0)?, row.get::<String, _>(1)?))
}

pub async fn service_files<R: TestRt>() {
    let port = TestServer::shared().port;
    let dir = TempDir::new("service");
    let user_file = dir.write(
        "user_services.conf",
        &format!(
            "# the user's services\n[app]\nhost=127.0.0.1\nport={port}\nuser=scram_user\npassword=scrampass\n\
             dbname=template1\nsslmode=disable\n"
        ),
        0o644,
    );
    std::fs::create_dir_all(dir.0.join("etc")).unwrap();
    dir.write(
        "etc/pg_service.conf",
        &format!("[app]\nport=1\n[sys]\nhost=127.0.0.1\nport={port}\nuser=md5_user\npassword=md5pass\nsslmode=disable\ndbname=postgres\n"),
        0o644,
    );
    let sysconf = dir.0.join("etc").display().to_string();
    let env = [("PGSERVICEFILE", user_file.as_str()), ("PGSYSCONFDIR", sysconf.as_str()), ("PGUSER", "postgres")];
    // The service's settings, over PGUSER.
    let app = load("service=app", &env).unwrap();
    assert_eq!(who::<R>(&app).await.unwrap(), ("scram_user".into(), "template1".into()));
    // The user's file wins over the system's for the same service; the system's file serves
    // the services the user's does not define; PGSERVICE names the service too.
    let sys = load("", &[("PGSERVICE", "sys"), env[0], env[1]]).unwrap();
    assert_eq!(who::<R>(&sys).await.unwrap(), ("md5_user".into(), "postgres".into()));
    // What the connection string says wins over the service.
    let explicit = load("service=app dbname=postgres", &env).unwrap();
    assert_eq!(who::<R>(&explicit).await.unwrap().1, "postgres");
    // servicefile (libpq 18) names the file in the string itself.
    let inline = load(&format!("service=app servicefile={user_file}"), &[]).unwrap();
    assert_eq!(who::<R>(&inline).await.unwrap().0, "scram_user");
    // A service nobody defines, and a broken file.
    assert_eq!(load("service=nope", &env).unwrap_err(), ConfigError::ServiceNotFound("nope".into()));
    let broken = dir.write("broken.conf", "[app]\nhots=x\n", 0o644);
    let err = load("service=app", &[("PGSERVICEFILE", broken.as_str())]).unwrap_err();
    assert!(matches!(err, ConfigError::ServiceFile { line: 2, .. }), "{err:?}");
}

pub async fn pgpass_file<R: TestRt>() {
    let port = TestServer::shared().port;
    let dir = TempDir::new("pgpass");
    let entries =
        format!("# host:port:db:user:password\n127.0.0.1:{port}:*:scram_user:scrampass\n*:*:*:md5_user:md5pass\n");
    let passfile = dir.write("pgpass", &entries, 0o600);
    let base = format!("host=127.0.0.1 port={port} dbname=postgres sslmode=disable passfile={passfile}");
    for user in ["scram_user", "md5_user"] {
        let config = load(&format!("{base} user={user}"), &[]).unwrap();
        assert_eq!(who::<R>(&config).await.unwrap().0, user);
    }
    // ~/.pgpass by default.
    dir.write(".pgpass", &entries, 0o600);
    let home = dir.0.display().to_string();
    let config = load(
        &format!("host=127.0.0.1 port={port} dbname=postgres sslmode=disable user=scram_user"),
        &[("HOME", &home)],
    )
    .unwrap();
    assert_eq!(who::<R>(&config).await.unwrap().0, "scram_user");
    // Each host of a list has its own line: the first host (nobody listens there) has another
    // password than the second.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let per_host = dir.write(
        "per-host",
        &format!("127.0.0.1:{dead}:*:scram_user:wrong\nlocalhost:{port}:*:scram_user:scrampass\n"),
        0o600,
    );
    let config = load(
        &format!(
            "host=127.0.0.1,localhost port={dead},{port} user=scram_user dbname=postgres sslmode=disable \
             passfile={per_host}"
        ),
        &[],
    )
    .unwrap();
    assert_eq!(who::<R>(&config).await.unwrap().0, "scram_user");
    // A file others can read is ignored, as libpq does: no password.
    let open = dir.write("open", &entries, 0o644);
    let config = load(&format!("{base} user=scram_user").replace(&passfile, &open), &[]).unwrap();
    let err = who::<R>(&config).await.unwrap_err();
    assert!(matches!(err, Error::Auth(pgsans::AuthError::PasswordMissing(_))), "{err:?}");
}

pub async fn session_defaults_from_the_environment<R: TestRt>() {
    // libpq sends PGDATESTYLE and PGTZ in the StartupMessage.
    let port = TestServer::shared().port;
    let info = format!("host=127.0.0.1 port={port} user=postgres dbname=postgres sslmode=disable");
    let config = load(&info, &[("PGTZ", "America/New_York"), ("PGDATESTYLE", "German")]).unwrap();
    let mut c = Conn::<R>::connect_with(&config).await.unwrap();
    assert_eq!(scalar(&mut c, "SHOW timezone").await.unwrap().as_deref(), Some("America/New_York"));
    assert_eq!(scalar(&mut c, "SHOW datestyle").await.unwrap().as_deref(), Some("German, DMY"));
    // `default` sends nothing: the server's own setting stays.
    let config = load(&info, &[("PGTZ", "default")]).unwrap();
    let mut c = Conn::<R>::connect_with(&config).await.unwrap();
    assert_ne!(scalar(&mut c, "SHOW timezone").await.unwrap().as_deref(), Some("default"));
}

/// A configuration kept for a long time (a pool's) sees files changed meanwhile: they are read
/// at each connect, as libpq reads them — a changed `.pgpass`, a rotated root certificate.
pub async fn files_are_read_at_each_connect<R: TestRt>() {
    let server = TestServer::shared();
    let dir = TempDir::new("rotated");
    let passfile = dir.write("pgpass", "*:*:*:scram_user:wrong\n", 0o600);
    let config = load(
        &format!(
            "host=127.0.0.1 port={} user=scram_user dbname=postgres sslmode=disable passfile={passfile}",
            server.port
        ),
        &[],
    )
    .unwrap();
    let err = who::<R>(&config).await.unwrap_err();
    assert_eq!(err.code(), Some(SqlState::INVALID_PASSWORD), "{err}");
    dir.write("pgpass", "*:*:*:scram_user:scrampass\n", 0o600);
    assert_eq!(who::<R>(&config).await.unwrap().0, "scram_user", "the new password, same configuration");

    // The root certificate file first holds a CA that signed nothing here, then the right one.
    let root = dir.write("root.crt", &std::fs::read_to_string(&server.tls.other_ca).unwrap(), 0o644);
    let config = load(
        &format!(
            "host=localhost port={} user=postgres dbname=postgres sslmode=verify-full sslrootcert={root}",
            server.port
        ),
        &[],
    )
    .unwrap();
    let err = who::<R>(&config).await.unwrap_err();
    assert!(matches!(err, Error::Tls(_)), "{err:?}");
    dir.write("root.crt", &std::fs::read_to_string(&server.tls.ca).unwrap(), 0o644);
    assert_eq!(who::<R>(&config).await.unwrap().0, "postgres", "the rotated root, same configuration");
}
