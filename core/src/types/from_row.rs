//! Whole rows into Rust values: [`FromRow`], implemented for tuples (by position), for
//! [`OwnedRow`], and by `#[derive(FromRow)]` (the `derive` feature) for structs.

use crate::error::{Error, UsageError};
use crate::types::row::{OwnedRow, Row};

/// A Rust value built from a whole row.
///
/// `'a` is the lifetime of the row's bytes: a type that borrows `&'a str` or `&'a [u8]` from
/// the receive buffer implements `FromRow<'a>` for that lifetime only, and is read from a
/// borrowed [`Row`] (a row stream) without allocating; a type that owns its values implements
/// it for every lifetime and can be collected (`query_as`).
///
/// With the `derive` feature, `#[derive(FromRow)]` reads a struct's fields by column name
/// (tuple structs by position):
///
/// ```
/// # #[cfg(feature = "derive")] {
/// use pgsans::FromRow;
///
/// #[derive(FromRow)]
/// #[pgsans(rename_all = "snake_case")]
/// struct User {
///     id: i64,
///     #[pgsans(rename = "login")]
///     name: String,
///     email: Option<String>,          // NULL is None
///     #[pgsans(default)]
///     karma: i32,                     // a missing column is 0
///     #[pgsans(try_from = "i64")]
///     visits: u32,                    // read as int8, converted (an error names the column)
///     #[pgsans(flatten)]
///     audit: Audit,                   // more columns of the same row
/// }
///
/// #[derive(FromRow)]
/// struct Audit {
///     created_by: String,
/// }
///
/// #[derive(FromRow)]
/// struct Borrowed<'a> {
///     login: &'a str,                 // straight out of the receive buffer
/// }
/// # }
/// ```
///
/// Field attributes: `rename = "column"`, `default` (a missing column gives
/// `Default::default()`), `skip` (always `Default::default()`), `flatten` (the field's type is
/// itself `FromRow` over the same row), `try_from = "Type"` (decoded as `Type`, then
/// `TryFrom`). Struct attributes: `rename_all = "snake_case" | "lowercase" | "UPPERCASE" |
/// "camelCase" | "PascalCase" | "SCREAMING_SNAKE_CASE" | "kebab-case"`, `crate = "path"`
/// (where `pgsans` is, when it is only reached through a transport crate, e.g.
/// `"pgsans_tokio::pgsans"`).
pub trait FromRow<'a>: Sized {
    /// Builds the value; a missing column, a NULL into a non-`Option` or a type mismatch is a
    /// typed error naming the column.
    fn from_row(row: &Row<'a>) -> Result<Self, Error>;
}

impl<'a> FromRow<'a> for OwnedRow {
    fn from_row(row: &Row<'a>) -> Result<Self, Error> {
        Ok(row.to_owned())
    }
}

/// Tuples take the first columns by position; more columns than elements are ignored.
macro_rules! tuple_from_row {
    ($($t:ident $i:tt),+) => {
        impl<'a, $($t: crate::types::FromSql<'a>),+> FromRow<'a> for ($($t,)+) {
            fn from_row(row: &Row<'a>) -> Result<Self, Error> {
                Ok(($(row.get::<$t, usize>($i)?,)+))
            }
        }
    };
}
tuple_from_row!(A 0);
tuple_from_row!(A 0, B 1);
tuple_from_row!(A 0, B 1, C 2);
tuple_from_row!(A 0, B 1, C 2, D 3);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11);

/// Used by `#[derive(FromRow)]`: `try_from` failed for `column`.
#[doc(hidden)]
pub fn try_from_failed(column: &str, error: impl std::fmt::Display) -> Error {
    UsageError::Conversion(format!("column {column:?}: {error}")).into()
}
