//! Typed binary COPY: rows of [`ToSql`] values encoded into PostgreSQL's binary COPY format
//! (for `COPY … FROM STDIN (FORMAT binary)`), and rows decoded with [`FromSql`](crate::FromSql)
//! out of it (for `COPY … TO STDOUT (FORMAT binary)`), for given column types — the anchors
//! are tokio-postgres' `BinaryCopyInWriter` / `BinaryCopyOutStream` and psycopg's
//! `write_row` / `rows()`. Pure: bytes in, bytes out; the transports move them.
//!
//! The format: an 11-byte signature, flags and a header extension; then per row a 16-bit field
//! count and per field a 32-bit length (-1 for NULL) and the value's binary form — exactly the
//! body of a DataRow — and a 16-bit -1 at the end.

use std::sync::Arc;

use crate::encoding::Encoding;
use crate::error::{Error, ProtocolError, UsageError};
use crate::types::row::{Column, Row};
use crate::types::{type_name, IsNull, ToSql};
use crate::wire::codec::backend::data_row_ranges;

const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// Encodes rows for `COPY … FROM STDIN (FORMAT binary)`. The encoded bytes accumulate in
/// [`buffer`](Self::buffer); send and [`clear`](Self::clear) them as they grow.
#[derive(Debug, Clone)]
pub struct BinaryCopyWriter {
    types: Vec<u32>,
    buf: Vec<u8>,
    finished: bool,
}

impl BinaryCopyWriter {
    /// A writer for columns of the given type OIDs (in the order of the COPY's column list).
    /// The header is the first thing in the buffer.
    pub fn new(types: &[u32]) -> BinaryCopyWriter {
        let mut buf = Vec::with_capacity(64 * 1024);
        buf.extend_from_slice(SIGNATURE);
        buf.extend_from_slice(&0i32.to_be_bytes()); // flags: no OIDs
        buf.extend_from_slice(&0i32.to_be_bytes()); // no header extension
        BinaryCopyWriter { types: types.to_vec(), buf, finished: false }
    }

    /// Appends one row. A wrong number of values, or a value that cannot be encoded in binary
    /// for its column's type, is a typed error and leaves the buffer as it was.
    pub fn write_row(&mut self, values: &[&(dyn ToSql + Sync)]) -> Result<(), Error> {
        if self.finished {
            return Err(UsageError::InvalidState("the binary COPY data is already finished".into()).into());
        }
        if values.len() != self.types.len() {
            return Err(UsageError::ParameterCount { expected: self.types.len(), given: values.len() }.into());
        }
        let mark = self.buf.len();
        let r = (|| {
            self.buf.extend_from_slice(&(values.len() as i16).to_be_bytes());
            for (i, (v, &oid)) in values.iter().zip(&self.types).enumerate() {
                let field = || format!("COPY field {}", i + 1);
                if v.accepts_type(oid) && !v.binary(oid) {
                    return Err(UsageError::Conversion(format!(
                        "{}: pgsans has no binary encoding for {}",
                        field(),
                        type_name(oid)
                    ))
                    .into());
                }
                let at = self.buf.len();
                self.buf.extend_from_slice(&[0; 4]);
                let encoded = v.encode(oid, &mut self.buf).map_err(|e| match e {
                    Error::Usage(UsageError::WrongType { rust, pg, .. }) => {
                        Error::from(UsageError::WrongType { column: field(), rust, pg })
                    }
                    other => other,
                })?;
                let len = match encoded {
                    IsNull::Yes => {
                        self.buf.truncate(at + 4);
                        -1
                    }
                    IsNull::No => i32::try_from(self.buf.len() - at - 4).map_err(|_| UsageError::MessageTooLarge)?,
                };
                self.buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
            }
            Ok(())
        })();
        if r.is_err() {
            self.buf.truncate(mark);
        }
        r
    }

    /// Appends the end marker; no row can follow.
    pub fn finish(&mut self) {
        if !self.finished {
            self.buf.extend_from_slice(&(-1i16).to_be_bytes());
            self.finished = true;
        }
    }

    /// The bytes encoded and not yet cleared.
    pub fn buffer(&self) -> &[u8] {
        &self.buf
    }

    /// Forgets the bytes encoded so far (after sending them).
    pub fn clear(&mut self) {
        self.buf.clear();
    }
}

/// Decodes rows of `COPY … TO STDOUT (FORMAT binary)` for columns of given types. Feed it the
/// data as it arrives ([`push`](Self::push)); rows come out whole, whatever the chunking.
#[derive(Debug, Clone)]
pub struct BinaryCopyReader {
    columns: Arc<[Column]>,
    buf: Vec<u8>,
    pos: usize,
    header: bool,
    ended: bool,
    /// The next row's bytes `pos..end`, once complete.
    next_end: Option<usize>,
    ranges: Vec<Option<(u32, u32)>>,
}

impl BinaryCopyReader {
    /// A reader for columns of the given type OIDs; text values are in `encoding` (the
    /// session's client encoding).
    pub fn new(types: &[u32], encoding: Encoding) -> BinaryCopyReader {
        BinaryCopyReader {
            columns: types.iter().map(|&t| Column::for_binary_copy(t, encoding)).collect::<Vec<_>>().into(),
            buf: Vec::new(),
            pos: 0,
            header: false,
            ended: false,
            next_end: None,
            ranges: Vec::new(),
        }
    }

    /// Adds COPY data.
    pub fn push(&mut self, data: &[u8]) {
        if self.pos > 0 && self.pos >= self.buf.len() / 2 {
            self.buf.drain(..self.pos);
            if let Some(end) = &mut self.next_end {
                *end -= self.pos;
            }
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Whether the end marker was read.
    pub fn is_finished(&self) -> bool {
        self.ended
    }

    /// Whether a whole row is buffered (then [`next_row`](Self::next_row) returns it).
    pub fn has_row(&mut self) -> Result<bool, Error> {
        if self.next_end.is_some() {
            return Ok(true);
        }
        if self.ended {
            return Ok(false);
        }
        if !self.header {
            let rest = &self.buf[self.pos..];
            if rest.len() < 19 {
                return Ok(false);
            }
            if &rest[..11] != SIGNATURE {
                return Err(malformed("the binary COPY signature is missing"));
            }
            let flags = be_i32(&rest[11..15]);
            if flags & (1 << 16) != 0 {
                return Err(malformed("binary COPY data with OIDs is not supported"));
            }
            let ext = be_i32(&rest[15..19]);
            let ext = usize::try_from(ext).map_err(|_| malformed("negative header extension length"))?;
            // PostgreSQL writes none; a huge one would only make the reader hoard data.
            if ext > MAX_HEADER_EXTENSION {
                return Err(malformed("binary COPY header extension longer than 64 KiB"));
            }
            if rest.len() < 19 + ext {
                return Ok(false);
            }
            self.pos += 19 + ext;
            self.header = true;
        }
        let rest = &self.buf[self.pos..];
        if rest.len() < 2 {
            return Ok(false);
        }
        let count = i16::from_be_bytes([rest[0], rest[1]]);
        if count == -1 {
            self.ended = true;
            self.pos += 2;
            return Ok(false);
        }
        if count as usize != self.columns.len() {
            return Err(UsageError::InvalidArgument(format!(
                "the binary COPY rows have {count} fields but {} column types were given",
                self.columns.len()
            ))
            .into());
        }
        let mut at = 2;
        for _ in 0..count {
            let Some(len) = rest.get(at..at + 4) else { return Ok(false) };
            let len = be_i32(len);
            at += 4;
            if len >= 0 {
                at += len as usize;
            } else if len != -1 {
                return Err(malformed("negative field length"));
            }
            if at > rest.len() {
                return Ok(false);
            }
        }
        self.next_end = Some(self.pos + at);
        Ok(true)
    }

    /// The next whole row, decoded with the given types (`get::<T>(i)`); `None` until more
    /// data is pushed, or at the end.
    pub fn next_row(&mut self) -> Result<Option<Row<'_>>, Error> {
        if !self.has_row()? {
            return Ok(None);
        }
        let Some(end) = self.next_end.take() else {
            return Err(Error::Internal("a binary COPY row was found and then lost".into()));
        };
        let body = &self.buf[self.pos..end];
        self.pos = end;
        data_row_ranges(body, &mut self.ranges)?;
        Ok(Some(Row::new(Some(&self.columns), body, &self.ranges)))
    }
}

/// The longest binary COPY header extension accepted.
const MAX_HEADER_EXTENSION: usize = 64 * 1024;

fn malformed(what: &'static str) -> Error {
    ProtocolError::Malformed { message: "binary COPY data", what }.into()
}

/// A big-endian `i32` from 4 bytes (0 from any other length: callers pass exactly 4).
fn be_i32(bytes: &[u8]) -> i32 {
    <[u8; 4]>::try_from(bytes).map_or(0, i32::from_be_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::oid;

    #[test]
    fn rows_round_trip_under_any_chunking() {
        let mut w = BinaryCopyWriter::new(&[oid::INT4, oid::TEXT, oid::FLOAT8]);
        for i in 0..100i32 {
            let name = format!("row {i}");
            let f = if i % 7 == 0 { None } else { Some(i as f64 / 2.0) };
            w.write_row(&[&i, &name, &f]).unwrap();
        }
        assert!(w.write_row(&[&1i32]).is_err(), "wrong field count");
        assert!(w.write_row(&[&"not an int", &"x", &1.0f64]).is_err(), "wrong type");
        w.finish();
        let data = w.buffer().to_vec();
        for chunk in [1, 3, 7, 64, data.len()] {
            let mut r = BinaryCopyReader::new(&[oid::INT4, oid::TEXT, oid::FLOAT8], Encoding::UTF8);
            let mut seen = 0i32;
            for piece in data.chunks(chunk) {
                r.push(piece);
                while let Some(row) = r.next_row().unwrap() {
                    assert_eq!(row.get::<i32, _>(0).unwrap(), seen);
                    assert_eq!(row.get::<&str, _>(1).unwrap(), format!("row {seen}"));
                    let f: Option<f64> = row.get(2).unwrap();
                    assert_eq!(f, if seen % 7 == 0 { None } else { Some(seen as f64 / 2.0) });
                    seen += 1;
                }
            }
            assert_eq!(seen, 100, "chunk {chunk}");
            assert!(r.is_finished());
        }
    }

    #[test]
    fn malformed_data_is_an_error() {
        let mut r = BinaryCopyReader::new(&[oid::INT4], Encoding::UTF8);
        r.push(b"PGCOPY\n\xff\r\n\x01\0\0\0\0\0\0\0\0");
        assert!(r.next_row().is_err());
        let mut r = BinaryCopyReader::new(&[oid::INT4], Encoding::UTF8);
        let mut data = SIGNATURE.to_vec();
        data.extend_from_slice(&[0; 8]);
        data.extend_from_slice(&2i16.to_be_bytes());
        r.push(&data);
        assert!(r.next_row().is_err(), "two fields for one type");
        // A header extension that would make the reader hold 2 GB before the first row.
        let mut r = BinaryCopyReader::new(&[oid::INT4], Encoding::UTF8);
        let mut data = SIGNATURE.to_vec();
        data.extend_from_slice(&0i32.to_be_bytes());
        data.extend_from_slice(&i32::MAX.to_be_bytes());
        r.push(&data);
        assert!(r.next_row().is_err(), "huge header extension");
    }
}
