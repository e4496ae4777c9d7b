//! What libpq reads from the machine, as pure functions of what was read: `PG*` environment
//! variables (through an injected lookup), `pg_service.conf` sections and `.pgpass` lines. The
//! reading itself — files, the environment, the OS trust store — happens outside the engine
//! crate (`pgsans-client`'s loader), when a connection is opened.

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

    /// Fills what is unset from a service's settings (`entries`, as
    /// [`service_lookup`] read them from a `pg_service.conf`): explicit values win.
    pub fn apply_service(&mut self, entries: Vec<(String, String)>) -> Result<(), ConfigError> {
        let src = self.source.take();
        for (k, v) in entries {
            if self.get(&k).is_none() {
                self.set(&k, v)?;
            }
        }
        self.source = src;
        Ok(())
    }

    /// The password `.pgpass` (its contents: `pgpass`) gives each host, as libpq looks them up
    /// (one per host: each host of a list may have its own; the database defaults to the user
    /// name; a Unix socket in a default directory is `localhost`). Pure.
    pub fn passwords_from_pgpass(&self, pgpass: &str) -> Result<Vec<(super::Target, String)>, ConfigError> {
        let Some(user) = self.user() else {
            return Ok(Vec::new());
        };
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
            if let Some(pw) = pgpass_lookup(pgpass, &host, t.port, db, user) {
                found.push((t, pw));
            }
        }
        Ok(found)
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
        if let Some(found) = found.as_mut() {
            found.push((k.to_owned(), v.to_owned()));
        }
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
                if let (Some(n), Some(field)) = (chars.next(), fields.last_mut()) {
                    field.push(n);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            ':' => break, // the password ends at the first unescaped ':'
            c => {
                if let Some(field) = fields.last_mut() {
                    field.push(c);
                }
            }
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
