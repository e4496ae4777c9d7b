//! The order connection attempts are made in, written once for every transport: libpq's host
//! list (in order, or shuffled with `load_balance_hosts=random`; `prefer-standby`'s second pass),
//! and libpq's second attempt on the same host for `sslmode` allow and prefer.

use std::collections::VecDeque;

use super::{Config, HostAttempt};
use crate::error::{ConfigError, Error};

/// What to try next (see [`ConnectPlan::next`]).
#[derive(Debug)]
pub enum NextAttempt {
    /// Connect to `host` with `config` (the configuration given, or for a second attempt the
    /// same with another `sslmode`). `second_ssl`: libpq's second attempt on the host just
    /// tried, within the same `connect_timeout`.
    Try { config: Box<Config>, host: HostAttempt, second_ssl: bool },
    /// Stop: no attempt is left, or the last failure ends the connect (a server that refused
    /// the session). The error to report.
    GiveUp(Error),
}

/// The connection attempts for one connect, decided as libpq decides them: after a failure,
/// the same host again with another `sslmode` (allow: plaintext refused → TLS; prefer: TLS
/// failed or refused → plaintext), else the next host when the failure is one libpq moves on
/// after (unreachable, closed, timed out, the wrong kind for `target_session_attrs`), else stop.
#[derive(Debug)]
pub struct ConnectPlan {
    config: Config,
    hosts: VecDeque<HostAttempt>,
    current: Option<HostAttempt>,
    second_tried: bool,
}

impl ConnectPlan {
    /// The plan for `config`; `seed` shuffles the hosts with `load_balance_hosts=random` (the
    /// caller draws it: the engine never makes randomness).
    pub fn new(config: &Config, seed: u64) -> Result<ConnectPlan, Error> {
        let hosts: VecDeque<HostAttempt> = config.host_attempts(seed)?.into();
        if hosts.is_empty() {
            return Err(ConfigError::Unsupported("no host to connect to".into()).into());
        }
        Ok(ConnectPlan { config: config.clone(), hosts, current: None, second_tried: false })
    }

    /// The attempt to make: first call with `None`, then with how the last attempt failed (its
    /// error, and whether TLS was in use when it did).
    pub fn next(&mut self, failed: Option<(Error, bool)>) -> NextAttempt {
        if let (Some((error, tls_used)), Some(host)) = (&failed, &self.current) {
            if !self.second_tried {
                if let Some(second) = self.config.second_ssl_attempt(error, *tls_used) {
                    self.second_tried = true;
                    return NextAttempt::Try { config: Box::new(second), host: host.clone(), second_ssl: true };
                }
            }
            if !error.tries_next_host() {
                return NextAttempt::GiveUp(error.clone());
            }
        }
        match self.hosts.pop_front() {
            Some(host) => {
                self.current = Some(host.clone());
                self.second_tried = false;
                NextAttempt::Try { config: Box::new(self.config.clone()), host, second_ssl: false }
            }
            None => NextAttempt::GiveUp(match failed {
                Some((e, _)) => e,
                None => ConfigError::Unsupported("no host to connect to".into()).into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tried(next: NextAttempt) -> (String, String, bool) {
        match next {
            NextAttempt::Try { config, host, second_ssl } => {
                (host.target.host_to_resolve(), config.get("sslmode").unwrap_or("").to_owned(), second_ssl)
            }
            NextAttempt::GiveUp(e) => panic!("gave up: {e}"),
        }
    }

    #[test]
    fn second_attempts_then_next_hosts_then_the_last_error() {
        let config = Config::parse("host=a,b port=5432 user=u sslmode=prefer").unwrap();
        let mut plan = ConnectPlan::new(&config, 0).unwrap();
        assert_eq!(tried(plan.next(None)), ("a".into(), "prefer".into(), false));
        // TLS failed on a: a again in plaintext.
        assert_eq!(
            tried(plan.next(Some((Error::Tls("handshake".into()), true)))),
            ("a".into(), "disable".into(), true)
        );
        // a unreachable: b, with prefer again.
        let unreachable = Error::Io(std::sync::Arc::new(std::io::ErrorKind::ConnectionRefused.into()));
        assert_eq!(tried(plan.next(Some((unreachable.clone(), false)))), ("b".into(), "prefer".into(), false));
        // b unreachable too: the last error.
        assert!(matches!(plan.next(Some((unreachable, false))), NextAttempt::GiveUp(Error::Io(_))));
    }

    #[test]
    fn a_refused_session_ends_the_connect() {
        let config = Config::parse("host=a,b user=u sslmode=disable").unwrap();
        let mut plan = ConnectPlan::new(&config, 0).unwrap();
        tried(plan.next(None));
        let refused = Error::Auth(crate::AuthError::PasswordMissing("SCRAM"));
        assert!(matches!(plan.next(Some((refused, false))), NextAttempt::GiveUp(Error::Auth(_))));
    }
}
