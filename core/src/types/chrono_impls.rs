//! `date`, `time`, `timestamp`, `timestamptz` as chrono types (feature `chrono`; `timestamptz`
//! as `DateTime<Utc>`, `DateTime<FixedOffset>` — read back at offset +00:00, the instant kept —
//! and `DateTime<Local>` — read back in the process's time zone, which chrono reads from the
//! system), in the binary
//! format (PostgreSQL's epoch is 2000-01-01) or the ISO text format. Valid PostgreSQL values
//! that chrono cannot hold (`infinity`, `24:00:00`, years beyond chrono's range) are typed
//! conversion errors that name the value and the range.

use chrono::{DateTime, Duration, FixedOffset, Local, NaiveDate, NaiveDateTime, NaiveTime, Utc};

use super::datetime::{self, out_of_range, MICROS_PER_DAY};
use super::oid::*;
use super::{bad_value, binary_integer_type};
use crate::error::{Error, UsageError};

fn epoch() -> NaiveDateTime {
    // 2000-01-01, PostgreSQL's epoch: 10,957 days after 1970's.
    chrono::DateTime::UNIX_EPOCH.naive_utc() + chrono::TimeDelta::days(10_957)
}

fn infinite(what: &str) -> Error {
    UsageError::Conversion(format!("{what} is infinite and has no chrono representation")).into()
}

fn datetime_range() -> String {
    format!("{} to {}", NaiveDateTime::MIN, NaiveDateTime::MAX)
}

fn micros_to_datetime(us: i64, what: &str, rust: &str) -> Result<NaiveDateTime, Error> {
    if us == i64::MAX || us == i64::MIN {
        return Err(infinite(what));
    }
    epoch()
        .checked_add_signed(Duration::microseconds(us))
        .ok_or_else(|| out_of_range(what, &datetime::timestamp_text(us), rust, &datetime_range()))
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
        epoch().date().checked_add_signed(Duration::days(days.into())).ok_or_else(|| {
            let range = format!("{} to {}", NaiveDate::MIN, NaiveDate::MAX);
            out_of_range("date", &datetime::date_text(days), "chrono::NaiveDate", &range)
        })
    },
    text: datetime::parse_date,
);

binary_integer_type!(NaiveTime, TIME, "time", i64,
    to: |t| Ok((*t - NaiveTime::MIN).num_microseconds().unwrap_or(0)),
    from: |us| {
        if us == MICROS_PER_DAY {
            return Err(out_of_range("time", "24:00:00", "chrono::NaiveTime", "00:00:00 to 23:59:59.999999999"));
        }
        if !(0..MICROS_PER_DAY).contains(&us) {
            return Err(bad_value("time"));
        }
        Ok(NaiveTime::MIN.overflowing_add_signed(Duration::microseconds(us)).0)
    },
    text: datetime::parse_time,
);

binary_integer_type!(NaiveDateTime, TIMESTAMP, "timestamp", i64,
    to: |dt| datetime_to_micros(*dt),
    from: |us| micros_to_datetime(us, "timestamp", "chrono::NaiveDateTime"),
    text: |raw| datetime::parse_timestamp(raw, false),
);

binary_integer_type!(DateTime<Utc>, TIMESTAMPTZ, "timestamptz", i64,
    to: |dt| datetime_to_micros(dt.naive_utc()),
    from: |us| micros_to_datetime(us, "timestamptz", "chrono::DateTime<Utc>").map(|n| n.and_utc()),
    text: |raw| datetime::parse_timestamp(raw, true),
);

binary_integer_type!(DateTime<FixedOffset>, TIMESTAMPTZ, "timestamptz", i64,
    to: |dt| datetime_to_micros(dt.naive_utc()),
    from: |us| micros_to_datetime(us, "timestamptz", "chrono::DateTime<FixedOffset>").map(|n| n.and_utc().fixed_offset()),
    text: |raw| datetime::parse_timestamp(raw, true),
);

binary_integer_type!(DateTime<Local>, TIMESTAMPTZ, "timestamptz", i64,
    to: |dt| datetime_to_micros(dt.naive_utc()),
    from: |us| micros_to_datetime(us, "timestamptz", "chrono::DateTime<Local>").map(|n| n.and_utc().with_timezone(&Local)),
    text: |raw| datetime::parse_timestamp(raw, true),
);
