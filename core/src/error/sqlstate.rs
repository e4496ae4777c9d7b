//! SQLSTATE codes as values: a constant for every code in PostgreSQL's `errcodes.txt`.

use std::fmt;

mod codes;

/// A five-character SQLSTATE error code.
///
/// Every code PostgreSQL defines is a constant named after its `ERRCODE_` macro, so a server
/// error is matched without string literals:
///
/// ```
/// # fn check(err: &pgsans::Error) -> bool {
/// use pgsans::SqlState;
/// err.code() == Some(SqlState::UNIQUE_VIOLATION)
/// # }
/// ```
///
/// It compares equal to its text too (`SqlState::UNIQUE_VIOLATION == "23505"`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SqlState([u8; 5]);

impl SqlState {
    /// The code for `text`: `None` unless it is five ASCII digits or upper-case letters (every
    /// code PostgreSQL sends is).
    pub fn from_code(text: &str) -> Option<SqlState> {
        let bytes: [u8; 5] = text.as_bytes().try_into().ok()?;
        bytes.iter().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()).then_some(SqlState(bytes))
    }

    /// The code's five characters, e.g. `"23505"`.
    pub fn code(&self) -> &str {
        // Only ASCII is ever stored (from_code and the generated constants).
        std::str::from_utf8(&self.0).unwrap_or("?????")
    }

    /// The condition name PostgreSQL gives the code (`"unique_violation"`, as PL/pgSQL's
    /// `EXCEPTION WHEN` uses it), or `None` for a code it does not define.
    pub fn name(&self) -> Option<&'static str> {
        codes::NAMES.binary_search_by(|(code, _)| code.cmp(self)).ok().map(|i| codes::NAMES[i].1)
    }

    /// The class: the first two characters as a code ending in `000` (`23505` → `23000`,
    /// `INTEGRITY_CONSTRAINT_VIOLATION`).
    pub fn class(&self) -> SqlState {
        SqlState([self.0[0], self.0[1], b'0', b'0', b'0'])
    }

    /// Every code pgsans knows, sorted, with its condition name.
    pub fn all() -> impl Iterator<Item = (SqlState, &'static str)> {
        codes::NAMES.iter().copied()
    }
}

impl fmt::Display for SqlState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for SqlState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "SqlState({} {name})", self.code()),
            None => write!(f, "SqlState({})", self.code()),
        }
    }
}

impl PartialEq<str> for SqlState {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for SqlState {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<SqlState> for &str {
    fn eq(&self, other: &SqlState) -> bool {
        other == self
    }
}

impl std::str::FromStr for SqlState {
    type Err = crate::error::UsageError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SqlState::from_code(s)
            .ok_or_else(|| crate::error::UsageError::InvalidArgument(format!("{s:?} is not a SQLSTATE")))
    }
}

#[cfg(test)]
mod tests {
    use super::SqlState;

    #[test]
    fn codes_names_and_classes() {
        assert_eq!(SqlState::UNIQUE_VIOLATION, "23505");
        assert_eq!(SqlState::UNIQUE_VIOLATION.name(), Some("unique_violation"));
        assert_eq!(SqlState::UNIQUE_VIOLATION.class(), SqlState::INTEGRITY_CONSTRAINT_VIOLATION);
        assert_eq!(SqlState::from_code("57014"), Some(SqlState::QUERY_CANCELED));
        // Two macro names for one code: both constants, one value.
        assert_eq!(SqlState::DATETIME_FIELD_OVERFLOW, SqlState::DATETIME_VALUE_OUT_OF_RANGE);
        // Codes of PostgreSQL 15 that 18 dropped, and of 18 that 15 did not have.
        assert_eq!(SqlState::SNAPSHOT_TOO_OLD.code(), "72000");
        assert_eq!(SqlState::TRANSACTION_TIMEOUT.code(), "25P04");
        assert_eq!(SqlState::from_code("ZZ999").map(|s| s.name()), Some(None));
        for bad in ["", "2350", "235050", "2350a", "2350\u{e9}"] {
            assert_eq!(SqlState::from_code(bad), None, "{bad:?}");
        }
        assert!(SqlState::all().count() > 250);
        assert!(SqlState::all().zip(SqlState::all().skip(1)).all(|(a, b)| a.0 < b.0));
        assert_eq!(format!("{:?}", SqlState::DIVISION_BY_ZERO), "SqlState(22012 division_by_zero)");
    }
}
