//! Simple-protocol requests: a query of one or more statements, and the psycopg2 session
//! commands (which are simple queries planned by the session rules).

use super::query::refuse_copy;
use super::{Progress, Response};
use crate::error::{DbError, Error, ErrorClass};
use crate::event::Event;
use crate::row::{OwnedRow, ResultSet, SimpleBatch};
use crate::session::rules::{self, Effect, Plan, Reading};
use crate::session::{RecoveredXid, Xid};
use crate::shared::{RequestId, Shared};

/// The result sets of simple-query statements (one per statement) and the first error, built
/// from their events.
#[derive(Debug, Default)]
struct ResultSets {
    results: Vec<ResultSet>,
    current: Option<ResultSet>,
    error: Option<Box<DbError>>,
    /// A COPY was refused: reported instead of the results.
    refused: Option<Error>,
}

impl ResultSets {
    /// Takes an event; `true` at the ReadyForQuery that ends a statement list.
    fn take(&mut self, ev: Event<'_>, keep_rows: bool) -> bool {
        let empty = || ResultSet { columns: None, rows: Vec::new(), tag: None };
        match ev {
            Event::RowDescription(cols) => {
                self.current = Some(ResultSet { columns: Some(cols.clone()), rows: Vec::new(), tag: None });
            }
            Event::DataRow(row) if keep_rows => self.current.get_or_insert_with(empty).rows.push(row.to_owned()),
            Event::CommandComplete(tag) => {
                let mut rs = self.current.take().unwrap_or_else(empty);
                rs.tag = Some(tag.to_owned());
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
        shared: &mut Shared,
    ) -> Result<SimpleMachine, Error> {
        shared.queue_simple(id, sql)?;
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

/// A session command: its statements as simple queries, then the effect the rules planned.
#[derive(Debug)]
pub(crate) struct CommandMachine {
    remaining: usize,
    collected: ResultSets,
    effect: Option<Effect>,
    effect_on_error: bool,
    reading: Reading,
}

impl CommandMachine {
    /// Queues the plan's statements. With none (a setting only stored), the effect applies at
    /// once and the response is ready: `Err(response)`.
    pub(crate) fn start(
        plan: Plan,
        id: RequestId,
        shared: &mut Shared,
    ) -> Result<Result<CommandMachine, Response>, Error> {
        if plan.statements.is_empty() {
            rules::apply(plan.effect, &mut shared.session);
            return Ok(Err(Response::Command(Vec::new())));
        }
        for sql in &plan.statements {
            shared.queue_simple(id, sql)?;
        }
        // An effect that holds whatever the server answers (a scope's end, a reset) applies
        // now: what the connection reports, and what is planned after it, follow at once.
        let effect = if plan.effect_on_error {
            rules::apply(plan.effect, &mut shared.session);
            None
        } else {
            Some(plan.effect)
        };
        Ok(Ok(CommandMachine {
            remaining: plan.statements.len(),
            collected: ResultSets::default(),
            effect,
            effect_on_error: plan.effect_on_error,
            reading: plan.reading,
        }))
    }

    /// Whether it opens a transaction scope.
    pub(crate) fn opens_scope(&self) -> bool {
        matches!(self.effect, Some(Effect::ScopeOpened { .. }))
    }

    pub(crate) fn on_event(&mut self, ev: Event<'_>, shared: &mut Shared) -> Progress {
        if !self.collected.take(ev, true) {
            return Progress::Pending;
        }
        self.remaining -= 1;
        if self.remaining > 0 {
            return Progress::Pending;
        }
        let c = std::mem::take(&mut self.collected);
        if c.error.is_none() || self.effect_on_error {
            if let Some(effect) = self.effect.take() {
                rules::apply(effect, &mut shared.session);
            }
        }
        if let Some(e) = c.refused {
            return Progress::Done(Err(e));
        }
        if let Some(mut e) = c.error {
            if self.reading == Reading::TpcPrepare && e.code() == "55000" {
                // "prepared transactions are disabled": psycopg 3's NotSupportedError.
                e.class_override = Some(ErrorClass::NotSupported);
            }
            return Progress::Done(Err(Error::Db(e)));
        }
        Progress::Done(Ok(match self.reading {
            Reading::Recovered => {
                let text = |r: &OwnedRow, i: usize| r.get::<Option<String>, _>(i).ok().flatten().unwrap_or_default();
                Response::Recovered(
                    c.results
                        .into_iter()
                        .flat_map(|rs| rs.rows)
                        .map(|r| RecoveredXid {
                            xid: Xid::from_string(&text(&r, 0)),
                            prepared: text(&r, 1),
                            owner: text(&r, 2),
                            database: text(&r, 3),
                        })
                        .collect(),
                )
            }
            Reading::ResultSets | Reading::TpcPrepare => Response::Command(c.results),
        }))
    }
}
