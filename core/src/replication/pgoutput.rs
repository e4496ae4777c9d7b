//! Decoding the output of `pgoutput`, PostgreSQL's built-in logical decoding plugin (the one
//! `CREATE SUBSCRIPTION` uses), protocol versions 1 to 4: transactions, relations and the row
//! changes in them, logical decoding messages, streamed (in-progress) transactions and
//! two-phase transactions.
//!
//! A [`Decoder`] is kept per stream: the server describes each table once ([`Message::Relation`])
//! before its first change in the stream, and the changes refer to it by OID. Row values are
//! read as query results are ([`Tuple::row`] is a [`Row`]: `get::<T>(i)`, `get("name")`,
//! `decode::<T: FromRow>()`, `text(i)`), in text — or binary with the `binary` option.

use std::collections::HashMap;
use std::sync::Arc;

use crate::encoding::Encoding;
use crate::error::{Error, ProtocolError, UsageError};
use crate::types::row::{Column, ColumnIndex, Row};
use crate::types::PgLsn;
use crate::types::{FromRow, FromSql};
use crate::wire::codec::Reader;

/// A table as the stream describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub oid: u32,
    pub namespace: String,
    pub name: String,
    /// `REPLICA IDENTITY`: `d` (default: the primary key), `n` (nothing), `f` (full row), `i`
    /// (an index).
    pub replica_identity: u8,
    pub columns: Vec<RelationColumn>,
    /// The columns as a row's, in text and in binary format.
    text: Arc<[Column]>,
    binary: Arc<[Column]>,
}

impl Relation {
    /// The columns (name, type, key flag).
    pub fn columns(&self) -> &[RelationColumn] {
        &self.columns
    }
}

/// A column of a [`Relation`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationColumn {
    pub name: String,
    pub type_oid: u32,
    pub type_modifier: i32,
    /// Part of the replica identity (the key an update's or delete's old row is given by).
    pub key: bool,
}

/// One value of a [`Tuple`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TupleValue<'a> {
    Null,
    /// A TOASTed value the change did not touch: the server does not send it again.
    Unchanged,
    Text(&'a [u8]),
    Binary(&'a [u8]),
}

/// A row of a change, with its relation.
#[derive(Debug, Clone)]
pub struct Tuple<'a> {
    relation: Arc<Relation>,
    values: Vec<TupleValue<'a>>,
    /// What [`row`](Self::row) reads: a NULL for a value that is not there.
    body: &'a [u8],
    ranges: Vec<Option<(u32, u32)>>,
    binary: bool,
}

impl<'a> Tuple<'a> {
    pub fn relation(&self) -> &Arc<Relation> {
        &self.relation
    }

    /// Each value as the server sent it.
    pub fn values(&self) -> &[TupleValue<'a>] {
        &self.values
    }

    /// Whether value `i` is a TOASTed value the change left as it was (not sent).
    pub fn is_unchanged(&self, i: usize) -> bool {
        matches!(self.values.get(i), Some(TupleValue::Unchanged))
    }

    /// The values as a [`Row`] of the relation's columns, read as a query's rows are. An
    /// unchanged TOASTed value reads as NULL there: see [`is_unchanged`](Self::is_unchanged)
    /// (or use [`get`](Self::get), which refuses it).
    pub fn row(&self) -> Row<'_> {
        let columns = if self.binary { &self.relation.binary } else { &self.relation.text };
        Row::new(Some(columns), self.body, &self.ranges)
    }

    /// A value as `T`, by position or column name; an unchanged TOASTed value is an error
    /// (its value was not sent).
    pub fn get<'t, T: FromSql<'t>, I: ColumnIndex>(&'t self, idx: I) -> Result<T, Error> {
        let row = self.row();
        if let Some(i) = idx.index(row.columns(), row.len()).filter(|&i| self.is_unchanged(i)) {
            return Err(self.unchanged(i));
        }
        row.get(idx)
    }

    fn unchanged(&self, i: usize) -> Error {
        let name = self.relation.columns.get(i).map_or("?", |c| c.name.as_str());
        UsageError::Conversion(format!(
            "column {name:?} is an unchanged TOASTed value, which the change does not carry"
        ))
        .into()
    }

    /// The row as `T` (a `#[derive(FromRow)]` struct reads the columns by name).
    pub fn decode<'t, T: FromRow<'t>>(&'t self) -> Result<T, Error> {
        if let Some(i) = self.values.iter().position(|v| *v == TupleValue::Unchanged) {
            return Err(self.unchanged(i));
        }
        T::from_row(&self.row())
    }
}

/// One decoded pgoutput message. Strings and data are borrowed from the stream's message.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Message<'a> {
    Begin {
        final_lsn: PgLsn,
        commit_time: i64,
        xid: u32,
    },
    Commit {
        flags: u8,
        commit_lsn: PgLsn,
        end_lsn: PgLsn,
        commit_time: i64,
    },
    /// The transaction came from another node (replication origin).
    Origin {
        lsn: PgLsn,
        name: &'a str,
    },
    /// A table's description (kept by the decoder for the changes that follow).
    Relation {
        xid: Option<u32>,
        relation: Arc<Relation>,
    },
    /// A user-defined type's name.
    Type {
        xid: Option<u32>,
        oid: u32,
        namespace: &'a str,
        name: &'a str,
    },
    Insert {
        xid: Option<u32>,
        new: Tuple<'a>,
    },
    /// `key`: the old key (replica identity default or index) when it changed; `old`: the
    /// whole old row (`REPLICA IDENTITY FULL`).
    Update {
        xid: Option<u32>,
        key: Option<Tuple<'a>>,
        old: Option<Tuple<'a>>,
        new: Tuple<'a>,
    },
    Delete {
        xid: Option<u32>,
        key: Option<Tuple<'a>>,
        old: Option<Tuple<'a>>,
    },
    Truncate {
        xid: Option<u32>,
        cascade: bool,
        restart_identity: bool,
        relations: Vec<Arc<Relation>>,
    },
    /// `pg_logical_emit_message` (with the `messages` option).
    Message {
        xid: Option<u32>,
        transactional: bool,
        lsn: PgLsn,
        prefix: &'a str,
        content: &'a [u8],
    },
    /// A chunk of an in-progress transaction begins (`streaming`, protocol 2+).
    StreamStart {
        xid: u32,
        first_segment: bool,
    },
    StreamStop,
    StreamCommit {
        xid: u32,
        flags: u8,
        commit_lsn: PgLsn,
        end_lsn: PgLsn,
        commit_time: i64,
    },
    /// `abort_lsn` and `abort_time` with `streaming = parallel` (protocol 4).
    StreamAbort {
        xid: u32,
        subxid: u32,
        abort_lsn: Option<PgLsn>,
        abort_time: Option<i64>,
    },
    /// Two-phase (`two_phase`, protocol 3+): a transaction prepared with `PREPARE TRANSACTION`.
    BeginPrepare {
        prepare_lsn: PgLsn,
        end_lsn: PgLsn,
        prepare_time: i64,
        xid: u32,
        gid: &'a str,
    },
    Prepare {
        flags: u8,
        prepare_lsn: PgLsn,
        end_lsn: PgLsn,
        prepare_time: i64,
        xid: u32,
        gid: &'a str,
    },
    CommitPrepared {
        flags: u8,
        commit_lsn: PgLsn,
        end_lsn: PgLsn,
        commit_time: i64,
        xid: u32,
        gid: &'a str,
    },
    RollbackPrepared {
        flags: u8,
        prepare_end_lsn: PgLsn,
        rollback_end_lsn: PgLsn,
        prepare_time: i64,
        rollback_time: i64,
        xid: u32,
        gid: &'a str,
    },
    StreamPrepare {
        flags: u8,
        prepare_lsn: PgLsn,
        end_lsn: PgLsn,
        prepare_time: i64,
        xid: u32,
        gid: &'a str,
    },
}

/// Decodes one stream's pgoutput messages, keeping its relations.
#[derive(Debug, Default)]
pub struct Decoder {
    relations: HashMap<u32, Arc<Relation>>,
    /// Between StreamStart and StreamStop: changes carry their transaction's xid.
    in_stream: bool,
    encoding: Encoding,
}

/// Relations kept at most: a hostile stream cannot grow the decoder without bound.
const MAX_RELATIONS: usize = 100_000;

impl Decoder {
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// The relation the stream described with `oid`.
    pub fn relation(&self, oid: u32) -> Option<&Arc<Relation>> {
        self.relations.get(&oid)
    }

    /// Decodes the data of one XLogData message.
    pub fn decode<'a>(&mut self, data: &'a [u8]) -> Result<Message<'a>, Error> {
        let mut r = Reader::new(data, "pgoutput message");
        let ty = r.u8()?;
        let message = match ty {
            b'B' => Message::Begin { final_lsn: lsn(&mut r)?, commit_time: r.i64()?, xid: r.u32()? },
            b'C' => Message::Commit {
                flags: r.u8()?,
                commit_lsn: lsn(&mut r)?,
                end_lsn: lsn(&mut r)?,
                commit_time: r.i64()?,
            },
            b'O' => Message::Origin { lsn: lsn(&mut r)?, name: cstr(&mut r)? },
            b'R' => {
                let xid = self.xid(&mut r)?;
                let relation = Arc::new(self.relation_message(&mut r)?);
                if self.relations.len() >= MAX_RELATIONS && !self.relations.contains_key(&relation.oid) {
                    return Err(r.err("too many relations").into());
                }
                self.relations.insert(relation.oid, relation.clone());
                Message::Relation { xid, relation }
            }
            b'Y' => {
                let xid = self.xid(&mut r)?;
                Message::Type { xid, oid: r.u32()?, namespace: cstr(&mut r)?, name: cstr(&mut r)? }
            }
            b'I' => {
                let xid = self.xid(&mut r)?;
                let relation = self.known(r.u32()?)?;
                if r.u8()? != b'N' {
                    return Err(r.err("an Insert without its new tuple").into());
                }
                Message::Insert { xid, new: tuple(&mut r, relation)? }
            }
            b'U' => {
                let xid = self.xid(&mut r)?;
                let relation = self.known(r.u32()?)?;
                let (mut key, mut old) = (None, None);
                let new = loop {
                    match r.u8()? {
                        b'K' if key.is_none() && old.is_none() => key = Some(tuple(&mut r, relation.clone())?),
                        b'O' if key.is_none() && old.is_none() => old = Some(tuple(&mut r, relation.clone())?),
                        b'N' => break tuple(&mut r, relation)?,
                        _ => return Err(r.err("an Update's tuples are not K/O then N").into()),
                    }
                };
                Message::Update { xid, key, old, new }
            }
            b'D' => {
                let xid = self.xid(&mut r)?;
                let relation = self.known(r.u32()?)?;
                let (key, old) = match r.u8()? {
                    b'K' => (Some(tuple(&mut r, relation)?), None),
                    b'O' => (None, Some(tuple(&mut r, relation)?)),
                    _ => return Err(r.err("a Delete without its key or old tuple").into()),
                };
                Message::Delete { xid, key, old }
            }
            b'T' => {
                let xid = self.xid(&mut r)?;
                let n = r.i32()?;
                let options = r.u8()?;
                let n = usize::try_from(n).map_err(|_| r.err("negative relation count"))?;
                if n > r.buf.len() / 4 {
                    return Err(r.err("relation count past the message").into());
                }
                let relations = (0..n).map(|_| self.known(r.u32()?)).collect::<Result<Vec<_>, Error>>()?;
                Message::Truncate { xid, cascade: options & 1 != 0, restart_identity: options & 2 != 0, relations }
            }
            b'M' => {
                let xid = self.xid(&mut r)?;
                let transactional = r.u8()? & 1 != 0;
                let lsn = lsn(&mut r)?;
                let prefix = cstr(&mut r)?;
                let len = usize::try_from(r.i32()?).map_err(|_| r.err("negative content length"))?;
                Message::Message { xid, transactional, lsn, prefix, content: r.bytes(len)? }
            }
            b'S' => {
                let xid = r.u32()?;
                let first_segment = r.u8()? == 1;
                self.in_stream = true;
                Message::StreamStart { xid, first_segment }
            }
            b'E' => {
                self.in_stream = false;
                Message::StreamStop
            }
            b'c' => Message::StreamCommit {
                xid: r.u32()?,
                flags: r.u8()?,
                commit_lsn: lsn(&mut r)?,
                end_lsn: lsn(&mut r)?,
                commit_time: r.i64()?,
            },
            b'A' => {
                let (xid, subxid) = (r.u32()?, r.u32()?);
                let (abort_lsn, abort_time) =
                    if r.buf.is_empty() { (None, None) } else { (Some(lsn(&mut r)?), Some(r.i64()?)) };
                Message::StreamAbort { xid, subxid, abort_lsn, abort_time }
            }
            b'b' => Message::BeginPrepare {
                prepare_lsn: lsn(&mut r)?,
                end_lsn: lsn(&mut r)?,
                prepare_time: r.i64()?,
                xid: r.u32()?,
                gid: cstr(&mut r)?,
            },
            b'P' | b'p' => {
                let (flags, prepare_lsn, end_lsn, prepare_time, xid, gid) =
                    (r.u8()?, lsn(&mut r)?, lsn(&mut r)?, r.i64()?, r.u32()?, cstr(&mut r)?);
                if ty == b'P' {
                    Message::Prepare { flags, prepare_lsn, end_lsn, prepare_time, xid, gid }
                } else {
                    Message::StreamPrepare { flags, prepare_lsn, end_lsn, prepare_time, xid, gid }
                }
            }
            b'K' => Message::CommitPrepared {
                flags: r.u8()?,
                commit_lsn: lsn(&mut r)?,
                end_lsn: lsn(&mut r)?,
                commit_time: r.i64()?,
                xid: r.u32()?,
                gid: cstr(&mut r)?,
            },
            b'r' => Message::RollbackPrepared {
                flags: r.u8()?,
                prepare_end_lsn: lsn(&mut r)?,
                rollback_end_lsn: lsn(&mut r)?,
                prepare_time: r.i64()?,
                rollback_time: r.i64()?,
                xid: r.u32()?,
                gid: cstr(&mut r)?,
            },
            _ => return Err(r.err("unknown message type").into()),
        };
        r.finish()?;
        Ok(message)
    }

    fn xid(&self, r: &mut Reader<'_>) -> Result<Option<u32>, ProtocolError> {
        if self.in_stream {
            Ok(Some(r.u32()?))
        } else {
            Ok(None)
        }
    }

    fn known(&self, oid: u32) -> Result<Arc<Relation>, Error> {
        self.relations.get(&oid).cloned().ok_or_else(|| {
            ProtocolError::Malformed { message: "pgoutput message", what: "a change to a relation never described" }
                .into()
        })
    }

    fn relation_message(&self, r: &mut Reader<'_>) -> Result<Relation, Error> {
        let oid = r.u32()?;
        let namespace = self.string(cstr_bytes(r)?);
        let name = self.string(cstr_bytes(r)?);
        let replica_identity = r.u8()?;
        let n = usize::try_from(r.i16()?).map_err(|_| r.err("negative column count"))?;
        let mut columns = Vec::with_capacity(n.min(r.buf.len() / 10));
        for _ in 0..n {
            let key = r.u8()? & 1 != 0;
            let name = self.string(cstr_bytes(r)?);
            columns.push(RelationColumn { name, type_oid: r.u32()?, type_modifier: r.i32()?, key });
        }
        let as_row = |format| -> Arc<[Column]> {
            columns
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let id = i16::try_from(i + 1).unwrap_or(i16::MAX);
                    Column::for_relation(c.name.clone(), oid, id, c.type_oid, c.type_modifier, format, self.encoding)
                })
                .collect::<Vec<_>>()
                .into()
        };
        let (text, binary) = (as_row(0), as_row(1));
        Ok(Relation { oid, namespace, name, replica_identity, columns, text, binary })
    }

    fn string(&self, bytes: &[u8]) -> String {
        self.encoding.decode_lossy(bytes).into_owned()
    }
}

fn lsn(r: &mut Reader<'_>) -> Result<PgLsn, ProtocolError> {
    Ok(PgLsn(r.u64()?))
}

fn cstr_bytes<'a>(r: &mut Reader<'a>) -> Result<&'a [u8], ProtocolError> {
    r.cstr_bytes()
}

fn cstr<'a>(r: &mut Reader<'a>) -> Result<&'a str, ProtocolError> {
    let bytes = r.cstr_bytes()?;
    std::str::from_utf8(bytes).map_err(|_| r.err("a name that is not UTF-8"))
}

/// TupleData: the values of one row of `relation`.
fn tuple<'a>(r: &mut Reader<'a>, relation: Arc<Relation>) -> Result<Tuple<'a>, Error> {
    let n = usize::try_from(r.i16()?).map_err(|_| r.err("negative column count"))?;
    if n != relation.columns.len() {
        return Err(r.err("a tuple whose column count is not its relation's").into());
    }
    let body = r.buf;
    let mut values = Vec::with_capacity(n);
    let mut ranges = Vec::with_capacity(n);
    let (mut text, mut binary) = (false, false);
    for _ in 0..n {
        let kind = r.u8()?;
        let value = match kind {
            b'n' => TupleValue::Null,
            b'u' => TupleValue::Unchanged,
            b't' | b'b' => {
                let len = usize::try_from(r.i32()?).map_err(|_| r.err("negative value length"))?;
                let start = body.len() - r.buf.len();
                let bytes = r.bytes(len)?;
                ranges.push(Some((start as u32, (start + len) as u32)));
                if kind == b't' {
                    text = true;
                    values.push(TupleValue::Text(bytes));
                } else {
                    binary = true;
                    values.push(TupleValue::Binary(bytes));
                }
                continue;
            }
            _ => return Err(r.err("unknown tuple value kind").into()),
        };
        ranges.push(None);
        values.push(value);
    }
    if text && binary {
        return Err(r.err("a tuple with both text and binary values").into());
    }
    if body.len() > u32::MAX as usize {
        return Err(r.err("a tuple over 4 GiB").into());
    }
    Ok(Tuple { relation, values, body, ranges, binary })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put_cstr(b: &mut Vec<u8>, s: &str) {
        b.extend_from_slice(s.as_bytes());
        b.push(0);
    }

    fn relation_bytes(oid: u32, in_stream_xid: Option<u32>) -> Vec<u8> {
        let mut b = vec![b'R'];
        if let Some(x) = in_stream_xid {
            b.extend_from_slice(&x.to_be_bytes());
        }
        b.extend_from_slice(&oid.to_be_bytes());
        put_cstr(&mut b, "public");
        put_cstr(&mut b, "items");
        b.push(b'd');
        b.extend_from_slice(&2i16.to_be_bytes());
        b.push(1);
        put_cstr(&mut b, "id");
        b.extend_from_slice(&23u32.to_be_bytes());
        b.extend_from_slice(&(-1i32).to_be_bytes());
        b.push(0);
        put_cstr(&mut b, "name");
        b.extend_from_slice(&25u32.to_be_bytes());
        b.extend_from_slice(&(-1i32).to_be_bytes());
        b
    }

    fn text_value(b: &mut Vec<u8>, v: &str) {
        b.push(b't');
        b.extend_from_slice(&(v.len() as i32).to_be_bytes());
        b.extend_from_slice(v.as_bytes());
    }

    #[derive(Debug, PartialEq, crate::types::FromRow)]
    #[pgsans(crate = "crate")]
    struct Item {
        id: i32,
        name: Option<String>,
    }

    #[test]
    fn changes_decode_through_the_relation() {
        let mut d = Decoder::new();
        let Message::Relation { relation, xid: None } = d.decode(&relation_bytes(16384, None)).unwrap() else {
            panic!()
        };
        assert_eq!(
            relation.columns[0],
            RelationColumn { name: "id".into(), type_oid: 23, type_modifier: -1, key: true }
        );
        let mut ins = vec![b'I'];
        ins.extend_from_slice(&16384u32.to_be_bytes());
        ins.push(b'N');
        ins.extend_from_slice(&2i16.to_be_bytes());
        text_value(&mut ins, "42");
        ins.push(b'n');
        let Message::Insert { new, .. } = d.decode(&ins).unwrap() else { panic!() };
        assert_eq!(new.get::<i32, _>(0).unwrap(), 42);
        assert_eq!(new.get::<Option<&str>, _>(1).unwrap(), None);
        assert_eq!(new.decode::<Item>().unwrap(), Item { id: 42, name: None });
        assert_eq!(new.get::<i32, _>("id").unwrap(), 42);

        // An update with the old key and an unchanged TOASTed value.
        let mut upd = vec![b'U'];
        upd.extend_from_slice(&16384u32.to_be_bytes());
        upd.push(b'K');
        upd.extend_from_slice(&2i16.to_be_bytes());
        text_value(&mut upd, "41");
        upd.push(b'n');
        upd.push(b'N');
        upd.extend_from_slice(&2i16.to_be_bytes());
        text_value(&mut upd, "43");
        upd.push(b'u');
        let Message::Update { key: Some(key), old: None, new, .. } = d.decode(&upd).unwrap() else { panic!() };
        assert_eq!(key.get::<i32, _>(0).unwrap(), 41);
        assert!(new.is_unchanged(1));
        assert!(new.get::<Option<String>, _>(1).is_err());
        assert!(new.decode::<Item>().is_err());

        // Inside a stream, changes carry the xid.
        let mut start = vec![b'S'];
        start.extend_from_slice(&777u32.to_be_bytes());
        start.push(1);
        assert!(matches!(d.decode(&start).unwrap(), Message::StreamStart { xid: 777, first_segment: true }));
        let mut ins2 = vec![b'I'];
        ins2.extend_from_slice(&777u32.to_be_bytes());
        ins2.extend_from_slice(&ins[1..]);
        assert!(matches!(d.decode(&ins2).unwrap(), Message::Insert { xid: Some(777), .. }));
        assert!(matches!(d.decode(b"E").unwrap(), Message::StreamStop));
        assert!(matches!(d.decode(&ins).unwrap(), Message::Insert { xid: None, .. }));
    }

    #[test]
    fn malformed_messages_are_typed_errors() {
        let mut d = Decoder::new();
        // A change to an undescribed relation, truncated bodies, trailing bytes, bad kinds.
        let mut ins = vec![b'I'];
        ins.extend_from_slice(&1u32.to_be_bytes());
        ins.push(b'N');
        ins.extend_from_slice(&0i16.to_be_bytes());
        assert!(matches!(d.decode(&ins), Err(Error::Protocol(_))));
        let rel = relation_bytes(1, None);
        for cut in 0..rel.len() {
            assert!(d.decode(&rel[..cut]).is_err(), "cut at {cut}");
        }
        d.decode(&rel).unwrap();
        assert!(d.decode(&ins).is_err(), "column count differs from the relation's");
        assert!(d.decode(&[&rel[..], b"x"].concat()).is_err());
        let mut t = vec![b'T'];
        t.extend_from_slice(&i32::MAX.to_be_bytes());
        t.push(0);
        assert!(d.decode(&t).is_err());
        assert!(d.decode(b"?").is_err());
        assert!(d.decode(b"").is_err());
    }
}
