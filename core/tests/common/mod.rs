//! Replays recorded PostgreSQL sessions (tests/transcripts/*.json) against the engine.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::path::PathBuf;

use pgsans::session::Command;
use pgsans::{ClientNonce, Config, Connection, Interest, Request, Response, SessionChange, SimpleBatch};
use serde_json::Value;

/// Connects as the recording did and switches to autocommit (what psql and psycopg used).
pub fn connect_autocommit(t: &Transcript, script: &mut Script) -> Connection {
    let mut conn = Connection::new(&t.config(), t.nonce()).unwrap();
    script.startup(&mut conn).unwrap();
    script.request(&mut conn, Request::command(Command::SetSession(SessionChange::new().autocommit(true)))).unwrap();
    conn
}

pub struct Transcript {
    pub name: String,
    pub json: Value,
    /// The server's chunks as recorded.
    pub server_chunks: Vec<Vec<u8>>,
    pub client_stream: Vec<u8>,
}

pub fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

pub fn load(name: &str) -> Transcript {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/transcripts").join(format!("{name}.json"));
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut server_chunks = Vec::new();
    let mut client_stream = Vec::new();
    for c in json["chunks"].as_array().unwrap() {
        let bytes = hex(c["hex"].as_str().unwrap());
        if c["dir"] == "S" {
            server_chunks.push(bytes);
        } else {
            client_stream.extend(bytes);
        }
    }
    Transcript { name: name.to_owned(), json, server_chunks, client_stream }
}

impl Transcript {
    pub fn server_stream(&self) -> Vec<u8> {
        self.server_chunks.concat()
    }

    /// The SQL of every Query message the recorded client sent.
    pub fn queries(&self) -> Vec<String> {
        self.json["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["dir"] == "C" && m["name"] == "Query")
            .map(|m| m["fields"]["query"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The recorded client's typed messages (everything after the StartupMessage), as bytes.
    pub fn client_typed_messages(&self) -> Vec<Vec<u8>> {
        self.json["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["dir"] == "C" && !m["type"].is_null())
            .map(|m| hex(m["hex"].as_str().unwrap()))
            .collect()
    }

    pub fn config(&self) -> Config {
        let startup = &self.json["metadata"]["derived"]["startup"]["params"];
        let mut c = Config::new();
        c.set("user", startup["user"].as_str().unwrap()).unwrap();
        c.set("dbname", startup["database"].as_str().unwrap()).unwrap();
        // The recorded clients did not ask for TLS.
        c.set("sslmode", "disable").unwrap();
        // libpq 18 asked for protocol 3.2 in one recording.
        if let Some(v) = self.json["metadata"]["derived"]["startup"]["protocol"].as_str() {
            c.set("max_protocol_version", v).unwrap();
        }
        if let Some(pw) = self.json["metadata"]["password"].as_str() {
            c.set("password", pw).unwrap();
        }
        c
    }

    pub fn nonce(&self) -> ClientNonce {
        match self.json["metadata"]["derived"]["scram"]["client_nonce"].as_str() {
            Some(n) => ClientNonce::from_printable(n).unwrap(),
            None => ClientNonce::from_random_bytes([0; 18]),
        }
    }
}

/// Splits typed client messages out of a stream that starts with a StartupMessage.
pub fn split_client_stream(stream: &[u8]) -> Vec<Vec<u8>> {
    let first = i32::from_be_bytes(stream[..4].try_into().unwrap()) as usize;
    let mut rest = &stream[first..];
    let mut out = Vec::new();
    while !rest.is_empty() {
        let len = i32::from_be_bytes(rest[1..5].try_into().unwrap()) as usize + 1;
        out.push(rest[..len].to_vec());
        rest = &rest[len..];
    }
    out
}

/// A scripted server: hands the engine the recorded server bytes in the given pieces whenever
/// it asks to read, and captures everything it writes.
pub struct Script {
    pieces: VecDeque<Vec<u8>>,
    pub written: Vec<u8>,
    /// Write at most this many bytes per write call (exercises partial writes).
    pub write_limit: usize,
}

impl Script {
    pub fn new(stream: &[u8], sizes: impl IntoIterator<Item = usize>) -> Script {
        let mut pieces = VecDeque::new();
        let mut rest = stream;
        for n in sizes {
            if rest.is_empty() {
                break;
            }
            let n = n.clamp(1, rest.len());
            pieces.push_back(rest[..n].to_vec());
            rest = &rest[n..];
        }
        if !rest.is_empty() {
            pieces.push_back(rest.to_vec());
        }
        Script { pieces, written: Vec::new(), write_limit: usize::MAX }
    }

    /// Moves bytes as the engine asks until `done` has an answer.
    pub fn run<T>(
        &mut self,
        conn: &mut Connection,
        mut done: impl FnMut(&mut Connection) -> Option<T>,
    ) -> Result<T, pgsans::Error> {
        for _ in 0..1_000_000 {
            let interest = conn.poll()?;
            if let Some(out) = done(conn) {
                return Ok(out);
            }
            match interest {
                Some(Interest::Write) => self.write(conn),
                Some(Interest::ReadWrite) => {
                    if conn.transmit().is_empty() {
                        self.read(conn)
                    } else {
                        self.write(conn)
                    }
                }
                Some(Interest::Read) => self.read(conn),
                None => panic!("nothing to wait for, and not done"),
            }
        }
        panic!("request did not finish: livelock");
    }

    pub fn startup(&mut self, conn: &mut Connection) -> Result<(), pgsans::Error> {
        self.run(conn, |c| c.is_ready().then_some(()))
    }

    pub fn request(&mut self, conn: &mut Connection, request: Request) -> Result<Response, pgsans::Error> {
        let id = conn.submit(request)?;
        self.run(conn, |c| c.take_response(id))?
    }

    pub fn simple(&mut self, conn: &mut Connection, sql: &str) -> Result<SimpleBatch, pgsans::Error> {
        self.request(conn, Request::simple(sql))?.into_batch()
    }

    pub fn terminate(&mut self, conn: &mut Connection) {
        conn.terminate();
        self.run(conn, |c| c.transmit().is_empty().then_some(())).unwrap();
    }

    fn write(&mut self, conn: &mut Connection) {
        let n = conn.transmit().len().min(self.write_limit);
        self.written.extend_from_slice(&conn.transmit()[..n]);
        conn.advance(n);
    }

    fn read(&mut self, conn: &mut Connection) {
        match self.pieces.pop_front() {
            Some(p) => {
                // Alternate between the two input paths.
                if p.len() % 2 == 0 {
                    conn.receive(&p);
                } else {
                    let buf = conn.recv_buf();
                    assert!(buf.len() >= p.len() || buf.len() >= 5);
                    let n = p.len().min(buf.len());
                    buf[..n].copy_from_slice(&p[..n]);
                    conn.recv_commit(n);
                    if n < p.len() {
                        self.pieces.push_front(p[n..].to_vec());
                    }
                }
            }
            None => conn.receive_eof(),
        }
    }
}

/// Everything a user could observe from replaying `t` with the server bytes cut into `sizes`.
pub fn replay(t: &Transcript, sizes: impl IntoIterator<Item = usize>, write_limit: usize) -> (Vec<String>, Vec<u8>) {
    let mut log = Vec::new();
    let mut script = Script::new(&t.server_stream(), sizes);
    script.write_limit = write_limit;
    let mut conn = Connection::new(&t.config(), t.nonce()).unwrap();
    match script.startup(&mut conn) {
        Ok(()) => {
            // The recorded clients ran in autocommit mode; switching sends nothing.
            let autocommit = Request::command(Command::SetSession(SessionChange::new().autocommit(true)));
            script.request(&mut conn, autocommit).unwrap();
            log.push("connected".to_owned())
        }
        Err(e) => {
            log.push(format!("startup failed: {e:?}"));
            return (log, script.written);
        }
    }
    for sql in t.queries() {
        match script.simple(&mut conn, &sql) {
            Ok(batch) => log.push(format!("{sql} => {batch:?} status={:?}", conn.transaction_status())),
            Err(e) => {
                log.push(format!("{sql} => fatal {e:?}"));
                return (log, script.written);
            }
        }
    }
    log.push(format!("params={:?}", conn.parameters().collect::<Vec<_>>()));
    log.push(format!("key={:?} version={}", conn.backend_key(), conn.server_version()));
    log.push(format!("notices={:?}", conn.take_notices()));
    log.push(format!("notifications={:?}", conn.take_notifications()));
    script.terminate(&mut conn);
    (log, script.written)
}

/// Transcripts made only of startup, authentication and simple queries.
pub const SIMPLE: &[&str] = &[
    "startup-trust",
    "startup-cleartext",
    "startup-md5",
    "startup-scram",
    "startup-wrong-password",
    "startup-unknown-db",
    "startup-negotiate-protocol",
    "simple-multi",
    "simple-error-midbatch",
    "notices",
    "notify",
    "parameter-status-change",
    "transactions",
    "tpc",
    "cancel",
];
