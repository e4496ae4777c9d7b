//! Rust values in and out of PostgreSQL, in the binary format for the types pgsans knows and
//! the text format for the rest.
//!
//! [`ToSql`] encodes a parameter for a given server type; [`FromSql`] decodes a column value
//! given its type and format. A mismatch (an `int8` column read as `i32`, a NULL read into a
//! non-`Option`) is a typed [`UsageError::WrongType`] / [`UsageError::UnexpectedNull`] naming
//! the column and both types: never a panic, never a silent truncation.
//!
//! Optional features add implementations for other crates' types: `chrono` and `time`
//! (date, time, timestamp, timestamptz), `serde_json` (json, jsonb), `uuid`, `rust_decimal`
//! (numeric).

mod array;
pub mod catalogue;
#[cfg(feature = "chrono")]
mod chrono_impls;
pub(crate) mod copy_binary;
#[cfg(any(feature = "chrono", feature = "time"))]
mod datetime;
#[cfg(feature = "rust_decimal")]
mod decimal;
#[doc(hidden)]
pub mod derive_support;
pub mod from_row;
mod hstore;
#[cfg(feature = "serde_json")]
mod json;
mod primitives;
mod range;
#[cfg(test)]
mod roundtrip;
pub(crate) mod row;
mod simple;
pub(crate) mod text;
#[cfg(feature = "time")]
mod time_impls;
#[cfg(feature = "uuid")]
mod uuid_impls;

pub use array::{Array, ArrayDimension};
pub use catalogue::{Field, Kind, Type};
pub use from_row::FromRow;
#[cfg(feature = "derive")]
pub use pgsans_derive::{FromRow, FromSql, ToSql};
pub use primitives::{Interval, Json, Numeric};
pub use range::{Multirange, Range};
pub use simple::{Bits, Circle, Inet, Line, Lseg, MacAddr, MacAddr8, Money, Path, PgBox, PgLsn, Point, Polygon, Xid8};

pub use crate::encoding::Encoding;
use crate::error::{Error, UsageError};

/// Type OIDs (from `pg_type.dat`; stable across PostgreSQL versions).
#[allow(missing_docs)]
pub mod oid {
    pub const BOOL: u32 = 16;
    pub const BYTEA: u32 = 17;
    pub const CHAR: u32 = 18;
    pub const NAME: u32 = 19;
    pub const INT8: u32 = 20;
    pub const INT2: u32 = 21;
    pub const INT4: u32 = 23;
    pub const TEXT: u32 = 25;
    pub const OID: u32 = 26;
    pub const JSON: u32 = 114;
    pub const FLOAT4: u32 = 700;
    pub const FLOAT8: u32 = 701;
    pub const UNKNOWN: u32 = 705;
    pub const BPCHAR: u32 = 1042;
    pub const VARCHAR: u32 = 1043;
    pub const DATE: u32 = 1082;
    pub const TIME: u32 = 1083;
    pub const TIMESTAMP: u32 = 1114;
    pub const TIMESTAMPTZ: u32 = 1184;
    pub const INTERVAL: u32 = 1186;
    pub const NUMERIC: u32 = 1700;
    pub const UUID: u32 = 2950;
    pub const JSONB: u32 = 3802;
    pub const BOOL_ARRAY: u32 = 1000;
    pub const BYTEA_ARRAY: u32 = 1001;
    pub const CHAR_ARRAY: u32 = 1002;
    pub const NAME_ARRAY: u32 = 1003;
    pub const INT2_ARRAY: u32 = 1005;
    pub const INT4_ARRAY: u32 = 1007;
    pub const TEXT_ARRAY: u32 = 1009;
    pub const BPCHAR_ARRAY: u32 = 1014;
    pub const VARCHAR_ARRAY: u32 = 1015;
    pub const INT8_ARRAY: u32 = 1016;
    pub const FLOAT4_ARRAY: u32 = 1021;
    pub const FLOAT8_ARRAY: u32 = 1022;
    pub const OID_ARRAY: u32 = 1028;
    pub const TIMESTAMP_ARRAY: u32 = 1115;
    pub const DATE_ARRAY: u32 = 1182;
    pub const TIME_ARRAY: u32 = 1183;
    pub const TIMESTAMPTZ_ARRAY: u32 = 1185;
    pub const INTERVAL_ARRAY: u32 = 1187;
    pub const NUMERIC_ARRAY: u32 = 1231;
    pub const JSON_ARRAY: u32 = 199;
    pub const UUID_ARRAY: u32 = 2951;
    pub const JSONB_ARRAY: u32 = 3807;
    pub const INET: u32 = 869;
    pub const CIDR: u32 = 650;
    pub const MACADDR: u32 = 829;
    pub const MACADDR8: u32 = 774;
    pub const PG_LSN: u32 = 3220;
    pub const XID8: u32 = 5069;
    pub const MONEY: u32 = 790;
    pub const BIT: u32 = 1560;
    pub const VARBIT: u32 = 1562;
    pub const POINT: u32 = 600;
    pub const LSEG: u32 = 601;
    pub const PATH: u32 = 602;
    pub const BOX: u32 = 603;
    pub const POLYGON: u32 = 604;
    pub const LINE: u32 = 628;
    pub const CIRCLE: u32 = 718;
    pub const INET_ARRAY: u32 = 1041;
    pub const CIDR_ARRAY: u32 = 651;
    pub const MACADDR_ARRAY: u32 = 1040;
    pub const MACADDR8_ARRAY: u32 = 775;
    pub const PG_LSN_ARRAY: u32 = 3221;
    pub const XID8_ARRAY: u32 = 271;
    pub const MONEY_ARRAY: u32 = 791;
    pub const BIT_ARRAY: u32 = 1561;
    pub const VARBIT_ARRAY: u32 = 1563;
    pub const POINT_ARRAY: u32 = 1017;
    pub const LSEG_ARRAY: u32 = 1018;
    pub const PATH_ARRAY: u32 = 1019;
    pub const POLYGON_ARRAY: u32 = 1027;
    pub const LINE_ARRAY: u32 = 629;
    pub const CIRCLE_ARRAY: u32 = 719;
    pub const INT4RANGE: u32 = 3904;
    pub const NUMRANGE: u32 = 3906;
    pub const TSRANGE: u32 = 3908;
    pub const TSTZRANGE: u32 = 3910;
    pub const DATERANGE: u32 = 3912;
    pub const INT8RANGE: u32 = 3926;
    pub const INT4MULTIRANGE: u32 = 4451;
    pub const NUMMULTIRANGE: u32 = 4532;
    pub const TSMULTIRANGE: u32 = 4533;
    pub const TSTZMULTIRANGE: u32 = 4534;
    pub const DATEMULTIRANGE: u32 = 4535;
    pub const INT8MULTIRANGE: u32 = 4536;
}

/// The name of a type OID pgsans knows, for error messages.
pub fn type_name(oid: u32) -> String {
    use oid::*;
    let name = match oid {
        BOOL => "bool",
        BYTEA => "bytea",
        CHAR => "\"char\"",
        NAME => "name",
        INT8 => "int8",
        INT2 => "int2",
        INT4 => "int4",
        TEXT => "text",
        OID => "oid",
        JSON => "json",
        FLOAT4 => "float4",
        FLOAT8 => "float8",
        UNKNOWN => "unknown",
        BPCHAR => "bpchar",
        VARCHAR => "varchar",
        DATE => "date",
        TIME => "time",
        TIMESTAMP => "timestamp",
        TIMESTAMPTZ => "timestamptz",
        INTERVAL => "interval",
        NUMERIC => "numeric",
        UUID => "uuid",
        JSONB => "jsonb",
        INET => "inet",
        CIDR => "cidr",
        MACADDR => "macaddr",
        MACADDR8 => "macaddr8",
        PG_LSN => "pg_lsn",
        XID8 => "xid8",
        MONEY => "money",
        BIT => "bit",
        VARBIT => "varbit",
        POINT => "point",
        LSEG => "lseg",
        PATH => "path",
        BOX => "box",
        POLYGON => "polygon",
        LINE => "line",
        CIRCLE => "circle",
        INT4RANGE => "int4range",
        NUMRANGE => "numrange",
        TSRANGE => "tsrange",
        TSTZRANGE => "tstzrange",
        DATERANGE => "daterange",
        INT8RANGE => "int8range",
        INT4MULTIRANGE => "int4multirange",
        NUMMULTIRANGE => "nummultirange",
        TSMULTIRANGE => "tsmultirange",
        TSTZMULTIRANGE => "tstzmultirange",
        DATEMULTIRANGE => "datemultirange",
        INT8MULTIRANGE => "int8multirange",
        other => match array::element_of(other) {
            Some(elem) => return format!("{}[]", type_name(elem)),
            None => return format!("type with OID {other}"),
        },
    };
    name.to_owned()
}

/// Types whose binary format is their text, in the client encoding (jsonb after a version byte).
pub(crate) fn binary_is_text(oid: u32) -> bool {
    use oid::*;
    matches!(oid, TEXT | VARCHAR | BPCHAR | NAME | UNKNOWN | JSON | JSONB)
}

/// Whether pgsans asks for this type's values in the binary format.
pub fn binary_supported(oid: u32) -> bool {
    use oid::*;
    match oid {
        BOOL | BYTEA | CHAR | NAME | INT8 | INT2 | INT4 | TEXT | OID | JSON | FLOAT4 | FLOAT8 | BPCHAR | VARCHAR
        | DATE | TIME | TIMESTAMP | TIMESTAMPTZ | INTERVAL | UUID | JSONB => true,
        // numeric's binary form is base-10000 digits; exact text is simpler and as fast to parse.
        NUMERIC => false,
        other => array::element_of(other).is_some_and(|e| e != NUMERIC && binary_supported(e)),
    }
}

pub use crate::wire::codec::IsNull;

/// A Rust value that can be sent as a parameter.
///
/// Implementations write `accepts` and `to_sql`, and invoke [`to_sql_checked!`](crate::to_sql_checked)
/// for the object-safe `encode`, which refuses a wrong type before anything is written.
pub trait ToSql: std::fmt::Debug {
    /// Whether values of this type can be encoded for a parameter of type `oid`.
    fn accepts(oid: u32) -> bool
    where
        Self: Sized;

    /// Appends the encoding for type `oid`: binary if [`binary`](ToSql::binary), else text.
    fn to_sql(&self, oid: u32, out: &mut Vec<u8>) -> Result<IsNull, Error>;

    /// Checks `accepts`, then encodes. Object-safe: used through `&dyn ToSql`.
    fn encode(&self, oid: u32, out: &mut Vec<u8>) -> Result<IsNull, Error>;

    /// `accepts` for a value behind `&dyn ToSql`: lets misuse be reported before anything is
    /// encoded.
    fn accepts_type(&self, oid: u32) -> bool;

    /// The type to declare for this parameter when the query does not say; 0 lets the server
    /// infer it (strings, which may become any type).
    fn natural_type(&self) -> u32;

    /// Whether the value is sent in the binary format (true for the types pgsans knows).
    fn binary(&self, oid: u32) -> bool {
        binary_supported(oid)
    }
}

/// Implements [`ToSql::encode`] with the `accepts` check.
#[macro_export]
macro_rules! to_sql_checked {
    () => {
        fn encode(&self, oid: u32, out: &mut Vec<u8>) -> Result<$crate::types::IsNull, $crate::Error> {
            if !<Self as $crate::types::ToSql>::accepts(oid) {
                return Err($crate::UsageError::WrongType {
                    column: String::new(),
                    rust: std::any::type_name::<Self>(),
                    pg: $crate::types::type_name(oid),
                }
                .into());
            }
            self.to_sql(oid, out)
        }
        fn accepts_type(&self, oid: u32) -> bool {
            <Self as $crate::types::ToSql>::accepts(oid)
        }
    };
}

impl<T: ToSql> ToSql for &T {
    fn accepts(oid: u32) -> bool {
        T::accepts(oid)
    }
    fn to_sql(&self, oid: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
        (**self).to_sql(oid, out)
    }
    fn encode(&self, oid: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
        (**self).encode(oid, out)
    }
    fn accepts_type(&self, oid: u32) -> bool {
        (**self).accepts_type(oid)
    }
    fn natural_type(&self) -> u32 {
        (**self).natural_type()
    }
    fn binary(&self, oid: u32) -> bool {
        (**self).binary(oid)
    }
}

impl<T: ToSql> ToSql for Option<T> {
    fn accepts(oid: u32) -> bool {
        T::accepts(oid)
    }
    fn to_sql(&self, oid: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
        match self {
            Some(v) => v.to_sql(oid, out),
            None => Ok(IsNull::Yes),
        }
    }
    fn encode(&self, oid: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
        match self {
            Some(v) => v.encode(oid, out),
            None => Ok(IsNull::Yes),
        }
    }
    fn accepts_type(&self, oid: u32) -> bool {
        T::accepts(oid)
    }
    fn natural_type(&self) -> u32 {
        self.as_ref().map_or(0, |v| v.natural_type())
    }
    fn binary(&self, oid: u32) -> bool {
        self.as_ref().is_none_or(|v| v.binary(oid))
    }
}

/// A value decoded from a column: `raw` is `None` for NULL; `format` is 0 (text) or 1 (binary).
///
/// Every implementation in pgsans reads both formats of the types it accepts, so a value is
/// decoded correctly whichever format the server used: the format is always the one of the
/// RowDescription that came with the row.
pub trait FromSql<'a>: Sized {
    /// Whether a column of type `oid` can be read as this type.
    fn accepts(oid: u32) -> bool;

    /// Whether a column of type `oid` in `format` can be read as this type. By default the
    /// same as [`accepts`](FromSql::accepts); text types also take any text-format column.
    fn accepts_format(oid: u32, _format: i16) -> bool {
        Self::accepts(oid)
    }

    /// Decodes a non-NULL value (text in it is UTF-8).
    fn from_sql(oid: u32, format: i16, raw: &'a [u8]) -> Result<Self, Error>;

    /// Decodes a non-NULL value whose text is in the session's client `encoding`. Types that
    /// hold text override it; the default is [`from_sql`](FromSql::from_sql).
    fn from_sql_in(encoding: Encoding, oid: u32, format: i16, raw: &'a [u8]) -> Result<Self, Error> {
        let _ = encoding;
        Self::from_sql(oid, format, raw)
    }

    /// Decodes NULL; only `Option<T>` accepts it.
    fn from_sql_null(_oid: u32) -> Result<Self, Error> {
        Err(UsageError::UnexpectedNull { column: String::new(), rust: std::any::type_name::<Self>() }.into())
    }

    /// Decodes a value or NULL.
    fn from_sql_nullable(oid: u32, format: i16, raw: Option<&'a [u8]>) -> Result<Self, Error> {
        Self::from_sql_nullable_in(Encoding::UTF8, oid, format, raw)
    }

    /// Decodes a value or NULL whose text is in `encoding`.
    fn from_sql_nullable_in(encoding: Encoding, oid: u32, format: i16, raw: Option<&'a [u8]>) -> Result<Self, Error> {
        match raw {
            Some(raw) => Self::from_sql_in(encoding, oid, format, raw),
            None => Self::from_sql_null(oid),
        }
    }
}

impl<'a, T: FromSql<'a>> FromSql<'a> for Option<T> {
    fn accepts(oid: u32) -> bool {
        T::accepts(oid)
    }
    fn accepts_format(oid: u32, format: i16) -> bool {
        T::accepts_format(oid, format)
    }
    fn from_sql(oid: u32, format: i16, raw: &'a [u8]) -> Result<Self, Error> {
        T::from_sql(oid, format, raw).map(Some)
    }
    fn from_sql_in(encoding: Encoding, oid: u32, format: i16, raw: &'a [u8]) -> Result<Self, Error> {
        T::from_sql_in(encoding, oid, format, raw).map(Some)
    }
    fn from_sql_null(_: u32) -> Result<Self, Error> {
        Ok(None)
    }
}

/// A malformed value from the server for a type we decode.
pub(crate) fn bad_value(what: &str) -> Error {
    UsageError::Conversion(format!("invalid {what} value received from the server")).into()
}

/// Checks lengths of fixed-size binary values.
pub(crate) fn fixed<const N: usize>(raw: &[u8], what: &str) -> Result<[u8; N], Error> {
    raw.try_into().map_err(|_| bad_value(what))
}

/// `ToSql` + `FromSql` for a type stored as one big-endian integer of type `$int` (date, time,
/// timestamp, timestamptz of the `chrono` and `time` features): `$to` turns a value into the
/// integer, `$from` the integer into a value, `$text` the ISO text form into the integer.
#[cfg(any(feature = "chrono", feature = "time"))]
macro_rules! binary_integer_type {
    ($ty:ty, $oid:expr, $name:literal, $int:ty, to: $to:expr, from: $from:expr, text: $text:expr $(,)?) => {
        impl $crate::types::ToSql for $ty {
            fn accepts(oid: u32) -> bool {
                oid == $oid
            }
            fn to_sql(&self, _: u32, out: &mut Vec<u8>) -> Result<$crate::types::IsNull, $crate::Error> {
                let to: fn(&$ty) -> Result<$int, $crate::Error> = $to;
                out.extend_from_slice(&to(self)?.to_be_bytes());
                Ok($crate::types::IsNull::No)
            }
            $crate::to_sql_checked!();
            fn natural_type(&self) -> u32 {
                $oid
            }
        }

        impl $crate::types::FromSql<'_> for $ty {
            fn accepts(oid: u32) -> bool {
                oid == $oid
            }
            fn from_sql(_: u32, format: i16, raw: &[u8]) -> Result<Self, $crate::Error> {
                let value: $int = if format == 0 {
                    let text: fn(&[u8]) -> Result<$int, $crate::Error> = $text;
                    text(raw)?
                } else {
                    <$int>::from_be_bytes($crate::types::fixed(raw, $name)?)
                };
                let from: fn($int) -> Result<$ty, $crate::Error> = $from;
                from(value)
            }
        }
    };
}
#[cfg(any(feature = "chrono", feature = "time"))]
pub(crate) use binary_integer_type;

/// Parses a text-format value.
pub(crate) fn parse_text<T: std::str::FromStr>(raw: &[u8], what: &str) -> Result<T, Error> {
    std::str::from_utf8(raw).ok().and_then(|s| s.parse().ok()).ok_or_else(|| bad_value(what))
}

/// Re-encodes the parameter value appended at `out[start..]` from UTF-8 into the client
/// `encoding`, for the values that carry text: any value in the text format, the binary format
/// of text-like types (jsonb after its version byte), and binary arrays of them, element by
/// element. Other binary values (numbers, bytea, …) are left alone.
pub(crate) fn transcode_param(
    encoding: Encoding,
    oid: u32,
    format: i16,
    out: &mut Vec<u8>,
    start: usize,
) -> Result<(), Error> {
    let value = &out[start..];
    if encoding.is_utf8() || value.is_ascii() {
        return Ok(());
    }
    let not_encodable =
        |character| -> Error { UsageError::NotEncodable { character, encoding: encoding.to_string() }.into() };
    // A text value, skipping jsonb's version byte in the binary format.
    let text = |bytes: &[u8], binary_jsonb: bool| -> Result<Option<Vec<u8>>, Error> {
        let (prefix, body) = if binary_jsonb && !bytes.is_empty() { bytes.split_at(1) } else { (&[][..], bytes) };
        let Ok(s) = std::str::from_utf8(body) else { return Ok(None) }; // not UTF-8 text: as given
        let encoded = encoding.encode(s).map_err(not_encodable)?;
        Ok(Some([prefix, &encoded].concat()))
    };
    let new = if format == 0 || binary_is_text(oid) {
        text(value, format == 1 && oid == oid::JSONB)?
    } else if let Some(elem) = array::element_of(oid).filter(|&e| binary_is_text(e)) {
        let (dims, _, ranges) = array::parse_binary(value)?;
        // The header (dimension count, flags, element type, each dimension), then each element.
        let mut rebuilt = value[..12 + 8 * dims.len()].to_vec();
        for r in &ranges {
            match r {
                None => rebuilt.extend_from_slice(&(-1i32).to_be_bytes()),
                Some(r) => {
                    let bytes =
                        text(&value[r.clone()], elem == oid::JSONB)?.unwrap_or_else(|| value[r.clone()].to_vec());
                    let len = i32::try_from(bytes.len()).map_err(|_| UsageError::MessageTooLarge)?;
                    rebuilt.extend_from_slice(&len.to_be_bytes());
                    rebuilt.extend_from_slice(&bytes);
                }
            }
        }
        Some(rebuilt)
    } else {
        None
    };
    if let Some(new) = new {
        out.truncate(start);
        out.extend_from_slice(&new);
    }
    Ok(())
}
