//! bool, integers, floats, text, bytea, oid, "char", numeric (exact text), json (raw text),
//! interval.

use super::oid::*;
use super::{bad_value, fixed, parse_text, FromSql, IsNull, ToSql};
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

fn text_like(oid: u32) -> bool {
    matches!(oid, TEXT | VARCHAR | BPCHAR | NAME | UNKNOWN)
}

impl<'a> FromSql<'a> for &'a str {
    /// Text-like types, json/jsonb, numeric, and every type pgsans reads in the text format.
    fn accepts(oid: u32) -> bool {
        text_like(oid) || matches!(oid, JSON | JSONB | NUMERIC) || !super::binary_supported(oid)
    }
    /// Any value sent in the text format is text.
    fn accepts_format(oid: u32, format: i16) -> bool {
        format == 0 || <Self as FromSql>::accepts(oid)
    }
    fn from_sql(oid: u32, format: i16, raw: &'a [u8]) -> Result<Self, Error> {
        let raw =
            if oid == JSONB && format == 1 { raw.strip_prefix(&[1]).ok_or_else(|| bad_value("jsonb"))? } else { raw };
        std::str::from_utf8(raw).map_err(|_| bad_value("UTF-8 text"))
    }
}

impl FromSql<'_> for String {
    fn accepts(oid: u32) -> bool {
        <&str as FromSql>::accepts(oid)
    }
    fn accepts_format(oid: u32, format: i16) -> bool {
        <&str as FromSql>::accepts_format(oid, format)
    }
    fn from_sql(oid: u32, format: i16, raw: &[u8]) -> Result<Self, Error> {
        <&str as FromSql>::from_sql(oid, format, raw).map(str::to_owned)
    }
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
    fn from_sql(_: u32, format: i16, raw: &'a [u8]) -> Result<Self, Error> {
        if format != 1 {
            return Err(bad_value("bytea (text format)"));
        }
        Ok(raw)
    }
}

impl FromSql<'_> for Vec<u8> {
    fn accepts(oid: u32) -> bool {
        oid == BYTEA
    }
    fn from_sql(oid: u32, format: i16, raw: &[u8]) -> Result<Self, Error> {
        <&[u8] as FromSql>::from_sql(oid, format, raw).map(<[u8]>::to_vec)
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
    fn from_sql(_: u32, _: i16, raw: &[u8]) -> Result<Self, Error> {
        match raw {
            [b] => Ok(*b as i8),
            [] => Ok(0),
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
        if format != 0 {
            return Err(bad_value("numeric (binary format)"));
        }
        std::str::from_utf8(raw).map(|s| Numeric(s.to_owned())).map_err(|_| bad_value("numeric"))
    }
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
        <&str as FromSql>::from_sql(oid, format, raw).map(|s| Json(s.to_owned()))
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
        if format != 1 || raw.len() != 16 {
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
