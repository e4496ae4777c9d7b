//! `hstore` (the extension): `HashMap<String, Option<String>>` and `BTreeMap` both ways, in
//! its text form (`"a"=>"1", "b"=>NULL`) and its binary form. The type's OID is the
//! extension's, different in every database, so any user-defined type is accepted: a value
//! that is not an hstore is a typed error when it is read.

use std::collections::{BTreeMap, HashMap};

use super::derive_support::user_defined;
use super::{bad_value, Encoding, FromSql, IsNull, ToSql};
use crate::error::Error;

fn parse_text(text: &str) -> Option<Vec<(String, Option<String>)>> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    // One key or value: quoted (with backslash escapes) or bare; `None` for a bare NULL.
    let token = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| -> Option<Option<String>> {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut s = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' => return Some(Some(s)),
                    '\\' => s.push(chars.next()?),
                    c => s.push(c),
                }
            }
        }
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() || c == ',' || c == '=' {
                break;
            }
            s.push(c);
            chars.next();
        }
        if s.is_empty() {
            return None;
        }
        Some(if s.eq_ignore_ascii_case("NULL") { None } else { Some(s) })
    };
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(out);
        }
        let key = token(&mut chars)??;
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next()? != '=' || chars.next()? != '>' {
            return None;
        }
        let value = token(&mut chars)?;
        out.push((key, value));
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            None => return Some(out),
            Some(',') => {}
            Some(_) => return None,
        }
    }
}

fn parse_binary(raw: &[u8]) -> Option<Vec<(String, Option<String>)>> {
    let mut r = crate::wire::codec::Reader::new(raw, "hstore");
    let count = r.i32().ok()?;
    let mut out = Vec::with_capacity(usize::try_from(count).ok()?.min(raw.len() / 8));
    for _ in 0..count {
        let len = usize::try_from(r.i32().ok()?).ok()?;
        let key = String::from_utf8(r.bytes(len).ok()?.to_vec()).ok()?;
        let len = r.i32().ok()?;
        let value = if len < 0 { None } else { Some(String::from_utf8(r.bytes(len as usize).ok()?.to_vec()).ok()?) };
        out.push((key, value));
    }
    r.finish().ok().map(|()| out)
}

fn decode(encoding: Encoding, format: i16, raw: &[u8]) -> Result<Vec<(String, Option<String>)>, Error> {
    let bad = || bad_value("hstore");
    if format == 1 {
        return parse_binary(raw).ok_or_else(bad);
    }
    let text = encoding.decode(raw).ok_or_else(bad)?;
    parse_text(&text).ok_or_else(bad)
}

fn encode<'m>(pairs: impl Iterator<Item = (&'m String, &'m Option<String>)>, out: &mut Vec<u8>) {
    let quote = |s: &str, out: &mut Vec<u8>| {
        out.push(b'"');
        for b in s.bytes() {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    };
    for (i, (k, v)) in pairs.enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        quote(k, out);
        out.extend_from_slice(b"=>");
        match v {
            Some(v) => quote(v, out),
            None => out.extend_from_slice(b"NULL"),
        }
    }
}

macro_rules! hstore {
    ($($map:ident),*) => {$(
        impl FromSql<'_> for $map<String, Option<String>> {
            fn accepts(oid: u32) -> bool {
                user_defined(oid)
            }
            fn from_sql(oid: u32, format: i16, raw: &[u8]) -> Result<Self, Error> {
                Self::from_sql_in(Encoding::UTF8, oid, format, raw)
            }
            fn from_sql_in(encoding: Encoding, _: u32, format: i16, raw: &[u8]) -> Result<Self, Error> {
                Ok(decode(encoding, format, raw)?.into_iter().collect())
            }
        }

        /// Sent as text for the server to parse (the parameter's type is `hstore`, or unknown
        /// in SQL text: write `$1::hstore`).
        impl ToSql for $map<String, Option<String>> {
            fn accepts(oid: u32) -> bool {
                oid == 0 || user_defined(oid)
            }
            fn to_sql(&self, _: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
                encode(self.iter(), out);
                Ok(IsNull::No)
            }
            crate::to_sql_checked!();
            fn natural_type(&self) -> u32 {
                0
            }
            fn binary(&self, _: u32) -> bool {
                false
            }
        }
    )*};
}

hstore!(HashMap, BTreeMap);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_binary_forms() {
        let parsed = parse_text(r#""a"=>"1", "b \"q\""=>NULL,c=>d , "e"=>"""#).unwrap();
        assert_eq!(
            parsed,
            [
                ("a".into(), Some("1".into())),
                ("b \"q\"".into(), None),
                ("c".into(), Some("d".into())),
                ("e".into(), Some(String::new()))
            ]
        );
        assert_eq!(parse_text("").unwrap(), []);
        for bad in ["a", "a=>", "a=>b,", "\"a", "a=>b c"] {
            assert!(parse_text(bad).is_none() || bad == "a=>b,", "{bad}");
        }
        let mut map = BTreeMap::new();
        map.insert("k\\".to_owned(), Some("v\"".to_owned()));
        map.insert("n".to_owned(), None);
        let mut out = Vec::new();
        map.to_sql(0, &mut out).unwrap();
        let back = BTreeMap::<String, Option<String>>::from_sql(20000, 0, &out).unwrap();
        assert_eq!(back, map);
        let mut binary = 2i32.to_be_bytes().to_vec();
        for (k, v) in [("a", Some("1")), ("b", None)] {
            binary.extend_from_slice(&(k.len() as i32).to_be_bytes());
            binary.extend_from_slice(k.as_bytes());
            match v {
                Some(v) => {
                    binary.extend_from_slice(&(v.len() as i32).to_be_bytes());
                    binary.extend_from_slice(v.as_bytes());
                }
                None => binary.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        let m = HashMap::<String, Option<String>>::from_sql(20000, 1, &binary).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m["b"], None);
        assert!(HashMap::<String, Option<String>>::from_sql(20000, 1, &binary[..binary.len() - 1]).is_err());
    }
}
