//! Built-in types read and written as plain Rust values: network addresses (`inet`, `cidr`,
//! `macaddr`, `macaddr8`), `pg_lsn`, `xid8`, `money`, `bit` / `varbit` and the geometric types.
//! Each is sent in the binary format and read in either format; its `Display` is the server's
//! text for it.

use std::fmt;
// `core::net`: the address types only (no sockets in `core`).
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::oid::*;
use super::{bad_value, fixed, Encoding, FromSql, IsNull, ToSql};
use crate::error::Error;

/// A value of one of these types: its binary and text forms.
pub(crate) trait Simple: Sized + fmt::Display {
    const NAME: &'static str;
    fn accepts(oid: u32) -> bool;
    fn natural() -> u32;
    fn decode(oid: u32, raw: &[u8]) -> Result<Self, Error>;
    fn parse(oid: u32, text: &str) -> Option<Self>;
    fn encode(&self, oid: u32, out: &mut Vec<u8>) -> Result<(), Error>;
}

macro_rules! simple {
    ($($t:ty),*) => {$(
        impl ToSql for $t {
            fn accepts(oid: u32) -> bool {
                <$t as Simple>::accepts(oid)
            }
            fn to_sql(&self, oid: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
                Simple::encode(self, oid, out)?;
                Ok(IsNull::No)
            }
            crate::to_sql_checked!();
            fn natural_type(&self) -> u32 {
                <$t as Simple>::natural()
            }
            fn binary(&self, _: u32) -> bool {
                true
            }
        }

        impl FromSql<'_> for $t {
            fn accepts(oid: u32) -> bool {
                <$t as Simple>::accepts(oid)
            }
            fn from_sql(oid: u32, format: i16, raw: &[u8]) -> Result<Self, Error> {
                if format == 1 {
                    return <$t as Simple>::decode(oid, raw);
                }
                std::str::from_utf8(raw)
                    .ok()
                    .and_then(|s| <$t as Simple>::parse(oid, s))
                    .ok_or_else(|| bad_value(<$t as Simple>::NAME))
            }
            fn from_sql_in(_: Encoding, oid: u32, format: i16, raw: &[u8]) -> Result<Self, Error> {
                Self::from_sql(oid, format, raw)
            }
        }
    )*};
}

simple!(Inet, IpAddr, MacAddr, MacAddr8, PgLsn, Xid8, Money, Bits, Point, Lseg, PgBox, Line, Path, Polygon, Circle);

/// The text of a binary value of one of these types; `None` for other types.
pub(crate) fn render(oid: u32, raw: &[u8]) -> Option<Result<String, Error>> {
    fn show<T: Simple>(oid: u32, raw: &[u8]) -> Result<String, Error> {
        T::decode(oid, raw).map(|v| v.to_string())
    }
    Some(match oid {
        INET => show::<Inet>(oid, raw),
        CIDR => Inet::decode(oid, raw).map(|v| cidr_text(&v)),
        MACADDR => show::<MacAddr>(oid, raw),
        MACADDR8 => show::<MacAddr8>(oid, raw),
        PG_LSN => show::<PgLsn>(oid, raw),
        XID8 => show::<Xid8>(oid, raw),
        // As `lc_monetary = C` writes it: the server's locale is not reported to clients.
        MONEY => show::<Money>(oid, raw),
        BIT | VARBIT => show::<Bits>(oid, raw),
        POINT => show::<Point>(oid, raw),
        LSEG => show::<Lseg>(oid, raw),
        BOX => show::<PgBox>(oid, raw),
        LINE => show::<Line>(oid, raw),
        PATH => show::<Path>(oid, raw),
        POLYGON => show::<Polygon>(oid, raw),
        CIRCLE => show::<Circle>(oid, raw),
        _ => return None,
    })
}

// ----- network addresses ---------------------------------------------------------------

/// `inet` or `cidr`: an address and its prefix length. `inet` shows the prefix only when it
/// is not the whole address (`10.1.2.3`, `10.1.0.0/16`); `cidr` always (`10.1.0.0/16`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Inet {
    pub addr: IpAddr,
    /// The network prefix length: up to 32 for IPv4, 128 for IPv6.
    pub prefix: u8,
}

impl Inet {
    /// A host address (the whole address is the prefix).
    pub fn host(addr: IpAddr) -> Inet {
        Inet { addr, prefix: max_prefix(&addr) }
    }
}

fn max_prefix(addr: &IpAddr) -> u8 {
    if addr.is_ipv4() {
        32
    } else {
        128
    }
}

impl fmt::Display for Inet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix == max_prefix(&self.addr) {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

/// `cidr` prints its prefix always; `Inet`'s `Display` is inet's.
pub(crate) fn cidr_text(v: &Inet) -> String {
    format!("{}/{}", v.addr, v.prefix)
}

fn decode_inet(raw: &[u8]) -> Result<Inet, Error> {
    let bad = || bad_value("inet");
    let [family, bits, _is_cidr, len, addr @ ..] = raw else { return Err(bad()) };
    let addr: IpAddr = match (family, len, addr.len()) {
        (2, 4, 4) => Ipv4Addr::from(<[u8; 4]>::try_from(addr).map_err(|_| bad())?).into(),
        (3, 16, 16) => Ipv6Addr::from(<[u8; 16]>::try_from(addr).map_err(|_| bad())?).into(),
        _ => return Err(bad()),
    };
    if *bits > max_prefix(&addr) {
        return Err(bad());
    }
    Ok(Inet { addr, prefix: *bits })
}

fn encode_inet(v: &Inet, cidr: bool, out: &mut Vec<u8>) -> Result<(), Error> {
    if v.prefix > max_prefix(&v.addr) {
        return Err(crate::UsageError::Conversion(format!("prefix /{} is too long for {}", v.prefix, v.addr)).into());
    }
    match v.addr {
        IpAddr::V4(a) => {
            out.extend_from_slice(&[2, v.prefix, cidr as u8, 4]);
            out.extend_from_slice(&a.octets());
        }
        IpAddr::V6(a) => {
            out.extend_from_slice(&[3, v.prefix, cidr as u8, 16]);
            out.extend_from_slice(&a.octets());
        }
    }
    Ok(())
}

fn parse_inet(text: &str) -> Option<Inet> {
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
        None => (text.parse::<IpAddr>().ok()?, None),
    };
    let prefix = prefix.unwrap_or_else(|| max_prefix(&addr));
    (prefix <= max_prefix(&addr)).then_some(Inet { addr, prefix })
}

impl Simple for Inet {
    const NAME: &'static str = "inet";
    fn accepts(oid: u32) -> bool {
        matches!(oid, INET | CIDR)
    }
    fn natural() -> u32 {
        INET
    }
    fn decode(_: u32, raw: &[u8]) -> Result<Self, Error> {
        decode_inet(raw)
    }
    fn parse(_: u32, text: &str) -> Option<Self> {
        parse_inet(text)
    }
    fn encode(&self, oid: u32, out: &mut Vec<u8>) -> Result<(), Error> {
        encode_inet(self, oid == CIDR, out)
    }
}

/// A host address as `inet` (or `cidr` of the whole address). Reading an `inet` with a shorter
/// prefix into `IpAddr` is an error: read it as [`Inet`].
impl Simple for IpAddr {
    const NAME: &'static str = "inet (a host address)";
    fn accepts(oid: u32) -> bool {
        matches!(oid, INET | CIDR)
    }
    fn natural() -> u32 {
        INET
    }
    fn decode(_: u32, raw: &[u8]) -> Result<Self, Error> {
        let v = decode_inet(raw)?;
        (v.prefix == max_prefix(&v.addr)).then_some(v.addr).ok_or_else(|| bad_value(Self::NAME))
    }
    fn parse(_: u32, text: &str) -> Option<Self> {
        parse_inet(text).filter(|v| v.prefix == max_prefix(&v.addr)).map(|v| v.addr)
    }
    fn encode(&self, oid: u32, out: &mut Vec<u8>) -> Result<(), Error> {
        encode_inet(&Inet::host(*self), oid == CIDR, out)
    }
}

fn hex_bytes<const N: usize>(text: &str) -> Option<[u8; N]> {
    let parts: Vec<&str> = text.split([':', '-', '.']).collect();
    let digits: String = parts.concat();
    if digits.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(digits.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

fn colon_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            f.write_str(":")?;
        }
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

/// `macaddr`: a 6-byte MAC address (`08:00:2b:01:02:03`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        colon_hex(f, &self.0)
    }
}

impl Simple for MacAddr {
    const NAME: &'static str = "macaddr";
    fn accepts(oid: u32) -> bool {
        oid == MACADDR
    }
    fn natural() -> u32 {
        MACADDR
    }
    fn decode(_: u32, raw: &[u8]) -> Result<Self, Error> {
        fixed(raw, "macaddr").map(MacAddr)
    }
    fn parse(_: u32, text: &str) -> Option<Self> {
        hex_bytes(text).map(MacAddr)
    }
    fn encode(&self, _: u32, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&self.0);
        Ok(())
    }
}

/// `macaddr8`: an 8-byte (EUI-64) MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MacAddr8(pub [u8; 8]);

impl fmt::Display for MacAddr8 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        colon_hex(f, &self.0)
    }
}

impl Simple for MacAddr8 {
    const NAME: &'static str = "macaddr8";
    fn accepts(oid: u32) -> bool {
        oid == MACADDR8
    }
    fn natural() -> u32 {
        MACADDR8
    }
    fn decode(_: u32, raw: &[u8]) -> Result<Self, Error> {
        fixed(raw, "macaddr8").map(MacAddr8)
    }
    fn parse(_: u32, text: &str) -> Option<Self> {
        hex_bytes(text).map(MacAddr8)
    }
    fn encode(&self, _: u32, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&self.0);
        Ok(())
    }
}

// ----- pg_lsn, xid8, money -------------------------------------------------------------

/// `pg_lsn`: a position in the write-ahead log (`16/B374D848`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PgLsn(pub u64);

impl fmt::Display for PgLsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

impl std::str::FromStr for PgLsn {
    type Err = crate::UsageError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parse = || {
            let (hi, lo) = s.split_once('/')?;
            let (hi, lo) = (u32::from_str_radix(hi, 16).ok()?, u32::from_str_radix(lo, 16).ok()?);
            Some(PgLsn((u64::from(hi) << 32) | u64::from(lo)))
        };
        parse().ok_or_else(|| crate::UsageError::InvalidArgument(format!("{s:?} is not an LSN")))
    }
}

impl Simple for PgLsn {
    const NAME: &'static str = "pg_lsn";
    fn accepts(oid: u32) -> bool {
        oid == PG_LSN
    }
    fn natural() -> u32 {
        PG_LSN
    }
    fn decode(_: u32, raw: &[u8]) -> Result<Self, Error> {
        Ok(PgLsn(u64::from_be_bytes(fixed(raw, "pg_lsn")?)))
    }
    fn parse(_: u32, text: &str) -> Option<Self> {
        text.parse().ok()
    }
    fn encode(&self, _: u32, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&self.0.to_be_bytes());
        Ok(())
    }
}

/// `xid8`: a 64-bit transaction ID (epoch and xid).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Xid8(pub u64);

impl fmt::Display for Xid8 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Simple for Xid8 {
    const NAME: &'static str = "xid8";
    fn accepts(oid: u32) -> bool {
        oid == XID8
    }
    fn natural() -> u32 {
        XID8
    }
    fn decode(_: u32, raw: &[u8]) -> Result<Self, Error> {
        Ok(Xid8(u64::from_be_bytes(fixed(raw, "xid8")?)))
    }
    fn parse(_: u32, text: &str) -> Option<Self> {
        text.parse().ok().map(Xid8)
    }
    fn encode(&self, _: u32, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&self.0.to_be_bytes());
        Ok(())
    }
}

/// `money`: an amount in the currency's smallest unit (cents with `lc_monetary` `C` or
/// `en_US`: `Money(123456)` is `$1,234.56`). Its text depends on the server's `lc_monetary`;
/// pgsans reads the text of locales that write `-$1,234.56` or `($1,234.56)` with two
/// fractional digits, and the binary format (the integer) in every locale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Money(pub i64);

impl fmt::Display for Money {
    /// `lc_monetary = C`'s form: `$1,234.56`, `-$0.01`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let abs = self.0.unsigned_abs();
        let units = (abs / 100).to_string();
        let mut grouped = String::new();
        for (i, c) in units.chars().enumerate() {
            if i > 0 && (units.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(c);
        }
        write!(f, "{}${grouped}.{:02}", if self.0 < 0 { "-" } else { "" }, abs % 100)
    }
}

impl Simple for Money {
    const NAME: &'static str = "money";
    fn accepts(oid: u32) -> bool {
        oid == MONEY
    }
    fn natural() -> u32 {
        MONEY
    }
    fn decode(_: u32, raw: &[u8]) -> Result<Self, Error> {
        Ok(Money(i64::from_be_bytes(fixed(raw, "money")?)))
    }
    fn parse(_: u32, text: &str) -> Option<Self> {
        let negative = text.contains('-') || text.starts_with('(');
        let (units, cents) = text.rsplit_once('.')?;
        let cents: String = cents.chars().filter(char::is_ascii_digit).collect();
        if cents.len() != 2 {
            return None;
        }
        let units: String = units.chars().filter(char::is_ascii_digit).collect();
        let value = units.parse::<i64>().ok()?.checked_mul(100)?.checked_add(cents.parse::<i64>().ok()?)?;
        Some(Money(if negative { -value } else { value }))
    }
    fn encode(&self, _: u32, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&self.0.to_be_bytes());
        Ok(())
    }
}

/// `bit(n)` / `bit varying(n)`: a string of bits, most significant first.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Bits {
    len: usize,
    bytes: Vec<u8>,
}

impl Bits {
    /// Bits from booleans.
    pub fn from_bools(bits: impl IntoIterator<Item = bool>) -> Bits {
        let mut out = Bits { len: 0, bytes: Vec::new() };
        for b in bits {
            out.push(b);
        }
        out
    }
    pub fn push(&mut self, bit: bool) {
        if self.len.is_multiple_of(8) {
            self.bytes.push(0);
        }
        if bit {
            if let Some(last) = self.bytes.last_mut() {
                *last |= 0x80 >> (self.len % 8);
            }
        }
        self.len += 1;
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Bit `i`, counting from the first (most significant).
    pub fn get(&self, i: usize) -> Option<bool> {
        (i < self.len).then(|| self.bytes[i / 8] & (0x80 >> (i % 8)) != 0)
    }
    pub fn iter(&self) -> impl Iterator<Item = bool> + '_ {
        (0..self.len).filter_map(|i| self.get(i))
    }
}

impl fmt::Display for Bits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.iter().try_for_each(|b| f.write_str(if b { "1" } else { "0" }))
    }
}

impl Simple for Bits {
    const NAME: &'static str = "bit";
    fn accepts(oid: u32) -> bool {
        matches!(oid, BIT | VARBIT)
    }
    fn natural() -> u32 {
        VARBIT
    }
    fn decode(_: u32, raw: &[u8]) -> Result<Self, Error> {
        let bad = || bad_value("bit");
        let len = usize::try_from(i32::from_be_bytes(raw.get(..4).ok_or_else(bad)?.try_into().map_err(|_| bad())?))
            .map_err(|_| bad())?;
        let bytes = &raw[4..];
        if bytes.len() != len.div_ceil(8) {
            return Err(bad());
        }
        Ok(Bits { len, bytes: bytes.to_vec() })
    }
    fn parse(_: u32, text: &str) -> Option<Self> {
        text.bytes()
            .map(|c| match c {
                b'0' => Some(false),
                b'1' => Some(true),
                _ => None,
            })
            .collect::<Option<Vec<bool>>>()
            .map(Bits::from_bools)
    }
    fn encode(&self, _: u32, out: &mut Vec<u8>) -> Result<(), Error> {
        let len = i32::try_from(self.len).map_err(|_| crate::UsageError::MessageTooLarge)?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&self.bytes);
        Ok(())
    }
}

// ----- geometric types -------------------------------------------------------------------

fn f8(f: &mut fmt::Formatter<'_>, v: f64) -> fmt::Result {
    let mut s = String::new();
    super::text::float(&mut s, v, 15);
    f.write_str(&s)
}

/// `point`: `(x,y)`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(")?;
        f8(f, self.x)?;
        f.write_str(",")?;
        f8(f, self.y)?;
        f.write_str(")")
    }
}

/// Reads floats out of geometric text, ignoring the punctuation around them.
fn floats(text: &str) -> Option<Vec<f64>> {
    text.split(['(', ')', '[', ']', '{', '}', '<', '>', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<f64>().ok())
        .collect()
}

fn read_f64s<const N: usize>(raw: &[u8], what: &str) -> Result<[f64; N], Error> {
    if raw.len() != N * 8 {
        return Err(bad_value(what));
    }
    let mut out = [0f64; N];
    for (i, v) in out.iter_mut().enumerate() {
        *v = f64::from_be_bytes(raw[i * 8..i * 8 + 8].try_into().map_err(|_| bad_value(what))?);
    }
    Ok(out)
}

fn write_f64s(values: &[f64], out: &mut Vec<u8>) {
    for v in values {
        out.extend_from_slice(&v.to_be_bytes());
    }
}

/// Points out of `count`-prefixed binary data (paths and polygons).
fn read_points(raw: &[u8], what: &str) -> Result<Vec<Point>, Error> {
    let n = usize::try_from(i32::from_be_bytes(
        raw.get(..4).ok_or_else(|| bad_value(what))?.try_into().unwrap_or_default(),
    ))
    .map_err(|_| bad_value(what))?;
    let body = &raw[4..];
    if body.len() != n.checked_mul(16).ok_or_else(|| bad_value(what))? {
        return Err(bad_value(what));
    }
    Ok(body
        .chunks_exact(16)
        .map(|c| Point {
            x: f64::from_be_bytes(c[..8].try_into().unwrap_or_default()),
            y: f64::from_be_bytes(c[8..].try_into().unwrap_or_default()),
        })
        .collect())
}

fn write_points(points: &[Point], out: &mut Vec<u8>) -> Result<(), Error> {
    let n = i32::try_from(points.len()).map_err(|_| crate::UsageError::MessageTooLarge)?;
    out.extend_from_slice(&n.to_be_bytes());
    for p in points {
        write_f64s(&[p.x, p.y], out);
    }
    Ok(())
}

fn pairs(values: &[f64]) -> Option<Vec<Point>> {
    values.len().is_multiple_of(2).then(|| values.chunks_exact(2).map(|c| Point { x: c[0], y: c[1] }).collect())
}

fn join_points(f: &mut fmt::Formatter<'_>, points: &[Point]) -> fmt::Result {
    for (i, p) in points.iter().enumerate() {
        if i > 0 {
            f.write_str(",")?;
        }
        write!(f, "{p}")?;
    }
    Ok(())
}

impl Simple for Point {
    const NAME: &'static str = "point";
    fn accepts(oid: u32) -> bool {
        oid == POINT
    }
    fn natural() -> u32 {
        POINT
    }
    fn decode(_: u32, raw: &[u8]) -> Result<Self, Error> {
        let [x, y] = read_f64s(raw, "point")?;
        Ok(Point { x, y })
    }
    fn parse(_: u32, text: &str) -> Option<Self> {
        match floats(text)?.as_slice() {
            [x, y] => Some(Point { x: *x, y: *y }),
            _ => None,
        }
    }
    fn encode(&self, _: u32, out: &mut Vec<u8>) -> Result<(), Error> {
        write_f64s(&[self.x, self.y], out);
        Ok(())
    }
}

/// `lseg`: a line segment `[(x1,y1),(x2,y2)]`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Lseg {
    pub start: Point,
    pub end: Point,
}

impl fmt::Display for Lseg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{},{}]", self.start, self.end)
    }
}

impl Simple for Lseg {
    const NAME: &'static str = "lseg";
    fn accepts(oid: u32) -> bool {
        oid == LSEG
    }
    fn natural() -> u32 {
        LSEG
    }
    fn decode(_: u32, raw: &[u8]) -> Result<Self, Error> {
        let [a, b, c, d] = read_f64s(raw, "lseg")?;
        Ok(Lseg { start: Point { x: a, y: b }, end: Point { x: c, y: d } })
    }
    fn parse(_: u32, text: &str) -> Option<Self> {
        match floats(text)?.as_slice() {
            [a, b, c, d] => Some(Lseg { start: Point { x: *a, y: *b }, end: Point { x: *c, y: *d } }),
            _ => None,
        }
    }
    fn encode(&self, _: u32, out: &mut Vec<u8>) -> Result<(), Error> {
        write_f64s(&[self.start.x, self.start.y, self.end.x, self.end.y], out);
        Ok(())
    }
}

/// `box`: two opposite corners, upper right first as the server keeps them
/// `(x1,y1),(x2,y2)`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PgBox {
    pub high: Point,
    pub low: Point,
}

impl fmt::Display for PgBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", self.high, self.low)
    }
}

impl Simple for PgBox {
    const NAME: &'static str = "box";
    fn accepts(oid: u32) -> bool {
        oid == BOX
    }
    fn natural() -> u32 {
        BOX
    }
    fn decode(_: u32, raw: &[u8]) -> Result<Self, Error> {
        let [a, b, c, d] = read_f64s(raw, "box")?;
        Ok(PgBox { high: Point { x: a, y: b }, low: Point { x: c, y: d } })
    }
    fn parse(_: u32, text: &str) -> Option<Self> {
        match floats(text)?.as_slice() {
            [a, b, c, d] => Some(PgBox { high: Point { x: *a, y: *b }, low: Point { x: *c, y: *d } }),
            _ => None,
        }
    }
    /// The server puts the corners in order (upper right, lower left) itself.
    fn encode(&self, _: u32, out: &mut Vec<u8>) -> Result<(), Error> {
        let (x1, x2) = (self.high.x.max(self.low.x), self.high.x.min(self.low.x));
        let (y1, y2) = (self.high.y.max(self.low.y), self.high.y.min(self.low.y));
        write_f64s(&[x1, y1, x2, y2], out);
        Ok(())
    }
}

/// `line`: the infinite line `a·x + b·y + c = 0`, `{a,b,c}`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Line {
    pub a: f64,
    pub b: f64,
    pub c: f64,
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        f8(f, self.a)?;
        f.write_str(",")?;
        f8(f, self.b)?;
        f.write_str(",")?;
        f8(f, self.c)?;
        f.write_str("}")
    }
}

impl Simple for Line {
    const NAME: &'static str = "line";
    fn accepts(oid: u32) -> bool {
        oid == LINE
    }
    fn natural() -> u32 {
        LINE
    }
    fn decode(_: u32, raw: &[u8]) -> Result<Self, Error> {
        let [a, b, c] = read_f64s(raw, "line")?;
        Ok(Line { a, b, c })
    }
    fn parse(_: u32, text: &str) -> Option<Self> {
        match floats(text)?.as_slice() {
            [a, b, c] if text.trim_start().starts_with('{') => Some(Line { a: *a, b: *b, c: *c }),
            _ => None,
        }
    }
    fn encode(&self, _: u32, out: &mut Vec<u8>) -> Result<(), Error> {
        write_f64s(&[self.a, self.b, self.c], out);
        Ok(())
    }
}

/// `path`: points, open `[(…),(…)]` or closed `((…),(…))`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Path {
    pub closed: bool,
    pub points: Vec<Point>,
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.closed { "(" } else { "[" })?;
        join_points(f, &self.points)?;
        f.write_str(if self.closed { ")" } else { "]" })
    }
}

impl Simple for Path {
    const NAME: &'static str = "path";
    fn accepts(oid: u32) -> bool {
        oid == PATH
    }
    fn natural() -> u32 {
        PATH
    }
    fn decode(_: u32, raw: &[u8]) -> Result<Self, Error> {
        let (&closed, rest) = raw.split_first().ok_or_else(|| bad_value("path"))?;
        Ok(Path { closed: closed != 0, points: read_points(rest, "path")? })
    }
    fn parse(_: u32, text: &str) -> Option<Self> {
        let closed = !text.trim_start().starts_with('[');
        Some(Path { closed, points: pairs(&floats(text)?)? })
    }
    fn encode(&self, _: u32, out: &mut Vec<u8>) -> Result<(), Error> {
        out.push(self.closed as u8);
        write_points(&self.points, out)
    }
}

/// `polygon`: its vertices `((…),(…))`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Polygon {
    pub points: Vec<Point>,
}

impl fmt::Display for Polygon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(")?;
        join_points(f, &self.points)?;
        f.write_str(")")
    }
}

impl Simple for Polygon {
    const NAME: &'static str = "polygon";
    fn accepts(oid: u32) -> bool {
        oid == POLYGON
    }
    fn natural() -> u32 {
        POLYGON
    }
    fn decode(_: u32, raw: &[u8]) -> Result<Self, Error> {
        Ok(Polygon { points: read_points(raw, "polygon")? })
    }
    fn parse(_: u32, text: &str) -> Option<Self> {
        Some(Polygon { points: pairs(&floats(text)?)? })
    }
    fn encode(&self, _: u32, out: &mut Vec<u8>) -> Result<(), Error> {
        write_points(&self.points, out)
    }
}

/// `circle`: `<(x,y),r>`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Circle {
    pub center: Point,
    pub radius: f64,
}

impl fmt::Display for Circle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{},", self.center)?;
        f8(f, self.radius)?;
        f.write_str(">")
    }
}

impl Simple for Circle {
    const NAME: &'static str = "circle";
    fn accepts(oid: u32) -> bool {
        oid == CIRCLE
    }
    fn natural() -> u32 {
        CIRCLE
    }
    fn decode(_: u32, raw: &[u8]) -> Result<Self, Error> {
        let [x, y, r] = read_f64s(raw, "circle")?;
        Ok(Circle { center: Point { x, y }, radius: r })
    }
    fn parse(_: u32, text: &str) -> Option<Self> {
        match floats(text)?.as_slice() {
            [x, y, r] => Some(Circle { center: Point { x: *x, y: *y }, radius: *r }),
            _ => None,
        }
    }
    fn encode(&self, _: u32, out: &mut Vec<u8>) -> Result<(), Error> {
        write_f64s(&[self.center.x, self.center.y, self.radius], out);
        Ok(())
    }
}
