//! `target_session_attrs`: whether the server a connection reached is the kind asked for,
//! decided as libpq does (`fe-connect.c`, `CONNECTION_CHECK_TARGET`): from the
//! `default_transaction_read_only` and `in_hot_standby` parameters the server reports
//! (PostgreSQL 14+), else by asking it (`SHOW transaction_read_only`,
//! `SELECT pg_catalog.pg_is_in_recovery()`).

use crate::config::TargetSessionAttrs;
use crate::session::status::ServerStatus;

/// What to do once startup reached its first ReadyForQuery.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Check {
    Accept,
    Reject(&'static str),
    /// Ask the server with this query; its one value decides.
    Ask(&'static str),
}

fn flag(status: &ServerStatus, name: &str) -> Option<bool> {
    status.parameter(name).map(|v| v == "on")
}

/// The decision from what the server reported.
pub(crate) fn check(attrs: TargetSessionAttrs, status: &ServerStatus) -> Check {
    match attrs {
        TargetSessionAttrs::Any => Check::Accept,
        TargetSessionAttrs::ReadWrite | TargetSessionAttrs::ReadOnly => {
            match (flag(status, "default_transaction_read_only"), flag(status, "in_hot_standby")) {
                (Some(a), Some(b)) => read_only(attrs, a || b),
                _ => Check::Ask("SHOW transaction_read_only"),
            }
        }
        TargetSessionAttrs::Primary | TargetSessionAttrs::Standby | TargetSessionAttrs::PreferStandby => {
            match flag(status, "in_hot_standby") {
                Some(standby) => hot_standby(attrs, standby),
                None => Check::Ask("SELECT pg_catalog.pg_is_in_recovery()"),
            }
        }
    }
}

/// The decision from the server's answer to [`Check::Ask`] (`on`/`off`, `t`/`f`).
pub(crate) fn answer(attrs: TargetSessionAttrs, value: &[u8]) -> Check {
    match attrs {
        TargetSessionAttrs::ReadWrite | TargetSessionAttrs::ReadOnly => read_only(attrs, value.starts_with(b"on")),
        _ => hot_standby(attrs, value == b"t"),
    }
}

fn read_only(attrs: TargetSessionAttrs, read_only: bool) -> Check {
    match (attrs, read_only) {
        (TargetSessionAttrs::ReadWrite, true) => Check::Reject("session is read-only"),
        (TargetSessionAttrs::ReadOnly, false) => Check::Reject("session is not read-only"),
        _ => Check::Accept,
    }
}

fn hot_standby(attrs: TargetSessionAttrs, standby: bool) -> Check {
    match (attrs, standby) {
        (TargetSessionAttrs::Primary, true) => Check::Reject("server is in hot standby mode"),
        (TargetSessionAttrs::Standby | TargetSessionAttrs::PreferStandby, false) => {
            Check::Reject("server is not in hot standby mode")
        }
        _ => Check::Accept,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(params: &[(&str, &str)]) -> ServerStatus {
        let mut s = ServerStatus::default();
        for (k, v) in params {
            s.set_parameter((*k).into(), (*v).into());
        }
        s
    }

    #[test]
    fn decided_from_reported_parameters() {
        let primary = status(&[("default_transaction_read_only", "off"), ("in_hot_standby", "off")]);
        let standby = status(&[("default_transaction_read_only", "off"), ("in_hot_standby", "on")]);
        let ro_primary = status(&[("default_transaction_read_only", "on"), ("in_hot_standby", "off")]);
        use TargetSessionAttrs::*;
        assert_eq!(check(ReadWrite, &primary), Check::Accept);
        assert_eq!(check(ReadWrite, &standby), Check::Reject("session is read-only"));
        assert_eq!(check(ReadWrite, &ro_primary), Check::Reject("session is read-only"));
        assert_eq!(check(ReadOnly, &ro_primary), Check::Accept);
        assert_eq!(check(ReadOnly, &primary), Check::Reject("session is not read-only"));
        assert_eq!(check(Primary, &ro_primary), Check::Accept);
        assert_eq!(check(Primary, &standby), Check::Reject("server is in hot standby mode"));
        assert_eq!(check(Standby, &primary), Check::Reject("server is not in hot standby mode"));
        assert_eq!(check(PreferStandby, &standby), Check::Accept);
        assert_eq!(check(Any, &standby), Check::Accept);
    }

    #[test]
    fn asked_when_an_older_server_did_not_report() {
        use TargetSessionAttrs::*;
        let old = status(&[]);
        assert_eq!(check(ReadWrite, &old), Check::Ask("SHOW transaction_read_only"));
        assert_eq!(check(Standby, &old), Check::Ask("SELECT pg_catalog.pg_is_in_recovery()"));
        assert_eq!(answer(ReadWrite, b"on"), Check::Reject("session is read-only"));
        assert_eq!(answer(ReadWrite, b"off"), Check::Accept);
        assert_eq!(answer(Primary, b"t"), Check::Reject("server is in hot standby mode"));
        assert_eq!(answer(Standby, b"t"), Check::Accept);
        assert_eq!(answer(Standby, b"f"), Check::Reject("server is not in hot standby mode"));
    }
}
