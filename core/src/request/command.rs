//! psycopg2's session commands: simple queries planned by the session rules
//! (`session/rules.rs`), whose effect on the session applies when the server has answered.

use super::simple::ResultSets;
use super::{Progress, Response};
use crate::error::SqlState;
use crate::error::{Error, ErrorClass};
use crate::request::event::Event;
use crate::session::conversation::{Conversation, RequestId};
use crate::session::rules::{self, Effect, Plan, Reading};
use crate::session::{RecoveredXid, Xid};
use crate::types::row::OwnedRow;

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
        conv: &mut Conversation,
    ) -> Result<Result<CommandMachine, Response>, Error> {
        if plan.statements.is_empty() {
            rules::apply(plan.effect, &mut conv.session);
            return Ok(Err(Response::Command(Vec::new())));
        }
        for sql in &plan.statements {
            conv.queue_simple(id, sql)?;
        }
        // An effect that holds whatever the server answers (a scope's end, a reset) applies
        // now: what the connection reports, and what is planned after it, follow at once.
        let effect = if plan.effect_on_error {
            rules::apply(plan.effect, &mut conv.session);
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

    pub(crate) fn on_event(&mut self, ev: Event<'_>, conv: &mut Conversation) -> Progress {
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
                rules::apply(effect, &mut conv.session);
            }
        }
        if let Some(e) = c.refused {
            return Progress::Done(Err(e));
        }
        if let Some(mut e) = c.error {
            if self.reading == Reading::TpcPrepare && e.code() == SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE {
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
