//! Columns and rows: borrowed rows straight out of the receive buffer, owned rows and result sets.

use std::sync::Arc;

use crate::encoding::Encoding;
use crate::error::{Error, UsageError};
use crate::types::{type_name, FromSql};
use crate::wire::codec::backend::FieldDescription;

/// One column of a RowDescription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    name: String,
    /// The name as the server sent it, when that is not `name`'s UTF-8 (another client
    /// encoding, or bytes not valid in it).
    name_raw: Option<Box<[u8]>>,
    table_oid: u32,
    column_id: i16,
    type_oid: u32,
    type_size: i16,
    type_modifier: i32,
    format: i16,
    /// The client encoding of the session that described it: the encoding of its values'
    /// text (kept here, once per description, rather than in every row).
    encoding: Encoding,
}

impl Column {
    pub(crate) fn from_field(f: FieldDescription<'_>, encoding: Encoding) -> Column {
        let name = encoding.decode_lossy(f.name).into_owned();
        let name_raw = (name.as_bytes() != f.name).then(|| f.name.into());
        Column {
            name,
            name_raw,
            table_oid: f.table_oid,
            column_id: f.column_id,
            type_oid: f.type_oid,
            type_size: f.type_size,
            type_modifier: f.type_modifier,
            format: f.format,
            encoding,
        }
    }
    /// A column of a table as logical replication describes it (a pgoutput Relation message).
    pub(crate) fn for_relation(
        name: String,
        table_oid: u32,
        column_id: i16,
        type_oid: u32,
        type_modifier: i32,
        format: i16,
        encoding: Encoding,
    ) -> Column {
        Column { name, name_raw: None, table_oid, column_id, type_oid, type_size: -1, type_modifier, format, encoding }
    }

    /// A nameless binary column of type `type_oid` (the fields of a binary COPY).
    pub(crate) fn for_binary_copy(type_oid: u32, encoding: Encoding) -> Column {
        Column {
            name: String::new(),
            name_raw: None,
            table_oid: 0,
            column_id: 0,
            type_oid,
            type_size: -1,
            type_modifier: -1,
            format: 1,
            encoding,
        }
    }

    /// The column name, decoded from the client encoding (U+FFFD where the server's bytes
    /// were not valid in it).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The column name exactly as the server sent it, in the client encoding.
    pub fn name_bytes(&self) -> &[u8] {
        self.name_raw.as_deref().unwrap_or(self.name.as_bytes())
    }
    /// Whether two descriptions of a column agree on everything but the format (a statement's
    /// description and a portal's).
    pub(crate) fn same_shape(&self, other: &Column) -> bool {
        self.type_oid == other.type_oid
            && self.name == other.name
            && self.table_oid == other.table_oid
            && self.column_id == other.column_id
            && self.type_modifier == other.type_modifier
            && self.type_size == other.type_size
    }
    /// OID of the table the column comes from, or 0.
    pub fn table_oid(&self) -> u32 {
        self.table_oid
    }
    /// Attribute number of the column in its table, or 0.
    pub fn column_id(&self) -> i16 {
        self.column_id
    }
    /// OID of the column's data type.
    pub fn type_oid(&self) -> u32 {
        self.type_oid
    }
    pub fn type_size(&self) -> i16 {
        self.type_size
    }
    pub fn type_modifier(&self) -> i32 {
        self.type_modifier
    }
    /// 0 = text, 1 = binary.
    pub fn format(&self) -> i16 {
        self.format
    }
}

/// How a column is picked: by position or by name.
pub trait ColumnIndex {
    fn index(&self, columns: Option<&[Column]>, len: usize) -> Option<usize>;
    fn describe(&self) -> String;
}

impl ColumnIndex for usize {
    fn index(&self, _: Option<&[Column]>, len: usize) -> Option<usize> {
        (*self < len).then_some(*self)
    }
    fn describe(&self) -> String {
        self.to_string()
    }
}

impl<T: ColumnIndex + ?Sized> ColumnIndex for &T {
    fn index(&self, columns: Option<&[Column]>, len: usize) -> Option<usize> {
        (**self).index(columns, len)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}

impl ColumnIndex for str {
    fn index(&self, columns: Option<&[Column]>, _: usize) -> Option<usize> {
        columns?.iter().position(|c| c.name == *self)
    }
    fn describe(&self) -> String {
        format!("{self:?}")
    }
}

/// A row borrowed from the receive buffer; valid until the next call on the engine.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    columns: Option<&'a Arc<[Column]>>,
    body: &'a [u8],
    ranges: &'a [Option<(u32, u32)>],
}

impl<'a> Row<'a> {
    pub(crate) fn new(columns: Option<&'a Arc<[Column]>>, body: &'a [u8], ranges: &'a [Option<(u32, u32)>]) -> Self {
        Row { columns, body, ranges }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
    /// The columns, when a RowDescription preceded the row.
    pub fn columns(&self) -> Option<&'a [Column]> {
        self.columns.map(|c| &c[..])
    }

    /// The position of a column (by name or position), or `None` when the row has no such
    /// column.
    pub fn index_of<I: ColumnIndex>(&self, idx: I) -> Option<usize> {
        idx.index(self.columns(), self.len())
    }

    /// Builds a whole-row value: a struct with `#[derive(FromRow)]`, a tuple (by position).
    /// Borrowing types read `&'a str` / `&'a [u8]` straight out of the row.
    pub fn decode<T: crate::types::FromRow<'a>>(&self) -> Result<T, Error> {
        T::from_row(self)
    }

    fn index<I: ColumnIndex>(&self, idx: &I) -> Result<usize, Error> {
        idx.index(self.columns(), self.len()).ok_or_else(|| UsageError::NoSuchColumn(idx.describe()).into())
    }

    /// The raw bytes of a value: `Ok(None)` for NULL. The format is the column's
    /// [`format`](Column::format).
    pub fn raw<I: ColumnIndex>(&self, idx: I) -> Result<Option<&'a [u8]>, Error> {
        let i = self.index(&idx)?;
        Ok(self.ranges[i].map(|(s, e)| &self.body[s as usize..e as usize]))
    }

    /// The type OID, format, name and text encoding of a column (unknown / text when no
    /// RowDescription was seen).
    fn column_type(&self, i: usize) -> (u32, i16, &'a str, Encoding) {
        match self.columns {
            Some(cols) => (cols[i].type_oid, cols[i].format, cols[i].name.as_str(), cols[i].encoding),
            None => (crate::types::oid::UNKNOWN, 0, "", Encoding::UTF8),
        }
    }

    /// Decodes a value as `T`: `Option<T>` for nullable columns. A type that cannot represent
    /// the column's type, or a NULL into a non-`Option`, is a typed error naming the column.
    pub fn get<T: FromSql<'a>, I: ColumnIndex>(&self, idx: I) -> Result<T, Error> {
        let i = self.index(&idx)?;
        let (oid, format, name, encoding) = self.column_type(i);
        let column = || if name.is_empty() { idx.describe() } else { format!("{name:?}") };
        if !T::accepts_format(oid, format) {
            return Err(UsageError::WrongType {
                column: column(),
                rust: std::any::type_name::<T>(),
                pg: type_name(oid),
            }
            .into());
        }
        let raw = self.ranges[i].map(|(s, e)| &self.body[s as usize..e as usize]);
        T::from_sql_nullable_in(encoding, oid, format, raw).map_err(|e| match e {
            // A NULL inside the value (a composite's field) keeps where it was.
            Error::Usage(UsageError::UnexpectedNull { rust, column: inner }) => {
                let column = if inner.is_empty() { column() } else { format!("{} {inner}", column()) };
                UsageError::UnexpectedNull { column, rust }.into()
            }
            Error::Usage(UsageError::Conversion(m)) => {
                UsageError::Conversion(format!("column {}: {m}", column())).into()
            }
            other => other,
        })
    }

    /// A value's text as `&str`: `Ok(None)` for NULL, distinct from `Some("")`. Any value in
    /// the text format, or a text-like value in the binary format; a binary `int4` or
    /// `float8` is a [`UsageError::WrongType`] (read it with [`get`](Self::get)), never its
    /// raw bytes.
    pub fn get_str<I: ColumnIndex>(&self, idx: I) -> Result<Option<&'a str>, Error> {
        self.get::<Option<&'a str>, _>(idx)
    }

    /// A value as the text PostgreSQL's output function gives it, whatever format it came in:
    /// `Ok(None)` for NULL. Text-format values are borrowed; binary ones (`int4`, `float8`,
    /// `timestamp`, arrays, …) are rendered as the server renders them with its default
    /// settings, `timestamptz` in UTC. A missing column or a malformed value is an error.
    pub fn text<I: ColumnIndex>(&self, idx: I) -> Result<Option<std::borrow::Cow<'a, str>>, Error> {
        let i = self.index(&idx)?;
        let (oid, format, _, encoding) = self.column_type(i);
        match self.ranges[i] {
            None => Ok(None),
            Some((s, e)) => {
                crate::types::text::render(encoding, oid, format, &self.body[s as usize..e as usize]).map(Some)
            }
        }
    }

    /// Copies the row out of the receive buffer.
    pub fn to_owned(&self) -> OwnedRow {
        // Store values contiguously: one allocation for the bytes; the ranges of a row of a few
        // columns stay inline.
        let total: usize = self.ranges.iter().flatten().map(|(s, e)| (e - s) as usize).sum();
        let mut data = Vec::with_capacity(total);
        let mut ranges = OwnedRanges::with_capacity(self.ranges.len());
        for r in self.ranges {
            ranges.push(r.map(|(s, e)| {
                let start = data.len() as u32;
                data.extend_from_slice(&self.body[s as usize..e as usize]);
                (start, data.len() as u32)
            }));
        }
        OwnedRow { columns: self.columns.cloned(), data, ranges }
    }
}

/// A row that owns its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedRow {
    columns: Option<Arc<[Column]>>,
    data: Vec<u8>,
    ranges: OwnedRanges,
}

/// Where an owned row's values are in its bytes (`None`: NULL).
type OwnedRanges = smallvec::SmallVec<[Option<(u32, u32)>; 4]>;

impl OwnedRow {
    pub fn len(&self) -> usize {
        self.ranges.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
    pub fn columns(&self) -> Option<&[Column]> {
        self.columns.as_deref()
    }
    /// Borrows the row in its borrowed form.
    pub fn as_row(&self) -> Row<'_> {
        Row { columns: self.columns.as_ref(), body: &self.data, ranges: &self.ranges }
    }
    /// The raw bytes of a value: `Ok(None)` for NULL.
    pub fn raw<I: ColumnIndex>(&self, idx: I) -> Result<Option<&[u8]>, Error> {
        self.as_row().raw(idx)
    }
    /// Builds a whole-row value (a `#[derive(FromRow)]` struct, a tuple); see [`Row::decode`].
    pub fn decode<'a, T: crate::types::FromRow<'a>>(&'a self) -> Result<T, Error> {
        T::from_row(&self.as_row())
    }
    /// Decodes a value as `T`; see [`Row::get`].
    pub fn get<'a, T: FromSql<'a>, I: ColumnIndex>(&'a self, idx: I) -> Result<T, Error> {
        self.as_row().get(idx)
    }
    /// A text-format value: `Ok(None)` for NULL, distinct from `Some("")`.
    pub fn get_str<I: ColumnIndex>(&self, idx: I) -> Result<Option<&str>, Error> {
        self.as_row().get_str(idx)
    }
    /// A value as the server's text; see [`Row::text`].
    pub fn text<I: ColumnIndex>(&self, idx: I) -> Result<Option<std::borrow::Cow<'_, str>>, Error> {
        self.as_row().text(idx)
    }
    /// Every value's raw bytes (in its column's format), `None` for NULL.
    pub fn values(&self) -> impl Iterator<Item = Option<&[u8]>> {
        self.ranges.iter().map(|r| r.map(|(s, e)| &self.data[s as usize..e as usize]))
    }
}

/// A command tag (`SELECT 3`, `INSERT 0 1`, `CREATE TABLE`): a `str`, kept inline when short —
/// as nearly all are — so that finishing a statement allocates nothing for it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CommandTag(TagRepr);

#[derive(Clone, PartialEq, Eq, Hash)]
enum TagRepr {
    Inline { len: u8, bytes: [u8; CommandTag::INLINE] },
    Heap(Box<str>),
}

impl CommandTag {
    const INLINE: usize = 30;

    pub fn new(tag: &str) -> CommandTag {
        match tag.len() {
            len if len <= Self::INLINE => {
                let mut bytes = [0; Self::INLINE];
                bytes[..len].copy_from_slice(tag.as_bytes());
                CommandTag(TagRepr::Inline { len: len as u8, bytes })
            }
            _ => CommandTag(TagRepr::Heap(tag.into())),
        }
    }

    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Copied from a `&str` whole: always valid.
            TagRepr::Inline { len, bytes } => std::str::from_utf8(&bytes[..*len as usize]).unwrap_or_default(),
            TagRepr::Heap(s) => s,
        }
    }
}

impl std::ops::Deref for CommandTag {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for CommandTag {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::borrow::Borrow<str> for CommandTag {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Debug for CommandTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for CommandTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for CommandTag {
    fn from(tag: &str) -> CommandTag {
        CommandTag::new(tag)
    }
}

impl From<CommandTag> for String {
    fn from(tag: CommandTag) -> String {
        tag.as_str().to_owned()
    }
}

impl PartialEq<str> for CommandTag {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for CommandTag {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// The result of one statement of a simple query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultSet {
    pub(crate) columns: Option<Arc<[Column]>>,
    pub(crate) rows: Vec<OwnedRow>,
    /// `None` for an empty query string (EmptyQueryResponse).
    pub(crate) tag: Option<CommandTag>,
}

impl ResultSet {
    /// The columns, for a statement that returns rows (even zero of them).
    pub fn columns(&self) -> &[Column] {
        self.columns.as_deref().unwrap_or(&[])
    }
    /// Whether the statement returns rows (it had a RowDescription).
    pub fn returns_rows(&self) -> bool {
        self.columns.is_some()
    }
    pub fn rows(&self) -> &[OwnedRow] {
        &self.rows
    }
    pub fn into_rows(self) -> Vec<OwnedRow> {
        self.rows
    }
    /// The command tag, e.g. `INSERT 0 3`; `None` for an empty query.
    pub fn command_tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }
    /// The command name from the tag: `SELECT`, `INSERT`, `CREATE TABLE`, …
    pub fn command(&self) -> Option<&str> {
        let tag = self.tag.as_deref()?;
        Some(match tag.rfind(' ') {
            Some(i) if tag[i + 1..].bytes().all(|b| b.is_ascii_digit()) => {
                let head = &tag[..i];
                // INSERT carries an OID before the count
                match head.strip_prefix("INSERT ") {
                    Some(_) => "INSERT",
                    None => head,
                }
            }
            _ => tag,
        })
    }
    /// Rows affected or returned, from the tag (`INSERT 0 3` → 3, `SELECT 2` → 2); `None` for
    /// commands without a count.
    pub fn rows_affected(&self) -> Option<u64> {
        rows_affected(self.tag.as_deref()?)
    }
    /// Whether this came from an empty query string.
    pub fn is_empty_query(&self) -> bool {
        self.tag.is_none()
    }
}

/// The row count in a command tag (libpq `PQcmdTuples`).
pub fn rows_affected(tag: &str) -> Option<u64> {
    let mut parts = tag.split(' ');
    let cmd = parts.next()?;
    let counted = matches!(cmd, "INSERT" | "DELETE" | "UPDATE" | "SELECT" | "MOVE" | "FETCH" | "COPY" | "MERGE");
    if !counted {
        return None;
    }
    tag.rsplit(' ').next()?.parse().ok()
}

/// All results of a multi-statement simple query, and the error that stopped it, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimpleBatch {
    /// One entry per statement that completed, in order.
    pub results: Vec<ResultSet>,
    /// The error that stopped the batch; statements after it did not run.
    pub error: Option<Box<crate::error::DbError>>,
}

impl SimpleBatch {
    /// The results, or the error if one statement failed.
    pub fn into_result(self) -> Result<Vec<ResultSet>, Error> {
        match self.error {
            Some(e) => Err(Error::Db(e)),
            None => Ok(self.results),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        assert_eq!(rows_affected("INSERT 0 3"), Some(3));
        assert_eq!(rows_affected("SELECT 20"), Some(20));
        assert_eq!(rows_affected("UPDATE 0"), Some(0));
        assert_eq!(rows_affected("CREATE TABLE"), None);
        assert_eq!(rows_affected("COPY 5"), Some(5));
        let rs = ResultSet { columns: None, rows: vec![], tag: Some("INSERT 0 3".into()) };
        assert_eq!(rs.command(), Some("INSERT"));
        let rs = ResultSet { columns: None, rows: vec![], tag: Some("CREATE TABLE".into()) };
        assert_eq!(rs.command(), Some("CREATE TABLE"));
        let rs = ResultSet { columns: None, rows: vec![], tag: Some("SELECT 1".into()) };
        assert_eq!(rs.command(), Some("SELECT"));
    }
}
