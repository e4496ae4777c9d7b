//! Any value pgsans decodes as the text PostgreSQL's own output function gives it, whatever
//! format it arrived in: `Row::text()`. Binary values are rendered the way the server renders
//! them with its default settings (`DateStyle = ISO`, `IntervalStyle = postgres`,
//! `extra_float_digits = 1`, `bytea_output = hex`); `timestamptz` is rendered in UTC (`+00`),
//! the same instant the server would show in its session time zone.

use std::borrow::Cow;
use std::fmt::Write;

use crate::encoding::Encoding;
use crate::error::{Error, UsageError};
use crate::types::{array, bad_value, fixed, oid, type_name};

/// Microseconds per day.
const DAY: i64 = 86_400_000_000;
/// Days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch.
const PG_EPOCH_DAYS: i64 = 10_957;

/// The text of a non-NULL value of type `oid` in `format`.
pub(crate) fn render(encoding: Encoding, oid: u32, format: i16, raw: &[u8]) -> Result<Cow<'_, str>, Error> {
    if format == 0 || crate::types::binary_is_text(oid) {
        let body = if format == 1 && oid == oid::JSONB {
            raw.strip_prefix(&[1]).ok_or_else(|| bad_value("jsonb"))?
        } else {
            raw
        };
        return encoding.decode(body).ok_or_else(|| {
            UsageError::Conversion(format!("text is not valid in the client encoding ({encoding})")).into()
        });
    }
    let mut out = String::new();
    render_binary(encoding, oid, raw, &mut out)?;
    Ok(Cow::Owned(out))
}

fn render_binary(encoding: Encoding, oid: u32, raw: &[u8], out: &mut String) -> Result<(), Error> {
    use oid::*;
    match oid {
        _ if crate::types::binary_is_text(oid) => out.push_str(&render(encoding, oid, 1, raw)?),
        BOOL => out.push_str(if fixed::<1>(raw, "bool")?[0] != 0 { "t" } else { "f" }),
        INT2 => write_display(out, i16::from_be_bytes(fixed(raw, "int2")?)),
        INT4 => write_display(out, i32::from_be_bytes(fixed(raw, "int4")?)),
        INT8 => write_display(out, i64::from_be_bytes(fixed(raw, "int8")?)),
        OID => write_display(out, u32::from_be_bytes(fixed(raw, "oid")?)),
        FLOAT4 => float(out, f32::from_be_bytes(fixed(raw, "float4")?), 6),
        FLOAT8 => float(out, f64::from_be_bytes(fixed(raw, "float8")?), 15),
        NUMERIC => out.push_str(&crate::types::primitives::numeric_binary_text(raw)?),
        BYTEA => {
            out.reserve(2 + raw.len() * 2);
            out.push_str("\\x");
            for b in raw {
                let _ = write!(out, "{b:02x}");
            }
        }
        CHAR => match raw {
            [] | [0] => {}
            [b] if b.is_ascii() => out.push(*b as char),
            [b] => {
                let _ = write!(out, "\\{b:03o}");
            }
            _ => return Err(bad_value("\"char\"")),
        },
        UUID => {
            let b: [u8; 16] = fixed(raw, "uuid")?;
            for (i, byte) in b.iter().enumerate() {
                if matches!(i, 4 | 6 | 8 | 10) {
                    out.push('-');
                }
                let _ = write!(out, "{byte:02x}");
            }
        }
        DATE => date(out, i32::from_be_bytes(fixed(raw, "date")?)),
        TIME => time_of_day(out, i64::from_be_bytes(fixed(raw, "time")?)),
        TIMESTAMP => timestamp(out, i64::from_be_bytes(fixed(raw, "timestamp")?), false),
        TIMESTAMPTZ => timestamp(out, i64::from_be_bytes(fixed(raw, "timestamptz")?), true),
        INTERVAL => {
            let b: [u8; 16] = fixed(raw, "interval")?;
            let micros = i64::from_be_bytes(b[..8].try_into().unwrap_or_default());
            let days = i32::from_be_bytes(b[8..12].try_into().unwrap_or_default());
            let months = i32::from_be_bytes(b[12..].try_into().unwrap_or_default());
            interval(out, months, days, micros);
        }
        other if array::element_of(other).is_some() => array_text(encoding, raw, out)?,
        other if super::range::subtype(other).is_some() => {
            let sub = super::range::subtype(other).unwrap_or_default();
            super::range::render(raw, out, |v, text| render_binary(encoding, sub, v, text))?
        }
        other if super::range::range_of(other).and_then(super::range::subtype).is_some() => {
            let sub = super::range::range_of(other).and_then(super::range::subtype).unwrap_or_default();
            super::range::render_multi(raw, out, |v, text| render_binary(encoding, sub, v, text))?
        }
        other if super::simple::render(other, raw).is_some() => {
            out.push_str(&super::simple::render(other, raw).unwrap_or_else(|| Ok(String::new()))?)
        }
        other => {
            return Err(UsageError::Conversion(format!(
                "pgsans has no text rendering for binary values of {}",
                type_name(other)
            ))
            .into())
        }
    }
    Ok(())
}

fn write_display(out: &mut String, v: impl std::fmt::Display) {
    let _ = write!(out, "{v}");
}

/// A binary float: `f32` or `f64`.
pub(crate) trait Float: Copy + std::fmt::LowerExp + std::str::FromStr + PartialEq {
    /// Integers below this are written exactly (`d2d_small_int` / `f2d_small_int`).
    const EXACT_INTEGERS: f64;
    /// At most this many significant digits are needed.
    const MAX_DIGITS: usize;
    fn to_f64(self) -> f64;
}

impl Float for f32 {
    const EXACT_INTEGERS: f64 = 16_777_216.0;
    const MAX_DIGITS: usize = 9;
    fn to_f64(self) -> f64 {
        self.into()
    }
}

impl Float for f64 {
    const EXACT_INTEGERS: f64 = 9_007_199_254_740_992.0;
    const MAX_DIGITS: usize = 17;
    fn to_f64(self) -> f64 {
        self
    }
}

/// `float4out` / `float8out` (`extra_float_digits = 1`, PostgreSQL 12 and later): the
/// shortest digits strictly inside the value's rounding interval (PostgreSQL builds Ryu with
/// the interval's bounds excluded), the nearest of them; integers below 2^24 / 2^53 exactly.
/// Fixed point when the decimal exponent is in `-4..fixed_below`, else `d.ddde±XX`.
pub(crate) fn float<F: Float>(out: &mut String, value: F, fixed_below: i32) {
    let v = value.to_f64();
    if v.is_nan() {
        return out.push_str("NaN");
    }
    if v.is_infinite() {
        return out.push_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
    }
    if v == 0.0 {
        return out.push_str(if v.is_sign_negative() { "-0" } else { "0" });
    }
    if v < 0.0 {
        out.push('-');
    }
    let (digits, exp) = shortest(value, v.abs());
    if (-4..fixed_below).contains(&exp) {
        if exp < 0 {
            out.push_str("0.");
            out.push_str(&"0".repeat((-exp - 1) as usize));
            out.push_str(&digits);
        } else {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                out.push_str(&"0".repeat(int_len - digits.len()));
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
}

/// The significant digits (no trailing zeros) and decimal exponent of `|value|`.
fn shortest<F: Float>(value: F, abs: f64) -> (String, i32) {
    let split = |sci: &str| -> (String, i32) {
        let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
        let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
        let digits = digits.trim_end_matches('0');
        (if digits.is_empty() { "0".to_owned() } else { digits.to_owned() }, exp.parse().unwrap_or(0))
    };
    if abs.fract() == 0.0 && abs < F::EXACT_INTEGERS {
        return split(&format!("{abs:e}"));
    }
    let target = value.to_f64().abs();
    let reads_back = |text: &str| text.parse::<F>().is_ok_and(|p| p.to_f64().abs() == target);
    for precision in 1..=F::MAX_DIGITS {
        // The nearest decimal of this many digits (exact, ties to even).
        let sci = format!("{:.*e}", precision - 1, value);
        let sci = sci.trim_start_matches('-');
        if !reads_back(sci) {
            continue;
        }
        // Strictly inside the interval: nudged a hair either way it still reads back (at a
        // bound, one side would read as the neighbour).
        let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
        let up = format!(
            "{mantissa}{}0000000000000000000000000000000000000001e{exp}",
            if mantissa.contains('.') { "" } else { "." }
        );
        let down = decrement(mantissa).map(|m| format!("{m}9999999999999999999999999999999999999999e{exp}"));
        if reads_back(&up) && down.is_none_or(|d| reads_back(&d)) {
            return split(sci);
        }
    }
    split(&format!("{:e}", value))
}

/// `mantissa` (`d.ddd`) minus one unit in its last digit, with a decimal point kept; `None`
/// when it would reach zero.
fn decrement(mantissa: &str) -> Option<String> {
    let mut bytes = mantissa.as_bytes().to_vec();
    if !bytes.contains(&b'.') {
        bytes.push(b'.');
    }
    let mut i = bytes.len();
    loop {
        i = i.checked_sub(1)?;
        match bytes[i] {
            b'.' => continue,
            b'0' => bytes[i] = b'9',
            d => {
                bytes[i] = d - 1;
                break;
            }
        }
    }
    let text = String::from_utf8(bytes).ok()?;
    text.bytes().any(|b| (b'1'..=b'9').contains(&b)).then_some(text)
}

/// Year, month, day of a day count from 1970-01-01 (proleptic Gregorian; year 0 is 1 BC).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `YYYY-MM-DD`, and whether it is BC (written after the time, as the server does).
fn ymd(out: &mut String, days_since_2000: i64) -> bool {
    let (y, m, d) = civil(days_since_2000 + PG_EPOCH_DAYS);
    let (year, bc) = if y <= 0 { (1 - y, true) } else { (y, false) };
    let _ = write!(out, "{year:04}-{m:02}-{d:02}");
    bc
}

fn date(out: &mut String, days: i32) {
    match days {
        i32::MAX => out.push_str("infinity"),
        i32::MIN => out.push_str("-infinity"),
        days => {
            if ymd(out, days.into()) {
                out.push_str(" BC");
            }
        }
    }
}

/// `HH:MM:SS[.ffffff]` (trailing zeros of the fraction dropped); hours may pass 24.
fn clock(out: &mut String, micros: i64) {
    let (secs, frac) = (micros / 1_000_000, micros % 1_000_000);
    let _ = write!(out, "{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    fraction(out, frac);
}

fn fraction(out: &mut String, frac: i64) {
    if frac != 0 {
        let text = format!("{frac:06}");
        out.push('.');
        out.push_str(text.trim_end_matches('0'));
    }
}

fn time_of_day(out: &mut String, micros: i64) {
    clock(out, micros);
}

fn timestamp(out: &mut String, micros: i64, tz: bool) {
    match micros {
        i64::MAX => out.push_str("infinity"),
        i64::MIN => out.push_str("-infinity"),
        micros => {
            let bc = ymd(out, micros.div_euclid(DAY));
            out.push(' ');
            clock(out, micros.rem_euclid(DAY));
            if tz {
                out.push_str("+00");
            }
            if bc {
                out.push_str(" BC");
            }
        }
    }
}

/// `IntervalStyle = postgres`: `1 year 2 mons -3 days +04:05:06.5`.
fn interval(out: &mut String, months: i32, days: i32, micros: i64) {
    let mut is_zero = true;
    let mut is_before = false;
    let mut part = |out: &mut String, value: i64, unit: &str| {
        if value == 0 {
            return;
        }
        let _ = write!(
            out,
            "{}{}{value} {unit}{}",
            if is_zero { "" } else { " " },
            if is_before && value > 0 { "+" } else { "" },
            if value != 1 { "s" } else { "" }
        );
        is_before = value < 0;
        is_zero = false;
    };
    part(out, i64::from(months / 12), "year");
    part(out, i64::from(months % 12), "mon");
    part(out, i64::from(days), "day");
    if is_zero || micros != 0 {
        let minus = micros < 0;
        let sign = if minus {
            "-"
        } else if is_before {
            "+"
        } else {
            ""
        };
        let _ = write!(out, "{}{sign}", if is_zero { "" } else { " " });
        let abs = micros.unsigned_abs();
        let (secs, frac) = (abs / 1_000_000, abs % 1_000_000);
        let _ = write!(out, "{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
        fraction(out, frac as i64);
    }
}

/// `array_out`: `{1,2,NULL}`, nested braces per dimension, `[lo:hi]=` when a lower bound is
/// not 1, elements quoted when they need it.
fn array_text(encoding: Encoding, raw: &[u8], out: &mut String) -> Result<(), Error> {
    let (dims, elem, ranges) = array::parse_binary(raw)?;
    if dims.is_empty() {
        out.push_str("{}");
        return Ok(());
    }
    if dims.iter().any(|d| d.lower_bound != 1) {
        for d in &dims {
            let upper = i64::from(d.lower_bound) + i64::from(d.len) - 1;
            let _ = write!(out, "[{}:{upper}]", d.lower_bound);
        }
        out.push('=');
    }
    let mut elements = ranges.iter();
    let mut element = String::new();
    // Walks the dimensions: an odometer over the indexes.
    let mut index = vec![0i32; dims.len()];
    out.push_str(&"{".repeat(dims.len()));
    loop {
        match elements.next() {
            Some(None) => out.push_str("NULL"),
            Some(Some(r)) => {
                element.clear();
                render_binary(encoding, elem, &raw[r.clone()], &mut element)?;
                quote_element(out, &element);
            }
            None => return Err(bad_value("array")),
        }
        // Advance the innermost index; close and reopen braces where dimensions roll over.
        let mut level = dims.len();
        loop {
            level -= 1;
            index[level] += 1;
            if index[level] < dims[level].len {
                out.push(',');
                out.push_str(&"{".repeat(dims.len() - 1 - level));
                break;
            }
            index[level] = 0;
            out.push('}');
            if level == 0 {
                return Ok(());
            }
        }
    }
}

fn quote_element(out: &mut String, element: &str) {
    let needs_quotes = element.is_empty()
        || element.eq_ignore_ascii_case("NULL")
        || element.bytes().any(|b| matches!(b, b'{' | b'}' | b',' | b'"' | b'\\') || b.is_ascii_whitespace());
    if !needs_quotes {
        out.push_str(element);
        return;
    }
    out.push('"');
    for c in element.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f8(v: f64) -> String {
        let mut s = String::new();
        float(&mut s, v, 15);
        s
    }
    fn f4(v: f32) -> String {
        let mut s = String::new();
        float(&mut s, v, 6);
        s
    }

    #[test]
    fn floats_are_written_as_float8out_writes_them() {
        for (v, text) in [
            (1e15, "1e+15"),
            (123456789012345.0, "123456789012345"),
            (1e14, "100000000000000"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.25e300, "-2.25e+300"),
            (0.1, "0.1"),
            (1.0 / 3.0, "0.3333333333333333"),
            (5e-324, "5e-324"),
            (-0.0, "-0"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Infinity"),
            (1.5, "1.5"),
            (100.0, "100"),
            // Bounds excluded: not the shortest string Rust would print.
            (-68_659_681_752_636_816.0, "-6.8659681752636816e+16"),
            (26_246_994_933_414_848.0, "2.6246994933414848e+16"),
            (181_705_388_398_854.62, "181705388398854.62"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
        ] {
            assert_eq!(f8(v), text, "{v:e}");
        }
        assert_eq!(f4(1e6), "1e+06");
        assert_eq!(f4(123456.0), "123456");
        assert_eq!(f4(0.1), "0.1");
        assert_eq!(f4(1.0 / 3.0), "0.33333334");
        assert_eq!(f4(121_636_864.0), "1.21636864e+08");
    }

    #[test]
    fn dates_times_and_intervals() {
        let mut s = String::new();
        date(&mut s, 0);
        assert_eq!(s, "2000-01-01");
        s.clear();
        date(&mut s, -730_485);
        assert_eq!(s, "0001-01-01 BC");
        s.clear();
        timestamp(&mut s, -DAY + 1_500_000, true);
        assert_eq!(s, "1999-12-31 00:00:01.5+00");
        for ((m, d, us), text) in [
            ((0, 0, 0), "00:00:00"),
            ((14, 3, 4_000_001), "1 year 2 mons 3 days 00:00:04.000001"),
            ((-12, 0, 0), "-1 years"),
            ((-12, 2, 0), "-1 years +2 days"),
            ((1, -1, 3_600_000_000), "1 mon -1 days +01:00:00"),
            ((0, 0, -90_061_000_000), "-25:01:01"),
        ] {
            s.clear();
            interval(&mut s, m, d, us);
            assert_eq!(s, text);
        }
    }

    proptest::proptest! {
        #[test]
        fn floats_read_back_as_the_same_value(bits in proptest::num::u64::ANY, bits32 in proptest::num::u32::ANY) {
            let v = f64::from_bits(bits);
            let text = f8(v);
            if v.is_finite() {
                let back: f64 = text.parse().unwrap();
                proptest::prop_assert_eq!(back.to_bits(), v.to_bits(), "{}", text);
            }
            let v = f32::from_bits(bits32);
            let text = f4(v);
            if v.is_finite() {
                let back: f32 = text.parse().unwrap();
                proptest::prop_assert_eq!(back.to_bits(), v.to_bits(), "{}", text);
            }
        }

        #[test]
        fn any_bytes_of_any_type_render_or_fail_cleanly(
            pick in 0usize..80,
            raw in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
        ) {
            use crate::types::oid::*;
            let oids = [BOOL, BYTEA, CHAR, NAME, INT8, INT2, INT4, TEXT, OID, JSON, FLOAT4, FLOAT8, BPCHAR, VARCHAR,
                DATE, TIME, TIMESTAMP, TIMESTAMPTZ, INTERVAL, NUMERIC, UUID, JSONB, BOOL_ARRAY, BYTEA_ARRAY,
                CHAR_ARRAY, INT2_ARRAY, INT4_ARRAY, TEXT_ARRAY, INT8_ARRAY, FLOAT8_ARRAY, TIMESTAMP_ARRAY,
                DATE_ARRAY, INTERVAL_ARRAY, UUID_ARRAY, JSONB_ARRAY, NUMERIC_ARRAY, 16384, 0, 705, 1,
                INET, CIDR, MACADDR, MACADDR8, PG_LSN, XID8, MONEY, BIT, VARBIT, POINT, LSEG, PATH, BOX, POLYGON,
                LINE, CIRCLE, INT4RANGE, NUMRANGE, TSRANGE, TSTZRANGE, DATERANGE, INT8RANGE, INT4MULTIRANGE,
                TSTZMULTIRANGE, NUMMULTIRANGE];
            let oid = oids[pick % oids.len()];
            let _ = render(Encoding::UTF8, oid, 1, &raw);
            let _ = render(Encoding::UTF8, oid, 0, &raw);
        }
    }
}
