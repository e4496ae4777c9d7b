//! `json` / `jsonb` as `serde_json::Value` (feature `serde_json`).

use super::oid::*;
use super::{Encoding, FromSql, IsNull, ToSql};
use crate::error::{Error, UsageError};

impl ToSql for serde_json::Value {
    fn accepts(oid: u32) -> bool {
        matches!(oid, JSON | JSONB)
    }
    fn to_sql(&self, oid: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
        if oid == JSONB {
            out.push(1);
        }
        serde_json::to_writer(&mut *out, self).map_err(|e| crate::UsageError::Conversion(e.to_string()))?;
        Ok(IsNull::No)
    }
    crate::to_sql_checked!();
    fn natural_type(&self) -> u32 {
        JSONB
    }
}

impl FromSql<'_> for serde_json::Value {
    fn accepts(oid: u32) -> bool {
        matches!(oid, JSON | JSONB)
    }
    fn from_sql(oid: u32, format: i16, raw: &[u8]) -> Result<Self, Error> {
        Self::from_sql_in(Encoding::UTF8, oid, format, raw)
    }
    /// Valid JSON that `serde_json::Value` cannot hold (a number beyond `f64`, such as `1e400`)
    /// is a conversion error; [`Json`](crate::types::Json) keeps the exact text.
    fn from_sql_in(encoding: Encoding, oid: u32, format: i16, raw: &[u8]) -> Result<Self, Error> {
        let text = crate::types::Json::from_sql_in(encoding, oid, format, raw)?.0;
        serde_json::from_str(&text).map_err(|e| {
            UsageError::Conversion(format!(
                "{} value cannot be represented as serde_json::Value ({e}); read it as pgsans::types::Json",
                crate::types::type_name(oid)
            ))
            .into()
        })
    }
}
