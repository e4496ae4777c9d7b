//! `date`, `time`, `timestamp`, `timestamptz` as chrono types (feature `chrono`). PostgreSQL's
//! binary epoch is 2000-01-01; `infinity` / `-infinity` are refused with a typed error.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};

use super::oid::*;
use super::{bad_value, binary_integer_type};
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

binary_integer_type!(NaiveDate, DATE, "date", i32,
    to: |d| i32::try_from((*d - epoch().date()).num_days())
        .map_err(|_| UsageError::Conversion("date out of range".into()).into()),
    from: |days| {
        if days == i32::MAX || days == i32::MIN {
            return Err(infinite("date"));
        }
        epoch().date().checked_add_signed(Duration::days(days.into())).ok_or_else(|| bad_value("date"))
    },
);

binary_integer_type!(NaiveTime, TIME, "time", i64,
    to: |t| Ok((*t - NaiveTime::MIN).num_microseconds().unwrap_or(0)),
    from: |us| {
        if !(0..86_400_000_000).contains(&us) {
            return Err(bad_value("time"));
        }
        Ok(NaiveTime::MIN.overflowing_add_signed(Duration::microseconds(us)).0)
    },
);

binary_integer_type!(NaiveDateTime, TIMESTAMP, "timestamp", i64,
    to: |dt| datetime_to_micros(*dt),
    from: |us| micros_to_datetime(us, "timestamp"),
);

binary_integer_type!(DateTime<Utc>, TIMESTAMPTZ, "timestamptz", i64,
    to: |dt| datetime_to_micros(dt.naive_utc()),
    from: |us| micros_to_datetime(us, "timestamptz").map(|n| n.and_utc()),
);
