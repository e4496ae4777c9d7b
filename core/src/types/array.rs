//! One-dimensional arrays: binary format for element types pgsans knows, and a text-format
//! parser for the rest (e.g. `numeric[]`).

use super::oid::*;
use super::{bad_value, FromSql, IsNull, ToSql};
use crate::error::{Error, UsageError};

const PAIRS: &[(u32, u32)] = &[
    (BOOL_ARRAY, BOOL),
    (BYTEA_ARRAY, BYTEA),
    (CHAR_ARRAY, CHAR),
    (NAME_ARRAY, NAME),
    (INT2_ARRAY, INT2),
    (INT4_ARRAY, INT4),
    (TEXT_ARRAY, TEXT),
    (BPCHAR_ARRAY, BPCHAR),
    (VARCHAR_ARRAY, VARCHAR),
    (INT8_ARRAY, INT8),
    (FLOAT4_ARRAY, FLOAT4),
    (FLOAT8_ARRAY, FLOAT8),
    (OID_ARRAY, OID),
    (TIMESTAMP_ARRAY, TIMESTAMP),
    (DATE_ARRAY, DATE),
    (TIME_ARRAY, TIME),
    (TIMESTAMPTZ_ARRAY, TIMESTAMPTZ),
    (INTERVAL_ARRAY, INTERVAL),
    (NUMERIC_ARRAY, NUMERIC),
    (JSON_ARRAY, JSON),
    (UUID_ARRAY, UUID),
    (JSONB_ARRAY, JSONB),
];

/// The element type of an array type pgsans knows.
pub fn element_of(array: u32) -> Option<u32> {
    PAIRS.iter().find(|(a, _)| *a == array).map(|(_, e)| *e)
}

/// The array type of an element type pgsans knows.
pub fn array_of(element: u32) -> Option<u32> {
    PAIRS.iter().find(|(_, e)| *e == element).map(|(a, _)| *a)
}

fn encode_array<T: ToSql>(items: &[T], oid: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
    let elem = element_of(oid).ok_or_else(|| bad_value("array type"))?;
    if !super::binary_supported(oid) {
        return encode_text_array(items, elem, out);
    }
    out.extend_from_slice(&1i32.to_be_bytes()); // dimensions
    let has_null_at = out.len();
    out.extend_from_slice(&0i32.to_be_bytes());
    out.extend_from_slice(&elem.to_be_bytes());
    let n = i32::try_from(items.len()).map_err(|_| UsageError::MessageTooLarge)?;
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(&1i32.to_be_bytes()); // lower bound
    let mut has_null = false;
    for item in items {
        let len_at = out.len();
        out.extend_from_slice(&[0; 4]);
        match item.encode(elem, out)? {
            IsNull::Yes => {
                has_null = true;
                out[len_at..len_at + 4].copy_from_slice(&(-1i32).to_be_bytes());
            }
            IsNull::No => {
                let len = i32::try_from(out.len() - len_at - 4).map_err(|_| UsageError::MessageTooLarge)?;
                out[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
            }
        }
    }
    if has_null {
        out[has_null_at..has_null_at + 4].copy_from_slice(&1i32.to_be_bytes());
    }
    Ok(IsNull::No)
}

/// `{"a","b",NULL}`: every element quoted and escaped.
fn encode_text_array<T: ToSql>(items: &[T], elem: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
    out.push(b'{');
    let mut scratch = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        scratch.clear();
        match item.encode(elem, &mut scratch)? {
            IsNull::Yes => out.extend_from_slice(b"NULL"),
            IsNull::No => {
                out.push(b'"');
                for &b in &scratch {
                    if b == b'"' || b == b'\\' {
                        out.push(b'\\');
                    }
                    out.push(b);
                }
                out.push(b'"');
            }
        }
    }
    out.push(b'}');
    Ok(IsNull::No)
}

/// `Vec<T>` and `&[T]` encode the same way.
macro_rules! array_to_sql {
    ($($ty:ty),*) => {$(
        impl<T: ToSql> ToSql for $ty {
            fn accepts(oid: u32) -> bool {
                element_of(oid).is_some_and(T::accepts)
            }
            fn to_sql(&self, oid: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
                encode_array(self, oid, out)
            }
            crate::to_sql_checked!();
            fn natural_type(&self) -> u32 {
                self.iter().map(|v| v.natural_type()).find(|t| *t != 0).and_then(array_of).unwrap_or(0)
            }
            fn binary(&self, oid: u32) -> bool {
                super::binary_supported(oid)
            }
        }
    )*};
}

array_to_sql!(Vec<T>, &[T]);

impl<'a, T: FromSql<'a>> FromSql<'a> for Vec<T> {
    fn accepts(oid: u32) -> bool {
        element_of(oid).is_some_and(T::accepts)
    }
    fn from_sql(oid: u32, format: i16, raw: &'a [u8]) -> Result<Self, Error> {
        let elem = element_of(oid).ok_or_else(|| bad_value("array"))?;
        if format == 0 {
            return parse_text_array(raw)?
                .into_iter()
                .map(|v| T::from_sql_nullable(elem, 0, v.map(|r| &raw[r])))
                .collect();
        }
        let mut r = crate::codec::Reader::new(raw, "array");
        let ndim = r.i32().map_err(|_| bad_value("array"))?;
        let _has_null = r.i32().map_err(|_| bad_value("array"))?;
        let elem_oid = r.u32().map_err(|_| bad_value("array"))?;
        if ndim == 0 {
            return Ok(Vec::new());
        }
        if ndim != 1 {
            return Err(UsageError::Conversion(format!("{ndim}-dimensional arrays are not supported")).into());
        }
        let n = r.i32().map_err(|_| bad_value("array"))?;
        let _lower = r.i32().map_err(|_| bad_value("array"))?;
        if n < 0 || n as usize > raw.len() / 4 {
            return Err(bad_value("array"));
        }
        let mut out = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let len = r.i32().map_err(|_| bad_value("array"))?;
            let v = if len < 0 { None } else { Some(r.bytes(len as usize).map_err(|_| bad_value("array"))?) };
            out.push(T::from_sql_nullable(elem_oid, 1, v)?);
        }
        Ok(out)
    }
}

/// Splits a one-dimensional text array into element byte ranges of the input (`None` = NULL).
/// Quoted elements with escapes are returned as owned ranges into a copy, so this returns
/// ranges only for unescaped input and falls back to an error for escapes it cannot borrow.
fn parse_text_array(raw: &[u8]) -> Result<Vec<Option<std::ops::Range<usize>>>, Error> {
    let bad = || bad_value("array text");
    // Optional dimension decoration: "[1:3]={...}"
    let start = match raw.iter().position(|&b| b == b'{') {
        Some(p) => p,
        None => return Err(bad()),
    };
    if raw.last() != Some(&b'}') {
        return Err(bad());
    }
    let body = start + 1..raw.len() - 1;
    let mut out = Vec::new();
    if body.is_empty() {
        return Ok(out);
    }
    let mut i = body.start;
    loop {
        if raw[i] == b'{' {
            return Err(UsageError::Conversion("multi-dimensional arrays are not supported".into()).into());
        }
        if raw[i] == b'"' {
            let s = i + 1;
            let mut j = s;
            while j < body.end && raw[j] != b'"' {
                if raw[j] == b'\\' {
                    // Escaped content cannot be borrowed as-is; text arrays of such values need
                    // the binary format (every type pgsans decodes has it except numeric, whose
                    // text never needs escapes).
                    return Err(UsageError::Conversion("escaped text array elements are not supported".into()).into());
                }
                j += 1;
            }
            if j >= body.end {
                return Err(bad());
            }
            out.push(Some(s..j));
            i = j + 1;
        } else {
            let s = i;
            while i < body.end && raw[i] != b',' {
                i += 1;
            }
            let v = &raw[s..i];
            out.push(if v.eq_ignore_ascii_case(b"NULL") { None } else { Some(s..i) });
        }
        if i >= body.end {
            break;
        }
        if raw[i] != b',' {
            return Err(bad());
        }
        i += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_round_trip() {
        let v = vec![Some(1i32), None, Some(-7)];
        let mut buf = Vec::new();
        v.encode(INT4_ARRAY, &mut buf).unwrap();
        let back: Vec<Option<i32>> = FromSql::from_sql(INT4_ARRAY, 1, &buf).unwrap();
        assert_eq!(back, v);
        assert!(<Vec<i32> as FromSql>::from_sql(INT4_ARRAY, 1, &buf).is_err(), "NULL element into i32");
        assert!(<Vec<i32> as ToSql>::accepts(INT8_ARRAY), "i32 elements widen into int8[]");
        assert!(!<Vec<i32> as ToSql>::accepts(INT2_ARRAY), "but never narrow into int2[]");
        let mut empty = Vec::new();
        Vec::<i64>::new().encode(INT8_ARRAY, &mut empty).unwrap();
        assert_eq!(<Vec<i64> as FromSql>::from_sql(INT8_ARRAY, 1, &empty).unwrap(), Vec::<i64>::new());
    }

    #[test]
    fn text_arrays() {
        let raw = b"{1.5,NULL,\"2\",-3}";
        let v: Vec<Option<String>> = FromSql::from_sql(NUMERIC_ARRAY, 0, raw).unwrap();
        assert_eq!(v, [Some("1.5".into()), None, Some("2".into()), Some("-3".into())]);
        assert!(<Vec<String> as FromSql>::from_sql(NUMERIC_ARRAY, 0, b"{{1}}").is_err());
        assert!(<Vec<String> as FromSql>::from_sql(NUMERIC_ARRAY, 0, b"nope").is_err());
        assert_eq!(<Vec<String> as FromSql>::from_sql(NUMERIC_ARRAY, 0, b"{}").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn hostile_binary_arrays() {
        for raw in [&b""[..], &[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 23, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 1][..]] {
            assert!(<Vec<i32> as FromSql>::from_sql(INT4_ARRAY, 1, raw).is_err());
        }
    }
}
