//! Arrays: `Vec<T>` for one-dimensional arrays that start at 1 (the common case), and
//! [`Array<T>`] for any shape — several dimensions, any lower bounds — so nothing the server
//! sends is lost. Binary format for element types pgsans knows, and a text-format parser for
//! the rest (e.g. `numeric[]`).

use super::oid::*;
use super::{bad_value, Encoding, FromSql, IsNull, ToSql};
use crate::error::{Error, UsageError};

const PAIRS: &[(u32, u32)] = &[
    (BOOL_ARRAY, BOOL),
    (BYTEA_ARRAY, BYTEA),
    (CHAR_ARRAY, CHAR),
    (NAME_ARRAY, NAME),
    (INT2_ARRAY, INT2),
    (INT4_ARRAY, INT4),
    (TEXT_ARRAY, TEXT),
    (BPCHAR_ARRAY, BPCHAR),
    (VARCHAR_ARRAY, VARCHAR),
    (INT8_ARRAY, INT8),
    (FLOAT4_ARRAY, FLOAT4),
    (FLOAT8_ARRAY, FLOAT8),
    (OID_ARRAY, OID),
    (TIMESTAMP_ARRAY, TIMESTAMP),
    (DATE_ARRAY, DATE),
    (TIME_ARRAY, TIME),
    (TIMESTAMPTZ_ARRAY, TIMESTAMPTZ),
    (INTERVAL_ARRAY, INTERVAL),
    (NUMERIC_ARRAY, NUMERIC),
    (JSON_ARRAY, JSON),
    (UUID_ARRAY, UUID),
    (JSONB_ARRAY, JSONB),
    (INET_ARRAY, INET),
    (CIDR_ARRAY, CIDR),
    (MACADDR_ARRAY, MACADDR),
    (MACADDR8_ARRAY, MACADDR8),
    (PG_LSN_ARRAY, PG_LSN),
    (XID8_ARRAY, XID8),
    (MONEY_ARRAY, MONEY),
    (BIT_ARRAY, BIT),
    (VARBIT_ARRAY, VARBIT),
    (POINT_ARRAY, POINT),
    (LSEG_ARRAY, LSEG),
    (PATH_ARRAY, PATH),
    (POLYGON_ARRAY, POLYGON),
    (LINE_ARRAY, LINE),
    (CIRCLE_ARRAY, CIRCLE),
];

/// The first OID of a user-defined type: a `T` that accepts it reads user-defined types.
const FIRST_USER_OID: u32 = super::derive_support::FIRST_NORMAL_OBJECT_ID;

/// Whether `oid` may be an array of a user-defined type.
fn user_array(oid: u32) -> bool {
    super::derive_support::user_defined(oid)
}

/// The element type of an array type pgsans knows.
pub fn element_of(array: u32) -> Option<u32> {
    PAIRS.iter().find(|(a, _)| *a == array).map(|(_, e)| *e)
}

/// The array type of an element type pgsans knows.
pub fn array_of(element: u32) -> Option<u32> {
    PAIRS.iter().find(|(_, e)| *e == element).map(|(a, _)| *a)
}

/// One dimension of an array: its length and the index of its first element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArrayDimension {
    pub len: i32,
    pub lower_bound: i32,
}

/// An array of any shape: its dimensions (outermost first) and its elements in row-major
/// order. PostgreSQL arrays may start at any index (`'[0:2]={1,2,3}'`) and have several
/// dimensions; `Vec<T>` refuses those rather than lose the bounds, this type keeps them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Array<T> {
    dims: Vec<ArrayDimension>,
    elements: Vec<T>,
}

impl<T> Array<T> {
    /// An array with the given dimensions; their lengths must multiply to the element count.
    /// An empty array has no dimensions.
    pub fn from_parts(dims: Vec<ArrayDimension>, elements: Vec<T>) -> Result<Self, UsageError> {
        let mut count: i64 = if dims.is_empty() { 0 } else { 1 };
        for d in &dims {
            if d.len < 0 || d.lower_bound.checked_add(d.len).is_none() {
                return Err(UsageError::InvalidArgument(format!("invalid array dimension {d:?}")));
            }
            count = count.saturating_mul(d.len.into());
        }
        if count != elements.len() as i64 || dims.len() > 6 {
            return Err(UsageError::InvalidArgument(format!(
                "array dimensions {dims:?} do not hold {} elements (at most 6 dimensions)",
                elements.len()
            )));
        }
        Ok(Array { dims, elements })
    }

    /// A one-dimensional array starting at 1.
    pub fn from_vec(elements: Vec<T>) -> Self {
        let dims = if elements.is_empty() {
            Vec::new()
        } else {
            vec![ArrayDimension { len: elements.len() as i32, lower_bound: 1 }]
        };
        Array { dims, elements }
    }

    pub fn dimensions(&self) -> &[ArrayDimension] {
        &self.dims
    }

    /// The elements in row-major order.
    pub fn elements(&self) -> &[T] {
        &self.elements
    }

    pub fn into_elements(self) -> Vec<T> {
        self.elements
    }
}

/// Where each element's bytes are in an array value (`None` for NULL).
type ElementRanges = Vec<Option<std::ops::Range<usize>>>;

/// The binary array header and elements: `(dims, element OID, element byte ranges)`.
pub(crate) fn parse_binary(raw: &[u8]) -> Result<(Vec<ArrayDimension>, u32, ElementRanges), Error> {
    let bad = || bad_value("array");
    let mut r = crate::wire::codec::Reader::new(raw, "array");
    let ndim = r.i32().map_err(|_| bad())?;
    let _has_null = r.i32().map_err(|_| bad())?;
    let elem_oid = r.u32().map_err(|_| bad())?;
    if !(0..=6).contains(&ndim) {
        return Err(bad());
    }
    let mut dims = Vec::with_capacity(ndim as usize);
    let mut count: usize = if ndim == 0 { 0 } else { 1 };
    for _ in 0..ndim {
        let len = r.i32().map_err(|_| bad())?;
        let lower_bound = r.i32().map_err(|_| bad())?;
        if len < 0 {
            return Err(bad());
        }
        count = count.checked_mul(len as usize).filter(|&c| c <= raw.len() / 4).ok_or_else(bad)?;
        dims.push(ArrayDimension { len, lower_bound });
    }
    let mut ranges = Vec::with_capacity(count);
    for _ in 0..count {
        let len = r.i32().map_err(|_| bad())?;
        if len < 0 {
            ranges.push(None);
        } else {
            let at = raw.len() - r.buf.len();
            r.bytes(len as usize).map_err(|_| bad())?;
            ranges.push(Some(at..at + len as usize));
        }
    }
    r.finish().map_err(|_| bad())?;
    Ok((dims, elem_oid, ranges))
}

impl<'a, T: FromSql<'a>> FromSql<'a> for Array<T> {
    /// Arrays of the built-in types pgsans knows, and arrays of user-defined types (`mood[]`)
    /// when `T` reads user-defined types (a derived enum or composite).
    fn accepts(oid: u32) -> bool {
        element_of(oid).is_some_and(T::accepts) || user_array(oid) && T::accepts(FIRST_USER_OID)
    }
    fn accepts_format(oid: u32, format: i16) -> bool {
        element_of(oid).is_some_and(|e| T::accepts_format(e, format))
            || user_array(oid) && T::accepts_format(FIRST_USER_OID, format)
    }
    fn from_sql(oid: u32, format: i16, raw: &'a [u8]) -> Result<Self, Error> {
        Self::from_sql_in(Encoding::UTF8, oid, format, raw)
    }
    fn from_sql_in(encoding: Encoding, oid: u32, format: i16, raw: &'a [u8]) -> Result<Self, Error> {
        // An array of a type pgsans does not know (`mood[]`, a composite's field in text): in
        // binary its element type is in the value; in text its elements are text of unknown
        // type.
        let elem = element_of(oid)
            .or((oid == UNKNOWN || user_array(oid)).then_some(UNKNOWN))
            .ok_or_else(|| bad_value("array"))?;
        let (dims, elem, ranges) =
            if format == 0 { parse_text(raw).map(|(d, r)| (d, elem, r))? } else { parse_binary(raw)? };
        // In binary the value names its element type: one `T` cannot read (an array of records
        // read as strings, a header that disagrees with the column) is refused, never decoded
        // into garbage.
        if format == 1 && !ranges.is_empty() && !T::accepts_format(elem, 1) {
            return Err(UsageError::WrongType {
                column: String::new(),
                rust: std::any::type_name::<T>(),
                pg: super::type_name(elem),
            }
            .into());
        }
        let elements = ranges
            .into_iter()
            .map(|r| T::from_sql_nullable_in(encoding, elem, format, r.map(|r| &raw[r])))
            .collect::<Result<Vec<T>, Error>>()?;
        Ok(Array { dims, elements })
    }
}

/// A one-dimensional array starting at 1 (or an empty one); anything else is a conversion
/// error rather than a silent loss of the bounds: read it as [`Array`].
impl<'a, T: FromSql<'a>> FromSql<'a> for Vec<T> {
    fn accepts(oid: u32) -> bool {
        Array::<T>::accepts(oid)
    }
    fn accepts_format(oid: u32, format: i16) -> bool {
        Array::<T>::accepts_format(oid, format)
    }
    fn from_sql(oid: u32, format: i16, raw: &'a [u8]) -> Result<Self, Error> {
        Self::from_sql_in(Encoding::UTF8, oid, format, raw)
    }
    fn from_sql_in(encoding: Encoding, oid: u32, format: i16, raw: &'a [u8]) -> Result<Self, Error> {
        let Array { dims, elements } = Array::from_sql_in(encoding, oid, format, raw)?;
        match dims.as_slice() {
            [] => Ok(elements),
            [d] if d.lower_bound == 1 => Ok(elements),
            [d] => Err(UsageError::Conversion(format!(
                "the array starts at lower bound {} ([{}:{}]); a Vec would lose that: read it as pgsans::types::Array",
                d.lower_bound,
                d.lower_bound,
                d.lower_bound + d.len - 1
            ))
            .into()),
            many => Err(UsageError::Conversion(format!(
                "the array has {} dimensions; a Vec holds one: read it as pgsans::types::Array",
                many.len()
            ))
            .into()),
        }
    }
}

fn encode_array<T: ToSql>(dims: &[ArrayDimension], items: &[T], oid: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
    // Type 0: an array whose elements are all strings or NULLs, sent as text for the server to
    // infer (`{"a","b"}` is as good an int4[] as a text[]).
    // An array of a user-defined type goes as text of unknown element type, each element
    // written as text (enum labels, composite records) for the server to parse.
    let elem = if oid == 0 || user_array(oid) && element_of(oid).is_none() {
        0
    } else {
        element_of(oid).ok_or_else(|| bad_value("array type"))?
    };
    if !binary_elements(items, oid) {
        return encode_text_array(dims, items, elem, out);
    }
    out.extend_from_slice(&(dims.len() as i32).to_be_bytes());
    let has_null_at = out.len();
    out.extend_from_slice(&0i32.to_be_bytes());
    out.extend_from_slice(&elem.to_be_bytes());
    for d in dims {
        out.extend_from_slice(&d.len.to_be_bytes());
        out.extend_from_slice(&d.lower_bound.to_be_bytes());
    }
    let mut has_null = false;
    for item in items {
        let len_at = out.len();
        out.extend_from_slice(&[0; 4]);
        match item.encode(elem, out)? {
            IsNull::Yes => {
                has_null = true;
                out[len_at..len_at + 4].copy_from_slice(&(-1i32).to_be_bytes());
            }
            IsNull::No => {
                let len = i32::try_from(out.len() - len_at - 4).map_err(|_| UsageError::MessageTooLarge)?;
                out[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
            }
        }
    }
    if has_null {
        out[has_null_at..has_null_at + 4].copy_from_slice(&1i32.to_be_bytes());
    }
    Ok(IsNull::No)
}

/// `[0:1]={"a",NULL}`: every element quoted and escaped, bounds written when they are not 1.
fn encode_text_array<T: ToSql>(
    dims: &[ArrayDimension],
    items: &[T],
    elem: u32,
    out: &mut Vec<u8>,
) -> Result<IsNull, Error> {
    if dims.iter().any(|d| d.lower_bound != 1) {
        for d in dims {
            out.extend_from_slice(format!("[{}:{}]", d.lower_bound, d.lower_bound + d.len - 1).as_bytes());
        }
        out.push(b'=');
    }
    if dims.is_empty() {
        out.extend_from_slice(b"{}");
        return Ok(IsNull::No);
    }
    let mut scratch = Vec::new();
    // strides[k]: how many elements one step of dimension k spans.
    let strides: Vec<usize> = (0..dims.len()).map(|k| dims[k + 1..].iter().map(|d| d.len as usize).product()).collect();
    for (i, item) in items.iter().enumerate() {
        // Open the braces of every dimension that starts a new row at this element.
        let opens = strides.iter().filter(|&&s| i % s == 0 && i > 0).count();
        if i == 0 {
            out.extend(std::iter::repeat_n(b'{', dims.len()));
        } else {
            let closes = opens;
            out.extend(std::iter::repeat_n(b'}', closes - 1));
            out.push(b',');
            out.extend(std::iter::repeat_n(b'{', closes - 1));
        }
        scratch.clear();
        match item.encode(elem, &mut scratch)? {
            IsNull::Yes => out.extend_from_slice(b"NULL"),
            IsNull::No => {
                out.push(b'"');
                for &b in &scratch {
                    if b == b'"' || b == b'\\' {
                        out.push(b'\\');
                    }
                    out.push(b);
                }
                out.push(b'"');
            }
        }
    }
    out.extend(std::iter::repeat_n(b'}', dims.len()));
    Ok(IsNull::No)
}

/// `Vec<T>` and `&[T]` are one-dimensional arrays starting at 1.
macro_rules! array_to_sql {
    ($($ty:ty),*) => {$(
        impl<T: ToSql> ToSql for $ty {
            fn accepts(oid: u32) -> bool {
                oid == 0 || element_of(oid).is_some_and(T::accepts) || user_array(oid) && T::accepts(FIRST_USER_OID)
            }
            fn to_sql(&self, oid: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
                let dims = if self.is_empty() {
                    Vec::new()
                } else {
                    let len = i32::try_from(self.len()).map_err(|_| UsageError::MessageTooLarge)?;
                    vec![ArrayDimension { len, lower_bound: 1 }]
                };
                encode_array(&dims, self, oid, out)
            }
            crate::to_sql_checked!();
            fn natural_type(&self) -> u32 {
                natural_array_type(self.iter())
            }
            fn binary(&self, oid: u32) -> bool {
                binary_elements(self, oid)
            }
        }
    )*};
}

array_to_sql!(Vec<T>, &[T]);

/// Whether an array of `items` goes in the binary format for array type `oid`: when its
/// elements do (an `i64` for `numeric[]` or a string for `int4[]` goes as text); an empty
/// array as pgsans asks for the type's values.
fn binary_elements<T: ToSql>(items: &[T], oid: u32) -> bool {
    match element_of(oid) {
        Some(elem) if !items.is_empty() => items.iter().all(|i| i.binary(elem)),
        _ => super::binary_supported(oid),
    }
}

fn natural_array_type<'t, T: ToSql + 't>(items: impl Iterator<Item = &'t T>) -> u32 {
    items.map(|v| v.natural_type()).find(|t| *t != 0).and_then(array_of).unwrap_or(0)
}

impl<T: ToSql> ToSql for Array<T> {
    fn accepts(oid: u32) -> bool {
        oid == 0 || element_of(oid).is_some_and(T::accepts) || user_array(oid) && T::accepts(FIRST_USER_OID)
    }
    fn to_sql(&self, oid: u32, out: &mut Vec<u8>) -> Result<IsNull, Error> {
        encode_array(&self.dims, &self.elements, oid, out)
    }
    crate::to_sql_checked!();
    fn natural_type(&self) -> u32 {
        natural_array_type(self.elements.iter())
    }
    fn binary(&self, oid: u32) -> bool {
        binary_elements(&self.elements, oid)
    }
}

/// Parses an array's text form — `{1,2}`, `{{1,2},{3,4}}`, `[0:2]={1,2,3}`, `{"a b",NULL}` —
/// into its dimensions and the byte ranges of its elements in `raw` (`None` for NULL).
/// Elements are borrowed, so a quoted element with backslash escapes is refused (a typed
/// error): pgsans asks for such arrays in the binary format, which has no escapes.
fn parse_text(raw: &[u8]) -> Result<(Vec<ArrayDimension>, ElementRanges), Error> {
    let bad = || bad_value("array text");
    let mut i = 0;
    // Explicit bounds: [lo:hi][lo:hi]=
    let mut bounds: Vec<(i32, i32)> = Vec::new();
    while raw.get(i) == Some(&b'[') {
        let close = raw[i..].iter().position(|&b| b == b']').ok_or_else(bad)? + i;
        let inner = std::str::from_utf8(&raw[i + 1..close]).map_err(|_| bad())?;
        let (lo, hi) = inner.split_once(':').ok_or_else(bad)?;
        bounds.push((lo.parse().map_err(|_| bad())?, hi.parse().map_err(|_| bad())?));
        i = close + 1;
    }
    if !bounds.is_empty() {
        if raw.get(i) != Some(&b'=') {
            return Err(bad());
        }
        i += 1;
    }
    if raw.get(i) != Some(&b'{') {
        return Err(bad());
    }
    let mut lens: Vec<Option<usize>> = Vec::new();
    let mut counts: Vec<usize> = Vec::new();
    let mut elem_depth: Option<usize> = None;
    let mut out = Vec::new();
    loop {
        match raw.get(i) {
            Some(b'{') => {
                if let Some(c) = counts.last_mut() {
                    *c += 1;
                }
                counts.push(0);
                if lens.len() < counts.len() {
                    lens.push(None);
                }
                i += 1;
            }
            Some(b'}') => {
                let n = counts.pop().ok_or_else(bad)?;
                let depth = counts.len();
                match lens[depth] {
                    None => lens[depth] = Some(n),
                    Some(l) if l == n => {}
                    Some(_) => return Err(bad()), // ragged
                }
                i += 1;
                if counts.is_empty() {
                    break;
                }
            }
            Some(b',') => i += 1,
            Some(_) => {
                let depth = counts.len();
                if *elem_depth.get_or_insert(depth) != depth || depth == 0 {
                    return Err(bad());
                }
                *counts.last_mut().ok_or_else(bad)? += 1;
                if raw[i] == b'"' {
                    let start = i + 1;
                    let mut j = start;
                    while j < raw.len() && raw[j] != b'"' {
                        if raw[j] == b'\\' {
                            return Err(UsageError::Conversion(
                                "an array in the text format with escaped elements (of records, or of strings \
                                 with quotes) cannot be read in place: ask for binary results \
                                 (Config::binary_results) or cast it to text[]"
                                    .into(),
                            )
                            .into());
                        }
                        j += 1;
                    }
                    if j >= raw.len() {
                        return Err(bad());
                    }
                    out.push(Some(start..j));
                    i = j + 1;
                } else {
                    let start = i;
                    while i < raw.len() && !matches!(raw[i], b',' | b'}') {
                        i += 1;
                    }
                    let v = &raw[start..i];
                    out.push(if v.eq_ignore_ascii_case(b"NULL") { None } else { Some(start..i) });
                }
            }
            None => return Err(bad()),
        }
    }
    if i != raw.len() {
        return Err(bad());
    }
    let ndim = elem_depth.unwrap_or(0);
    if out.is_empty() {
        return Ok((Vec::new(), out));
    }
    let mut dims = Vec::with_capacity(ndim);
    for (k, len) in lens.iter().take(ndim).enumerate() {
        let len = len.ok_or_else(bad)?;
        let lower_bound = match bounds.get(k) {
            Some(&(lo, hi)) if i64::from(hi) - i64::from(lo) + 1 == len as i64 => lo,
            Some(_) => return Err(bad()),
            None if bounds.is_empty() => 1,
            None => return Err(bad()),
        };
        dims.push(ArrayDimension { len: len as i32, lower_bound });
    }
    Ok((dims, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binary_array_of_a_type_the_element_cannot_read_is_refused() {
        // int4[] whose header says its elements are text: not read as numbers.
        let mut raw = Vec::new();
        for v in [1i32, 0, TEXT as i32, 1, 1, 1] {
            raw.extend_from_slice(&v.to_be_bytes());
        }
        raw.extend_from_slice(b"x");
        assert!(matches!(Vec::<i32>::from_sql(INT4_ARRAY, 1, &raw), Err(Error::Usage(UsageError::WrongType { .. }))));
        assert_eq!(Vec::<String>::from_sql(TEXT_ARRAY, 1, &raw).unwrap(), ["x"]);
        // An array of records (a user-defined element type) read as strings: refused.
        let mut raw = Vec::new();
        for v in [1i32, 0, 2249, 1, 1, 4] {
            raw.extend_from_slice(&v.to_be_bytes());
        }
        raw.extend_from_slice(&[0, 0, 0, 0]);
        assert!(Vec::<String>::from_sql(20000, 1, &raw).is_err());
    }

    #[test]
    fn binary_round_trip() {
        let v = vec![Some(1i32), None, Some(-7)];
        let mut buf = Vec::new();
        v.encode(INT4_ARRAY, &mut buf).unwrap();
        let back: Vec<Option<i32>> = FromSql::from_sql(INT4_ARRAY, 1, &buf).unwrap();
        assert_eq!(back, v);
        assert!(<Vec<i32> as FromSql>::from_sql(INT4_ARRAY, 1, &buf).is_err(), "NULL element into i32");
        assert!(<Vec<i32> as ToSql>::accepts(INT8_ARRAY), "i32 elements widen into int8[]");
        assert!(!<Vec<i32> as ToSql>::accepts(INT2_ARRAY), "but never narrow into int2[]");
        let mut empty = Vec::new();
        Vec::<i64>::new().encode(INT8_ARRAY, &mut empty).unwrap();
        assert_eq!(<Vec<i64> as FromSql>::from_sql(INT8_ARRAY, 1, &empty).unwrap(), Vec::<i64>::new());
    }

    #[test]
    fn bounds_and_dimensions_are_kept_or_refused() {
        let a = Array::from_parts(
            vec![ArrayDimension { len: 2, lower_bound: 0 }, ArrayDimension { len: 2, lower_bound: 5 }],
            vec![1i32, 2, 3, 4],
        )
        .unwrap();
        let mut buf = Vec::new();
        a.encode(INT4_ARRAY, &mut buf).unwrap();
        assert_eq!(<Array<i32> as FromSql>::from_sql(INT4_ARRAY, 1, &buf).unwrap(), a);
        assert!(<Vec<i32> as FromSql>::from_sql(INT4_ARRAY, 1, &buf).is_err());
        let mut text = Vec::new();
        let n = Array::from_parts(a.dimensions().to_vec(), vec!["1.5", "2", "3", "4"]).unwrap();
        n.encode(NUMERIC_ARRAY, &mut text).unwrap();
        assert_eq!(text, b"[0:1][5:6]={{\"1.5\",\"2\"},{\"3\",\"4\"}}");
        let back: Array<String> = FromSql::from_sql(NUMERIC_ARRAY, 0, &text).unwrap();
        assert_eq!(back.dimensions(), a.dimensions());
        assert_eq!(back.elements(), ["1.5", "2", "3", "4"]);
        assert!(Array::from_parts(vec![ArrayDimension { len: 3, lower_bound: 1 }], vec![1]).is_err());
    }

    #[test]
    fn text_arrays() {
        let raw = b"{1.5,NULL,\"2\",-3}";
        let v: Vec<Option<String>> = FromSql::from_sql(NUMERIC_ARRAY, 0, raw).unwrap();
        assert_eq!(v, [Some("1.5".into()), None, Some("2".into()), Some("-3".into())]);
        let m: Array<String> = FromSql::from_sql(NUMERIC_ARRAY, 0, b"{{1,2},{3,4}}").unwrap();
        assert_eq!(m.dimensions().len(), 2);
        assert!(<Vec<String> as FromSql>::from_sql(NUMERIC_ARRAY, 0, b"{{1}}").is_err());
        assert!(<Vec<String> as FromSql>::from_sql(NUMERIC_ARRAY, 0, b"[0:0]={1}").is_err());
        assert!(<Array<String> as FromSql>::from_sql(NUMERIC_ARRAY, 0, b"{{1,2},{3}}").is_err(), "ragged");
        assert!(<Vec<String> as FromSql>::from_sql(NUMERIC_ARRAY, 0, b"nope").is_err());
        assert_eq!(<Vec<String> as FromSql>::from_sql(NUMERIC_ARRAY, 0, b"{}").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn hostile_binary_arrays() {
        for raw in [
            &b""[..],
            &[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 23, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 1][..],
            &[0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 23][..],
        ] {
            assert!(<Vec<i32> as FromSql>::from_sql(INT4_ARRAY, 1, raw).is_err());
            assert!(<Array<i32> as FromSql>::from_sql(INT4_ARRAY, 1, raw).is_err());
        }
    }
}
