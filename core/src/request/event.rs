//! What the server says, one message at a time, as the engine hands it to the request it
//! belongs to: borrowed from the receive buffer until the next call on the engine.

use std::sync::Arc;

use crate::error::DbError;
use crate::session::status::TransactionStatus;
use crate::types::row::{Column, Row};

/// One event from the server.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// The columns of the rows that follow.
    RowDescription(&'a Arc<[Column]>),
    /// One row.
    DataRow(Row<'a>),
    /// A statement finished; the tag is e.g. `INSERT 0 3` or `SELECT 2`.
    CommandComplete(&'a str),
    /// The query string was empty.
    EmptyQueryResponse,
    /// A statement failed. The connection stays usable; a ReadyForQuery follows.
    Error(Box<DbError>),
    /// The server is ready for the next query: the end of one request.
    ReadyForQuery(TransactionStatus),
    ParseComplete,
    BindComplete,
    CloseComplete,
    NoData,
    PortalSuspended,
    /// The parameter types of a described statement.
    ParameterDescription(Vec<u32>),
    /// The server is waiting for COPY data.
    CopyInResponse {
        format: u8,
        column_formats: Vec<i16>,
    },
    /// The server is about to send COPY data.
    CopyOutResponse {
        format: u8,
        column_formats: Vec<i16>,
    },
    /// The server starts a replication stream (data both ways).
    CopyBothResponse {
        format: u8,
        column_formats: Vec<i16>,
    },
    /// A chunk of COPY OUT data.
    CopyData(&'a [u8]),
    /// The end of COPY OUT data.
    CopyDone,
}
