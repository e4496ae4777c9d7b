//! bool, integers, floats, text, bytea, oid, "char", numeric (exact text), json (raw text),
//! interval.

use super::oid::*;
use super::{bad_value, fixed, parse_text, Encoding, FromSql, IsNull, ToSql};
use crate::error::Error;

/// Sends or receives a value as text whatever its type: the server parses it (parameters) or
/// prints it (results). For types pgsans has no Rust type for (inet, enums, ranges, …).
impl ToSql for str {
    fn to_sql(&self, oid: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
        if oid == JSONB {
            out.push(1); // jsonb binary format version
        }
        out.extend_from_slice(self.as_bytes());
        Ok(IsNull::No)
    }
    fn encode(&self, oid: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
        self.to_sql(oid, out)
    }
    fn accepts_type(&self, _: u32) -> bool {
        true
    }
    fn natural_type(&self) -> u32 {
        0
    }
    /// Text-like types take the same bytes in binary; every other type gets the text format.
    fn binary(&self, oid: u32) -> bool {
        matches!(oid, TEXT | VARCHAR | BPCHAR | NAME | UNKNOWN | JSON | JSONB)
    }
}

impl ToSql for String {
    fn accepts(_: u32) -> bool {
        true
    }
    fn to_sql(&self, oid: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
        self.as_str().to_sql(oid, out)
    }
    fn encode(&self, oid: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
        self.as_str().to_sql(oid, out)
    }
    fn accepts_type(&self, _: u32) -> bool {
        true
    }
    fn natural_type(&self) -> u32 {
        0
    }
    fn binary(&self, oid: u32) -> bool {
        self.as_str().binary(oid)
    }
}

/// The text of a value: its text format, or the binary format of a type whose binary form is
/// its text (jsonb's carries a version byte first).
fn text_bytes(oid: u32, format: i16, raw: &[u8]) -> Result<&[u8], Error> {
    if oid == JSONB && format == 1 {
        raw.strip_prefix(&[1]).ok_or_else(|| bad_value("jsonb"))
    } else {
        Ok(raw)
    }
}

fn not_in_encoding(encoding: Encoding) -> Error {
    crate::UsageError::Conversion(format!("text is not valid in the client encoding ({encoding})")).into()
}

/// Decodes text in the client encoding into an owned string.
pub(crate) fn decode_text(encoding: Encoding, raw: &[u8]) -> Result<String, Error> {
    encoding.decode(raw).map(std::borrow::Cow::into_owned).ok_or_else(|| not_in_encoding(encoding))
}

impl<'a> FromSql<'a> for &'a str {
    /// Types pgsans reads as text: text-like types, json/jsonb, numeric, and every type it has
    /// no binary decoder for (those are asked for in the text format).
    fn accepts(oid: u32) -> bool {
        super::binary_is_text(oid) || oid == NUMERIC || !super::binary_supported(oid)
    }
    /// Any value in the text format is text; in the binary format only the types whose
    /// binary form is their text (never the raw bytes of an `int4` or a `float8`).
    fn accepts_format(oid: u32, format: i16) -> bool {
        format == 0 || super::binary_is_text(oid)
    }
    fn from_sql(oid: u32, format: i16, raw: &'a [u8]) -> Result<Self, Error> {
        Self::from_sql_in(Encoding::UTF8, oid, format, raw)
    }
    fn from_sql_in(encoding: Encoding, oid: u32, format: i16, raw: &'a [u8]) -> Result<Self, Error> {
        let raw = text_bytes(oid, format, raw)?;
        match encoding.decode(raw) {
            Some(std::borrow::Cow::Borrowed(s)) => Ok(s),
            Some(std::borrow::Cow::Owned(_)) => Err(crate::UsageError::Conversion(format!(
                "text in the client encoding {encoding} cannot be borrowed as &str: read it as String"
            ))
            .into()),
            None => Err(not_in_encoding(encoding)),
        }
    }
}

impl FromSql<'_> for String {
    fn accepts(oid: u32) -> bool {
        <&str as FromSql>::accepts(oid)
    }
    /// Like `&str`, plus numeric in the binary format (its exact decimal text).
    fn accepts_format(oid: u32, format: i16) -> bool {
        <&str as FromSql>::accepts_format(oid, format) || oid == NUMERIC
    }
    fn from_sql(oid: u32, format: i16, raw: &[u8]) -> Result<Self, Error> {
        Self::from_sql_in(Encoding::UTF8, oid, format, raw)
    }
    fn from_sql_in(encoding: Encoding, oid: u32, format: i16, raw: &[u8]) -> Result<Self, Error> {
        if oid == NUMERIC && format == 1 {
            return numeric_binary_text(raw);
        }
        decode_text(encoding, text_bytes(oid, format, raw)?)
    }
}

/// bytea's text format: hex (`\x0aff`, the default `bytea_output`) or escape (`a\000\\`).
fn bytea_text(raw: &[u8]) -> Result<Vec<u8>, Error> {
    let bad = || bad_value("bytea (text format)");
    if let Some(hex) = raw.strip_prefix(b"\\x") {
        let digit = |b: u8| (b as char).to_digit(16).ok_or_else(bad);
        if hex.len() % 2 != 0 {
            return Err(bad());
        }
        return hex.chunks_exact(2).map(|p| Ok((digit(p[0])? * 16 + digit(p[1])?) as u8)).collect();
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'\\' if raw.get(i + 1) == Some(&b'\\') => {
                out.push(b'\\');
                i += 2;
            }
            b'\\' => {
                let oct = raw.get(i + 1..i + 4).ok_or_else(bad)?;
                let v = std::str::from_utf8(oct).ok().and_then(|o| u8::from_str_radix(o, 8).ok()).ok_or_else(bad)?;
                out.push(v);
                i += 4;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(out)
}

impl ToSql for [u8] {
    fn to_sql(&self, _: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
        out.extend_from_slice(self);
        Ok(IsNull::No)
    }
    fn accepts_type(&self, oid: u32) -> bool {
        oid == BYTEA
    }
    fn encode(&self, oid: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
        if oid != BYTEA {
            return Err(crate::UsageError::WrongType {
                column: String::new(),
                rust: "&[u8]",
                pg: super::type_name(oid),
            }
            .into());
        }
        self.to_sql(oid, out)
    }
    fn natural_type(&self) -> u32 {
        BYTEA
    }
}

impl ToSql for Vec<u8> {
    fn accepts(oid: u32) -> bool {
        oid == BYTEA
    }
    fn to_sql(&self, oid: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
        self.as_slice().to_sql(oid, out)
    }
    crate::to_sql_checked!();
    fn natural_type(&self) -> u32 {
        BYTEA
    }
}

impl<'a> FromSql<'a> for &'a [u8] {
    fn accepts(oid: u32) -> bool {
        oid == BYTEA
    }
    /// Binary only: the text format must be decoded (read it as `Vec<u8>`).
    fn accepts_format(oid: u32, format: i16) -> bool {
        oid == BYTEA && format == 1
    }
    fn from_sql(_: u32, format: i16, raw: &'a [u8]) -> Result<Self, Error> {
        if format != 1 {
            return Err(crate::UsageError::Conversion(
                "bytea in the text format cannot be borrowed: read it as Vec<u8>".into(),
            )
            .into());
        }
        Ok(raw)
    }
}

impl FromSql<'_> for Vec<u8> {
    fn accepts(oid: u32) -> bool {
        oid == BYTEA
    }
    fn from_sql(_: u32, format: i16, raw: &[u8]) -> Result<Self, Error> {
        if format == 1 {
            Ok(raw.to_vec())
        } else {
            bytea_text(raw)
        }
    }
}

impl ToSql for bool {
    fn accepts(oid: u32) -> bool {
        oid == BOOL
    }
    fn to_sql(&self, _: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
        out.push(*self as u8);
        Ok(IsNull::No)
    }
    crate::to_sql_checked!();
    fn natural_type(&self) -> u32 {
        BOOL
    }
}

impl FromSql<'_> for bool {
    fn accepts(oid: u32) -> bool {
        oid == BOOL
    }
    fn from_sql(_: u32, format: i16, raw: &[u8]) -> Result<Self, Error> {
        match (format, raw) {
            (1, [b]) => Ok(*b != 0),
            (0, b"t") => Ok(true),
            (0, b"f") => Ok(false),
            _ => Err(bad_value("bool")),
        }
    }
}

/// Integers: parameters may widen (an `i32` into an `int8` column), results may widen (an
/// `int2` column into `i32`), nothing narrows.
macro_rules! int {
    ($t:ty, $natural:expr, to: [$($to:pat),*], from: [$($from:pat),*]) => {
        impl ToSql for $t {
            fn accepts(oid: u32) -> bool {
                matches!(oid, $($to)|*)
            }
            fn to_sql(&self, oid: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
                match oid {
                    INT2 => out.extend_from_slice(&(i16::try_from(*self).map_err(|_| overflow(oid))?).to_be_bytes()),
                    INT4 => out.extend_from_slice(&(i32::try_from(*self).map_err(|_| overflow(oid))?).to_be_bytes()),
                    INT8 => out.extend_from_slice(&(i64::from(*self)).to_be_bytes()),
                    _ => out.extend_from_slice(self.to_string().as_bytes()), // numeric: text
                }
                Ok(IsNull::No)
            }
            crate::to_sql_checked!();
            fn natural_type(&self) -> u32 {
                $natural
            }
        }

        impl FromSql<'_> for $t {
            fn accepts(oid: u32) -> bool {
                matches!(oid, $($from)|*)
            }
            fn from_sql(oid: u32, format: i16, raw: &[u8]) -> Result<Self, Error> {
                if format == 0 {
                    return parse_text(raw, stringify!($t));
                }
                Ok(match oid {
                    INT2 => i16::from_be_bytes(fixed(raw, "int2")?).into(),
                    INT4 => i32::from_be_bytes(fixed(raw, "int4")?).try_into().map_err(|_| bad_value("int4"))?,
                    INT8 => i64::from_be_bytes(fixed(raw, "int8")?).try_into().map_err(|_| bad_value("int8"))?,
                    OID => u32::from_be_bytes(fixed(raw, "oid")?).try_into().map_err(|_| bad_value("oid"))?,
                    _ => return Err(bad_value(stringify!($t))),
                })
            }
        }
    };
}

fn overflow(oid: u32) -> Error {
    crate::UsageError::Conversion(format!("value out of range for {}", super::type_name(oid))).into()
}

int!(i16, INT2, to: [INT2, INT4, INT8, NUMERIC], from: [INT2]);
int!(i32, INT4, to: [INT4, INT8, NUMERIC], from: [INT2, INT4]);
int!(i64, INT8, to: [INT8, NUMERIC], from: [INT2, INT4, INT8, OID]);

impl ToSql for u32 {
    fn accepts(oid: u32) -> bool {
        oid == OID
    }
    fn to_sql(&self, _: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
        out.extend_from_slice(&self.to_be_bytes());
        Ok(IsNull::No)
    }
    crate::to_sql_checked!();
    fn natural_type(&self) -> u32 {
        OID
    }
}

impl FromSql<'_> for u32 {
    fn accepts(oid: u32) -> bool {
        oid == OID
    }
    fn from_sql(_: u32, format: i16, raw: &[u8]) -> Result<Self, Error> {
        if format == 0 {
            return parse_text(raw, "oid");
        }
        Ok(u32::from_be_bytes(fixed(raw, "oid")?))
    }
}

/// `"char"`, the one-byte internal type.
impl ToSql for i8 {
    fn accepts(oid: u32) -> bool {
        oid == CHAR
    }
    fn to_sql(&self, _: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
        out.push(*self as u8);
        Ok(IsNull::No)
    }
    crate::to_sql_checked!();
    fn natural_type(&self) -> u32 {
        CHAR
    }
}

impl FromSql<'_> for i8 {
    fn accepts(oid: u32) -> bool {
        oid == CHAR
    }
    fn from_sql(_: u32, format: i16, raw: &[u8]) -> Result<Self, Error> {
        match raw {
            [b] => Ok(*b as i8),
            [] => Ok(0),
            // The text form of a byte above 127 is its octal escape.
            [b'\\', oct @ ..] if format == 0 && oct.len() == 3 => std::str::from_utf8(oct)
                .ok()
                .and_then(|o| u8::from_str_radix(o, 8).ok())
                .map(|b| b as i8)
                .ok_or_else(|| bad_value("\"char\"")),
            _ => Err(bad_value("\"char\"")),
        }
    }
}

macro_rules! float {
    ($t:ty, $natural:expr, to: [$($to:pat),*], from: [$($from:pat),*]) => {
        impl ToSql for $t {
            fn accepts(oid: u32) -> bool {
                matches!(oid, $($to)|*)
            }
            fn to_sql(&self, oid: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
                match oid {
                    FLOAT4 => out.extend_from_slice(&(*self as f32).to_be_bytes()),
                    _ => out.extend_from_slice(&(*self as f64).to_be_bytes()),
                }
                Ok(IsNull::No)
            }
            crate::to_sql_checked!();
            fn natural_type(&self) -> u32 {
                $natural
            }
        }

        impl FromSql<'_> for $t {
            fn accepts(oid: u32) -> bool {
                matches!(oid, $($from)|*)
            }
            fn from_sql(oid: u32, format: i16, raw: &[u8]) -> Result<Self, Error> {
                if format == 0 {
                    return parse_text(raw, stringify!($t));
                }
                Ok(match oid {
                    FLOAT4 => f32::from_be_bytes(fixed(raw, "float4")?) as $t,
                    _ => f64::from_be_bytes(fixed(raw, "float8")?) as $t,
                })
            }
        }
    };
}

float!(f32, FLOAT4, to: [FLOAT4, FLOAT8], from: [FLOAT4]);
float!(f64, FLOAT8, to: [FLOAT8], from: [FLOAT4, FLOAT8]);

/// A `numeric` as its exact decimal text (`"12345.678900"`, `"NaN"`, `"Infinity"`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Numeric(pub String);

impl ToSql for Numeric {
    fn accepts(oid: u32) -> bool {
        oid == NUMERIC
    }
    fn to_sql(&self, _: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
        out.extend_from_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }
    crate::to_sql_checked!();
    fn natural_type(&self) -> u32 {
        NUMERIC
    }
    fn binary(&self, _: u32) -> bool {
        false
    }
}

impl FromSql<'_> for Numeric {
    fn accepts(oid: u32) -> bool {
        oid == NUMERIC
    }
    fn from_sql(_: u32, format: i16, raw: &[u8]) -> Result<Self, Error> {
        if format == 1 {
            return numeric_binary_text(raw).map(Numeric);
        }
        std::str::from_utf8(raw).map(|s| Numeric(s.to_owned())).map_err(|_| bad_value("numeric"))
    }
}

/// numeric's binary format (base-10000 digits, weight, sign, display scale) as the exact text
/// PostgreSQL prints for it.
pub(crate) fn numeric_binary_text(raw: &[u8]) -> Result<String, Error> {
    use std::fmt::Write as _;
    let bad = || bad_value("numeric");
    let mut r = crate::wire::codec::Reader::new(raw, "numeric");
    let (ndigits, weight, sign, dscale) = (
        r.i16().map_err(|_| bad())?,
        r.i16().map_err(|_| bad())?,
        r.i16().map_err(|_| bad())? as u16,
        r.i16().map_err(|_| bad())?,
    );
    if ndigits < 0 || dscale < 0 {
        return Err(bad());
    }
    let digits: Vec<i16> = (0..ndigits).map(|_| r.i16().map_err(|_| bad())).collect::<Result<_, _>>()?;
    r.finish().map_err(|_| bad())?;
    if digits.iter().any(|d| !(0..10_000).contains(d)) {
        return Err(bad());
    }
    let negative = match sign {
        0x0000 => false,
        0x4000 => true,
        0xC000 => return Ok("NaN".into()),
        0xD000 => return Ok("Infinity".into()),
        0xF000 => return Ok("-Infinity".into()),
        _ => return Err(bad()),
    };
    let digit = |i: i32| if (0..ndigits as i32).contains(&i) { digits[i as usize] } else { 0 };
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        for i in 0..=weight as i32 {
            let _ = if i == 0 { write!(out, "{}", digit(i)) } else { write!(out, "{:04}", digit(i)) };
        }
    }
    if dscale > 0 {
        out.push('.');
        let start = out.len();
        let mut i = weight as i32 + 1;
        while out.len() - start < dscale as usize {
            let _ = write!(out, "{:04}", digit(i));
            i += 1;
        }
        out.truncate(start + dscale as usize);
    }
    Ok(out)
}

/// A `json` or `jsonb` value as its JSON text, without parsing it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Json(pub String);

impl ToSql for Json {
    fn accepts(oid: u32) -> bool {
        matches!(oid, JSON | JSONB)
    }
    fn to_sql(&self, oid: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
        self.0.as_str().to_sql(oid, out)
    }
    crate::to_sql_checked!();
    fn natural_type(&self) -> u32 {
        JSONB
    }
}

impl FromSql<'_> for Json {
    fn accepts(oid: u32) -> bool {
        matches!(oid, JSON | JSONB)
    }
    fn from_sql(oid: u32, format: i16, raw: &[u8]) -> Result<Self, Error> {
        Self::from_sql_in(Encoding::UTF8, oid, format, raw)
    }
    fn from_sql_in(encoding: Encoding, oid: u32, format: i16, raw: &[u8]) -> Result<Self, Error> {
        decode_text(encoding, text_bytes(oid, format, raw)?).map(Json)
    }
}

/// An `interval`: months, days and microseconds, kept apart as PostgreSQL does (a month is not
/// a fixed number of days).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Interval {
    pub months: i32,
    pub days: i32,
    pub microseconds: i64,
}

impl ToSql for Interval {
    fn accepts(oid: u32) -> bool {
        oid == INTERVAL
    }
    fn to_sql(&self, _: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
        out.extend_from_slice(&self.microseconds.to_be_bytes());
        out.extend_from_slice(&self.days.to_be_bytes());
        out.extend_from_slice(&self.months.to_be_bytes());
        Ok(IsNull::No)
    }
    crate::to_sql_checked!();
    fn natural_type(&self) -> u32 {
        INTERVAL
    }
}

impl FromSql<'_> for Interval {
    fn accepts(oid: u32) -> bool {
        oid == INTERVAL
    }
    fn from_sql(_: u32, format: i16, raw: &[u8]) -> Result<Self, Error> {
        if format == 0 {
            return interval_text(raw);
        }
        if raw.len() != 16 {
            return Err(bad_value("interval"));
        }
        Ok(Interval {
            microseconds: i64::from_be_bytes(fixed(&raw[..8], "interval")?),
            days: i32::from_be_bytes(fixed(&raw[8..12], "interval")?),
            months: i32::from_be_bytes(fixed(&raw[12..], "interval")?),
        })
    }
}

impl ToSql for &str {
    fn accepts(_: u32) -> bool {
        true
    }
    fn to_sql(&self, oid: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
        (**self).to_sql(oid, out)
    }
    fn encode(&self, oid: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
        (**self).to_sql(oid, out)
    }
    fn accepts_type(&self, _: u32) -> bool {
        true
    }
    fn natural_type(&self) -> u32 {
        0
    }
    fn binary(&self, oid: u32) -> bool {
        (**self).binary(oid)
    }
}

impl ToSql for &[u8] {
    fn accepts(oid: u32) -> bool {
        oid == BYTEA
    }
    fn to_sql(&self, oid: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
        (**self).to_sql(oid, out)
    }
    crate::to_sql_checked!();
    fn natural_type(&self) -> u32 {
        BYTEA
    }
}

/// An interval in the text form of `IntervalStyle` postgres (the default):
/// `1 year 2 mons -3 days +04:05:06.5`.
fn interval_text(raw: &[u8]) -> Result<Interval, Error> {
    let text = String::from_utf8_lossy(raw);
    let bad = || {
        Error::from(crate::UsageError::Conversion(format!(
            "cannot read interval {text:?}: text-format intervals are read in IntervalStyle postgres (the default)"
        )))
    };
    let mut iv = Interval::default();
    let mut words = text.split_ascii_whitespace().peekable();
    while let Some(word) = words.next() {
        if word.contains(':') {
            let (sign, clock) = match word.as_bytes()[0] {
                b'-' => (-1, &word[1..]),
                b'+' => (1, &word[1..]),
                _ => (1, word),
            };
            let mut parts = clock.split(':');
            let h: i64 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
            let m: i64 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
            let s = parts.next().unwrap_or("0");
            let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
            let whole: i64 = whole.parse().map_err(|_| bad())?;
            if frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) || parts.next().is_some() {
                return Err(bad());
            }
            let frac: i64 = format!("{frac:0<6}").parse().map_err(|_| bad())?;
            // Checked: huge hour counts are text a hostile server can send (wrapping would
            // give a wrong interval, not an error).
            let us = h
                .checked_mul(60)
                .and_then(|v| v.checked_add(m))
                .and_then(|v| v.checked_mul(60))
                .and_then(|v| v.checked_add(whole))
                .and_then(|v| v.checked_mul(1_000_000))
                .and_then(|v| v.checked_add(frac))
                .and_then(|v| v.checked_mul(sign))
                .ok_or_else(bad)?;
            iv.microseconds = iv.microseconds.checked_add(us).ok_or_else(bad)?;
            continue;
        }
        let n: i32 = word.parse().map_err(|_| bad())?;
        match words.next().ok_or_else(bad)? {
            "year" | "years" => iv.months = n.checked_mul(12).and_then(|m| iv.months.checked_add(m)).ok_or_else(bad)?,
            "mon" | "mons" => iv.months = iv.months.checked_add(n).ok_or_else(bad)?,
            "day" | "days" => iv.days = iv.days.checked_add(n).ok_or_else(bad)?,
            _ => return Err(bad()),
        }
    }
    Ok(iv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interval_too_large_to_hold_is_an_error_not_a_wrapped_value() {
        // Found by the decode_value fuzz target: the hours overflowed i64 microseconds.
        assert!(interval_text(b"9223372036854:00:00").is_err());
        assert!(interval_text(b"-9999999999999999:00:00").is_err());
        let iv = interval_text(b"2562047788:00:54.775807").unwrap();
        assert_eq!(iv.microseconds, i64::MAX);
    }

    #[test]
    fn numeric_binary_is_its_exact_text() {
        fn enc(ndigits: i16, weight: i16, sign: u16, dscale: i16, digits: &[i16]) -> Vec<u8> {
            let mut v = Vec::new();
            for x in [ndigits, weight, sign as i16, dscale] {
                v.extend_from_slice(&x.to_be_bytes());
            }
            for d in digits {
                v.extend_from_slice(&d.to_be_bytes());
            }
            v
        }
        assert_eq!(numeric_binary_text(&enc(2, 1, 0, 2, &[12, 3456])).unwrap(), "123456.00");
        assert_eq!(numeric_binary_text(&enc(1, -1, 0x4000, 5, &[1234])).unwrap(), "-0.12340");
        assert_eq!(numeric_binary_text(&enc(1, -2, 0, 6, &[5])).unwrap(), "0.000000");
        assert_eq!(numeric_binary_text(&enc(1, -2, 0, 8, &[5])).unwrap(), "0.00000005");
        assert_eq!(numeric_binary_text(&enc(0, 0, 0, 0, &[])).unwrap(), "0");
        assert_eq!(numeric_binary_text(&enc(1, 2, 0, 0, &[7])).unwrap(), "700000000");
        assert_eq!(numeric_binary_text(&enc(0, 0, 0xC000, 0, &[])).unwrap(), "NaN");
        assert_eq!(numeric_binary_text(&enc(0, 0, 0xF000, 0, &[])).unwrap(), "-Infinity");
        assert!(numeric_binary_text(&enc(1, 0, 0, 0, &[10_000])).is_err());
        assert!(numeric_binary_text(&enc(2, 0, 0, 0, &[1])).is_err());
    }

    #[test]
    fn text_formats() {
        assert_eq!(bytea_text(b"\\x00ff0a").unwrap(), [0, 255, 10]);
        assert_eq!(bytea_text(b"a\\000\\\\b").unwrap(), b"a\0\\b");
        assert!(bytea_text(b"\\x0").is_err());
        assert_eq!(
            interval_text(b"1 year 2 mons -3 days +04:05:06.5").unwrap(),
            Interval { months: 14, days: -3, microseconds: 14_706_500_000 }
        );
        assert_eq!(interval_text(b"-00:00:01").unwrap().microseconds, -1_000_000);
        assert_eq!(interval_text(b"00:00:00").unwrap(), Interval::default());
        assert!(interval_text(b"P1Y").is_err(), "IntervalStyle iso_8601");
        assert_eq!(<i8 as FromSql>::from_sql(CHAR, 0, b"\\351").unwrap(), -23);
        assert_eq!(<String as FromSql>::from_sql_in(Encoding::from_name("LATIN1"), TEXT, 1, b"\xe9").unwrap(), "é");
        assert!(<&str as FromSql>::from_sql_in(Encoding::from_name("LATIN1"), TEXT, 1, b"\xe9").is_err());
        assert!(!<&str as FromSql>::accepts_format(FLOAT8, 1), "raw float bytes are not text");
    }
}
