//! The session's client encoding: the server sends names, messages and text values in it and
//! reads SQL text and text parameters in it.
//!
//! pgsans asks for `UTF8` at startup, so nothing is converted unless the session switches
//! (`SET client_encoding`, psycopg2's `set_client_encoding`). Then text from the server is
//! decoded into Rust strings and outgoing strings are encoded, as psycopg does with Python's
//! codecs; a character the encoding cannot represent is a typed error, never a `?`. Transcoding
//! uses `encoding_rs` (the WHATWG tables), except for `LATIN1`, which WHATWG folds into
//! windows-1252: PostgreSQL's `LATIN1` is ISO 8859-1, decoded here byte for byte.

use std::borrow::Cow;

/// A PostgreSQL client encoding, as far as pgsans can transcode it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Encoding(Kind);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Kind {
    #[default]
    Utf8,
    /// No conversion on the server: bytes are passed through; pgsans reads them as UTF-8.
    SqlAscii,
    /// ISO 8859-1: every byte is the code point of the same value.
    Latin1,
    Whatwg(&'static encoding_rs::Encoding),
    /// An encoding pgsans cannot transcode (EUC_TW, JOHAB, MULE_INTERNAL, the 2004 Japanese
    /// variants): ASCII passes, anything else is an error (or lossy, for names).
    Unsupported,
}

impl Encoding {
    pub const UTF8: Encoding = Encoding(Kind::Utf8);

    /// The encoding PostgreSQL calls `name` (as `client_encoding` reports it; case and
    /// punctuation are ignored, and the aliases PostgreSQL accepts are known).
    pub fn from_name(name: &str) -> Encoding {
        let key: String = name.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect();
        use encoding_rs as e;
        let whatwg = |enc: &'static e::Encoding| Encoding(Kind::Whatwg(enc));
        match key.as_str() {
            "UTF8" | "UNICODE" => Encoding(Kind::Utf8),
            "SQLASCII" => Encoding(Kind::SqlAscii),
            "LATIN1" | "ISO88591" => Encoding(Kind::Latin1),
            "LATIN2" | "ISO88592" => whatwg(e::ISO_8859_2),
            "LATIN3" | "ISO88593" => whatwg(e::ISO_8859_3),
            "LATIN4" | "ISO88594" => whatwg(e::ISO_8859_4),
            // WHATWG maps ISO 8859-9 to its superset windows-1254 (they differ in C1 controls).
            "LATIN5" | "ISO88599" => whatwg(e::WINDOWS_1254),
            "LATIN6" | "ISO885910" => whatwg(e::ISO_8859_10),
            "LATIN7" | "ISO885913" => whatwg(e::ISO_8859_13),
            "LATIN8" | "ISO885914" => whatwg(e::ISO_8859_14),
            "LATIN9" | "ISO885915" => whatwg(e::ISO_8859_15),
            "LATIN10" | "ISO885916" => whatwg(e::ISO_8859_16),
            "ISO88595" => whatwg(e::ISO_8859_5),
            "ISO88596" => whatwg(e::ISO_8859_6),
            "ISO88597" => whatwg(e::ISO_8859_7),
            "ISO88598" => whatwg(e::ISO_8859_8),
            "WIN866" | "ALT" => whatwg(e::IBM866),
            "WIN874" => whatwg(e::WINDOWS_874),
            "WIN1250" => whatwg(e::WINDOWS_1250),
            "WIN1251" | "WIN" => whatwg(e::WINDOWS_1251),
            "WIN1252" => whatwg(e::WINDOWS_1252),
            "WIN1253" => whatwg(e::WINDOWS_1253),
            "WIN1254" => whatwg(e::WINDOWS_1254),
            "WIN1255" => whatwg(e::WINDOWS_1255),
            "WIN1256" => whatwg(e::WINDOWS_1256),
            "WIN1257" => whatwg(e::WINDOWS_1257),
            "WIN1258" | "ABC" | "TCVN" | "TCVN5712" | "VSCII" => whatwg(e::WINDOWS_1258),
            "KOI8R" | "KOI8" => whatwg(e::KOI8_R),
            "KOI8U" => whatwg(e::KOI8_U),
            "EUCJP" => whatwg(e::EUC_JP),
            "EUCKR" => whatwg(e::EUC_KR),
            // GBK is a superset of GB 2312 in its EUC form, and windows-949 of UHC.
            "EUCCN" | "GBK" | "CP936" => whatwg(e::GBK),
            "UHC" | "CP949" => whatwg(e::EUC_KR),
            "SJIS" | "SHIFTJIS" | "MSKANJI" | "CP932" => whatwg(e::SHIFT_JIS),
            "BIG5" | "CP950" => whatwg(e::BIG5),
            "GB18030" => whatwg(e::GB18030),
            _ => Encoding(Kind::Unsupported),
        }
    }

    /// Whether pgsans can convert text in this encoding in both directions.
    pub fn is_supported(self) -> bool {
        self.0 != Kind::Unsupported
    }

    /// Whether text is UTF-8 on the wire (no conversion at all).
    pub fn is_utf8(self) -> bool {
        self.0 == Kind::Utf8
    }

    /// Decodes text from the server; `None` if the bytes are not valid in this encoding.
    pub fn decode(self, bytes: &[u8]) -> Option<Cow<'_, str>> {
        match self.0 {
            // One pass: UTF-8 validation has its own ASCII fast path.
            Kind::Utf8 | Kind::SqlAscii | Kind::Unsupported => std::str::from_utf8(bytes).ok().map(Cow::Borrowed),
            _ if bytes.is_ascii() => std::str::from_utf8(bytes).ok().map(Cow::Borrowed),
            Kind::Latin1 => Some(Cow::Owned(bytes.iter().map(|&b| b as char).collect())),
            Kind::Whatwg(enc) => enc.decode_without_bom_handling_and_without_replacement(bytes),
        }
    }

    /// Decodes text from the server, replacing what is not valid with U+FFFD: for names and
    /// messages, which must survive whatever the server sends.
    pub fn decode_lossy(self, bytes: &[u8]) -> Cow<'_, str> {
        match self.decode(bytes) {
            Some(s) => s,
            None => match self.0 {
                Kind::Whatwg(enc) => enc.decode_without_bom_handling(bytes).0,
                _ => String::from_utf8_lossy(bytes),
            },
        }
    }

    /// Encodes text for the server. `Err(c)`: the first character this encoding cannot
    /// represent.
    pub fn encode(self, s: &str) -> Result<Cow<'_, [u8]>, char> {
        if s.is_ascii() {
            return Ok(Cow::Borrowed(s.as_bytes()));
        }
        match self.0 {
            Kind::Utf8 | Kind::SqlAscii => Ok(Cow::Borrowed(s.as_bytes())),
            Kind::Latin1 => {
                s.chars().map(|c| u8::try_from(c).map_err(|_| c)).collect::<Result<Vec<u8>, char>>().map(Cow::Owned)
            }
            Kind::Unsupported => Err(s.chars().find(|c| !c.is_ascii()).unwrap_or('\u{fffd}')),
            Kind::Whatwg(enc) => {
                let (bytes, _, unmappable) = enc.encode(s);
                if !unmappable {
                    return Ok(bytes);
                }
                let bad = s.chars().find(|c| enc.encode(c.encode_utf8(&mut [0; 4])).2).unwrap_or('\u{fffd}');
                Err(bad)
            }
        }
    }
}

impl std::fmt::Display for Encoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Kind::Utf8 => f.write_str("UTF8"),
            Kind::SqlAscii => f.write_str("SQL_ASCII"),
            Kind::Latin1 => f.write_str("LATIN1"),
            Kind::Whatwg(enc) => f.write_str(enc.name()),
            Kind::Unsupported => f.write_str("an encoding pgsans cannot convert"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_is_iso_8859_1_byte_for_byte() {
        let e = Encoding::from_name("LATIN1");
        assert_eq!(e.decode(b"caf\xe9\x80").unwrap(), "café\u{80}");
        assert_eq!(e.encode("café\u{80}").unwrap().as_ref(), b"caf\xe9\x80");
        assert_eq!(e.encode("€"), Err('€'));
    }

    #[test]
    fn names_and_aliases() {
        assert!(Encoding::from_name("utf8").is_utf8());
        assert!(Encoding::from_name("UNICODE").is_utf8());
        assert_eq!(Encoding::from_name("iso_8859_1"), Encoding::from_name("LATIN1"));
        let win = Encoding::from_name("WIN1252");
        assert_eq!(win.decode(b"\x80").unwrap(), "€");
        assert_eq!(win.encode("€").unwrap().as_ref(), b"\x80");
        let sjis = Encoding::from_name("SJIS");
        assert_eq!(sjis.encode("日本").unwrap().as_ref(), b"\x93\xfa\x96\x7b");
        assert_eq!(sjis.decode(b"\x93\xfa\x96\x7b").unwrap(), "日本");
        assert_eq!(Encoding::from_name("KOI8R").encode("ж"), Ok(Cow::Owned(vec![0xd6])));
        assert!(!Encoding::from_name("MULE_INTERNAL").is_supported());
    }

    #[test]
    fn invalid_and_unmappable() {
        let utf8 = Encoding::UTF8;
        assert_eq!(utf8.decode(b"\xff"), None);
        assert_eq!(utf8.decode_lossy(b"a\xffb"), "a\u{fffd}b");
        let sjis = Encoding::from_name("SJIS");
        assert_eq!(sjis.decode(b"\x93"), None, "truncated double-byte character");
        assert_eq!(sjis.encode("aé"), Err('é'));
        let unsupported = Encoding::from_name("EUC_TW");
        assert_eq!(unsupported.encode("abc").unwrap().as_ref(), b"abc");
        assert_eq!(unsupported.encode("é"), Err('é'));
    }
}
