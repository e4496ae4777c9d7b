//! Entry points for the fuzz targets in `fuzz/` (and the property tests that run the same code
//! in CI). Not part of the stable API. Test harness code: its `expect`s state what must hold.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use crate::session::Command;
use crate::{ClientNonce, Config, Connection, Mode, Request, RequestId, Response};

/// Feeds `server` as the server's whole reply to a connection that authenticates (any method)
/// and runs simple queries, an extended query and a pipeline, with reads cut into the sizes
/// given by `cuts` (cycled; 0 means "everything left"). Returns a log of what the caller would
/// observe. Must never panic, hang or grow without bound, and must give the same log for every
/// `cuts`.
pub fn server_reply(server: &[u8], cuts: &[u8]) -> Vec<String> {
    let mut config = Config::new();
    config.set("user", "fuzz").expect("valid");
    // The recordings the seeds come from are plaintext sessions.
    config.set("sslmode", "disable").expect("valid");
    config.set("password", "secret").expect("valid");
    // Protocol 3.2 (NegotiateProtocolVersion, long cancel keys) and the target_session_attrs
    // check (decided from ParameterStatus, or by a query when the server reported neither).
    config.set("max_protocol_version", "3.2").expect("valid");
    config.set("target_session_attrs", "read-write").expect("valid");
    config.max_message_len(1 << 16);
    let mut conn = Connection::new(&config, ClientNonce::from_printable("fuzznonce").expect("valid")).expect("valid");
    let mut feed = Feed { data: server, cuts, i: 0 };
    let mut log = Vec::new();
    let mut record = |what: &str, r: Result<String, crate::Error>| log.push(format!("{what}: {r:?}"));
    let r = feed.run(&mut conn, |c| c.is_ready().then_some(())).map(|()| "ready".to_owned());
    let ok = r.is_ok();
    record("startup", r);
    if ok {
        let autocommit = feed
            .request(&mut conn, Request::command(Command::SetSession(crate::SessionChange::new().autocommit(true))))
            .map(|_| "autocommit".to_owned());
        record("autocommit", autocommit);
        for sql in ["SELECT 1; SELECT 2", "COPY t FROM STDIN"] {
            let r = feed.request(&mut conn, Request::simple(sql)).map(|b| format!("{b:?}"));
            record(sql, r);
        }
        let one = 1i32;
        let text = "x";
        // Extended query: describe, bind, execute; typed decoding of whatever comes back.
        let r = Request::query("SELECT $1, $2", &[&one, &text], Mode::Collect)
            .and_then(|q| feed.request(&mut conn, q))
            .and_then(Response::into_query)
            .map(|r| {
                let decoded: Vec<String> = r
                    .rows
                    .iter()
                    .map(|row| {
                        format!(
                            "{:?} {:?} {:?}",
                            row.get::<Option<i32>, _>(0),
                            row.get::<Option<&str>, _>(1),
                            row.raw(2)
                        )
                    })
                    .collect();
                format!("{:?} {decoded:?}", r.tag)
            });
        record("extended", r);
        let mut p = crate::Pipeline::new();
        p.query("SELECT $1", &[&one]).sync().query("SELECT 2", &[]);
        let r = feed.request(&mut conn, Request::pipeline(p)).map(|results| format!("{results:?}"));
        record("pipeline", r);
        // A portal: a batch, then whatever the server sends for the next fetch and the close.
        let mut r = Request::portal("SELECT 3", &[], 1).and_then(|q| {
            let id = conn.submit(q)?;
            Ok((id, feed.run(&mut conn, |c| c.take_response(id))??))
        });
        for max_rows in [1, 0] {
            let Ok((id, Response::Suspended(batch))) = &r else { break };
            record("portal batch", Ok(format!("{batch:?}")));
            let (id, columns) = (*id, batch.columns.clone());
            r = conn
                .submit(Request::fetch(id, max_rows, columns))
                .and_then(|next| Ok((next, feed.run(&mut conn, |c| c.take_response(next))??)));
        }
        record("portal", r.map(|(_, resp)| format!("{resp:?}")));
        // COPY OUT: every chunk, then the count; COPY IN: data once the server asks, then
        // CopyDone (or whatever the server says instead).
        let r = conn.submit(Request::copy_out("COPY t TO STDOUT")).and_then(|id| {
            let mut chunks = Vec::new();
            let resp = feed.run(&mut conn, |c| {
                while let Some(chunk) = c.take_data(id) {
                    chunks.push(chunk.to_vec());
                    c.poll().ok()?;
                }
                c.take_response(id)
            })??;
            Ok(format!("{chunks:?} {resp:?}"))
        });
        record("copy out", r);
        let r = conn.submit(Request::copy_in("COPY t FROM STDIN")).and_then(|id| {
            let ready = feed.run(&mut conn, |c| {
                if c.input_format(id).is_some() {
                    return Some(None);
                }
                c.take_response(id).map(Some)
            })?;
            match ready {
                Some(resp) => Ok(format!("early {resp:?}")),
                None => {
                    conn.send_data(id, b"1\tx\n")?;
                    conn.finish_data(id)?;
                    Ok(format!("{:?}", feed.run(&mut conn, |c| c.take_response(id))??))
                }
            }
        });
        record("copy in", r);
    }
    record("notices", Ok(format!("{:?}", conn.take_notices())));
    record("notifications", Ok(format!("{:?}", conn.take_notifications())));
    record("params", Ok(format!("{:?} {:?}", conn.parameters().collect::<Vec<_>>(), conn.backend_key())));
    conn.terminate();
    let _ = feed.run(&mut conn, |c| c.transmit().is_empty().then_some(()));
    log
}

struct Feed<'a> {
    data: &'a [u8],
    cuts: &'a [u8],
    i: usize,
}

impl Feed<'_> {
    fn request(&mut self, conn: &mut Connection, request: Request) -> Result<Response, crate::Error> {
        let id: RequestId = conn.submit(request)?;
        self.run(conn, |c| c.take_response(id))?
    }

    /// Moves bytes until `done` gives an answer.
    fn run<T>(
        &mut self,
        conn: &mut Connection,
        mut done: impl FnMut(&mut Connection) -> Option<T>,
    ) -> Result<T, crate::Error> {
        // Each iteration consumes input or output, so this bound is generous.
        for _ in 0..(self.data.len() + 64) * 4 {
            let interest = conn.poll()?;
            if let Some(out) = done(conn) {
                return Ok(out);
            }
            match interest {
                Some(crate::Interest::Write | crate::Interest::ReadWrite) if !conn.transmit().is_empty() => {
                    let n = conn.transmit().len();
                    conn.advance(n);
                }
                Some(_) => {
                    if self.data.is_empty() {
                        conn.receive_eof();
                        continue;
                    }
                    let cut = self.cuts.get(self.i % self.cuts.len().max(1)).copied().unwrap_or(0) as usize;
                    self.i += 1;
                    let n = if cut == 0 { self.data.len() } else { cut.min(self.data.len()) };
                    conn.receive(&self.data[..n]);
                    self.data = &self.data[n..];
                }
                None => return Err(crate::Error::Internal("nothing to wait for, and not done".into())),
            }
        }
        panic!("livelock: the request neither finished nor consumed input");
    }
}

/// Parses an arbitrary connection string and exercises what a caller would do with it.
pub fn conninfo(s: &str) -> String {
    match Config::parse(s) {
        Ok(c) => {
            let targets = c.targets().map(|t| t.len());
            // Everything a connection derives from the configuration, and the engine itself
            // (TLS plan, startup packet, policies): typed errors, never a panic.
            let derived = (
                c.host_attempts(7).map(|a| a.len()),
                c.socket_options().map(|o| o.keepalives),
                c.protocol_versions(),
                c.target_session_attrs(),
                c.unsupported(),
            );
            let engine = Connection::new(&c, ClientNonce::from_printable("n").expect("valid")).map(|e| e.is_ready());
            format!(
                "{} {:?} {:?} {:?} {derived:?} {engine:?}",
                c.dsn(),
                c.dsn_parameters(),
                targets,
                c.connect_timeout()
            )
        }
        Err(e) => e.to_string(),
    }
}

/// Decodes one message body of type `ty` and reads every part of the result.
pub fn decode_message(ty: u8, body: &[u8]) -> String {
    use crate::wire::codec::backend::{decode, BackendMessage};
    match decode(ty, body) {
        Ok(m) => {
            let detail = match &m {
                BackendMessage::RowDescription(d) => format!("{:?}", d.fields().collect::<Vec<_>>()),
                BackendMessage::DataRow(r) => {
                    let mut ranges = Vec::new();
                    r.ranges(&mut ranges);
                    let mut again = Vec::new();
                    crate::wire::codec::backend::data_row_ranges(
                        &[&(r.len() as i16).to_be_bytes()[..], r.buffer()].concat(),
                        &mut again,
                    )
                    .expect("a decoded DataRow is valid for the one-pass decoder too");
                    format!("{:?}", r.values().collect::<Vec<_>>())
                }
                BackendMessage::ErrorResponse(_) | BackendMessage::NoticeResponse(_) => format!("{:?}", m.db_error()),
                BackendMessage::ParameterDescription(p) => format!("{:?}", p.types().collect::<Vec<_>>()),
                BackendMessage::NegotiateProtocolVersion(n) => {
                    format!("{:?}", n.unrecognized_options().collect::<Vec<_>>())
                }
                BackendMessage::CopyInResponse(c)
                | BackendMessage::CopyOutResponse(c)
                | BackendMessage::CopyBothResponse(c) => {
                    format!("{:?}", c.column_formats().collect::<Vec<_>>())
                }
                BackendMessage::Authentication(crate::wire::codec::backend::Authentication::Sasl { mechanisms }) => {
                    format!("{:?}", mechanisms.iter().collect::<Vec<_>>())
                }
                other => format!("{other:?}"),
            };
            format!("{} {detail}", m.name())
        }
        Err(e) => e.to_string(),
    }
}

/// Every type OID pgsans decodes, for [`decode_value`] to pick from (and a user-defined one).
const OIDS: &[u32] = {
    use crate::types::oid::*;
    &[
        BOOL,
        BYTEA,
        CHAR,
        NAME,
        INT8,
        INT2,
        INT4,
        TEXT,
        OID,
        JSON,
        FLOAT4,
        FLOAT8,
        UNKNOWN,
        BPCHAR,
        VARCHAR,
        DATE,
        TIME,
        TIMESTAMP,
        TIMESTAMPTZ,
        INTERVAL,
        NUMERIC,
        UUID,
        JSONB,
        BOOL_ARRAY,
        BYTEA_ARRAY,
        CHAR_ARRAY,
        NAME_ARRAY,
        INT2_ARRAY,
        INT4_ARRAY,
        TEXT_ARRAY,
        BPCHAR_ARRAY,
        VARCHAR_ARRAY,
        INT8_ARRAY,
        FLOAT4_ARRAY,
        FLOAT8_ARRAY,
        OID_ARRAY,
        TIMESTAMP_ARRAY,
        DATE_ARRAY,
        TIME_ARRAY,
        TIMESTAMPTZ_ARRAY,
        INTERVAL_ARRAY,
        NUMERIC_ARRAY,
        JSON_ARRAY,
        UUID_ARRAY,
        JSONB_ARRAY,
        INET,
        CIDR,
        MACADDR,
        MACADDR8,
        PG_LSN,
        XID8,
        MONEY,
        BIT,
        VARBIT,
        POINT,
        LSEG,
        PATH,
        BOX,
        POLYGON,
        LINE,
        CIRCLE,
        INT4RANGE,
        NUMRANGE,
        TSRANGE,
        TSTZRANGE,
        DATERANGE,
        INT8RANGE,
        INT4MULTIRANGE,
        NUMMULTIRANGE,
        TSMULTIRANGE,
        TSTZMULTIRANGE,
        DATEMULTIRANGE,
        INT8MULTIRANGE,
        INET_ARRAY,
        POINT_ARRAY,
        PG_LSN_ARRAY,
        16384,
        2249,
    ]
};

/// A value of the type `OIDS[pick]` in `format` (0 text, else binary): its text
/// (`Row::text`) and every Rust type that reads it. Each is a value or a typed error, never a
/// panic, a hang or an allocation beyond the bytes given.
pub fn decode_value(pick: u8, format: u8, raw: &[u8]) -> usize {
    use crate::types::*;
    use std::collections::HashMap;
    let oid = OIDS[pick as usize % OIDS.len()];
    let format = i16::from(format % 2);
    let mut ok = 0;
    let mut count = |r: bool| ok += usize::from(r);
    count(crate::types::text::render(Encoding::UTF8, oid, format, raw).is_ok());
    macro_rules! try_all {
        ($($t:ty),* $(,)?) => {$(
            if <$t as FromSql>::accepts_format(oid, format) {
                count(<$t as FromSql>::from_sql(oid, format, raw).is_ok());
            }
        )*};
    }
    try_all!(
        bool, i8, i16, i32, i64, u32, f32, f64, String, &str, Vec<u8>, &[u8], Numeric, Json, Interval,
        Inet, core::net::IpAddr, MacAddr, MacAddr8, PgLsn, Xid8, Money, Bits, Point, Lseg, PgBox, Line, Path, Polygon,
        Circle, Range<i32>, Range<i64>, Range<Numeric>, Multirange<i32>, Vec<i32>, Vec<Option<String>>, Vec<Inet>,
        Array<f64>, Vec<Vec<u8>>, HashMap<String, Option<String>>,
    );
    ok
}

/// A binary COPY stream of rows of `types` (picked from `OIDS`) pushed in `cuts`-sized
/// pieces: rows or a typed error, the same whatever the cuts.
pub fn binary_copy(picks: &[u8], cuts: &[u8], data: &[u8]) -> Vec<String> {
    let types: Vec<u32> = picks.iter().map(|p| OIDS[*p as usize % OIDS.len()]).collect();
    let mut reader = crate::BinaryCopyReader::new(&types, crate::types::Encoding::UTF8);
    let mut log = Vec::new();
    let mut rest = data;
    let mut i = 0;
    loop {
        let n = match cuts.get(i % cuts.len().max(1)) {
            Some(&c) if c > 0 => (c as usize).min(rest.len()),
            _ => rest.len(),
        };
        i += 1;
        reader.push(&rest[..n]);
        rest = &rest[n..];
        loop {
            match reader.next_row() {
                Ok(Some(row)) => log.push(format!(
                    "row {:?}",
                    (0..row.len()).map(|c| row.raw(c).ok().flatten().map(<[u8]>::len)).collect::<Vec<_>>()
                )),
                Ok(None) => break,
                Err(e) => {
                    log.push(format!("error {e}"));
                    return log;
                }
            }
        }
        if rest.is_empty() {
            log.push(format!("finished {}", reader.is_finished()));
            return log;
        }
    }
}

/// An Xid string (psycopg2's `Xid.from_string`): a two-phase Xid or a plain transaction name,
/// whose string form reads back the same.
pub fn xid(s: &str) -> String {
    let x = crate::Xid::from_string(s);
    let back = crate::Xid::from_string(&x.to_string());
    assert_eq!(back, x, "Xid {s:?} does not survive its own string form");
    x.to_string()
}

/// Replication messages and a pgoutput stream from arbitrary bytes: the input split into
/// messages (each prefixed by a 2-byte big-endian length), each parsed as a replication
/// message (XLogData's data, or the whole message, then decoded by one pgoutput decoder that
/// keeps its relations), every tuple's values read as text and through its row. Returns how
/// many messages decoded.
pub fn replication(mut data: &[u8]) -> usize {
    use crate::replication::pgoutput::{Decoder, Message};
    use crate::replication::ReplicationMessage;
    fn read(t: &crate::replication::pgoutput::Tuple<'_>) {
        let row = t.row();
        for i in 0..row.len() {
            let _ = row.text(i);
            let _ = t.get::<Option<&[u8]>, _>(i);
        }
    }
    let mut decoder = Decoder::new();
    let mut decoded = 0;
    while data.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([data[0], data[1]])).min(data.len() - 2);
        let (message, rest) = data[2..].split_at(len);
        data = rest;
        let payload = match ReplicationMessage::parse(message) {
            Ok(ReplicationMessage::XLogData { data, .. }) => data,
            Ok(ReplicationMessage::Keepalive { .. }) => continue,
            Err(_) => message,
        };
        match decoder.decode(payload) {
            Ok(Message::Insert { new, .. }) => read(&new),
            Ok(Message::Update { key, old, new, .. }) => {
                key.iter().chain(old.iter()).for_each(read);
                read(&new);
            }
            Ok(Message::Delete { key, old, .. }) => key.iter().chain(old.iter()).for_each(read),
            Ok(_) => {}
            Err(_) => continue,
        }
        decoded += 1;
    }
    decoded
}

/// `.pgpass` and service-file contents from arbitrary bytes. The first line gives what is
/// looked up (`host:port:dbname:user` for `.pgpass`, and the service name), the rest is the
/// file. Never a panic; a service's settings apply to a configuration or are a typed error;
/// and a line written for any password (escaped as libpq escapes) reads back that password,
/// whatever the file holds after it. Returns how many lookups found something.
pub fn files(data: &[u8]) -> usize {
    use crate::config::{pgpass_lookup, service_lookup};
    let text = String::from_utf8_lossy(data);
    let (head, body) = text.split_once('\n').unwrap_or((&text, ""));
    let mut parts = head.splitn(5, ':');
    let host = parts.next().unwrap_or("");
    let port = parts.next().and_then(|p| p.parse::<u16>().ok()).unwrap_or(5432);
    let dbname = parts.next().unwrap_or("");
    let user = parts.next().unwrap_or("");
    let password: String = parts.next().unwrap_or(head).chars().filter(|c| *c != '\r').collect();
    let mut found = usize::from(pgpass_lookup(body, host, port, dbname, user).is_some());
    let esc = |s: &str| s.replace('\\', "\\\\").replace(':', "\\:");
    for first in [
        format!("*:*:*:*:{}", esc(&password)),
        format!("{}:{port}:{}:{}:{}", esc(host), esc(dbname), esc(user), esc(&password)),
    ] {
        if first.starts_with('#') || host.contains('\r') || dbname.contains('\r') || user.contains('\r') {
            continue;
        }
        let contents = format!("{first}\n{body}");
        assert_eq!(
            pgpass_lookup(&contents, host, port, dbname, user).as_deref(),
            Some(password.as_str()),
            "{first:?} does not read back"
        );
    }
    if let Ok(Some(settings)) = service_lookup(body, "pg_service.conf", head) {
        found += 1;
        let mut config = Config::new();
        let _ = config.apply_service(settings);
    }
    found
}

/// A well-behaved PostgreSQL server, small enough to read: it answers every message the
/// engine sends as a real server would for a fixed little language of statements (transaction
/// commands, COPY in and out, `FAIL` for an error, anything else one row), keeps the
/// transaction status, the extended protocol's skip-until-Sync after an error, portals with
/// three rows, and a COPY FROM STDIN's copy mode. Notices, notifications and parameter changes
/// are sent between answers when asked. For the operations target: whatever order the caller
/// does things in, the engine must stay in step with it.
struct Sim {
    input: Vec<u8>,
    out: Vec<u8>,
    started: bool,
    tx: u8,
    /// After an error in the extended protocol: messages are skipped until Sync.
    skipping: bool,
    /// A simple query's COPY FROM STDIN waits for data; the query's remaining statements.
    copy_in: Option<Vec<String>>,
    /// Rows left per portal; parameter counts per statement.
    portals: std::collections::HashMap<Vec<u8>, u32>,
    statements: std::collections::HashMap<Vec<u8>, u16>,
    closed: bool,
}

fn sim_msg(out: &mut Vec<u8>, ty: u8, body: &[u8]) {
    out.push(ty);
    out.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
    out.extend_from_slice(body);
}

impl Sim {
    fn new() -> Sim {
        Sim {
            input: Vec::new(),
            out: Vec::new(),
            started: false,
            tx: b'I',
            skipping: false,
            copy_in: None,
            portals: Default::default(),
            statements: Default::default(),
            closed: false,
        }
    }

    fn error(&mut self, code: &str) {
        let body = format!("SERROR\0VERROR\0C{code}\0Mfuzz error\0\0");
        sim_msg(&mut self.out, b'E', body.as_bytes());
        if self.tx == b'T' {
            self.tx = b'E';
        }
    }

    fn ready(&mut self) {
        sim_msg(&mut self.out, b'Z', &[self.tx]);
    }

    fn row_description(&mut self) {
        let mut body = 1i16.to_be_bytes().to_vec();
        body.extend_from_slice(b"x\0");
        body.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 25, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0]);
        sim_msg(&mut self.out, b'T', &body);
    }

    fn data_row(&mut self) {
        sim_msg(&mut self.out, b'D', &[0, 1, 0, 0, 0, 1, b'1']);
    }

    fn tag(&mut self, tag: &str) {
        sim_msg(&mut self.out, b'C', format!("{tag}\0").as_bytes());
    }

    /// Runs one statement of a simple query; `false` stops the query (an error, or COPY FROM
    /// STDIN waiting for data).
    fn statement(&mut self, sql: &str) -> bool {
        let up = sql.trim().to_ascii_uppercase();
        let word = up.split_whitespace().next().unwrap_or("");
        if up.contains("FAIL") {
            self.error("42000");
            return false;
        }
        let ends = matches!(word, "COMMIT" | "END" | "ROLLBACK" | "ABORT") && !up.contains("PREPARED");
        if self.tx == b'E' && !ends && !up.starts_with("ROLLBACK TO") {
            self.error("25P02");
            return false;
        }
        match word {
            "" => sim_msg(&mut self.out, b'I', b""),
            "BEGIN" | "START" => {
                self.tx = b'T';
                self.tag("BEGIN");
            }
            "SAVEPOINT" | "RELEASE" => {
                if self.tx == b'I' {
                    self.error("25P01");
                    return false;
                }
                self.tag(word);
            }
            "ROLLBACK" if up.starts_with("ROLLBACK TO") => {
                self.tx = if self.tx == b'I' { b'I' } else { b'T' };
                self.tag("ROLLBACK");
            }
            "COMMIT" | "END" | "ROLLBACK" | "ABORT" if !up.contains("PREPARED") => {
                let tag = if self.tx == b'E' || word == "ROLLBACK" || word == "ABORT" { "ROLLBACK" } else { "COMMIT" };
                self.tx = b'I';
                self.tag(tag);
            }
            "PREPARE" => {
                self.tx = b'I';
                self.tag("PREPARE TRANSACTION");
            }
            "COPY" if up.contains("FROM STDIN") => {
                sim_msg(&mut self.out, b'G', &[0, 0, 1, 0, 0]);
                return false;
            }
            "COPY" => {
                sim_msg(&mut self.out, b'H', &[0, 0, 1, 0, 0]);
                sim_msg(&mut self.out, b'd', b"a\n");
                sim_msg(&mut self.out, b'd', b"b\n");
                sim_msg(&mut self.out, b'c', b"");
                self.tag("COPY 2");
            }
            "SET" | "DISCARD" | "RESET" | "DEALLOCATE" | "CLOSE" | "DECLARE" | "LISTEN" | "UNLISTEN" => self.tag(word),
            _ => {
                self.row_description();
                self.data_row();
                self.tag("SELECT 1");
            }
        }
        true
    }

    fn simple(&mut self, sql: &str) {
        let statements: Vec<String> = sql.split(';').map(str::to_owned).collect();
        self.run_statements(statements);
    }

    fn run_statements(&mut self, mut statements: Vec<String>) {
        while !statements.is_empty() {
            let sql = statements.remove(0);
            if sql.trim().is_empty() && !statements.is_empty() {
                continue;
            }
            let up = sql.to_ascii_uppercase();
            if !self.statement(&sql) {
                if up.contains("COPY") && up.contains("FROM STDIN") && !up.contains("FAIL") && self.tx != b'E' {
                    self.copy_in = Some(statements);
                    return;
                }
                break;
            }
        }
        self.ready();
    }

    /// Takes what the engine sent and answers it.
    fn receive(&mut self, bytes: &[u8], extra: u8) {
        self.input.extend_from_slice(bytes);
        loop {
            if !self.started {
                let Some(len) = self.input.get(..4).map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
                else {
                    return;
                };
                if self.input.len() < len {
                    return;
                }
                self.input.drain(..len);
                self.started = true;
                sim_msg(&mut self.out, b'R', &0i32.to_be_bytes());
                for (k, v) in
                    [("server_version", "15.4"), ("client_encoding", "UTF8"), ("standard_conforming_strings", "on")]
                {
                    sim_msg(&mut self.out, b'S', format!("{k}\0{v}\0").as_bytes());
                }
                sim_msg(&mut self.out, b'K', &[0, 0, 0, 7, 0, 0, 0, 9]);
                self.ready();
                continue;
            }
            let Some(&ty) = self.input.first() else { return };
            let Some(len) = self.input.get(1..5).map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize) else {
                return;
            };
            if self.input.len() < 1 + len {
                return;
            }
            let message: Vec<u8> = self.input.drain(..1 + len).collect();
            self.answer(ty, &message[5..]);
            // Something unasked between answers, as a real server may send.
            match extra % 8 {
                1 => sim_msg(&mut self.out, b'N', b"SNOTICE\0VNOTICE\0C00000\0Mfuzz notice\0\0"),
                2 => sim_msg(&mut self.out, b'A', b"\0\0\0\x07chan\0payload\0"),
                3 => sim_msg(&mut self.out, b'S', b"application_name\0fuzz\0"),
                _ => {}
            }
        }
    }

    fn answer(&mut self, ty: u8, body: &[u8]) {
        if self.closed {
            return;
        }
        if let Some(rest) = self.copy_in.take() {
            match ty {
                b'd' => self.copy_in = Some(rest),
                b'c' => {
                    self.tag("COPY 1");
                    self.run_statements(rest);
                }
                b'f' => {
                    self.error("57014");
                    self.ready();
                }
                // Anything else ends the copy with an error (as the server does).
                _ => {
                    self.error("08P01");
                    self.ready();
                }
            }
            return;
        }
        let cstr = |b: &[u8]| -> Vec<u8> { b.split(|c| *c == 0).next().unwrap_or_default().to_vec() };
        match ty {
            b'S' => {
                self.skipping = false;
                self.ready();
            }
            b'X' => self.closed = true,
            // After an error in the extended protocol everything (a simple Query too) is
            // ignored until Sync.
            _ if self.skipping => {}
            b'Q' => self.simple(&String::from_utf8_lossy(&cstr(body))),
            b'H' | b'd' | b'c' | b'f' => {}
            b'P' => {
                let name = cstr(body);
                let rest = &body[name.len() + 1..];
                let sql = cstr(rest);
                let params = rest.get(sql.len() + 1..sql.len() + 3).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
                let text = String::from_utf8_lossy(&sql).to_ascii_uppercase();
                if text.contains("FAIL") || (self.tx == b'E') {
                    self.error(if self.tx == b'E' { "25P02" } else { "42000" });
                    self.skipping = true;
                    return;
                }
                self.statements.insert(name, params);
                sim_msg(&mut self.out, b'1', b"");
            }
            b'B' => {
                let portal = cstr(body);
                let statement = cstr(&body[portal.len() + 1..]);
                if !self.statements.contains_key(&statement) {
                    self.error("26000");
                    self.skipping = true;
                    return;
                }
                self.portals.insert(portal, 3);
                sim_msg(&mut self.out, b'2', b"");
            }
            b'D' => {
                let name = cstr(&body[1..]);
                if body[0] == b'S' {
                    let Some(&n) = self.statements.get(&name) else {
                        self.error("26000");
                        self.skipping = true;
                        return;
                    };
                    let mut desc = (n as i16).to_be_bytes().to_vec();
                    for _ in 0..n {
                        desc.extend_from_slice(&25u32.to_be_bytes());
                    }
                    sim_msg(&mut self.out, b't', &desc);
                }
                self.row_description();
            }
            b'E' => {
                let portal = cstr(body);
                let max = body
                    .get(portal.len() + 1..portal.len() + 5)
                    .map_or(0, |b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                let Some(left) = self.portals.get_mut(&portal) else {
                    self.error("34000");
                    self.skipping = true;
                    return;
                };
                let n = if max > 0 { (*left).min(max as u32) } else { *left };
                *left -= n;
                let more = *left > 0 && max > 0;
                for _ in 0..n {
                    self.data_row();
                }
                if more {
                    sim_msg(&mut self.out, b's', b"");
                } else {
                    self.tag(&format!("SELECT {n}"));
                }
            }
            b'C' => {
                let name = cstr(&body[1..]);
                if body[0] == b'S' {
                    self.statements.remove(&name);
                } else {
                    self.portals.remove(&name);
                }
                sim_msg(&mut self.out, b'3', b"");
            }
            _ => {
                self.error("08P01");
            }
        }
    }
}

/// An arbitrary sequence of caller operations — simple and extended queries, streamed rows,
/// portals and fetches, pipelines, COPY in and out, psycopg2's session commands and two-phase
/// commit, waits for notifications, abandoning requests, taking responses, terminate — against
/// a well-behaved simulated server, with the bytes moved in arbitrary cuts between operations.
/// Never a panic or a stuck engine, the connection never broken, and once the caller finishes
/// what it started, every request it still waits for gets exactly one response.
pub fn operations(data: &[u8]) -> usize {
    const SQL: [&str; 12] = [
        "SELECT 1",
        "SELECT 1; SELECT 2",
        "BEGIN",
        "COMMIT",
        "ROLLBACK",
        "SELECT FAIL",
        "COPY t FROM STDIN",
        "COPY t TO STDOUT",
        "SAVEPOINT a",
        "PREPARE TRANSACTION 'x'",
        "",
        "COPY t FROM STDIN; SELECT 3",
    ];
    let mut config = Config::new();
    config.set("user", "fuzz").expect("valid");
    config.set("sslmode", "disable").expect("valid");
    let mut conn = Connection::new(&config, ClientNonce::from_printable("fuzznonce").expect("valid")).expect("valid");
    let mut sim = Sim::new();
    let mut bytes = data.iter().copied();
    let mut next = move || bytes.next();
    // Requests submitted and not abandoned, with what kind they are.
    let mut waiting: Vec<(RequestId, u8)> = Vec::new();
    let mut answered = 0;
    let mut last_portal: Option<(RequestId, Option<std::sync::Arc<[crate::Column]>>)> = None;
    let mut terminated = false;
    // Moves bytes both ways, `cut` at a time from the server (0: all of it).
    let exchange = |conn: &mut Connection, sim: &mut Sim, cut: usize, extra: u8| {
        for _ in 0..4 {
            if conn.poll().is_err() {
                return;
            }
            let out = conn.transmit().to_vec();
            conn.advance(out.len());
            sim.receive(&out, extra);
            if sim.out.is_empty() {
                break;
            }
            let n = if cut == 0 { sim.out.len() } else { cut.min(sim.out.len()) };
            let chunk: Vec<u8> = sim.out.drain(..n).collect();
            conn.receive(&chunk);
        }
    };
    exchange(&mut conn, &mut sim, 0, 0);
    while let Some(op) = next() {
        let arg = next().unwrap_or(0);
        let sql = SQL[usize::from(arg) % SQL.len()];
        let submitted = match op % 20 {
            0 => Some((conn.submit(Request::simple(sql)), 0)),
            1 => Some((Request::query(sql, &[], Mode::Collect).and_then(|r| conn.submit(r)), 1)),
            2 => Some((Request::query(sql, &[], Mode::Stream).and_then(|r| conn.submit(r)), 2)),
            3 => Some((Request::portal(sql, &[], 1).and_then(|r| conn.submit(r)), 3)),
            4 => last_portal.take().map(|(id, columns)| {
                let fetched = conn.submit(Request::fetch(id, i32::from(arg % 2), columns.clone()));
                if fetched.is_err() {
                    // Still open: the caller closes it later.
                    last_portal = Some((id, columns));
                }
                (fetched, 4)
            }),
            5 => {
                let mut p = crate::Pipeline::new();
                p.query(sql, &[]).query(SQL[usize::from(arg / 16) % SQL.len()], &[]);
                if arg % 3 == 0 {
                    p.sync();
                }
                Some((conn.submit(Request::pipeline(p)), 5))
            }
            6 => Some((conn.submit(Request::copy_in(sql)), 6)),
            7 => Some((conn.submit(Request::copy_out(sql)), 7)),
            8 => {
                let command = match arg % 10 {
                    0 => Command::Commit,
                    1 => Command::Rollback,
                    2 => Command::BeginScope,
                    3 => Command::EndScope { commit: arg % 2 == 0 },
                    4 => Command::TpcBegin(crate::Xid::new(1, "g", "b").expect("valid")),
                    5 => Command::TpcPrepare,
                    6 => Command::TpcCommit(None),
                    7 => Command::Reset,
                    8 => Command::SetSession(crate::SessionChange::new().autocommit(arg % 4 == 0)),
                    _ => Command::TpcRollback(None),
                };
                Some((conn.submit(Request::command(command)), 8))
            }
            9 => Some((conn.submit(Request::wait_notifications()), 9)),
            10 => Some((conn.submit(Request::prepare(sql, &[])), 10)),
            11 if !waiting.is_empty() => {
                let (id, _) = waiting.remove(usize::from(arg) % waiting.len());
                conn.abandon(id);
                None
            }
            12 => {
                let mut i = 0;
                while i < waiting.len() {
                    let (id, kind) = waiting[i];
                    match conn.take_response(id) {
                        Some(r) => {
                            answered += 1;
                            if let (Ok(Response::Suspended(batch)), 3 | 4) = (&r, kind) {
                                last_portal = Some((id, batch.columns.clone()));
                            }
                            waiting.remove(i);
                        }
                        None => i += 1,
                    }
                }
                None
            }
            13 => {
                for &(id, kind) in &waiting {
                    match kind {
                        2 => while let Ok(Some(_)) = conn.take_row(id) {},
                        7 => while conn.take_data(id).is_some() {},
                        6 if conn.input_format(id).is_some() => {
                            let _ = conn.send_data(id, b"1\n");
                            let _ = match arg % 3 {
                                0 => conn.fail_data(id, "fuzz"),
                                _ => conn.finish_data(id),
                            };
                        }
                        _ => {}
                    }
                }
                None
            }
            14 if arg == 0 => {
                conn.terminate();
                terminated = true;
                None
            }
            _ => {
                exchange(&mut conn, &mut sim, usize::from(arg % 9), op / 20);
                None
            }
        };
        if let Some((Ok(id), kind)) = submitted {
            waiting.push((id, kind));
        }
    }
    // The caller finishes what it started: rows and chunks taken, copies ended, waits for
    // notifications given up; then every request it waits for is answered.
    for id in waiting.iter().filter(|(_, k)| *k == 9).map(|(id, _)| *id).collect::<Vec<_>>() {
        conn.abandon(id);
    }
    waiting.retain(|(_, k)| *k != 9);
    // Each round answers at least one request (a portal takes two: its batch, then its close).
    for _ in 0..waiting.len() * 4 + 16 {
        // A portal left open is closed (fetching 0 rows): what waits behind it can run.
        if let Some((id, columns)) = last_portal.take() {
            if let Ok(fetch) = conn.submit(Request::fetch(id, 0, columns)) {
                waiting.push((fetch, 4));
            }
        }
        if waiting.is_empty() {
            break;
        }
        for &(id, kind) in &waiting {
            match kind {
                // Every row and chunk already received (the engine moves on after each).
                2 => {
                    while let Ok(Some(_)) = conn.take_row(id).map(|r| r.map(drop)).and_then(|r| conn.poll().map(|_| r))
                    {
                    }
                }
                7 => while conn.take_data(id).is_some() && conn.poll().is_ok() {},
                6 if conn.input_format(id).is_some() => {
                    let _ = conn.finish_data(id);
                }
                _ => {}
            }
        }
        exchange(&mut conn, &mut sim, 0, 0);
        waiting.retain(|&(id, _)| match conn.take_response(id) {
            Some(r) => {
                answered += 1;
                if let Ok(Response::Suspended(batch)) = r {
                    last_portal = Some((id, batch.columns.clone()));
                }
                false
            }
            None => true,
        });
    }
    assert!(
        waiting.is_empty() || terminated,
        "requests never answered: {waiting:?} ({conn:?}; server: tx {}, skipping {}, copy-in {:?}, {} bytes unread, {} unsent, {} to send)",
        sim.tx as char,
        sim.skipping,
        sim.copy_in,
        sim.input.len(),
        sim.out.len(),
        conn.transmit().len()
    );
    assert!(!conn.is_broken() || terminated, "a well-behaved server broke the connection: {:?}", conn.fatal_error());
    answered
}

/// The fuzz targets' entry points, each taking the fuzzer's raw input: the `fuzz/` crate's
/// targets call them, and `core/tests/fuzz_seeds.rs` replays the committed seeds through them.
pub mod targets {
    /// Server bytes, cut into reads where the first bytes say: the same result however cut.
    pub fn server_reply(data: &[u8]) {
        let Some((&n, rest)) = data.split_first() else { return };
        let n = (n as usize % 8).min(rest.len());
        let (cuts, server) = rest.split_at(n);
        let whole = super::server_reply(server, &[0]);
        if !cuts.is_empty() {
            assert_eq!(super::server_reply(server, cuts), whole);
        }
        assert_eq!(super::server_reply(server, &[1]), whole);
    }

    /// A connection string or URI.
    pub fn conninfo(data: &[u8]) {
        if let Ok(s) = std::str::from_utf8(data) {
            super::conninfo(s);
        }
    }

    /// One backend message body of the type in the first byte.
    pub fn decode_message(data: &[u8]) {
        if let Some((&ty, body)) = data.split_first() {
            super::decode_message(ty, body);
        }
    }

    /// One value for the decoder the first byte picks, in the format the second says.
    pub fn decode_value(data: &[u8]) {
        if let [pick, format, raw @ ..] = data {
            super::decode_value(*pick, *format, raw);
        }
    }

    /// Binary COPY data for the column types the first bytes pick, cut as the next say: the
    /// same rows however cut.
    pub fn binary_copy(data: &[u8]) {
        let Some((&n, rest)) = data.split_first() else { return };
        let n = n as usize;
        let (picks, rest) = rest.split_at((n % 5).min(rest.len()));
        let Some((&m, rest)) = rest.split_first() else { return };
        let m = (m as usize % 7).min(rest.len());
        let (cuts, body) = rest.split_at(m);
        let mut stream = Vec::new();
        if n.is_multiple_of(2) {
            stream.extend_from_slice(b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0");
        }
        stream.extend_from_slice(body);
        let whole = super::binary_copy(picks, &[0], &stream);
        assert_eq!(super::binary_copy(picks, cuts, &stream), whole);
    }

    /// An Xid string.
    pub fn xid(data: &[u8]) {
        if let Ok(s) = std::str::from_utf8(data) {
            super::xid(s);
        }
    }

    /// Replication messages and a pgoutput stream.
    pub fn replication(data: &[u8]) {
        super::replication(data);
    }

    /// `.pgpass` and service files.
    pub fn files(data: &[u8]) {
        super::files(data);
    }

    /// Caller operations in any order against a simulated server.
    pub fn operations(data: &[u8]) {
        super::operations(data);
    }

    /// A target's entry point.
    pub type Target = fn(&[u8]);

    /// Every target by its name in `fuzz/Cargo.toml`.
    pub const ALL: &[(&str, Target)] = &[
        ("server_reply", server_reply),
        ("conninfo", conninfo),
        ("decode_message", decode_message),
        ("decode_value", decode_value),
        ("binary_copy", binary_copy),
        ("xid", xid),
        ("replication", replication),
        ("files", files),
        ("operations", operations),
    ];
}
