//! `json` / `jsonb` as `serde_json::Value` (feature `serde_json`).

use super::oid::*;
use super::{bad_value, FromSql, IsNull, ToSql};
use crate::error::Error;

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
        let text = <&str as FromSql>::from_sql(oid, format, raw)?;
        serde_json::from_str(text).map_err(|_| bad_value("json"))
    }
}
