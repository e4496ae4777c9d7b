//! Reading the machine, as libpq does — the one part of pgsans that does (the engine crate reads
//! nothing): the `PG*` environment variables, `pg_service.conf`, the OS user name and the
//! default socket directory when a configuration is [loaded](load); `.pgpass` and the `ssl*`
//! files (with libpq's defaults under `~/.postgresql/`) and the OS trust store each time a
//! connection is opened ([`with_files`]), so that a long-lived configuration — a pool's — sees
//! a rotated certificate or a changed `.pgpass`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use pgsans::config::service_lookup;
use pgsans::{Config, ConfigError, Error};

/// Parses `conninfo` and completes it the way libpq would on this machine: the service file
/// (`service` / `PGSERVICE`), the `PG*` environment variables, the OS user name, the default
/// Unix-socket directory. An empty string means "everything from the environment". Files the
/// configuration names are read when a connection is opened.
pub fn load(conninfo: &str) -> Result<Config, Error> {
    load_with_env(conninfo, |k| std::env::var(k).ok())
}

/// [`load`] with the environment given by `env` (files are still read): the service file
/// named by `service` (or `PGSERVICE`) first, then the variables, as libpq.
pub fn load_with_env(conninfo: &str, env: impl Fn(&str) -> Option<String>) -> Result<Config, Error> {
    let mut c = Config::parse(conninfo)?;
    apply_service(&mut c, &env)?;
    c.apply_env(&env)?;
    if c.user().is_none() {
        return Err(ConfigError::NoUser.into());
    }
    if c.get("host").is_none() && c.get("hostaddr").is_none() {
        let port = c.get("port").and_then(|p| p.trim().parse::<u16>().ok()).unwrap_or(5432);
        let dir = ["/var/run/postgresql", "/tmp"]
            .into_iter()
            .find(|d| Path::new(d).join(format!(".s.PGSQL.{port}")).exists());
        c.set_implied("host", dir.unwrap_or("localhost"))?;
    }
    c.set_home_dir(env("HOME"));
    c.validate()?;
    Ok(c)
}

/// `config` with what its files hold, read now: the `.pgpass` passwords (when no password is
/// set) and the TLS material the `ssl*` keywords name — what was set in memory stays. Called
/// by every connect.
pub fn with_files(config: &Config) -> Result<Config, Error> {
    let mut c = config.clone();
    if c.password().is_none() {
        c.host_passwords(passwords_from_pgpass(&c)?);
    }
    load_tls_files(&mut c)?;
    c.validate()?;
    Ok(c)
}

/// Fills what is unset from the service `service` (or `PGSERVICE`) names, looked up as libpq
/// does: `servicefile` / `PGSERVICEFILE` or `~/.pg_service.conf` first, then
/// `pg_service.conf` in `PGSYSCONFDIR` (Debian's `/etc/postgresql-common` without it). A
/// service that neither defines is an error.
fn apply_service(c: &mut Config, env: &impl Fn(&str) -> Option<String>) -> Result<(), Error> {
    let Some(name) = c.get("service").map(str::to_owned).or_else(|| env("PGSERVICE")) else {
        return Ok(());
    };
    let user_file = c
        .get("servicefile")
        .map(str::to_owned)
        .or_else(|| env("PGSERVICEFILE"))
        .or_else(|| env("HOME").map(|h| format!("{h}/.pg_service.conf")));
    let sys_dir = env("PGSYSCONFDIR").unwrap_or_else(|| "/etc/postgresql-common".into());
    let sys_file = format!("{sys_dir}/pg_service.conf");
    for path in user_file.into_iter().chain([sys_file]) {
        let Ok(contents) = std::fs::read_to_string(&path) else { continue };
        if let Some(entries) = service_lookup(&contents, &path, &name)? {
            c.apply_service(entries)?;
            return Ok(());
        }
    }
    Err(ConfigError::ServiceNotFound(name).into())
}

/// The `.pgpass` password of each host (libpq's rules: `passfile` or `~/.pgpass`, ignored
/// when others may read it).
fn passwords_from_pgpass(c: &Config) -> Result<Vec<(pgsans::config::Target, String)>, Error> {
    let path = match c.get("passfile") {
        Some(p) => PathBuf::from(p),
        None => match c.home_dir() {
            Some(h) => PathBuf::from(h).join(".pgpass"),
            None => return Ok(Vec::new()),
        },
    };
    let Ok(meta) = std::fs::metadata(&path) else {
        return Ok(Vec::new());
    };
    if !meta.is_file() {
        return Ok(Vec::new());
    }
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            // libpq prints a warning and ignores the file.
            return Ok(Vec::new());
        }
    }
    let contents = std::fs::read_to_string(&path)
        .map_err(|e| ConfigError::File { path: path.display().to_string(), message: e.to_string() })?;
    Ok(c.passwords_from_pgpass(&contents)?)
}

/// Reads the files the `ssl*` keywords name, with libpq's defaults under `~/.postgresql/`
/// (`root.crt`, `postgresql.crt`, `postgresql.key`, `root.crl`): a file named explicitly must
/// exist; a default one is used only if it does. What is already set in memory is kept.
fn load_tls_files(c: &mut Config) -> Result<(), Error> {
    let home = c.home_dir().map(PathBuf::from);
    let default = |name: &str| home.as_ref().map(|h| h.join(".postgresql").join(name));
    let read = |key: &str, explicit: Option<&str>, default: Option<PathBuf>| -> Result<Option<Vec<u8>>, Error> {
        match explicit {
            Some(path) => std::fs::read(path)
                .map(Some)
                .map_err(|e| ConfigError::Unsupported(format!("{key}: could not read \"{path}\": {e}")).into()),
            None => Ok(default.filter(|p| p.is_file()).and_then(|p| std::fs::read(p).ok())),
        }
    };
    if c.get("sslrootcert") == Some("system") {
        c.ssl_system_roots(system_roots());
    } else if !c.has_ssl_root_cert() {
        if let Some(root) = read("sslrootcert", c.get("sslrootcert"), default("root.crt"))? {
            c.ssl_root_cert_pem(root);
        }
    }
    if !c.has_ssl_client_cert() {
        if let Some(cert) = read("sslcert", c.get("sslcert"), default("postgresql.crt"))? {
            // A key is looked for only with a certificate (libpq).
            match read("sslkey", c.get("sslkey"), default("postgresql.key"))? {
                Some(key) => {
                    c.ssl_client_cert_pem(cert, key);
                }
                None => return Err(ConfigError::Unsupported("sslcert is given without sslkey".into()).into()),
            }
        }
    }
    if let Some(crl) = read("sslcrl", c.get("sslcrl"), default("root.crl"))? {
        c.ssl_crl_pem(crl);
    }
    if let Some(dir) = c.get("sslcrldir").map(str::to_owned) {
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| ConfigError::Unsupported(format!("sslcrldir: could not read \"{dir}\": {e}")))?;
        for entry in entries.flatten() {
            if let Ok(bytes) = std::fs::read(entry.path()) {
                c.ssl_crl_pem(bytes);
            }
        }
    }
    Ok(())
}

/// The OS trust store (SSL_CERT_FILE / SSL_CERT_DIR honoured, as OpenSSL does), read once per
/// process and again only when those variables change: reading and parsing it takes ~2 ms,
/// most of a connection's time.
fn system_roots() -> Arc<Vec<Vec<u8>>> {
    type Cache = Option<((Option<std::ffi::OsString>, Option<std::ffi::OsString>), Arc<Vec<Vec<u8>>>)>;
    static CACHE: Mutex<Cache> = Mutex::new(None);
    let key = (std::env::var_os("SSL_CERT_FILE"), std::env::var_os("SSL_CERT_DIR"));
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    match &*cache {
        Some((k, roots)) if *k == key => roots.clone(),
        _ => {
            let roots: Arc<Vec<Vec<u8>>> =
                Arc::new(rustls_native_certs::load_native_certs().certs.into_iter().map(|c| c.to_vec()).collect());
            *cache = Some((key, roots.clone()));
            roots
        }
    }
}
