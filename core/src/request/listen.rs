//! Waiting for notifications (LISTEN / NOTIFY) while the connection is otherwise idle: a request
//! with no messages of its own, answered once a notification has arrived. The notifications
//! stay queued in the engine for whoever takes them, one or all at a time.

use super::{Response, Wants};
use crate::error::Error;
use crate::session::conversation::Conversation;

#[derive(Debug)]
pub(crate) struct ListenMachine;

impl ListenMachine {
    pub(crate) fn wants(&self) -> Wants {
        Wants { idle_input: true, ..Wants::default() }
    }

    pub(crate) fn on_idle(&mut self, conv: &Conversation) -> Option<Result<Response, Error>> {
        (!conv.status.notifications.is_empty()).then_some(Ok(Response::NotificationsArrived))
    }
}
