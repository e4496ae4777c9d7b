//! `numeric` as `rust_decimal::Decimal` (feature `rust_decimal`), through the exact text form.
//! Values a `Decimal` cannot hold (NaN, infinities, more than 28 digits of scale) are typed
//! errors, not rounding.

use super::oid::*;
use super::{FromSql, IsNull, ToSql};
use crate::error::{Error, UsageError};

impl ToSql for rust_decimal::Decimal {
    fn accepts(oid: u32) -> bool {
        oid == NUMERIC
    }
    fn to_sql(&self, _: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
        out.extend_from_slice(self.to_string().as_bytes());
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

impl FromSql<'_> for rust_decimal::Decimal {
    fn accepts(oid: u32) -> bool {
        oid == NUMERIC
    }
    fn from_sql(oid: u32, format: i16, raw: &[u8]) -> Result<Self, Error> {
        let text = crate::types::Numeric::from_sql(oid, format, raw)?.0;
        text.parse::<rust_decimal::Decimal>().map_err(|e| {
            UsageError::Conversion(format!("numeric {text} does not fit rust_decimal::Decimal: {e}")).into()
        })
    }
}
