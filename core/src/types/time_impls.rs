//! `date`, `time`, `timestamp`, `timestamptz` as `time` crate types (feature `time`):
//! [`Date`], [`Time`], [`PrimitiveDateTime`], [`OffsetDateTime`] (sent as UTC, read back in
//! UTC), in the binary format (PostgreSQL's epoch is 2000-01-01) or the ISO text format.
//! `infinity`, `24:00:00` and values outside the `time` crate's range are typed conversion
//! errors that name the value and the range.

use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use super::datetime::{self, MICROS_PER_DAY};
use super::oid::*;
use super::{bad_value, binary_integer_type};
use crate::error::{Error, UsageError};

fn epoch() -> PrimitiveDateTime {
    // 2000-01-01, PostgreSQL's epoch: 10,957 days after 1970's.
    let epoch = time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(10_957);
    PrimitiveDateTime::new(epoch.date(), Time::MIDNIGHT)
}

fn infinite(what: &str) -> Error {
    UsageError::Conversion(format!("{what} is infinite and has no `time` representation")).into()
}

fn out_of_range(what: &str) -> Error {
    UsageError::Conversion(format!("{what} out of range")).into()
}

fn micros_to_datetime(us: i64, what: &str, rust: &str) -> Result<PrimitiveDateTime, Error> {
    if us == i64::MAX || us == i64::MIN {
        return Err(infinite(what));
    }
    epoch().checked_add(Duration::microseconds(us)).ok_or_else(|| {
        let range = format!("{} to {}", PrimitiveDateTime::MIN, PrimitiveDateTime::MAX);
        datetime::out_of_range(what, &datetime::timestamp_text(us), rust, &range)
    })
}

fn datetime_to_micros(dt: PrimitiveDateTime, what: &str) -> Result<i64, Error> {
    i64::try_from((dt - epoch()).whole_microseconds()).map_err(|_| out_of_range(what))
}

binary_integer_type!(Date, DATE, "date", i32,
    to: |d| i32::try_from((*d - epoch().date()).whole_days()).map_err(|_| out_of_range("date")),
    from: |days| {
        if days == i32::MAX || days == i32::MIN {
            return Err(infinite("date"));
        }
        epoch().date().checked_add(Duration::days(days.into())).ok_or_else(|| {
            let range = format!("{} to {}", Date::MIN, Date::MAX);
            datetime::out_of_range("date", &datetime::date_text(days), "time::Date", &range)
        })
    },
    text: datetime::parse_date,
);

binary_integer_type!(Time, TIME, "time", i64,
    to: |t| Ok((*t - Time::MIDNIGHT).whole_microseconds() as i64),
    from: |us| {
        if us == MICROS_PER_DAY {
            return Err(datetime::out_of_range("time", "24:00:00", "time::Time", "00:00:00 to 23:59:59.999999999"));
        }
        if !(0..MICROS_PER_DAY).contains(&us) {
            return Err(bad_value("time"));
        }
        let (s, us) = (us / 1_000_000, (us % 1_000_000) as u32);
        Time::from_hms_micro((s / 3600) as u8, (s / 60 % 60) as u8, (s % 60) as u8, us).map_err(|_| bad_value("time"))
    },
    text: datetime::parse_time,
);

binary_integer_type!(PrimitiveDateTime, TIMESTAMP, "timestamp", i64,
    to: |dt| datetime_to_micros(*dt, "timestamp"),
    from: |us| micros_to_datetime(us, "timestamp", "time::PrimitiveDateTime"),
    text: |raw| datetime::parse_timestamp(raw, false),
);

binary_integer_type!(OffsetDateTime, TIMESTAMPTZ, "timestamptz", i64,
    to: |dt| {
        let utc = dt.to_offset(UtcOffset::UTC);
        datetime_to_micros(PrimitiveDateTime::new(utc.date(), utc.time()), "timestamptz")
    },
    from: |us| micros_to_datetime(us, "timestamptz", "time::OffsetDateTime").map(|n| n.assume_utc()),
    text: |raw| datetime::parse_timestamp(raw, true),
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{FromSql, ToSql};
    use time::Month;

    fn round_trip<T: ToSql + for<'a> FromSql<'a> + PartialEq + std::fmt::Debug>(v: T, oid: u32) -> Vec<u8> {
        let mut out = Vec::new();
        v.to_sql(oid, &mut out).unwrap();
        assert_eq!(T::from_sql(oid, 1, &out).unwrap(), v);
        out
    }

    #[test]
    fn epoch_and_values_match_postgres_binary() {
        let d = Date::from_calendar_date(2000, Month::January, 2).unwrap();
        assert_eq!(round_trip(d, DATE), 1i32.to_be_bytes());
        let t = Time::from_hms_micro(1, 0, 0, 5).unwrap();
        assert_eq!(round_trip(t, TIME), 3_600_000_005i64.to_be_bytes());
        let ts = PrimitiveDateTime::new(Date::from_calendar_date(1999, Month::December, 31).unwrap(), Time::MIDNIGHT);
        assert_eq!(round_trip(ts, TIMESTAMP), (-86_400_000_000i64).to_be_bytes());
        // An offset is converted to UTC on the way in and comes back as UTC.
        let plus2 = ts.assume_offset(UtcOffset::from_hms(2, 0, 0).unwrap());
        let mut out = Vec::new();
        plus2.to_sql(TIMESTAMPTZ, &mut out).unwrap();
        assert_eq!(out, (-86_400_000_000i64 - 7_200_000_000).to_be_bytes());
        let back = OffsetDateTime::from_sql(TIMESTAMPTZ, 1, &out).unwrap();
        assert_eq!((back, back.offset()), (plus2, UtcOffset::UTC));
    }

    #[test]
    fn infinity_and_out_of_range_are_typed_errors() {
        fn conv<T>(r: Result<T, Error>) -> bool {
            matches!(r, Err(Error::Usage(UsageError::Conversion(_))))
        }
        assert!(conv(Date::from_sql(DATE, 1, &i32::MAX.to_be_bytes())));
        assert!(conv(PrimitiveDateTime::from_sql(TIMESTAMP, 1, &i64::MIN.to_be_bytes())));
        // Year 294276 (PostgreSQL's maximum) is beyond `time`'s default range of ±9999.
        assert!(conv(PrimitiveDateTime::from_sql(TIMESTAMP, 1, &(i64::MAX - 1).to_be_bytes())));
        assert!(conv(Time::from_sql(TIME, 1, &86_400_000_000i64.to_be_bytes())));
        assert!(Time::from_sql(TIME, 1, &[0; 3]).is_err());
    }
}
