//! `postgres-types` implementations with pgsans.
//!
//! A tokio-postgres user's own `ToSql` / `FromSql` types, and the ecosystem's (`geo-types`,
//! `eui48`, `cidr`, `bit-vec`, … through postgres-types' features), work with pgsans' query
//! methods through one wrapper, [`Pg`]:
//!
//! ```no_run
//! # async fn f<R: pgsans_client::Runtime>(c: &mut pgsans_client::Connection<R>) -> Result<(), pgsans::Error> {
//! use pgsans_postgres_types::Pg;
//! # #[derive(Debug)] struct Point;
//! # impl postgres_types::ToSql for Point {
//! #     fn to_sql(&self, _: &postgres_types::Type, _: &mut bytes::BytesMut) -> Result<postgres_types::IsNull, Box<dyn std::error::Error + Sync + Send>> { todo!() }
//! #     fn accepts(_: &postgres_types::Type) -> bool { true }
//! #     postgres_types::to_sql_checked!();
//! # }
//! # impl<'a> postgres_types::FromSql<'a> for Point {
//! #     fn from_sql(_: &postgres_types::Type, _: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> { todo!() }
//! #     fn accepts(_: &postgres_types::Type) -> bool { true }
//! # }
//! let row = c.query_one("SELECT $1::point", &[&Pg(Point)]).await?;
//! let Pg(p): Pg<Point> = row.get(0)?;
//! # Ok(()) }
//! ```
//!
//! Why a bridge and not postgres-types as pgsans' own traits: postgres-types decodes only the
//! binary format and only UTF-8 text, while pgsans reads both formats (the simple query
//! protocol, `COPY`, numeric in text) in any client encoding; and it depends on
//! postgres-protocol, which brings a random generator into the engine, which takes none. The
//! bridge costs little (BENCHMARKS.md: 1M-row binary fetch through `Pg<T>` against pgsans'
//! own decoders).
//!
//! Limits, until pgsans has a type catalogue: a user-defined type is passed to postgres-types
//! as a `Type` of its OID with no name, so derives that check the type's name (enums,
//! composites, domains: `#[derive(postgres_types::ToSql)]`) refuse it with a typed
//! `UsageError::WrongType`; pgsans' own derives
//! (`#[derive(pgsans::ToSql, pgsans::FromSql)]`) take them. Values go in and come out in the
//! binary format, so a column pgsans asks for in text (numeric, user-defined types) is a
//! `WrongType` too: read it with pgsans' own types.

use std::fmt;

use bytes::BytesMut;
use pgsans::types::{oid, IsNull};
use pgsans::{Error, UsageError};
use postgres_types::{Kind, Type};

/// A `postgres_types::ToSql` / `FromSql` value as a pgsans parameter or column value.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Pg<T>(pub T);

impl<T: fmt::Debug> fmt::Debug for Pg<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<T> Pg<T> {
    /// The value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

/// The postgres-types `Type` of an OID: the built-in one, or an unnamed simple type.
pub fn type_of(oid: u32) -> Type {
    Type::from_oid(oid).unwrap_or_else(|| Type::new(String::new(), oid, Kind::Simple, String::new()))
}

/// Built-in types tried in order for the type a value declares itself when the query is SQL
/// text (pgsans declares each parameter's type from its Rust value, as psycopg 3 does).
const NATURAL: &[u32] = &[
    oid::BOOL,
    oid::INT8,
    oid::INT4,
    oid::INT2,
    oid::FLOAT8,
    oid::FLOAT4,
    oid::TEXT,
    oid::BYTEA,
    oid::TIMESTAMPTZ,
    oid::TIMESTAMP,
    oid::DATE,
    oid::TIME,
    oid::INTERVAL,
    oid::UUID,
    oid::JSONB,
    oid::NUMERIC,
    oid::OID,
    oid::CHAR,
    600,  // point
    869,  // inet
    650,  // cidr
    829,  // macaddr
    1560, // bit
    1562, // varbit
    3220, // pg_lsn
    oid::INT8_ARRAY,
    oid::INT4_ARRAY,
    oid::INT2_ARRAY,
    oid::FLOAT8_ARRAY,
    oid::TEXT_ARRAY,
    oid::BOOL_ARRAY,
    oid::BYTEA_ARRAY,
    oid::UUID_ARRAY,
];

fn wrong_type<T>(oid: u32) -> Error {
    UsageError::WrongType { column: String::new(), rust: std::any::type_name::<T>(), pg: pgsans::types::type_name(oid) }
        .into()
}

fn conversion(e: Box<dyn std::error::Error + Sync + Send>) -> Error {
    UsageError::Conversion(e.to_string()).into()
}

impl<T: postgres_types::ToSql> pgsans::ToSql for Pg<T> {
    fn accepts(oid: u32) -> bool {
        T::accepts(&type_of(oid))
    }

    fn to_sql(&self, oid: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
        let mut buf = BytesMut::new();
        let null = self.0.to_sql(&type_of(oid), &mut buf).map_err(conversion)?;
        out.extend_from_slice(&buf);
        Ok(match null {
            postgres_types::IsNull::Yes => IsNull::Yes,
            postgres_types::IsNull::No => IsNull::No,
        })
    }

    fn encode(&self, oid: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
        if !<Self as pgsans::ToSql>::accepts(oid) {
            return Err(wrong_type::<T>(oid));
        }
        self.to_sql(oid, out)
    }

    fn accepts_type(&self, oid: u32) -> bool {
        <Self as pgsans::ToSql>::accepts(oid)
    }

    fn natural_type(&self) -> u32 {
        NATURAL.iter().copied().find(|&o| T::accepts(&type_of(o))).unwrap_or(0)
    }

    /// postgres-types writes the binary format only.
    fn binary(&self, _: u32) -> bool {
        true
    }
}

impl<'a, T: postgres_types::FromSql<'a>> pgsans::FromSql<'a> for Pg<T> {
    fn accepts(oid: u32) -> bool {
        T::accepts(&type_of(oid))
    }

    /// postgres-types reads the binary format only.
    fn accepts_format(oid: u32, format: i16) -> bool {
        format == 1 && T::accepts(&type_of(oid))
    }

    fn from_sql(oid: u32, format: i16, raw: &'a [u8]) -> Result<Self, Error> {
        if format != 1 {
            return Err(wrong_type::<T>(oid));
        }
        T::from_sql(&type_of(oid), raw).map(Pg).map_err(conversion)
    }

    fn from_sql_null(oid: u32) -> Result<Self, Error> {
        T::from_sql_null(&type_of(oid))
            .map(Pg)
            .map_err(|_| UsageError::UnexpectedNull { column: String::new(), rust: std::any::type_name::<T>() }.into())
    }
}

#[cfg(test)]
mod tests {
    use pgsans::{FromSql as _, ToSql as _};

    use super::*;

    #[test]
    fn values_go_through_postgres_types() {
        let mut out = Vec::new();
        assert_eq!(Pg(7i32).encode(oid::INT4, &mut out).unwrap(), IsNull::No);
        assert_eq!(out, 7i32.to_be_bytes());
        assert!(Pg(7i32).encode(oid::TEXT, &mut Vec::new()).is_err(), "wrong type refused before encoding");
        assert_eq!(Pg(7i64).natural_type(), oid::INT8);
        assert_eq!(Pg("x").natural_type(), oid::TEXT);
        assert_eq!(Pg(None::<i32>).encode(oid::INT4, &mut Vec::new()).unwrap(), IsNull::Yes);
        let Pg(v) = Pg::<i32>::from_sql(oid::INT4, 1, &9i32.to_be_bytes()).unwrap();
        assert_eq!(v, 9);
        assert!(Pg::<i32>::from_sql(oid::INT4, 0, b"9").is_err(), "binary only");
        assert!(!Pg::<i32>::accepts_format(oid::INT4, 0));
        assert_eq!(Pg::<Option<i32>>::from_sql_null(oid::INT4).unwrap(), Pg(None));
        assert!(Pg::<i32>::from_sql_null(oid::INT4).is_err());
    }
}
