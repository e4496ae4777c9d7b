//! The one place that reads the machine: `PG*` environment variables, `.pgpass`, the OS user
//! name and the default socket directory. The connection state machine never calls these.

use std::path::{Path, PathBuf};

use super::{Config, Host};
use crate::error::ConfigError;

/// `PG*` variables and the keyword each one supplies when it is not set explicitly.
const ENV_VARS: &[(&str, &str)] = &[
    ("PGSERVICE", "service"),
    ("PGUSER", "user"),
    ("PGPASSWORD", "password"),
    ("PGPASSFILE", "passfile"),
    ("PGCHANNELBINDING", "channel_binding"),
    ("PGCONNECT_TIMEOUT", "connect_timeout"),
    ("PGDATABASE", "dbname"),
    ("PGHOST", "host"),
    ("PGHOSTADDR", "hostaddr"),
    ("PGPORT", "port"),
    ("PGCLIENTENCODING", "client_encoding"),
    ("PGOPTIONS", "options"),
    ("PGAPPNAME", "application_name"),
    ("PGSSLMODE", "sslmode"),
    ("PGSSLNEGOTIATION", "sslnegotiation"),
    ("PGSSLCERT", "sslcert"),
    ("PGSSLKEY", "sslkey"),
    ("PGSSLCERTMODE", "sslcertmode"),
    ("PGSSLROOTCERT", "sslrootcert"),
    ("PGSSLCRL", "sslcrl"),
    ("PGSSLCRLDIR", "sslcrldir"),
    ("PGSSLSNI", "sslsni"),
    ("PGREQUIREPEER", "requirepeer"),
    ("PGREQUIREAUTH", "require_auth"),
    ("PGSSLMINPROTOCOLVERSION", "ssl_min_protocol_version"),
    ("PGSSLMAXPROTOCOLVERSION", "ssl_max_protocol_version"),
    ("PGMINPROTOCOLVERSION", "min_protocol_version"),
    ("PGMAXPROTOCOLVERSION", "max_protocol_version"),
    ("PGGSSENCMODE", "gssencmode"),
    ("PGKRBSRVNAME", "krbsrvname"),
    ("PGGSSLIB", "gsslib"),
    ("PGTARGETSESSIONATTRS", "target_session_attrs"),
    ("PGLOADBALANCEHOSTS", "load_balance_hosts"),
    ("PGSSLCOMPRESSION", "sslcompression"),
];

/// Variables libpq sends as run-time parameters in the StartupMessage (unless `default`).
const ENV_SESSION_PARAMS: &[(&str, &str)] = &[("PGDATESTYLE", "datestyle"), ("PGTZ", "timezone")];

impl Config {
    /// Fills in what the string left unset from `env` (a lookup such as `std::env::var`), the
    /// way libpq does: explicit value, then environment variable. Pure: the lookup is injected.
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        for (var, key) in ENV_VARS {
            if self.get(key).is_none() {
                if let Some(v) = env(var) {
                    if *key == "password" {
                        // keep dsn() showing the original string when the password came from env
                        self.params.push((key, v));
                    } else {
                        let src = self.source.take();
                        self.set(key, v)?;
                        self.source = src;
                    }
                }
            }
        }
        for (var, name) in ENV_SESSION_PARAMS {
            if let Some(v) = env(var).filter(|v| !v.eq_ignore_ascii_case("default")) {
                if !self.extra.iter().any(|(k, _)| k.eq_ignore_ascii_case(name)) {
                    self.extra.push(((*name).to_owned(), v));
                }
            }
        }
        if self.get("user").is_none() {
            if let Some(u) = env("USER").or_else(|| env("LOGNAME")).or_else(|| env("USERNAME")) {
                self.set_default("user", u);
            }
        }
        self.validate()
    }

    /// Parses `s` and completes it the way libpq would on this machine: `PG*` environment
    /// variables, the OS user name, the default Unix-socket directory, and a password from
    /// `.pgpass` when none was given. An empty string means "everything from the environment".
    pub fn load(s: &str) -> Result<Config, ConfigError> {
        Config::load_with_env(s, |k| std::env::var(k).ok())
    }

    /// [`load`](Self::load) with the environment given by `env` (files are still read): the
    /// service file named by `service` (or `PGSERVICE`) first, then the variables, as libpq.
    pub fn load_with_env(s: &str, env: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut c = Config::parse(s)?;
        c.apply_service(&env)?;
        c.apply_env(&env)?;
        if c.user().is_none() {
            return Err(ConfigError::NoUser);
        }
        if c.get("host").is_none() && c.get("hostaddr").is_none() {
            let port = c.get("port").and_then(|p| p.trim().parse::<u16>().ok()).unwrap_or(5432);
            let dir = ["/var/run/postgresql", "/tmp"]
                .into_iter()
                .find(|d| Path::new(d).join(format!(".s.PGSQL.{port}")).exists());
            let src = c.source.take();
            c.set("host", dir.unwrap_or("localhost"))?;
            c.source = src;
        }
        if c.password().is_none() {
            c.pgpass = c.passwords_from_pgpass(env("HOME"))?;
        }
        c.load_tls_files(env("HOME"))?;
        c.validate()?;
        Ok(c)
    }

    /// Reads the files the `ssl*` keywords name, with libpq's defaults under
    /// `~/.postgresql/` (`root.crt`, `postgresql.crt`, `postgresql.key`, `root.crl`): a file
    /// named explicitly must exist; a default one is used only if it does.
    fn load_tls_files(&mut self, home: Option<String>) -> Result<(), ConfigError> {
        let home = home.map(PathBuf::from);
        let default = |name: &str| home.as_ref().map(|h| h.join(".postgresql").join(name));
        let read =
            |key: &str, explicit: Option<&str>, default: Option<PathBuf>| -> Result<Option<Vec<u8>>, ConfigError> {
                match explicit {
                    Some(path) => std::fs::read(path)
                        .map(Some)
                        .map_err(|e| ConfigError::Unsupported(format!("{key}: could not read \"{path}\": {e}"))),
                    None => Ok(default.filter(|p| p.is_file()).and_then(|p| std::fs::read(p).ok())),
                }
            };
        let root = match self.get("sslrootcert") {
            Some("system") => {
                self.tls.system_roots = system_roots();
                None
            }
            explicit => read("sslrootcert", explicit, default("root.crt"))?,
        };
        let cert = read("sslcert", self.get("sslcert"), default("postgresql.crt"))?;
        // A key is looked for only with a certificate (libpq).
        let key = if cert.is_some() { read("sslkey", self.get("sslkey"), default("postgresql.key"))? } else { None };
        let mut crls = Vec::new();
        if let Some(crl) = read("sslcrl", self.get("sslcrl"), default("root.crl"))? {
            crls.push(crl);
        }
        if let Some(dir) = self.get("sslcrldir") {
            let entries = std::fs::read_dir(dir)
                .map_err(|e| ConfigError::Unsupported(format!("sslcrldir: could not read \"{dir}\": {e}")))?;
            for entry in entries.flatten() {
                if let Ok(bytes) = std::fs::read(entry.path()) {
                    crls.push(bytes);
                }
            }
        }
        let m = &mut self.tls;
        m.root_pem = m.root_pem.take().or(root);
        m.cert_pem = m.cert_pem.take().or(cert);
        m.key_pem = m.key_pem.take().or(key);
        m.crl_pem.extend(crls);
        Ok(())
    }

    /// Fills what is unset from the service `service` (or `PGSERVICE`) names, looked up as libpq
    /// does: `servicefile` / `PGSERVICEFILE` or `~/.pg_service.conf` first, then
    /// `pg_service.conf` in `PGSYSCONFDIR` (Debian's `/etc/postgresql-common` without it). A
    /// service that neither defines is an error.
    fn apply_service(&mut self, env: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let Some(name) = self.get("service").map(str::to_owned).or_else(|| env("PGSERVICE")) else {
            return Ok(());
        };
        let user_file = self
            .get("servicefile")
            .map(str::to_owned)
            .or_else(|| env("PGSERVICEFILE"))
            .or_else(|| env("HOME").map(|h| format!("{h}/.pg_service.conf")));
        let sys_dir = env("PGSYSCONFDIR").unwrap_or_else(|| "/etc/postgresql-common".into());
        let sys_file = format!("{sys_dir}/pg_service.conf");
        for path in user_file.into_iter().chain([sys_file]) {
            let Ok(contents) = std::fs::read_to_string(&path) else { continue };
            if let Some(entries) = service_lookup(&contents, &path, &name)? {
                let src = self.source.take();
                for (k, v) in entries {
                    if self.get(&k).is_none() {
                        self.set(&k, v)?;
                    }
                }
                self.source = src;
                return Ok(());
            }
        }
        Err(ConfigError::ServiceNotFound(name))
    }

    /// The `.pgpass` password of each host, as libpq looks them up (one per host: each host
    /// of a list may have its own).
    fn passwords_from_pgpass(&self, home: Option<String>) -> Result<Vec<(super::Target, String)>, ConfigError> {
        let path = match self.get("passfile") {
            Some(p) => PathBuf::from(p),
            None => match home {
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
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if meta.permissions().mode() & 0o077 != 0 {
                // libpq prints a warning and ignores the file.
                return Ok(Vec::new());
            }
        }
        let contents = std::fs::read_to_string(&path)
            .map_err(|e| ConfigError::File { path: path.display().to_string(), message: e.to_string() })?;
        let Some(user) = self.user() else {
            return Ok(Vec::new());
        };
        // The database defaults to the user name, as in the StartupMessage.
        let db = self.dbname().unwrap_or(user);
        let mut found = Vec::new();
        for t in self.targets()? {
            let host = match &t.host {
                Host::Tcp(h) => h.clone(),
                Host::Unix(d) => {
                    let d = d.display().to_string();
                    if d == "/var/run/postgresql" || d == "/tmp" {
                        "localhost".to_owned()
                    } else {
                        d
                    }
                }
            };
            if let Some(pw) = pgpass_lookup(&contents, &host, t.port, db, user) {
                found.push((t, pw));
            }
        }
        Ok(found)
    }
}

/// The OS trust store (SSL_CERT_FILE / SSL_CERT_DIR honoured, as OpenSSL does), read once per
/// process and again only when those variables change: reading and parsing it takes ~2 ms,
/// most of a connection's time.
fn system_roots() -> std::sync::Arc<Vec<Vec<u8>>> {
    use std::sync::{Arc, Mutex};
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

/// The settings of service `name` in a `pg_service.conf` file (INI: `[name]` sections of
/// `keyword=value` lines, `#` comments), or `None` when the file does not define it. Pure:
/// pass the file's contents (`path` is for messages).
pub fn service_lookup(contents: &str, path: &str, name: &str) -> Result<Option<Vec<(String, String)>>, ConfigError> {
    let mut found: Option<Vec<(String, String)>> = None;
    let mut in_section = false;
    for (i, line) in contents.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err =
            |message: &str| ConfigError::ServiceFile { path: path.to_owned(), line: i + 1, message: message.into() };
        if let Some(section) = line.strip_prefix('[') {
            if found.is_some() {
                break; // the service's section ended
            }
            let section = section.strip_suffix(']').ok_or_else(|| err("unterminated section name"))?;
            in_section = section == name;
            if in_section {
                found = Some(Vec::new());
            }
            continue;
        }
        if !in_section {
            continue;
        }
        let (k, v) = line.split_once('=').ok_or_else(|| err("missing \"=\""))?;
        let (k, v) = (k.trim(), v.trim());
        if k == "service" || k == "servicefile" {
            return Err(err("nested service specifications are not supported"));
        }
        if super::keyword(k).is_none() {
            return Err(err(&format!("unknown keyword \"{k}\"")));
        }
        found.as_mut().expect("in the section").push((k.to_owned(), v.to_owned()));
    }
    Ok(found)
}

/// One line of a `.pgpass` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgpassEntry {
    pub fields: [String; 5],
}

fn pgpass_fields(line: &str) -> Option<[String; 5]> {
    let mut fields: Vec<String> = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    fields.last_mut().expect("nonempty").push(n);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            ':' => break, // the password ends at the first unescaped ':'
            c => fields.last_mut().expect("nonempty").push(c),
        }
    }
    fields.try_into().ok()
}

/// libpq's `.pgpass` matching: `hostname:port:database:username:password`, `*` matches anything,
/// `\` escapes, the first matching line wins. Pure: pass the file's contents.
pub fn pgpass_lookup(contents: &str, host: &str, port: u16, dbname: &str, user: &str) -> Option<String> {
    let port = port.to_string();
    for line in contents.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let Some([h, p, d, u, pw]) = pgpass_fields(line) else {
            continue;
        };
        let m = |pat: &str, v: &str| pat == "*" || pat == v;
        if m(&h, host) && m(&p, &port) && m(&d, dbname) && m(&u, user) {
            return Some(pw);
        }
    }
    None
}
