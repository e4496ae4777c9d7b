//! PostgreSQL's date and time values as the chrono and time integrations share them: the binary
//! integers (days, or microseconds, since 2000-01-01), the ISO text form (`DateStyle` ISO, the
//! default), and the text used in error messages about values a Rust type cannot hold.
//!
//! Dates are proleptic Gregorian, as in PostgreSQL; year 0 is 1 BC (PostgreSQL prints it with
//! a ` BC` suffix). `infinity` / `-infinity` are `i32::MAX` / `i32::MIN` days, `i64::MAX` /
//! `i64::MIN` microseconds.

use crate::error::{Error, UsageError};

/// Days from 1970-01-01 to 2000-01-01.
const UNIX_TO_PG_DAYS: i64 = 10_957;
pub(crate) const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number since 1970-01-01 (`civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A PostgreSQL date (days since 2000-01-01) as PostgreSQL prints it: `2024-02-29`,
/// `0044-03-15 BC`, `infinity`.
pub(crate) fn date_text(days: i32) -> String {
    match days {
        i32::MAX => "infinity".into(),
        i32::MIN => "-infinity".into(),
        _ => {
            let (y, m, d) = civil_from_days(i64::from(days) + UNIX_TO_PG_DAYS);
            if y > 0 {
                format!("{y:04}-{m:02}-{d:02}")
            } else {
                format!("{:04}-{m:02}-{d:02} BC", 1 - y)
            }
        }
    }
}

/// A time of day in microseconds as PostgreSQL prints it: `23:59:58.5`, `24:00:00`.
pub(crate) fn time_text(us: i64) -> String {
    let (s, frac) = (us.div_euclid(1_000_000), us.rem_euclid(1_000_000));
    let mut out = format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
    if frac != 0 {
        let digits = format!("{frac:06}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out
}

/// A timestamp (microseconds since 2000-01-01 00:00) as PostgreSQL prints it.
pub(crate) fn timestamp_text(us: i64) -> String {
    match us {
        i64::MAX => "infinity".into(),
        i64::MIN => "-infinity".into(),
        _ => {
            let days = us.div_euclid(MICROS_PER_DAY);
            let date = date_text(days as i32);
            let time = time_text(us.rem_euclid(MICROS_PER_DAY));
            match date.strip_suffix(" BC") {
                Some(d) => format!("{d} {time} BC"),
                None => format!("{date} {time}"),
            }
        }
    }
}

/// The error for a valid PostgreSQL value that a Rust type cannot hold.
pub(crate) fn out_of_range(pg_type: &str, value: &str, rust: &str, range: &str) -> Error {
    UsageError::Conversion(format!("{pg_type} {value} is outside the range of {rust} ({range})")).into()
}

fn not_iso(what: &str, text: &str) -> Error {
    UsageError::Conversion(format!(
        "cannot read {what} {text:?}: text-format dates and times are read in DateStyle ISO (the default)"
    ))
    .into()
}

/// A cursor over ASCII text.
struct Scan<'a> {
    s: &'a [u8],
}

impl Scan<'_> {
    fn number(&mut self, min_digits: usize, max_digits: usize) -> Option<i64> {
        let n = self.s.iter().take(max_digits).take_while(|b| b.is_ascii_digit()).count();
        if n < min_digits {
            return None;
        }
        let v = self.s[..n].iter().fold(0i64, |acc, b| acc * 10 + i64::from(b - b'0'));
        self.s = &self.s[n..];
        Some(v)
    }
    fn eat(&mut self, b: u8) -> bool {
        if self.s.first() == Some(&b) {
            self.s = &self.s[1..];
            true
        } else {
            false
        }
    }
    /// `.ffffff`, rounded to microseconds as PostgreSQL stores them.
    fn fraction(&mut self) -> Option<i64> {
        if !self.eat(b'.') {
            return Some(0);
        }
        let n = self.s.iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 || n > 6 {
            return None;
        }
        let v = self.number(n, n)?;
        Some(v * 10i64.pow(6 - n as u32))
    }
}

fn parse_date_part(scan: &mut Scan<'_>) -> Option<(i64, u32, u32)> {
    let y = scan.number(4, 10)?;
    if !scan.eat(b'-') {
        return None;
    }
    let m = scan.number(2, 2)? as u32;
    if !scan.eat(b'-') {
        return None;
    }
    let d = scan.number(2, 2)? as u32;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some((y, m, d))
}

fn apply_bc(y: i64, rest: &[u8]) -> Option<i64> {
    match rest {
        b"" => Some(y),
        b" BC" => Some(1 - y),
        _ => None,
    }
}

/// A text-format `date`: days since 2000-01-01.
pub(crate) fn parse_date(raw: &[u8]) -> Result<i32, Error> {
    let text = String::from_utf8_lossy(raw);
    match raw {
        b"infinity" => return Ok(i32::MAX),
        b"-infinity" => return Ok(i32::MIN),
        _ => {}
    }
    let mut scan = Scan { s: raw };
    let (y, m, d) = parse_date_part(&mut scan).ok_or_else(|| not_iso("date", &text))?;
    let y = apply_bc(y, scan.s).ok_or_else(|| not_iso("date", &text))?;
    i32::try_from(days_from_civil(y, m, d) - UNIX_TO_PG_DAYS).map_err(|_| not_iso("date", &text))
}

fn parse_clock(scan: &mut Scan<'_>) -> Option<i64> {
    let h = scan.number(2, 2)?;
    if !scan.eat(b':') {
        return None;
    }
    let mi = scan.number(2, 2)?;
    if !scan.eat(b':') {
        return None;
    }
    let s = scan.number(2, 2)?;
    let frac = scan.fraction()?;
    if h > 24 || mi > 59 || s > 60 {
        return None;
    }
    Some(((h * 60 + mi) * 60 + s) * 1_000_000 + frac)
}

/// A text-format `time`: microseconds since midnight (up to and including 24:00:00).
pub(crate) fn parse_time(raw: &[u8]) -> Result<i64, Error> {
    let mut scan = Scan { s: raw };
    match parse_clock(&mut scan) {
        Some(us) if scan.s.is_empty() && us <= MICROS_PER_DAY => Ok(us),
        _ => Err(not_iso("time", &String::from_utf8_lossy(raw))),
    }
}

/// A text-format `timestamp` (or `timestamptz`, whose offset is applied: the result is UTC):
/// microseconds since 2000-01-01 00:00.
pub(crate) fn parse_timestamp(raw: &[u8], with_zone: bool) -> Result<i64, Error> {
    let what = if with_zone { "timestamptz" } else { "timestamp" };
    let text = String::from_utf8_lossy(raw);
    match raw {
        b"infinity" => return Ok(i64::MAX),
        b"-infinity" => return Ok(i64::MIN),
        _ => {}
    }
    let bad = || not_iso(what, &text);
    let mut scan = Scan { s: raw };
    let (y, m, d) = parse_date_part(&mut scan).ok_or_else(bad)?;
    if !scan.eat(b' ') {
        return Err(bad());
    }
    let clock = parse_clock(&mut scan).ok_or_else(bad)?;
    let mut offset = 0i64;
    if with_zone {
        let sign = match scan.s.first() {
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => return Err(bad()),
        };
        scan.s = &scan.s[1..];
        let h = scan.number(2, 2).ok_or_else(bad)?;
        let mi = if scan.eat(b':') { scan.number(2, 2).ok_or_else(bad)? } else { 0 };
        let s = if scan.eat(b':') { scan.number(2, 2).ok_or_else(bad)? } else { 0 };
        offset = sign * ((h * 60 + mi) * 60 + s) * 1_000_000;
    }
    let y = apply_bc(y, scan.s).ok_or_else(bad)?;
    let days = days_from_civil(y, m, d) - UNIX_TO_PG_DAYS;
    days.checked_mul(MICROS_PER_DAY)
        .and_then(|us| us.checked_add(clock))
        .and_then(|us| us.checked_sub(offset))
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for days in [-1_000_000_000i64, -730_000, -1, 0, 1, 59, 10_957, 2_000_000_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 1, 1), UNIX_TO_PG_DAYS);
    }

    #[test]
    fn text_as_postgres_prints_it() {
        assert_eq!(date_text(0), "2000-01-01");
        assert_eq!(date_text(-730_119), "0001-01-01");
        assert_eq!(date_text(-730_120), "0001-12-31 BC");
        assert_eq!(date_text(2_145_031_948), "5874897-12-31");
        assert_eq!(time_text(MICROS_PER_DAY), "24:00:00");
        assert_eq!(time_text(3_723_500_000), "01:02:03.5");
        assert_eq!(timestamp_text(-1), "1999-12-31 23:59:59.999999");
    }

    #[test]
    fn iso_text_parses() {
        assert_eq!(parse_date(b"2000-01-02").unwrap(), 1);
        assert_eq!(parse_date(b"0001-12-31 BC").unwrap(), -730_120);
        assert_eq!(parse_date(b"5874897-12-31").unwrap(), 2_145_031_948);
        assert_eq!(parse_date(b"infinity").unwrap(), i32::MAX);
        assert!(parse_date(b"12/31/1999").is_err(), "DateStyle SQL");
        assert_eq!(parse_time(b"24:00:00").unwrap(), MICROS_PER_DAY);
        assert_eq!(parse_time(b"01:02:03.5").unwrap(), 3_723_500_000);
        assert!(parse_time(b"24:00:01").is_err());
        assert_eq!(parse_timestamp(b"1999-12-31 23:59:59.999999", false).unwrap(), -1);
        assert_eq!(parse_timestamp(b"2000-01-01 02:00:00+02", true).unwrap(), 0);
        assert_eq!(parse_timestamp(b"2000-01-01 00:00:00-03:30", true).unwrap(), 12_600_000_000);
        assert_eq!(parse_timestamp(b"-infinity", true).unwrap(), i64::MIN);
        assert!(parse_timestamp(b"2000-01-01 00:00:00", true).is_err(), "no zone");
        assert!(parse_timestamp(b"Sat Jan 01 00:00:00 2000", false).is_err(), "DateStyle Postgres");
    }
}
