//! Simple-protocol requests: a query of one or more statements (collected or streamed).

use super::query::refuse_copy;
use super::{Progress, Response};
use crate::error::{DbError, Error};
use crate::request::event::Event;
use crate::session::conversation::{Conversation, RequestId};
use crate::types::row::{ResultSet, SimpleBatch};

/// The result sets of simple-query statements (one per statement) and the first error, built
/// from their events.
#[derive(Debug, Default)]
pub(super) struct ResultSets {
    pub(super) results: Vec<ResultSet>,
    current: Option<ResultSet>,
    pub(super) error: Option<Box<DbError>>,
    /// A COPY was refused: reported instead of the results.
    pub(super) refused: Option<Error>,
}

impl ResultSets {
    /// Takes an event; `true` at the ReadyForQuery that ends a statement list.
    pub(super) fn take(&mut self, ev: Event<'_>, keep_rows: bool) -> bool {
        let empty = || ResultSet { columns: None, rows: Vec::new(), tag: None };
        match ev {
            Event::RowDescription(cols) => {
                self.current = Some(ResultSet { columns: Some(cols.clone()), rows: Vec::new(), tag: None });
            }
            Event::DataRow(row) if keep_rows => self.current.get_or_insert_with(empty).rows.push(row.to_owned()),
            Event::CommandComplete(tag) => {
                let mut rs = self.current.take().unwrap_or_else(empty);
                rs.tag = Some(tag.into());
                self.results.push(rs);
            }
            Event::EmptyQueryResponse => self.results.push(empty()),
            Event::Error(e) => {
                self.current = None;
                self.error.get_or_insert(e);
            }
            ev @ (Event::CopyInResponse { .. } | Event::CopyOutResponse { .. }) => {
                self.refused.get_or_insert_with(|| refuse_copy(&ev));
            }
            Event::ReadyForQuery(_) => return true,
            _ => {}
        }
        false
    }
}

/// A simple query: one [`ResultSet`] per statement up to the first error.
#[derive(Debug)]
pub(crate) struct SimpleMachine {
    collected: ResultSets,
    keep_rows: bool,
    /// The caller takes the rows one at a time.
    stream: bool,
}

impl SimpleMachine {
    pub(crate) fn start(
        sql: &str,
        keep_rows: bool,
        stream: bool,
        id: RequestId,
        conv: &mut Conversation,
    ) -> Result<SimpleMachine, Error> {
        conv.queue_simple(id, sql)?;
        Ok(SimpleMachine { collected: ResultSets::default(), keep_rows, stream })
    }

    /// Whether the engine stops before each DataRow for the caller to take it.
    pub(crate) fn streams(&self) -> bool {
        self.stream && self.collected.error.is_none()
    }

    pub(crate) fn on_event(&mut self, ev: Event<'_>) -> Progress {
        if !self.collected.take(ev, self.keep_rows) {
            return Progress::Pending;
        }
        let c = std::mem::take(&mut self.collected);
        Progress::Done(match c.refused {
            Some(e) => Err(e),
            None => Ok(Response::Batch(SimpleBatch { results: c.results, error: c.error })),
        })
    }
}
