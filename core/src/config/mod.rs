//! Connection configuration: libpq connection strings (`key=value` and `postgresql://` URIs).
//!
//! Parsing is pure, and so is everything here: what libpq reads from the machine — the `PG*`
//! environment variables, service files, `.pgpass`, certificate files, the OS trust store — is
//! read by `pgsans-client`'s loader (`pgsans_client::load`, and `with_files` at each connect)
//! and handed in; this crate reads nothing.

pub(crate) mod auth_policy;
mod plan;
mod sources;
mod target;
mod uri;

pub use plan::{ConnectPlan, NextAttempt};
pub use sources::{pgpass_lookup, service_lookup, PgpassEntry};

use std::path::PathBuf;
use std::time::Duration;

use crate::error::ConfigError;

/// The keywords libpq marks secret (never shown back).
const SECRETS: &[&str] = &["password", "sslpassword"];

/// Every keyword libpq accepts, in libpq's own option-table order (used to rebuild `dsn()`).
pub(crate) const KEYWORDS: &[&str] = &[
    "service",
    "servicefile",
    "user",
    "password",
    "passfile",
    "channel_binding",
    "connect_timeout",
    "dbname",
    "host",
    "hostaddr",
    "port",
    "client_encoding",
    "options",
    "application_name",
    "fallback_application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "sslmode",
    "sslnegotiation",
    "sslcompression",
    "sslcert",
    "sslkey",
    "sslcertmode",
    "sslpassword",
    "sslrootcert",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "requirepeer",
    "require_auth",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "min_protocol_version",
    "max_protocol_version",
    "gssencmode",
    "krbsrvname",
    "gsslib",
    "gssdelegation",
    "replication",
    "target_session_attrs",
    "load_balance_hosts",
];

/// Where to connect: a TCP host name or address, or a Unix-socket directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A DNS name or a numeric address.
    Tcp(String),
    /// A directory holding `.s.PGSQL.<port>`.
    Unix(PathBuf),
}

/// What transports set or check on a new socket ([`Config::socket_options`]): TCP options
/// (`None` leaves the system's value; the default is libpq's: keep-alives on, the system's
/// timings) and, for Unix sockets, `requirepeer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketOptions {
    pub keepalives: bool,
    pub keepalives_idle: Option<Duration>,
    pub keepalives_interval: Option<Duration>,
    pub keepalives_count: Option<u32>,
    pub user_timeout: Option<Duration>,
    /// The OS user the server process on a Unix socket must run as (`requirepeer`).
    pub require_peer: Option<String>,
}

impl Default for SocketOptions {
    fn default() -> Self {
        SocketOptions {
            keepalives: true,
            keepalives_idle: None,
            keepalives_interval: None,
            keepalives_count: None,
            user_timeout: None,
            require_peer: None,
        }
    }
}

/// Certificates and keys as PEM, read by the configuration-loading layer (or given directly).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TlsMaterial {
    pub(crate) root_pem: Option<Vec<u8>>,
    pub(crate) cert_pem: Option<Vec<u8>>,
    pub(crate) key_pem: Option<Vec<u8>>,
    pub(crate) crl_pem: Vec<Vec<u8>>,
    /// `sslrootcert=system`: the OS trust store (DER), from the loader; Mozilla's roots
    /// (webpki-roots) when it was not read or is empty.
    pub(crate) system_roots: std::sync::Arc<Vec<Vec<u8>>>,
}

/// One connection attempt in libpq's order: a host, and the kind of server it must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostAttempt {
    pub target: Target,
    pub attrs: TargetSessionAttrs,
}

/// One place to try, in order: libpq's host slot.
#[derive(Debug, Clone)]
pub struct Target {
    pub host: Host,
    /// A numeric address to use instead of resolving `host` (libpq `hostaddr`).
    pub hostaddr: Option<String>,
    pub port: u16,
    /// `load_balance_hosts=random`: the seed the host's addresses are shuffled with.
    address_seed: Option<u64>,
}

/// The same place, however its addresses are ordered.
impl PartialEq for Target {
    fn eq(&self, other: &Self) -> bool {
        (&self.host, &self.hostaddr, self.port) == (&other.host, &other.hostaddr, other.port)
    }
}

impl Eq for Target {}

impl Target {
    /// A place to connect to, its addresses tried in the order they resolve.
    pub fn new(host: Host, hostaddr: Option<String>, port: u16) -> Target {
        Target { host, hostaddr, port, address_seed: None }
    }

    /// Puts the addresses `host` resolved to in the order to try them: as resolved, or
    /// shuffled under `load_balance_hosts=random` (libpq shuffles a host's addresses too).
    /// Transports call it after resolving.
    pub fn order_addresses<T>(&self, addresses: &mut [T]) {
        if let Some(seed) = self.address_seed {
            shuffle(addresses, seed);
        }
    }

    /// The name or address to resolve for a TCP target: `hostaddr` when given (no DNS needed),
    /// else `host` (libpq's rule).
    pub fn host_to_resolve(&self) -> String {
        match (&self.hostaddr, &self.host) {
            (Some(addr), _) => addr.clone(),
            (None, Host::Tcp(h)) => h.clone(),
            (None, Host::Unix(d)) => d.display().to_string(),
        }
    }

    /// The Unix socket path for this target, if it is a Unix-socket target.
    pub fn socket_path(&self) -> Option<PathBuf> {
        match &self.host {
            Host::Unix(dir) if self.hostaddr.is_none() => Some(dir.join(format!(".s.PGSQL.{}", self.port))),
            _ => None,
        }
    }
}

/// `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    Disable,
    Allow,
    #[default]
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

pub use target::TargetSessionAttrs;

/// A parsed connection configuration.
///
/// Build one with [`Config::parse`], or field by field with the setters; `pgsans_client::load`
/// adds libpq's environment defaults, and the files a configuration names are read at each
/// connect.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// The string this was parsed from, for `dsn()`.
    source: Option<String>,
    /// Every keyword set, in the order set (a later value replaces an earlier one in place).
    params: Vec<(&'static str, String)>,
    /// Extra run-time parameters sent in the StartupMessage (e.g. `search_path`).
    extra: Vec<(String, String)>,
    max_message_len: usize,
    spin_wait: Option<std::time::Duration>,
    binary_results: bool,
    trace_query_text: bool,
    autocommit: Option<bool>,
    cancel_on_drop: Option<bool>,
    /// Certificates and keys (PEM) for TLS, read by the loader or given directly.
    pub(crate) tls: TlsMaterial,
    /// Passwords `.pgpass` gave for the hosts (when none was set), from the loader.
    pgpass: Vec<(Target, String)>,
    /// The home directory default files are looked for in (`~/.pgpass`, `~/.postgresql/`),
    /// as the loader found it.
    home: Option<String>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("params", &self.dsn_parameters())
            .field("extra", &self.extra)
            .finish_non_exhaustive()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            source: None,
            params: Vec::new(),
            extra: Vec::new(),
            max_message_len: crate::wire::codec::DEFAULT_MAX_MESSAGE_LEN,
            spin_wait: None,
            binary_results: false,
            trace_query_text: false,
            autocommit: None,
            cancel_on_drop: None,
            tls: TlsMaterial::default(),
            pgpass: Vec::new(),
            home: None,
        }
    }
}

fn keyword(key: &str) -> Option<&'static str> {
    KEYWORDS.iter().copied().find(|k| *k == key)
}

impl std::str::FromStr for Config {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        Config::parse(s)
    }
}

/// The password and the TLS key's password are zeroed in memory when a configuration is
/// dropped (each clone holds and zeroes its own copy).
impl Drop for Config {
    fn drop(&mut self) {
        for (key, value) in &mut self.params {
            if matches!(*key, "password" | "sslpassword") {
                zeroize::Zeroize::zeroize(value);
            }
        }
        if let Some(source) = self.source.as_mut() {
            if source.contains("password") {
                zeroize::Zeroize::zeroize(source);
            }
        }
    }
}

impl Config {
    /// An empty configuration.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a libpq connection string: `key=value` pairs or a `postgresql://` / `postgres://` URI.
    ///
    /// Nothing is read from the environment. Unknown keys, malformed quoting, bad percent-escapes
    /// and invalid values are [`ConfigError`]s that name the key or position.
    pub fn parse(s: &str) -> Result<Config, ConfigError> {
        let mut c = Config::new();
        if s.starts_with("postgresql://") || s.starts_with("postgres://") {
            uri::parse_uri(s, &mut c)?;
        } else {
            parse_keyword_value(s, &mut c)?;
        }
        c.source = Some(s.to_owned());
        c.validate()?;
        Ok(c)
    }

    /// Sets a libpq keyword (`host`, `sslmode`, …). Unknown keywords are an error.
    pub fn set(&mut self, key: &str, value: impl Into<String>) -> Result<&mut Self, ConfigError> {
        let value = value.into();
        let key = match key {
            "requiressl" => {
                let mode = if value == "1" { "require" } else { "prefer" };
                return self.set("sslmode", mode);
            }
            _ => keyword(key).ok_or_else(|| ConfigError::UnknownOption(key.to_owned()))?,
        };
        if value.contains('\0') {
            return Err(ConfigError::Nul(key.to_owned()));
        }
        self.source = None;
        match self.params.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.params.push((key, value)),
        }
        Ok(self)
    }

    /// The value of a keyword, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_str())
    }

    fn set_default(&mut self, key: &'static str, value: String) {
        if self.get(key).is_none() {
            self.params.push((key, value));
        }
    }

    /// Sets `key` when it is unset, as a default this machine implies (the default socket
    /// directory, say): [`dsn`](Self::dsn) still shows the string the caller gave.
    pub fn set_implied(&mut self, key: &str, value: impl Into<String>) -> Result<&mut Self, ConfigError> {
        let Some(key) = keyword(key) else {
            return Err(ConfigError::UnknownOption(key.to_owned()));
        };
        self.set_default(key, value.into());
        self.validate()?;
        Ok(self)
    }

    /// Adds a run-time parameter to send in the StartupMessage (`search_path`, `TimeZone`, …).
    pub fn param(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Self {
        let (name, value) = (name.into(), value.into());
        match self.extra.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = value,
            None => self.extra.push((name, value)),
        }
        self
    }

    /// Extra run-time parameters.
    pub fn params(&self) -> &[(String, String)] {
        &self.extra
    }

    /// Caps the size of one incoming message (default 64 MiB). Larger messages are a protocol error.
    pub fn max_message_len(&mut self, n: usize) -> &mut Self {
        self.max_message_len = n;
        self
    }

    pub(crate) fn max_message_len_value(&self) -> usize {
        self.max_message_len
    }

    /// How long the blocking and async clients may spin (retry a non-blocking read, yielding
    /// the CPU in between) for the answer to a request they have just sent before sleeping
    /// until the socket is readable. `Duration::ZERO` turns spinning off. By default 100 µs
    /// (`pgsans_client::io::DEFAULT_SPIN_WAIT`) when the process may run on
    /// more than one CPU, and off when it may use only one (its affinity mask or cgroup
    /// quota): there a spinning client would only hold up the server it waits for.
    ///
    /// A sleeping client pays a wake-up when the answer arrives — on the virtual machines
    /// these benchmarks ran on, about 50 µs, more than a nearby server takes to answer a short
    /// query (see `BENCHMARKS.md`). Spins that find nothing back off (see
    /// `pgsans_client::io::SpinWait`), so slow queries and distant servers cost little.
    /// Connections with a wait callback and the polling connection never spin. Turn it off
    /// when CPU time matters more than latency, e.g. many connections sharing few cores.
    pub fn spin_wait(&mut self, limit: std::time::Duration) -> &mut Self {
        self.spin_wait = Some(limit);
        self
    }

    /// Asks for every result column of the extended query protocol (`query`, streams, portals,
    /// pipelines — the simple protocol and COPY's text have no choice) in the binary format, as
    /// tokio-postgres does, instead of binary only for the types pgsans decodes (the others come as text, readable as
    /// `String`). For `FromSql` implementations that read only binary — postgres-types' through
    /// `pgsans-postgres-types`. A column of a type pgsans does not decode is then readable only
    /// by such an implementation or as raw bytes ([`Row::raw`](crate::Row::raw)).
    pub fn binary_results(&mut self, on: bool) -> &mut Self {
        self.binary_results = on;
        self
    }

    /// Puts each query's SQL text (up to 2,048 bytes) in its trace span as `db.query.text`
    /// (the client's `tracing` feature). Off by default, as OpenTelemetry recommends: the text
    /// may hold values that were not sent as parameters.
    pub fn trace_query_text(&mut self, on: bool) -> &mut Self {
        self.trace_query_text = on;
        self
    }

    /// Whether [`trace_query_text`](Self::trace_query_text) is on.
    pub fn trace_query_text_on(&self) -> bool {
        self.trace_query_text
    }

    /// Whether [`binary_results`](Self::binary_results) is on.
    pub fn binary_results_on(&self) -> bool {
        self.binary_results
    }

    /// The spin limit set with [`spin_wait`](Self::spin_wait); `None`: the transport's
    /// default.
    pub fn spin_wait_limit(&self) -> Option<std::time::Duration> {
        self.spin_wait
    }

    /// Connect in autocommit mode (psycopg 3's `connect(autocommit=True)`), or explicitly not.
    /// By default a connection follows psycopg2: not autocommit, a transaction is opened for
    /// you by the first statement. The engine starts in this mode and `reset()` returns to it.
    pub fn autocommit(&mut self, on: bool) -> &mut Self {
        self.autocommit = Some(on);
        self
    }

    /// Whether a request dropped while the server runs it (a dropped future or stream, an
    /// interrupted call) is cancelled on the server before the next request, as psycopg 3
    /// cancels an interrupted query; on by default. Off: the abandoned statement runs to its
    /// end and the next request waits behind it.
    pub fn cancel_on_drop(&mut self, on: bool) -> &mut Self {
        self.cancel_on_drop = Some(on);
        self
    }

    /// The [`cancel_on_drop`](Self::cancel_on_drop) setting (default `true`).
    pub fn cancel_on_drop_value(&self) -> bool {
        self.cancel_on_drop.unwrap_or(true)
    }

    /// The passwords `.pgpass` gives the hosts (see [`passwords_from_pgpass`](Self::passwords_from_pgpass)),
    /// used for a host when no password is set.
    pub fn host_passwords(&mut self, passwords: Vec<(Target, String)>) -> &mut Self {
        self.pgpass = passwords;
        self
    }

    /// The home directory libpq's default files are under (`~/.pgpass`,
    /// `~/.postgresql/root.crt` …), as the loader found it; `None`: none.
    pub fn home_dir(&self) -> Option<&str> {
        self.home.as_deref()
    }

    /// Sets the home directory default files are looked for in.
    pub fn set_home_dir(&mut self, home: Option<String>) -> &mut Self {
        self.home = home;
        self
    }

    /// A certificate revocation list (PEM) to check the server's chain against, besides the
    /// `sslcrl` file and the `sslcrldir` directory.
    pub fn ssl_crl_pem(&mut self, pem: impl Into<Vec<u8>>) -> &mut Self {
        self.tls.crl_pem.push(pem.into());
        self
    }

    /// The OS trust store (DER certificates) for `sslrootcert=system`, as the loader read it.
    pub fn ssl_system_roots(&mut self, roots: std::sync::Arc<Vec<Vec<u8>>>) -> &mut Self {
        self.tls.system_roots = roots;
        self
    }

    /// Whether root certificates (PEM) are set.
    pub fn has_ssl_root_cert(&self) -> bool {
        self.tls.root_pem.is_some()
    }

    /// Whether a client certificate (PEM) is set.
    pub fn has_ssl_client_cert(&self) -> bool {
        self.tls.cert_pem.is_some()
    }

    /// Root certificates to verify the server with (PEM), instead of the `sslrootcert` file.
    pub fn ssl_root_cert_pem(&mut self, pem: impl Into<Vec<u8>>) -> &mut Self {
        self.tls.root_pem = Some(pem.into());
        self
    }

    /// A client certificate chain and its key (PEM), instead of the `sslcert` / `sslkey` files.
    pub fn ssl_client_cert_pem(&mut self, cert: impl Into<Vec<u8>>, key: impl Into<Vec<u8>>) -> &mut Self {
        self.tls.cert_pem = Some(cert.into());
        self.tls.key_pem = Some(key.into());
        self
    }

    /// The socket options libpq sets and checks (`requirepeer`): keep-alives (on unless `keepalives=0`; idle time,
    /// interval and count when given, the system's otherwise) and `tcp_user_timeout` (ms; 0
    /// for the system's). Transports apply them to TCP connections, never to Unix sockets.
    pub fn socket_options(&self) -> Result<SocketOptions, ConfigError> {
        let int = |key: &str| -> Result<Option<u32>, ConfigError> {
            let Some(v) = self.get(key) else { return Ok(None) };
            let n: i64 =
                v.trim().parse().map_err(|_| ConfigError::InvalidInteger { key: key.into(), value: v.into() })?;
            match u32::try_from(n) {
                Ok(0) => Ok(None),
                Ok(n) => Ok(Some(n)),
                Err(_) => Err(ConfigError::InvalidValue { key: key.into(), value: v.into() }),
            }
        };
        let secs = |key: &str| int(key).map(|v| v.map(|n| Duration::from_secs(n.into())));
        Ok(SocketOptions {
            keepalives: self.get("keepalives").is_none_or(|v| v.trim().parse::<i64>() != Ok(0)),
            keepalives_idle: secs("keepalives_idle")?,
            keepalives_interval: secs("keepalives_interval")?,
            keepalives_count: int("keepalives_count")?,
            user_timeout: int("tcp_user_timeout")?.map(|ms| Duration::from_millis(ms.into())),
            require_peer: self.get("requirepeer").filter(|v| !v.is_empty()).map(str::to_owned),
        })
    }

    /// `min_protocol_version` and `max_protocol_version` as minor versions of protocol 3
    /// (libpq 18: both 3.0 by default; `latest` is 3.2).
    pub fn protocol_versions(&self) -> Result<(u16, u16), ConfigError> {
        let minor = |key: &str| match self.get(key) {
            None | Some("3.0") => Ok(0),
            Some("3.2" | "latest") => Ok(2),
            Some(v) => Err(ConfigError::InvalidValue { key: key.into(), value: v.into() }),
        };
        let (min, max) = (minor("min_protocol_version")?, minor("max_protocol_version")?);
        // min alone above the default max raises the max with it.
        let max = if self.get("max_protocol_version").is_none() { max.max(min) } else { max };
        if min > max {
            return Err(ConfigError::Unsupported("min_protocol_version is greater than max_protocol_version".into()));
        }
        Ok((min, max))
    }

    /// `channel_binding` and `require_auth`, as the startup checks them.
    pub(crate) fn auth_policy(&self) -> Result<crate::config::auth_policy::AuthPolicy, ConfigError> {
        use crate::config::auth_policy::{AuthPolicy, ChannelBindingMode, RequireAuth};
        let channel_binding = match self.get("channel_binding") {
            Some("disable") => ChannelBindingMode::Disable,
            Some("require") => ChannelBindingMode::Require,
            _ => ChannelBindingMode::Prefer,
        };
        Ok(AuthPolicy { channel_binding, require_auth: RequireAuth::parse(self.get("require_auth").unwrap_or(""))? })
    }

    /// The first setting whose behaviour pgsans does not implement, worded as a refusal: a
    /// setting that silently did nothing would be worse (`Connection::new` refuses these).
    pub fn unsupported(&self) -> Option<String> {
        let set = |key: &str| self.get(key).filter(|v| !v.is_empty());
        let not_yet = |what: &str| Some(format!("{what} is not supported by this version of pgsans"));
        if set("gssencmode") == Some("require") {
            return not_yet("gssencmode=require (GSSAPI encryption)");
        }
        None
    }

    pub(crate) fn tls_material(&self) -> &TlsMaterial {
        &self.tls
    }

    /// The autocommit mode set with [`autocommit`](Self::autocommit), if any.
    pub fn autocommit_value(&self) -> Option<bool> {
        self.autocommit
    }

    /// Whether it asks for a replication connection (`replication=database`, `true`, `on`,
    /// `yes`, `1`): a walsender that takes replication commands, always in autocommit mode
    /// (psycopg2's replication connections are; `BEGIN` is refused by a physical one).
    pub fn is_replication(&self) -> bool {
        self.get("replication")
            .is_some_and(|v| !matches!(v.to_ascii_lowercase().as_str(), "" | "0" | "false" | "off" | "no" | "f" | "n"))
    }

    pub fn user(&self) -> Option<&str> {
        self.get("user")
    }
    pub fn password(&self) -> Option<&str> {
        self.get("password")
    }
    /// The database name; defaults to the user name, as in libpq.
    pub fn dbname(&self) -> Option<&str> {
        self.get("dbname").filter(|s| !s.is_empty()).or_else(|| self.user())
    }
    /// The password for `target`: the one set, else the one `.pgpass` gave for that host
    /// ([`host_passwords`](Self::host_passwords)).
    pub fn password_for(&self, target: &Target) -> Option<&str> {
        self.password().or_else(|| self.pgpass.iter().find(|(t, _)| t == target).map(|(_, pw)| pw.as_str()))
    }

    pub fn application_name(&self) -> Option<&str> {
        self.get("application_name").or_else(|| self.get("fallback_application_name"))
    }
    pub fn options(&self) -> Option<&str> {
        self.get("options").filter(|s| !s.is_empty())
    }

    /// `connect_timeout`: `None` for no timeout; values of 1 are raised to 2 seconds as in libpq.
    pub fn connect_timeout(&self) -> Option<Duration> {
        let v: i64 = self.get("connect_timeout")?.trim().parse().ok()?;
        if v <= 0 {
            None
        } else {
            Some(Duration::from_secs(v.max(2) as u64))
        }
    }

    pub fn ssl_mode(&self) -> SslMode {
        match self.get("sslmode") {
            Some("disable") => SslMode::Disable,
            Some("allow") => SslMode::Allow,
            Some("require") => SslMode::Require,
            Some("verify-ca") => SslMode::VerifyCa,
            Some("verify-full") => SslMode::VerifyFull,
            _ => SslMode::Prefer,
        }
    }

    pub fn target_session_attrs(&self) -> TargetSessionAttrs {
        match self.get("target_session_attrs") {
            Some("read-write") => TargetSessionAttrs::ReadWrite,
            Some("read-only") => TargetSessionAttrs::ReadOnly,
            Some("primary") => TargetSessionAttrs::Primary,
            Some("standby") => TargetSessionAttrs::Standby,
            Some("prefer-standby") => TargetSessionAttrs::PreferStandby,
            _ => TargetSessionAttrs::Any,
        }
    }

    /// The host slots to try, in order (libpq's multi-host rules: one port for all hosts or one
    /// per host; an empty entry means the default).
    pub fn targets(&self) -> Result<Vec<Target>, ConfigError> {
        let split = |k: &str| -> Vec<String> {
            match self.get(k) {
                Some(v) => v.split(',').map(|s| s.trim().to_owned()).collect(),
                None => Vec::new(),
            }
        };
        let hosts = split("host");
        let hostaddrs: Vec<String> = split("hostaddr");
        let ports = split("port");
        let n = if !hostaddrs.is_empty() { hostaddrs.len() } else { hosts.len().max(1) };
        if !hostaddrs.is_empty() && !hosts.is_empty() && hosts.len() != hostaddrs.len() {
            return Err(ConfigError::HostaddrCount { hosts: hosts.len(), hostaddrs: hostaddrs.len() });
        }
        if ports.len() > 1 && ports.len() != n {
            return Err(ConfigError::PortCount { ports: ports.len(), hosts: n });
        }
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let port_s =
                if ports.len() == 1 { ports[0].as_str() } else { ports.get(i).map(|s| s.as_str()).unwrap_or("") };
            let port = if port_s.is_empty() { 5432 } else { parse_port(port_s)? };
            let host_s = hosts.get(i).map(|s| s.as_str()).unwrap_or("");
            let hostaddr = hostaddrs.get(i).filter(|s| !s.is_empty()).cloned();
            let host = if host_s.is_empty() {
                match &hostaddr {
                    Some(a) => Host::Tcp(a.clone()),
                    None => Host::Tcp("localhost".into()),
                }
            } else if host_s.starts_with('/') {
                Host::Unix(PathBuf::from(host_s))
            } else {
                Host::Tcp(host_s.to_owned())
            };
            out.push(Target::new(host, hostaddr, port));
        }
        Ok(out)
    }

    /// Every attempt libpq makes, in order: each host (shuffled with `seed` under
    /// `load_balance_hosts=random`; the caller draws the seed, the engine draws nothing), and
    /// under `target_session_attrs=prefer-standby`, after every host was found not to be a
    /// standby, every host again accepting any server.
    pub fn host_attempts(&self, seed: u64) -> Result<Vec<HostAttempt>, ConfigError> {
        let mut targets = self.targets()?;
        if self.get("load_balance_hosts") == Some("random") {
            shuffle(&mut targets, seed);
            for (i, t) in targets.iter_mut().enumerate() {
                t.address_seed = Some(seed.rotate_left(17) ^ (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            }
        }
        let attrs = self.target_session_attrs();
        let mut out: Vec<HostAttempt> = targets.iter().map(|t| HostAttempt { target: t.clone(), attrs }).collect();
        if attrs == TargetSessionAttrs::PreferStandby {
            out.extend(targets.into_iter().map(|target| HostAttempt { target, attrs: TargetSessionAttrs::Any }));
        }
        Ok(out)
    }

    /// libpq's second attempt on the same host after `error`: with `sslmode=allow`, a
    /// plaintext session the server refused is tried again with TLS; with `sslmode=prefer`, a
    /// failed TLS handshake or a session refused over TLS is tried again in plaintext. The
    /// configuration for the second attempt, or `None`.
    pub fn second_ssl_attempt(&self, error: &crate::Error, tls_used: bool) -> Option<Config> {
        let refused_at_startup = matches!(error, crate::Error::Db(db) if db.is_fatal());
        let mode = match self.ssl_mode() {
            SslMode::Allow if refused_at_startup && !tls_used => "require",
            SslMode::Prefer if matches!(error, crate::Error::Tls(_)) || (tls_used && refused_at_startup) => "disable",
            _ => return None,
        };
        let mut second = self.clone();
        second.set("sslmode", mode).ok()?;
        Some(second)
    }

    /// Checks the settings against each other and against what libpq accepts (done by every
    /// setter and by [`parse`](Self::parse); for a loader that filled fields in).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let one_of = |key: &str, allowed: &[&str]| -> Result<(), ConfigError> {
            match self.get(key) {
                Some(v) if !allowed.contains(&v) => {
                    Err(ConfigError::InvalidValue { key: key.to_owned(), value: v.to_owned() })
                }
                _ => Ok(()),
            }
        };
        one_of("sslmode", &["disable", "allow", "prefer", "require", "verify-ca", "verify-full"])?;
        one_of("channel_binding", &["disable", "prefer", "require"])?;
        one_of("gssencmode", &["disable", "prefer", "require"])?;
        crate::config::auth_policy::RequireAuth::parse(self.get("require_auth").unwrap_or(""))?;
        one_of("sslcertmode", &["disable", "allow", "require"])?;
        one_of("sslnegotiation", &["postgres", "direct"])?;
        one_of("target_session_attrs", &["any", "read-write", "read-only", "primary", "standby", "prefer-standby"])?;
        one_of("load_balance_hosts", &["disable", "random"])?;
        one_of("min_protocol_version", &["3.0", "3.2", "latest"])?;
        one_of("max_protocol_version", &["3.0", "3.2", "latest"])?;
        for key in [
            "connect_timeout",
            "keepalives",
            "keepalives_idle",
            "keepalives_interval",
            "keepalives_count",
            "tcp_user_timeout",
        ] {
            if let Some(v) = self.get(key) {
                if v.trim().parse::<i64>().is_err() {
                    return Err(ConfigError::InvalidInteger { key: key.to_owned(), value: v.to_owned() });
                }
            }
        }
        self.targets()?;
        self.socket_options()?;
        self.protocol_versions()?;
        Ok(())
    }

    /// Validates and returns `self`: for configurations built with [`Config::set`].
    pub fn check(&self) -> Result<(), ConfigError> {
        self.validate()
    }

    /// psycopg2's `dsn`: the original string when it holds no secret, otherwise the
    /// parameters rebuilt as `key=value` with the password (and `sslpassword`, which libpq
    /// also marks secret) replaced by `xxx`.
    pub fn dsn(&self) -> String {
        if let Some(src) = &self.source {
            if SECRETS.iter().all(|k| self.get(k).is_none()) {
                return src.clone();
            }
        }
        let mut parts = Vec::new();
        for key in KEYWORDS {
            if let Some(v) = self.get(key) {
                let v = if SECRETS.contains(key) { "xxx" } else { v };
                parts.push(format!("{key}={}", quote_value(v)));
            }
        }
        parts.join(" ")
    }

    /// Every parameter that is set, except the secrets (psycopg2 `get_dsn_parameters`).
    pub fn dsn_parameters(&self) -> Vec<(&'static str, &str)> {
        KEYWORDS.iter().filter(|k| !SECRETS.contains(k)).filter_map(|k| self.get(k).map(|v| (*k, v))).collect()
    }
}

fn parse_port(s: &str) -> Result<u16, ConfigError> {
    match s.trim().parse::<u32>() {
        Ok(p) if (1..=65535).contains(&p) => Ok(p as u16),
        _ => Err(ConfigError::InvalidPort(s.to_owned())),
    }
}

/// Quotes a value for a `key=value` string when needed.
pub(crate) fn quote_value(v: &str) -> String {
    if !v.is_empty() && !v.chars().any(|c| c.is_whitespace() || c == '\'' || c == '\\') {
        return v.to_owned();
    }
    let mut s = String::with_capacity(v.len() + 2);
    s.push('\'');
    for c in v.chars() {
        if c == '\'' || c == '\\' {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('\'');
    s
}

/// libpq's `conninfo_parse`.
fn parse_keyword_value(s: &str, c: &mut Config) -> Result<(), ConfigError> {
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(());
        }
        let mut key = String::new();
        while let Some(&ch) = chars.peek() {
            if ch == '=' || ch.is_whitespace() {
                break;
            }
            key.push(ch);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(ConfigError::MissingEquals { key });
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(ConfigError::UnterminatedQuote),
                    Some('\\') => match chars.next() {
                        Some(ch) => value.push(ch),
                        None => return Err(ConfigError::UnterminatedQuote),
                    },
                    Some('\'') => break,
                    Some(ch) => value.push(ch),
                }
            }
        } else {
            while let Some(&ch) = chars.peek() {
                if ch.is_whitespace() {
                    break;
                }
                chars.next();
                if ch == '\\' {
                    if let Some(n) = chars.next() {
                        value.push(n);
                    }
                } else {
                    value.push(ch);
                }
            }
        }
        c.set(&key, value)?;
    }
}

#[cfg(test)]
mod tests;

/// Fisher–Yates with SplitMix64 from `seed`: the same seed, the same order.
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    let mut next = || {
        seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    for i in (1..items.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}
