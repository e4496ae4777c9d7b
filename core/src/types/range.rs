//! Ranges and multiranges of the built-in range types (`int4range`, `int8range`, `numrange`,
//! `tsrange`, `tstzrange`, `daterange` and their multiranges): [`Range<T>`] and
//! [`Multirange<T>`] of any Rust type that reads or writes the subtype.

use std::ops::Bound;

use super::oid::*;
use super::{bad_value, Encoding, FromSql, IsNull, ToSql};
use crate::error::{Error, UsageError};

/// A range: empty, or between two bounds (each inclusive, exclusive or unbounded). The server
/// keeps discrete ranges canonical: `[1,5]` of `int4range` comes back as `[1,6)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Range<T> {
    Empty,
    Bounds(Bound<T>, Bound<T>),
}

impl<T> Range<T> {
    /// `[lower, upper)`, the usual form.
    pub fn half_open(lower: T, upper: T) -> Range<T> {
        Range::Bounds(Bound::Included(lower), Bound::Excluded(upper))
    }
}

/// The ranges of a multirange, in order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Multirange<T>(pub Vec<Range<T>>);

/// The subtype of a range type pgsans knows.
pub(crate) fn subtype(range: u32) -> Option<u32> {
    Some(match range {
        INT4RANGE => INT4,
        INT8RANGE => INT8,
        NUMRANGE => NUMERIC,
        TSRANGE => TIMESTAMP,
        TSTZRANGE => TIMESTAMPTZ,
        DATERANGE => DATE,
        _ => return None,
    })
}

/// The range type of a multirange type pgsans knows.
pub(crate) fn range_of(multirange: u32) -> Option<u32> {
    Some(match multirange {
        INT4MULTIRANGE => INT4RANGE,
        INT8MULTIRANGE => INT8RANGE,
        NUMMULTIRANGE => NUMRANGE,
        TSMULTIRANGE => TSRANGE,
        TSTZMULTIRANGE => TSTZRANGE,
        DATEMULTIRANGE => DATERANGE,
        _ => return None,
    })
}

fn range_for_subtype(sub: u32) -> u32 {
    match sub {
        INT2 | INT4 => INT4RANGE,
        INT8 => INT8RANGE,
        NUMERIC => NUMRANGE,
        TIMESTAMP => TSRANGE,
        TIMESTAMPTZ => TSTZRANGE,
        DATE => DATERANGE,
        _ => 0,
    }
}

const EMPTY: u8 = 0x01;
const LB_INC: u8 = 0x02;
const UB_INC: u8 = 0x04;
const LB_INF: u8 = 0x08;
const UB_INF: u8 = 0x10;

/// Splits a range's binary form into its flags and bound values.
/// A range's flags and its bounds' bytes.
type Parts<'a> = (u8, Option<&'a [u8]>, Option<&'a [u8]>);

pub(crate) fn parse_binary(raw: &[u8]) -> Result<Parts<'_>, Error> {
    let bad = || bad_value("range");
    let (&flags, mut rest) = raw.split_first().ok_or_else(bad)?;
    let mut take = |present: bool| -> Result<Option<&[u8]>, Error> {
        if !present {
            return Ok(None);
        }
        let len = rest.get(..4).ok_or_else(bad)?;
        let len = usize::try_from(i32::from_be_bytes(len.try_into().map_err(|_| bad())?)).map_err(|_| bad())?;
        let value = rest.get(4..4 + len).ok_or_else(bad)?;
        rest = &rest[4 + len..];
        Ok(Some(value))
    };
    let empty = flags & EMPTY != 0;
    let lower = take(!empty && flags & LB_INF == 0)?;
    let upper = take(!empty && flags & UB_INF == 0)?;
    if !rest.is_empty() {
        return Err(bad());
    }
    Ok((flags, lower, upper))
}

/// Splits a range's text (`[1,5)`, `(,"2020-01-01 00:00:00"]`, `empty`) into its brackets and
/// its bound texts (unquoted; `None` for an unbounded side).
pub(crate) fn parse_text(text: &str) -> Option<(bool, Option<String>, Option<String>, bool)> {
    let text = text.trim();
    let lower_inc = match text.as_bytes().first()? {
        b'[' => true,
        b'(' => false,
        _ => return None,
    };
    let upper_inc = match text.as_bytes().last()? {
        b']' => true,
        b')' => false,
        _ => return None,
    };
    let inner = text.get(1..text.len() - 1)?;
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut was_quoted = false;
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            // A doubled quote inside quotes is a quote (the server writes them so).
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                current.push('"');
            }
            '"' if quoted => quoted = false,
            '"' => {
                quoted = true;
                was_quoted = true;
            }
            '\\' => current.push(chars.next()?),
            ',' if !quoted => {
                parts.push((std::mem::take(&mut current), was_quoted));
                was_quoted = false;
            }
            c => current.push(c),
        }
    }
    parts.push((current, was_quoted));
    let [(lower, lq), (upper, uq)] = <[(String, bool); 2]>::try_from(parts).ok()?;
    let bound = |s: String, q: bool| if s.is_empty() && !q { None } else { Some(s) };
    Some((lower_inc, bound(lower, lq), bound(upper, uq), upper_inc))
}

fn decode_bound<T: for<'b> FromSql<'b>>(
    encoding: Encoding,
    sub: u32,
    format: i16,
    value: Option<&[u8]>,
    inclusive: bool,
) -> Result<Bound<T>, Error> {
    Ok(match value {
        None => Bound::Unbounded,
        Some(v) if inclusive => Bound::Included(T::from_sql_in(encoding, sub, format, v)?),
        Some(v) => Bound::Excluded(T::from_sql_in(encoding, sub, format, v)?),
    })
}

/// Owned bound types only (`i32`, `NaiveDate`, `Numeric` …): a text bound is an unquoted copy.
impl<T: for<'b> FromSql<'b>> FromSql<'_> for Range<T> {
    fn accepts(oid: u32) -> bool {
        subtype(oid).is_some_and(T::accepts)
    }
    fn from_sql(oid: u32, format: i16, raw: &[u8]) -> Result<Self, Error> {
        Self::from_sql_in(Encoding::UTF8, oid, format, raw)
    }
    fn from_sql_in(encoding: Encoding, oid: u32, format: i16, raw: &[u8]) -> Result<Self, Error> {
        let sub = subtype(oid).ok_or_else(|| bad_value("range"))?;
        if format == 1 {
            let (flags, lower, upper) = parse_binary(raw)?;
            if flags & EMPTY != 0 {
                return Ok(Range::Empty);
            }
            return Ok(Range::Bounds(
                decode_bound(encoding, sub, 1, lower, flags & LB_INC != 0)?,
                decode_bound(encoding, sub, 1, upper, flags & UB_INC != 0)?,
            ));
        }
        let text = std::str::from_utf8(raw).map_err(|_| bad_value("range"))?;
        if text.trim() == "empty" {
            return Ok(Range::Empty);
        }
        let (lower_inc, lower, upper, upper_inc) = parse_text(text).ok_or_else(|| bad_value("range"))?;
        Ok(Range::Bounds(
            decode_bound(encoding, sub, 0, lower.as_deref().map(str::as_bytes), lower_inc)?,
            decode_bound(encoding, sub, 0, upper.as_deref().map(str::as_bytes), upper_inc)?,
        ))
    }
}

impl<T: for<'b> FromSql<'b>> FromSql<'_> for Multirange<T> {
    fn accepts(oid: u32) -> bool {
        range_of(oid).is_some_and(<Range<T> as FromSql>::accepts)
    }
    fn from_sql(oid: u32, format: i16, raw: &[u8]) -> Result<Self, Error> {
        Self::from_sql_in(Encoding::UTF8, oid, format, raw)
    }
    fn from_sql_in(encoding: Encoding, oid: u32, format: i16, raw: &[u8]) -> Result<Self, Error> {
        let range = range_of(oid).ok_or_else(|| bad_value("multirange"))?;
        let bad = || bad_value("multirange");
        let mut out = Vec::new();
        if format == 1 {
            let count = raw.get(..4).ok_or_else(bad)?;
            let count = u32::from_be_bytes(count.try_into().map_err(|_| bad())?);
            let mut rest = &raw[4..];
            for _ in 0..count {
                let len = rest.get(..4).ok_or_else(bad)?;
                let len = usize::try_from(i32::from_be_bytes(len.try_into().map_err(|_| bad())?)).map_err(|_| bad())?;
                let value = rest.get(4..4 + len).ok_or_else(bad)?;
                out.push(Range::from_sql_in(encoding, range, 1, value)?);
                rest = &rest[4 + len..];
            }
            return if rest.is_empty() { Ok(Multirange(out)) } else { Err(bad()) };
        }
        let text = std::str::from_utf8(raw).map_err(|_| bad())?.trim();
        let inner = text.strip_prefix('{').and_then(|t| t.strip_suffix('}')).ok_or_else(bad)?;
        // Ranges end at `]` or `)` outside quotes; the separating commas follow them.
        let (mut start, mut quoted) = (0, false);
        let bytes = inner.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 1,
                b'"' => quoted = !quoted,
                b']' | b')' if !quoted => {
                    out.push(Range::from_sql_in(
                        encoding,
                        range,
                        0,
                        inner[start..=i].trim().trim_start_matches(',').trim().as_bytes(),
                    )?);
                    start = i + 1;
                }
                _ => {}
            }
            i += 1;
        }
        if !inner[start..].trim().is_empty() {
            return Err(bad());
        }
        Ok(Multirange(out))
    }
}

/// The bound a range is written with (its value, for asking whether it goes in binary).
fn some_bound<T>(r: &Range<T>) -> Option<&T> {
    match r {
        Range::Empty => None,
        Range::Bounds(Bound::Included(v) | Bound::Excluded(v), _)
        | Range::Bounds(_, Bound::Included(v) | Bound::Excluded(v)) => Some(v),
        Range::Bounds(Bound::Unbounded, Bound::Unbounded) => None,
    }
}

/// Appends a bound value in the text form of a range: quoted when it needs to be.
fn push_text_bound<T: ToSql>(v: &T, sub: u32, out: &mut Vec<u8>) -> Result<(), Error> {
    let mut text = Vec::new();
    if v.encode(sub, &mut text)? == IsNull::Yes {
        return Err(UsageError::Conversion("a range bound cannot be NULL".into()).into());
    }
    let plain = !text.is_empty()
        && !text
            .iter()
            .any(|b| matches!(b, b'"' | b'\\' | b',' | b'(' | b')' | b'[' | b']') || b.is_ascii_whitespace());
    if plain {
        out.extend_from_slice(&text);
    } else {
        out.push(b'"');
        for b in text {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    }
    Ok(())
}

impl<T: ToSql> Range<T> {
    fn write(&self, sub: u32, binary: bool, out: &mut Vec<u8>) -> Result<(), Error> {
        let Range::Bounds(lower, upper) = self else {
            if binary {
                out.push(EMPTY);
            } else {
                out.extend_from_slice(b"empty");
            }
            return Ok(());
        };
        if binary {
            let mut flags = 0;
            match lower {
                Bound::Included(_) => flags |= LB_INC,
                Bound::Excluded(_) => {}
                Bound::Unbounded => flags |= LB_INF,
            }
            match upper {
                Bound::Included(_) => flags |= UB_INC,
                Bound::Excluded(_) => {}
                Bound::Unbounded => flags |= UB_INF,
            }
            out.push(flags);
            for b in [lower, upper] {
                if let Bound::Included(v) | Bound::Excluded(v) = b {
                    let at = out.len();
                    out.extend_from_slice(&[0; 4]);
                    if v.encode(sub, out)? == IsNull::Yes {
                        return Err(UsageError::Conversion("a range bound cannot be NULL".into()).into());
                    }
                    let len = i32::try_from(out.len() - at - 4).map_err(|_| UsageError::MessageTooLarge)?;
                    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
                }
            }
            return Ok(());
        }
        out.push(if matches!(lower, Bound::Included(_)) { b'[' } else { b'(' });
        if let Bound::Included(v) | Bound::Excluded(v) = lower {
            push_text_bound(v, sub, out)?;
        }
        out.push(b',');
        if let Bound::Included(v) | Bound::Excluded(v) = upper {
            push_text_bound(v, sub, out)?;
        }
        out.push(if matches!(upper, Bound::Included(_)) { b']' } else { b')' });
        Ok(())
    }

    fn binary_for(&self, sub: u32) -> bool {
        some_bound(self).is_none_or(|v| v.binary(sub))
    }
}

impl<T: ToSql> ToSql for Range<T> {
    fn accepts(oid: u32) -> bool
    where
        Self: Sized,
    {
        // 0: a range with no bound value has no natural type; its text goes as `unknown`.
        oid == 0 || subtype(oid).is_some_and(|s| T::accepts(s))
    }
    fn to_sql(&self, oid: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
        if oid == 0 {
            let sub = some_bound(self).map_or(0, ToSql::natural_type);
            self.write(sub, false, out)?;
            return Ok(IsNull::No);
        }
        let sub = subtype(oid).ok_or_else(|| bad_value("range"))?;
        self.write(sub, self.binary_for(sub), out)?;
        Ok(IsNull::No)
    }
    crate::to_sql_checked!();
    fn natural_type(&self) -> u32 {
        some_bound(self).map_or(0, |v| range_for_subtype(v.natural_type()))
    }
    fn binary(&self, oid: u32) -> bool {
        subtype(oid).is_some_and(|s| self.binary_for(s))
    }
}

impl<T: ToSql> ToSql for Multirange<T> {
    fn accepts(oid: u32) -> bool
    where
        Self: Sized,
    {
        oid == 0 || range_of(oid).is_some_and(<Range<T> as ToSql>::accepts)
    }
    fn to_sql(&self, oid: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
        let sub = match range_of(oid).and_then(subtype) {
            Some(sub) => sub,
            None if oid == 0 => self.0.iter().find_map(some_bound).map_or(0, ToSql::natural_type),
            None => return Err(bad_value("multirange")),
        };
        if self.binary(oid) {
            let count = u32::try_from(self.0.len()).map_err(|_| UsageError::MessageTooLarge)?;
            out.extend_from_slice(&count.to_be_bytes());
            for r in &self.0 {
                let at = out.len();
                out.extend_from_slice(&[0; 4]);
                r.write(sub, true, out)?;
                let len = i32::try_from(out.len() - at - 4).map_err(|_| UsageError::MessageTooLarge)?;
                out[at..at + 4].copy_from_slice(&len.to_be_bytes());
            }
        } else {
            out.push(b'{');
            for (i, r) in self.0.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                r.write(sub, false, out)?;
            }
            out.push(b'}');
        }
        Ok(IsNull::No)
    }
    crate::to_sql_checked!();
    fn natural_type(&self) -> u32 {
        let range = self.0.iter().map(ToSql::natural_type).find(|&t| t != 0).unwrap_or(0);
        match range {
            INT4RANGE => INT4MULTIRANGE,
            INT8RANGE => INT8MULTIRANGE,
            NUMRANGE => NUMMULTIRANGE,
            TSRANGE => TSMULTIRANGE,
            TSTZRANGE => TSTZMULTIRANGE,
            DATERANGE => DATEMULTIRANGE,
            _ => 0,
        }
    }
    fn binary(&self, oid: u32) -> bool {
        let sub = range_of(oid).and_then(subtype);
        sub.is_some_and(|s| self.0.iter().all(|r| r.binary_for(s)))
    }
}

/// The server's text for a binary range (`range_out`), each bound rendered by `bound`.
pub(crate) fn render(
    raw: &[u8],
    out: &mut String,
    mut bound: impl FnMut(&[u8], &mut String) -> Result<(), Error>,
) -> Result<(), Error> {
    let (flags, lower, upper) = parse_binary(raw)?;
    if flags & EMPTY != 0 {
        out.push_str("empty");
        return Ok(());
    }
    out.push(if flags & LB_INC != 0 { '[' } else { '(' });
    let mut text = String::new();
    for (i, value) in [lower, upper].into_iter().enumerate() {
        if i == 1 {
            out.push(',');
        }
        if let Some(v) = value {
            text.clear();
            bound(v, &mut text)?;
            let quote = text.is_empty()
                || text
                    .chars()
                    .any(|c| matches!(c, '"' | '\\' | ',' | '(' | ')' | '[' | ']') || c.is_ascii_whitespace());
            if quote {
                out.push('"');
                for c in text.chars() {
                    if c == '"' || c == '\\' {
                        out.push(c);
                    }
                    out.push(c);
                }
                out.push('"');
            } else {
                out.push_str(&text);
            }
        }
    }
    out.push(if flags & UB_INC != 0 { ']' } else { ')' });
    Ok(())
}

/// The server's text for a binary multirange.
pub(crate) fn render_multi(
    raw: &[u8],
    out: &mut String,
    mut bound: impl FnMut(&[u8], &mut String) -> Result<(), Error>,
) -> Result<(), Error> {
    let bad = || bad_value("multirange");
    let count = u32::from_be_bytes(raw.get(..4).ok_or_else(bad)?.try_into().map_err(|_| bad())?);
    let mut rest = &raw[4..];
    out.push('{');
    for i in 0..count {
        if i > 0 {
            out.push(',');
        }
        let len = rest.get(..4).ok_or_else(bad)?;
        let len = usize::try_from(i32::from_be_bytes(len.try_into().map_err(|_| bad())?)).map_err(|_| bad())?;
        render(rest.get(4..4 + len).ok_or_else(bad)?, out, &mut bound)?;
        rest = &rest[4 + len..];
    }
    out.push('}');
    if rest.is_empty() {
        Ok(())
    } else {
        Err(bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bound() -> impl Strategy<Value = Bound<i32>> {
        prop_oneof![
            Just(Bound::Unbounded),
            any::<i32>().prop_map(Bound::Included),
            any::<i32>().prop_map(Bound::Excluded)
        ]
    }

    proptest! {
        #[test]
        fn ranges_read_back_what_was_written(lower in bound(), upper in bound(), empty in any::<bool>()) {
            let r = if empty { Range::Empty } else { Range::Bounds(lower, upper) };
            let mut out = Vec::new();
            r.to_sql(INT4RANGE, &mut out).unwrap();
            prop_assert_eq!(&Range::<i32>::from_sql(INT4RANGE, 1, &out).unwrap(), &r);
            // The text form, with numeric bounds (sent as text).
            let numeric = |b: &Bound<i32>| match b {
                Bound::Included(v) => Bound::Included(crate::types::Numeric(v.to_string())),
                Bound::Excluded(v) => Bound::Excluded(crate::types::Numeric(v.to_string())),
                Bound::Unbounded => Bound::Unbounded,
            };
            let n = match &r { Range::Empty => Range::Empty, Range::Bounds(l, u) => Range::Bounds(numeric(l), numeric(u)) };
            let mut out = Vec::new();
            n.to_sql(NUMRANGE, &mut out).unwrap();
            prop_assert_eq!(Range::<crate::types::Numeric>::from_sql(NUMRANGE, n.binary(NUMRANGE) as i16, &out).unwrap(), n);
            let m = Multirange(vec![r.clone(), Range::half_open(1, 2)]);
            let mut out = Vec::new();
            m.to_sql(INT4MULTIRANGE, &mut out).unwrap();
            prop_assert_eq!(Multirange::<i32>::from_sql(INT4MULTIRANGE, 1, &out).unwrap(), m);
        }

        #[test]
        fn range_text_of_any_bytes_fails_cleanly(text in ".{0,40}") {
            let _ = Range::<i32>::from_sql(INT4RANGE, 0, text.as_bytes());
            let _ = Multirange::<i32>::from_sql(INT4MULTIRANGE, 0, text.as_bytes());
            let _ = Range::<i32>::from_sql(INT4RANGE, 1, text.as_bytes());
        }
    }

    #[test]
    fn quoted_bounds_are_unquoted() {
        assert_eq!(
            parse_text(r#"["a ""b""",c\\d)"#),
            Some((true, Some("a \"b\"".to_owned()), Some("c\\d".to_owned()), false))
        );
        assert_eq!(parse_text("(,)"), Some((false, None, None, false)));
        assert_eq!(parse_text(r#"("",1]"#), Some((false, Some(String::new()), Some("1".into()), true)));
    }
}
