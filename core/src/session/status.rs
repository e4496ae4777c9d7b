//! What the server reports about the session outside any request: run-time parameters
//! (ParameterStatus), the backend's key, notices, notifications, and the transaction status
//! of each ReadyForQuery.

use std::collections::VecDeque;

use crate::error::{Notice, ProtocolError};

/// `PQtransactionStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransactionStatus {
    /// Idle, not in a transaction block.
    Idle,
    /// A command is in progress.
    Active,
    /// Idle, in a transaction block.
    InTransaction,
    /// Idle, in a failed transaction block.
    InError,
    /// The connection is bad (closed, broken, or not established).
    #[default]
    Unknown,
}

impl TransactionStatus {
    /// The status byte of a ReadyForQuery (`I`, `T`, `E`).
    pub fn from_ready_for_query(status: u8) -> Result<TransactionStatus, ProtocolError> {
        match status {
            b'I' => Ok(TransactionStatus::Idle),
            b'T' => Ok(TransactionStatus::InTransaction),
            b'E' => Ok(TransactionStatus::InError),
            _ => Err(ProtocolError::Malformed { message: "ReadyForQuery", what: "unknown status" }),
        }
    }
}

/// A `NotificationResponse` (LISTEN / NOTIFY).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Notification {
    pub process_id: i32,
    pub channel: String,
    pub payload: String,
}

/// The backend's process id and secret key, from `BackendKeyData`, for cancel requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendKey {
    pub process_id: i32,
    /// 4 bytes in protocol 3.0; up to 256 in 3.2.
    pub secret_key: Vec<u8>,
}

/// A callback that receives every notice instead of the notice queue.
pub type NoticeHandler = Box<dyn FnMut(&Notice) + Send>;

/// A callback run for every notification as it arrives, during any operation (psycopg 3's
/// notify handlers), instead of the notification queue.
pub type NotificationHandler = Box<dyn FnMut(&Notification) + Send>;

/// The maximum number of notices kept by default (psycopg2's `CONN_NOTICES_LIMIT`).
pub const DEFAULT_NOTICE_LIMIT: usize = 50;

/// Notifications kept for the application by default; beyond it the oldest are dropped (and
/// counted): a flood nobody reads cannot grow memory without bound.
pub const DEFAULT_NOTIFICATION_LIMIT: usize = 10_000;

/// The server-reported state of a session.
pub(crate) struct ServerStatus {
    pub(crate) parameters: Vec<(String, String)>,
    pub(crate) backend_key: Option<BackendKey>,
    pub(crate) protocol_minor: u16,
    pub(crate) notices: VecDeque<Notice>,
    pub(crate) notice_limit: usize,
    pub(crate) notice_handler: Option<NoticeHandler>,
    pub(crate) notifications: VecDeque<Notification>,
    pub(crate) notification_handler: Option<NotificationHandler>,
    pub(crate) notification_limit: usize,
    /// Notifications dropped because the queue was full.
    pub(crate) notifications_dropped: u64,
    /// How the client authenticated (`trust`, `password`, `md5`, `SCRAM-SHA-256`,
    /// `SCRAM-SHA-256-PLUS`), once connected.
    pub(crate) auth_method: Option<&'static str>,
}

impl Default for ServerStatus {
    fn default() -> Self {
        ServerStatus {
            parameters: Vec::new(),
            backend_key: None,
            protocol_minor: 0,
            notices: VecDeque::new(),
            notice_limit: DEFAULT_NOTICE_LIMIT,
            notice_handler: None,
            notifications: VecDeque::new(),
            notification_handler: None,
            notification_limit: DEFAULT_NOTIFICATION_LIMIT,
            notifications_dropped: 0,
            auth_method: None,
        }
    }
}

impl std::fmt::Debug for ServerStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerStatus")
            .field("parameters", &self.parameters.len())
            .field("backend_key", &self.backend_key.is_some())
            .field("notices", &self.notices.len())
            .field("notifications", &self.notifications.len())
            .finish_non_exhaustive()
    }
}

impl ServerStatus {
    pub(crate) fn set_parameter(&mut self, name: String, value: String) {
        match self.parameters.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = value,
            None => self.parameters.push((name, value)),
        }
    }

    pub(crate) fn parameter(&self, name: &str) -> Option<&str> {
        self.parameters.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub(crate) fn push_notification(&mut self, n: Notification) {
        match &mut self.notification_handler {
            Some(handler) => handler(&n),
            None => {
                while self.notifications.len() >= self.notification_limit.max(1) {
                    self.notifications.pop_front();
                    self.notifications_dropped += 1;
                }
                self.notifications.push_back(n);
            }
        }
    }

    pub(crate) fn push_notice(&mut self, notice: Notice) {
        if let Some(handler) = &mut self.notice_handler {
            handler(&notice);
            return;
        }
        if self.notice_limit == 0 {
            return;
        }
        while self.notices.len() >= self.notice_limit {
            self.notices.pop_front();
        }
        self.notices.push_back(notice);
    }

    pub(crate) fn set_notice_limit(&mut self, limit: usize) {
        self.notice_limit = limit;
        while self.notices.len() > limit {
            self.notices.pop_front();
        }
    }
}

/// libpq's `server_version` parsing: `"15.4"` → 150004, `"9.6.1"` → 90601, `"16devel"` → 160000.
pub fn parse_server_version(s: &str) -> i32 {
    let mut nums = [0i32; 3];
    let mut count = 0;
    let mut rest = s;
    while count < 3 {
        let digits = rest.bytes().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            break;
        }
        nums[count] = rest[..digits].parse().unwrap_or(0);
        count += 1;
        rest = &rest[digits..];
        match rest.strip_prefix('.') {
            Some(r) => rest = r,
            None => break,
        }
    }
    match count {
        3 => (100 * nums[0] + nums[1]) * 100 + nums[2],
        2 if nums[0] >= 10 => nums[0] * 10000 + nums[1],
        2 => (100 * nums[0] + nums[1]) * 100,
        1 => nums[0] * 10000,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::parse_server_version as v;

    #[test]
    fn server_versions() {
        assert_eq!(v("15.4"), 150004);
        assert_eq!(v("15.18 (Debian 15.18-0+deb12u1)"), 150018);
        assert_eq!(v("9.6.1"), 90601);
        assert_eq!(v("9.6devel"), 90600);
        assert_eq!(v("17beta1"), 170000);
        assert_eq!(v("x"), 0);
    }
}
