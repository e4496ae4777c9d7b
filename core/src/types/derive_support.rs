//! What `#[derive(ToSql, FromSql)]` calls: kept here so that the generated code stays small and
//! the rules live in one place.

use std::borrow::Cow;

use crate::encoding::Encoding;
use crate::error::{Error, UsageError};
use crate::types::{oid, FromSql, ToSql};

/// The first OID of objects made after initdb (`FirstNormalObjectId`): every user-defined type
/// has one at least this large.
pub const FIRST_NORMAL_OBJECT_ID: u32 = 16384;

/// Whether `oid` is a user-defined type (made after initdb).
pub fn user_defined(oid: u32) -> bool {
    oid >= FIRST_NORMAL_OBJECT_ID
}

/// Whether a derived enum reads or writes a value of type `oid`: a user-defined type (the enum
/// itself: its name is not known without the catalogue, so any user-defined type is taken and
/// a label that is not the enum's is an error naming it), text-like types, and an unknown
/// parameter type (the server infers it).
pub fn enum_accepts(oid: u32) -> bool {
    oid >= FIRST_NORMAL_OBJECT_ID
        || matches!(oid, 0 | oid::TEXT | oid::VARCHAR | oid::BPCHAR | oid::NAME | oid::UNKNOWN)
}

/// An enum value's label: its text in either format (an enum's binary form is its label).
pub fn enum_label(encoding: Encoding, _oid: u32, _format: i16, raw: &[u8]) -> Result<Cow<'_, str>, Error> {
    encoding.decode(raw).ok_or_else(|| {
        UsageError::Conversion(format!("an enum label is not valid in the client encoding ({encoding})")).into()
    })
}

/// A label the Rust enum has no variant for.
pub fn unknown_label(rust: &str, oid: u32, label: &str) -> Error {
    UsageError::Conversion(format!(
        "{label:?} (a value of {}) is not a label of the Rust enum {rust}",
        crate::types::type_name(oid)
    ))
    .into()
}

/// `record`, the type of an anonymous row (`SELECT ROW(1, 'a')`).
pub const RECORD: u32 = 2249;

/// Whether a derived composite reads or writes a value of type `oid`: a user-defined type,
/// `record`, or an unknown parameter type.
pub fn composite_accepts(oid: u32) -> bool {
    oid == 0 || oid == RECORD || user_defined(oid)
}

/// One field of a composite value: its type (`unknown` in the text format, which does not
/// say) and its bytes (`None`: NULL).
pub type RecordField<'a> = (u32, Option<Cow<'a, [u8]>>);

/// Splits a composite value into its fields: the binary record format (each field with its
/// type) or the text form `(1,"a b",)` (an empty unquoted field is NULL). `rust` names the
/// Rust type for errors; `expected` is its field count.
pub fn record_fields<'a>(
    format: i16,
    raw: &'a [u8],
    expected: usize,
    rust: &str,
) -> Result<Vec<RecordField<'a>>, Error> {
    let bad = || -> Error { UsageError::Conversion(format!("malformed composite value for {rust}")).into() };
    let mut fields = Vec::with_capacity(expected);
    if format == 1 {
        let mut r = crate::wire::codec::Reader::new(raw, "record");
        let count = r.i32().map_err(|_| bad())?;
        for _ in 0..count.max(0) {
            let oid = r.u32().map_err(|_| bad())?;
            let len = r.i32().map_err(|_| bad())?;
            let value = if len < 0 { None } else { Some(Cow::Borrowed(r.bytes(len as usize).map_err(|_| bad())?)) };
            fields.push((oid, value));
        }
    } else {
        let inner = raw.strip_prefix(b"(").and_then(|r| r.strip_suffix(b")")).ok_or_else(bad)?;
        let mut current = Vec::new();
        let (mut quoted, mut was_quoted) = (false, false);
        let mut i = 0;
        while i <= inner.len() {
            match inner.get(i) {
                None | Some(b',') if !quoted => {
                    let value = (was_quoted || !current.is_empty()).then(|| Cow::Owned(std::mem::take(&mut current)));
                    fields.push((oid::UNKNOWN, value));
                    was_quoted = false;
                }
                Some(b'"') if quoted && inner.get(i + 1) == Some(&b'"') => {
                    current.push(b'"');
                    i += 1;
                }
                Some(b'"') => {
                    quoted = !quoted;
                    was_quoted = true;
                }
                Some(b'\\') => {
                    current.push(*inner.get(i + 1).ok_or_else(bad)?);
                    i += 1;
                }
                Some(&b) => current.push(b),
                None => return Err(bad()),
            }
            i += 1;
        }
    }
    if fields.len() != expected {
        return Err(UsageError::Conversion(format!(
            "the composite value has {} fields, the Rust type {rust} {expected}",
            fields.len()
        ))
        .into());
    }
    Ok(fields)
}

/// A composite value with fewer fields than its Rust type (checked by `record_fields`).
pub fn bad_record(rust: &str) -> Error {
    UsageError::Conversion(format!("malformed composite value for {rust}")).into()
}

/// The built-in type a field of user-defined type `oid` (a domain: a binary record names the
/// domain, not its base) is read as: the first `T` reads whose binary size fits.
fn domain_base_guess<'a, T: FromSql<'a>>(len: usize) -> Option<u32> {
    use oid::*;
    const CANDIDATES: &[(u32, Option<usize>)] = &[
        (BOOL, Some(1)),
        (INT2, Some(2)),
        (INT4, Some(4)),
        (INT8, Some(8)),
        (FLOAT4, Some(4)),
        (FLOAT8, Some(8)),
        (DATE, Some(4)),
        (TIME, Some(8)),
        (TIMESTAMP, Some(8)),
        (TIMESTAMPTZ, Some(8)),
        (UUID, Some(16)),
        (INTERVAL, Some(16)),
        (TEXT, None),
        (BYTEA, None),
        (JSONB, None),
        (NUMERIC, None),
    ];
    CANDIDATES.iter().find(|(t, size)| size.is_none_or(|s| s == len) && T::accepts_format(*t, 1)).map(|(t, _)| *t)
}

/// Decodes one field of a composite value as `T`; errors name the field. A field of a domain
/// type is read as the domain's base type.
pub fn record_field<T: for<'b> FromSql<'b>>(
    encoding: Encoding,
    format: i16,
    field: RecordField<'_>,
    name: &str,
) -> Result<T, Error> {
    let (mut oid, value) = field;
    if let (1, Some(v)) = (format, &value) {
        if !T::accepts_format(oid, 1) && user_defined(oid) {
            oid = domain_base_guess::<T>(v.len()).unwrap_or(oid);
        }
    }
    if format == 1 && !T::accepts_format(oid, 1) && value.is_some() {
        return Err(UsageError::WrongType {
            column: format!("field {name:?}"),
            rust: std::any::type_name::<T>(),
            pg: crate::types::type_name(oid),
        }
        .into());
    }
    T::from_sql_nullable_in(encoding, oid, format, value.as_deref()).map_err(|e| match e {
        Error::Usage(UsageError::UnexpectedNull { rust, .. }) => {
            UsageError::UnexpectedNull { column: format!("field {name:?}"), rust }.into()
        }
        Error::Usage(UsageError::Conversion(m)) => UsageError::Conversion(format!("field {name:?}: {m}")).into(),
        other => other,
    })
}

/// Writes a composite value in the text form `("1","a b",)`: each field as its text (values
/// pgsans encodes in binary are rendered as the server would write them), so the server parses
/// each with its field's own type — varchar, enums, domains, nested composites, arrays.
pub fn write_record(fields: &[&dyn ToSql], out: &mut Vec<u8>) -> Result<(), Error> {
    out.push(b'(');
    let mut value = Vec::new();
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        value.clear();
        let natural = field.natural_type();
        if field.encode(natural, &mut value)? == crate::types::IsNull::Yes {
            continue;
        }
        let text: Cow<'_, [u8]> = if natural != 0 && field.binary(natural) {
            Cow::Owned(crate::types::text::render(Encoding::UTF8, natural, 1, &value)?.into_owned().into_bytes())
        } else {
            Cow::Borrowed(&value)
        };
        out.push(b'"');
        for &b in text.iter() {
            if b == b'"' || b == b'\\' {
                out.push(b);
            }
            out.push(b);
        }
        out.push(b'"');
    }
    out.push(b')');
    Ok(())
}
