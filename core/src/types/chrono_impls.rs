//! `date`, `time`, `timestamp`, `timestamptz` as chrono types (feature `chrono`). PostgreSQL's
//! binary epoch is 2000-01-01; `infinity` / `-infinity` are refused with a typed error.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};

use super::oid::*;
use super::{bad_value, fixed, FromSql, IsNull, ToSql};
use crate::error::{Error, UsageError};

fn epoch() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2000, 1, 1).expect("valid").and_hms_opt(0, 0, 0).expect("valid")
}

fn infinite(what: &str) -> Error {
    UsageError::Conversion(format!("{what} is infinite and has no chrono representation")).into()
}

fn micros_to_datetime(us: i64, what: &str) -> Result<NaiveDateTime, Error> {
    if us == i64::MAX || us == i64::MIN {
        return Err(infinite(what));
    }
    epoch().checked_add_signed(Duration::microseconds(us)).ok_or_else(|| bad_value(what))
}

fn datetime_to_micros(dt: NaiveDateTime) -> Result<i64, Error> {
    (dt - epoch()).num_microseconds().ok_or_else(|| UsageError::Conversion("timestamp out of range".into()).into())
}

impl ToSql for NaiveDate {
    fn accepts(oid: u32) -> bool {
        oid == DATE
    }
    fn to_sql(&self, _: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
        let days = (*self - epoch().date()).num_days();
        let days = i32::try_from(days).map_err(|_| UsageError::Conversion("date out of range".into()))?;
        out.extend_from_slice(&days.to_be_bytes());
        Ok(IsNull::No)
    }
    crate::to_sql_checked!();
    fn natural_type(&self) -> u32 {
        DATE
    }
}

impl FromSql<'_> for NaiveDate {
    fn accepts(oid: u32) -> bool {
        oid == DATE
    }
    fn from_sql(_: u32, format: i16, raw: &[u8]) -> Result<Self, Error> {
        if format != 1 {
            return Err(bad_value("date (text format)"));
        }
        let days = i32::from_be_bytes(fixed(raw, "date")?);
        if days == i32::MAX || days == i32::MIN {
            return Err(infinite("date"));
        }
        epoch().date().checked_add_signed(Duration::days(days.into())).ok_or_else(|| bad_value("date"))
    }
}

impl ToSql for NaiveTime {
    fn accepts(oid: u32) -> bool {
        oid == TIME
    }
    fn to_sql(&self, _: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
        let us = (*self - NaiveTime::MIN).num_microseconds().unwrap_or(0);
        out.extend_from_slice(&us.to_be_bytes());
        Ok(IsNull::No)
    }
    crate::to_sql_checked!();
    fn natural_type(&self) -> u32 {
        TIME
    }
}

impl FromSql<'_> for NaiveTime {
    fn accepts(oid: u32) -> bool {
        oid == TIME
    }
    fn from_sql(_: u32, format: i16, raw: &[u8]) -> Result<Self, Error> {
        if format != 1 {
            return Err(bad_value("time (text format)"));
        }
        let us = i64::from_be_bytes(fixed(raw, "time")?);
        if !(0..86_400_000_000).contains(&us) {
            return Err(bad_value("time"));
        }
        Ok(NaiveTime::MIN.overflowing_add_signed(Duration::microseconds(us)).0)
    }
}

impl ToSql for NaiveDateTime {
    fn accepts(oid: u32) -> bool {
        oid == TIMESTAMP
    }
    fn to_sql(&self, _: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
        out.extend_from_slice(&datetime_to_micros(*self)?.to_be_bytes());
        Ok(IsNull::No)
    }
    crate::to_sql_checked!();
    fn natural_type(&self) -> u32 {
        TIMESTAMP
    }
}

impl FromSql<'_> for NaiveDateTime {
    fn accepts(oid: u32) -> bool {
        oid == TIMESTAMP
    }
    fn from_sql(_: u32, format: i16, raw: &[u8]) -> Result<Self, Error> {
        if format != 1 {
            return Err(bad_value("timestamp (text format)"));
        }
        micros_to_datetime(i64::from_be_bytes(fixed(raw, "timestamp")?), "timestamp")
    }
}

impl ToSql for DateTime<Utc> {
    fn accepts(oid: u32) -> bool {
        oid == TIMESTAMPTZ
    }
    fn to_sql(&self, _: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
        out.extend_from_slice(&datetime_to_micros(self.naive_utc())?.to_be_bytes());
        Ok(IsNull::No)
    }
    crate::to_sql_checked!();
    fn natural_type(&self) -> u32 {
        TIMESTAMPTZ
    }
}

impl FromSql<'_> for DateTime<Utc> {
    fn accepts(oid: u32) -> bool {
        oid == TIMESTAMPTZ
    }
    fn from_sql(_: u32, format: i16, raw: &[u8]) -> Result<Self, Error> {
        if format != 1 {
            return Err(bad_value("timestamptz (text format)"));
        }
        micros_to_datetime(i64::from_be_bytes(fixed(raw, "timestamptz")?), "timestamptz").map(|n| n.and_utc())
    }
}
