//! The types of a connection: the built-in ones pgsans knows without asking, the others looked
//! up once in `pg_catalog` and kept until the session's schema changes (the same DDL-aware
//! invalidation as the statement cache: `CREATE` / `ALTER` / `DROP` … drop what was learnt).
//!
//! The engine does no I/O: the client runs [`lookup_sql`] with the OIDs [`Connection::unknown_types`](crate::Connection::unknown_types)
//! names and hands the rows back ([`Type::from_row`]); [`Connection::learn_types`](crate::Connection::learn_types)
//! stores them.

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::{Error, UsageError};
use crate::types::row::Row;
use crate::types::{array, oid, type_name};

/// A PostgreSQL type: what `pg_type` and its companions say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Type {
    oid: u32,
    name: String,
    schema: String,
    kind: Kind,
}

/// What a type is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// A base type (`int4`, `inet`, an extension's type).
    Base,
    /// A pseudo-type (`record`, `anyelement`, `void`).
    Pseudo,
    /// An array of the element type.
    Array(u32),
    /// An enum and its labels, in order.
    Enum(Vec<String>),
    /// A composite type (a row type) and its fields, in order.
    Composite(Vec<Field>),
    /// A domain over the base type.
    Domain(u32),
    /// A range of the subtype.
    Range(u32),
    /// A multirange of the range type.
    Multirange(u32),
}

/// A field of a composite type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The field's name.
    pub name: String,
    /// The field's type.
    pub type_oid: u32,
}

impl Type {
    /// A type from its parts (for tests and for types known by other means).
    pub fn new(oid: u32, name: impl Into<String>, schema: impl Into<String>, kind: Kind) -> Type {
        Type { oid, name: name.into(), schema: schema.into(), kind }
    }
    pub fn oid(&self) -> u32 {
        self.oid
    }
    /// The name, unqualified (`int4`, `_int4` for its array, `mood`).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The schema (`pg_catalog` for built-in types).
    pub fn schema(&self) -> &str {
        &self.schema
    }
    pub fn kind(&self) -> &Kind {
        &self.kind
    }

    /// A built-in type pgsans knows without asking the server.
    pub fn builtin(oid: u32) -> Option<Type> {
        if crate::types::binary_supported(oid) || matches!(oid, oid::NUMERIC | oid::UNKNOWN) {
            let name = type_name(oid);
            return Some(match array::element_of(oid) {
                Some(elem) => {
                    Type::new(oid, format!("_{}", type_name(elem).trim_matches('"')), "pg_catalog", Kind::Array(elem))
                }
                None => Type::new(oid, name.trim_matches('"'), "pg_catalog", Kind::Base),
            });
        }
        None
    }

    /// One row of [`lookup_sql`]'s result.
    pub fn from_row(row: &Row<'_>) -> Result<Type, Error> {
        let oid: u32 = row.get(0)?;
        let name: String = row.get(1)?;
        let schema: String = row.get(2)?;
        let typtype: i8 = row.get(3)?;
        let category: i8 = row.get(4)?;
        let elem: u32 = row.get(5)?;
        let base: u32 = row.get(6)?;
        let subtype: u32 = row.get(7)?;
        let range: u32 = row.get(8)?;
        let labels: Vec<String> = row.get(9)?;
        let field_names: Vec<String> = row.get(10)?;
        let field_types: Vec<u32> = row.get(11)?;
        let kind = match typtype as u8 {
            b'e' => Kind::Enum(labels),
            b'c' => {
                if field_names.len() != field_types.len() {
                    return Err(
                        UsageError::Conversion("a composite type's fields do not match their types".into()).into()
                    );
                }
                Kind::Composite(
                    field_names.into_iter().zip(field_types).map(|(name, type_oid)| Field { name, type_oid }).collect(),
                )
            }
            b'd' => Kind::Domain(base),
            b'r' => Kind::Range(subtype),
            b'm' => Kind::Multirange(range),
            b'p' => Kind::Pseudo,
            _ if category as u8 == b'A' && elem != 0 => Kind::Array(elem),
            _ => Kind::Base,
        };
        Ok(Type { oid, name, schema, kind })
    }

    /// The types this one is built from (element, base, subtype, range, fields).
    fn references(&self) -> Vec<u32> {
        match &self.kind {
            Kind::Array(t) | Kind::Domain(t) | Kind::Range(t) | Kind::Multirange(t) => vec![*t],
            Kind::Composite(fields) => fields.iter().map(|f| f.type_oid).collect(),
            Kind::Base | Kind::Pseudo | Kind::Enum(_) => Vec::new(),
        }
    }
}

/// The query that describes types: `$1` is an `oid[]` of the types wanted; one row per type
/// ([`Type::from_row`]). `server_version` as reported (`150004`): multiranges exist from 14.
pub fn lookup_sql(server_version: i32) -> &'static str {
    if server_version >= 140000 {
        LOOKUP_14
    } else {
        LOOKUP_OLD
    }
}

macro_rules! lookup {
    ($multirange_col:literal, $multirange_join:literal) => {
        concat!(
            "SELECT t.oid, t.typname::text, n.nspname::text, t.typtype::\"char\", t.typcategory::\"char\", ",
            "t.typelem, t.typbasetype, COALESCE(r.rngsubtype, 0::oid), ",
            $multirange_col,
            ", ARRAY(SELECT e.enumlabel::text FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder), ",
            "ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 ",
            "AND NOT a.attisdropped ORDER BY a.attnum), ",
            "ARRAY(SELECT a.atttypid FROM pg_catalog.pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 ",
            "AND NOT a.attisdropped ORDER BY a.attnum) ",
            "FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace ",
            "LEFT JOIN pg_catalog.pg_range r ON r.rngtypid = t.oid ",
            $multirange_join,
            "WHERE t.oid = ANY($1::pg_catalog.oid[])"
        )
    };
}

const LOOKUP_14: &str =
    lookup!("COALESCE(m.rngtypid, 0::oid)", "LEFT JOIN pg_catalog.pg_range m ON m.rngmultitypid = t.oid ");
const LOOKUP_OLD: &str = lookup!("0::oid", "");

/// The types a connection has learnt.
#[derive(Debug, Default)]
pub(crate) struct Catalogue {
    types: HashMap<u32, Arc<Type>>,
}

impl Catalogue {
    /// A type, built-in or learnt.
    pub(crate) fn get(&self, oid: u32) -> Option<Arc<Type>> {
        self.types.get(&oid).cloned().or_else(|| Type::builtin(oid).map(Arc::new))
    }

    fn known(&self, oid: u32) -> bool {
        oid == 0 || self.types.contains_key(&oid) || Type::builtin(oid).is_some()
    }

    /// Of `oids`, and of the types the known ones are built from, those not known yet.
    pub(crate) fn unknown(&self, oids: impl IntoIterator<Item = u32>) -> Vec<u32> {
        let mut out = Vec::new();
        let mut stack: Vec<u32> = oids.into_iter().collect();
        let mut seen = std::collections::HashSet::new();
        while let Some(oid) = stack.pop() {
            if !seen.insert(oid) {
                continue;
            }
            match self.types.get(&oid) {
                Some(t) => stack.extend(t.references()),
                None if !self.known(oid) => out.push(oid),
                None => {}
            }
        }
        out.sort_unstable();
        out
    }

    pub(crate) fn learn(&mut self, types: impl IntoIterator<Item = Type>) {
        for t in types {
            self.types.insert(t.oid, Arc::new(t));
        }
    }

    /// Forgets what was learnt (the schema may have changed).
    pub(crate) fn clear(&mut self) {
        self.types.clear();
    }

    /// The type a value for a parameter of type `oid` is encoded as: the base type of a
    /// domain (of a domain …), else `oid` itself.
    pub(crate) fn wire_type(&self, mut oid: u32) -> u32 {
        for _ in 0..16 {
            match self.types.get(&oid).map(|t| &t.kind) {
                Some(Kind::Domain(base)) => oid = *base,
                _ => break,
            }
        }
        oid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_known_and_the_rest_is_asked_for() {
        let mut c = Catalogue::default();
        assert_eq!(c.get(oid::INT4).unwrap().name(), "int4");
        assert_eq!(c.get(oid::INT4_ARRAY).unwrap().kind(), &Kind::Array(oid::INT4));
        assert_eq!(c.get(oid::INT4_ARRAY).unwrap().name(), "_int4");
        assert_eq!(c.get(oid::CHAR).unwrap().name(), "char");
        assert_eq!(c.unknown([oid::INT4, 0, 20000, 869]), [869, 20000]);
        // A domain over a domain over int4, an array of the outer one.
        c.learn([
            Type::new(20000, "outer", "s", Kind::Domain(20001)),
            Type::new(20001, "inner", "s", Kind::Domain(oid::INT4)),
            Type::new(20002, "_outer", "s", Kind::Array(20000)),
            Type::new(20003, "pair", "s", Kind::Composite(vec![Field { name: "a".into(), type_oid: 20004 }])),
        ]);
        assert_eq!(c.wire_type(20000), oid::INT4);
        assert_eq!(c.wire_type(oid::TEXT), oid::TEXT);
        assert_eq!(c.unknown([20002, 20003]), [20004], "what the known ones are built from");
        c.clear();
        assert_eq!(c.unknown([20000]), [20000]);
    }
}
