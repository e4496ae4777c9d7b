//! What `#[derive(ToSql, FromSql)]` calls: kept here so that the generated code stays small and
//! the rules live in one place.

use std::borrow::Cow;

use crate::encoding::Encoding;
use crate::error::{Error, UsageError};
use crate::types::oid;

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
