//! `uuid` as `uuid::Uuid` (feature `uuid`).

use super::oid::*;
use super::{bad_value, fixed, FromSql, IsNull, ToSql};
use crate::error::Error;

impl ToSql for uuid::Uuid {
    fn accepts(oid: u32) -> bool {
        oid == UUID
    }
    fn to_sql(&self, _: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
        out.extend_from_slice(self.as_bytes());
        Ok(IsNull::No)
    }
    crate::to_sql_checked!();
    fn natural_type(&self) -> u32 {
        UUID
    }
}

impl FromSql<'_> for uuid::Uuid {
    fn accepts(oid: u32) -> bool {
        oid == UUID
    }
    fn from_sql(_: u32, format: i16, raw: &[u8]) -> Result<Self, Error> {
        if format == 0 {
            return uuid::Uuid::try_parse_ascii(raw).map_err(|_| bad_value("uuid"));
        }
        Ok(uuid::Uuid::from_bytes(fixed(raw, "uuid")?))
    }
}
