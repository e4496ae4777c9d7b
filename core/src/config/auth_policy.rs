//! What the client accepts from the server's authentication requests: `channel_binding` and
//! `require_auth`, with libpq's rules (`fe-auth.c`, `check_expected_areq`).

use crate::error::{AuthError, ConfigError};

/// `channel_binding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum ChannelBindingMode {
    /// Never bind, even when the server offers SCRAM-SHA-256-PLUS.
    Disable,
    /// Bind when TLS is in use and the server offers it (libpq's default).
    #[default]
    Prefer,
    /// Only an exchange bound to the TLS channel is accepted: no other method, no trust.
    Require,
}

/// One authentication method `require_auth` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Password,
    Md5,
    Gss,
    Sspi,
    ScramSha256,
    None,
}

impl Method {
    const ALL: [(&'static str, Method); 6] = [
        ("password", Method::Password),
        ("md5", Method::Md5),
        ("gss", Method::Gss),
        ("sspi", Method::Sspi),
        ("scram-sha-256", Method::ScramSha256),
        ("none", Method::None),
    ];

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// `require_auth`: the methods the server may use, and whether it must use one at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequireAuth {
    /// As written, for error messages (libpq quotes it).
    text: String,
    allowed: u8,
}

impl RequireAuth {
    /// Parses libpq's list: methods, or methods each prefixed with `!` (never a mix), each once.
    pub(crate) fn parse(text: &str) -> Result<Option<RequireAuth>, ConfigError> {
        if text.is_empty() {
            return Ok(None);
        }
        let invalid = |why: String| ConfigError::InvalidValue { key: "require_auth".into(), value: why };
        let mut negated = None;
        let mut seen = 0u8;
        for item in text.split(',') {
            let (neg, name) = match item.strip_prefix('!') {
                Some(n) => (true, n),
                None => (false, item),
            };
            let Some(&(_, method)) = Method::ALL.iter().find(|(n, _)| *n == name) else {
                return Err(invalid(format!("{text}\" (unknown method \"{name}\"")));
            };
            if *negated.get_or_insert(neg) != neg {
                return Err(invalid(format!("{text}\" (negative methods cannot be mixed with positive ones")));
            }
            if seen & method.bit() != 0 {
                return Err(invalid(format!("{text}\" (\"{name}\" is given more than once")));
            }
            seen |= method.bit();
        }
        let all = Method::ALL.iter().fold(0, |a, (_, m)| a | m.bit());
        let allowed = if negated == Some(true) { all & !seen } else { seen };
        Ok(Some(RequireAuth { text: text.to_owned(), allowed }))
    }

    fn allows(&self, m: Method) -> bool {
        self.allowed & m.bit() != 0
    }
}

/// The rules one startup checks each authentication request against.
#[derive(Debug, Clone, Default)]
pub(crate) struct AuthPolicy {
    pub(crate) channel_binding: ChannelBindingMode,
    pub(crate) require_auth: Option<RequireAuth>,
}

/// An authentication request, as the policy sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Request {
    /// AuthenticationOk; `bound` says whether a SCRAM exchange bound to TLS completed, `done`
    /// whether any authentication exchange did.
    Ok {
        done: bool,
        bound: bool,
    },
    Password,
    Md5,
    Gss,
    Sspi,
    Sasl,
}

impl AuthPolicy {
    /// Refuses a request the settings do not allow, before anything is answered (so no
    /// password is sent to a server that was not supposed to ask for one).
    pub(crate) fn check(&self, req: Request) -> Result<(), AuthError> {
        if let Some(r) = &self.require_auth {
            let why = match req {
                Request::Ok { done, .. } => {
                    (!done && !r.allows(Method::None)).then_some("server did not complete authentication")
                }
                Request::Password => (!r.allows(Method::Password)).then_some("server requested a cleartext password"),
                Request::Md5 => (!r.allows(Method::Md5)).then_some("server requested a hashed password"),
                Request::Gss => (!r.allows(Method::Gss)).then_some("server requested GSSAPI authentication"),
                Request::Sspi => (!r.allows(Method::Sspi)).then_some("server requested SSPI authentication"),
                Request::Sasl => (!r.allows(Method::ScramSha256)).then_some("server requested SASL authentication"),
            };
            if let Some(why) = why {
                return Err(AuthError::RequirementFailed { required: r.text.clone(), why });
            }
        }
        if self.channel_binding == ChannelBindingMode::Require {
            match req {
                Request::Sasl => {}
                Request::Ok { bound: true, .. } => {}
                Request::Ok { .. } => {
                    return Err(AuthError::ChannelBinding(
                        "channel binding required, but server authenticated client without channel binding",
                    ))
                }
                _ => {
                    return Err(AuthError::ChannelBinding(
                        "channel binding required but not supported by server's authentication request",
                    ))
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(require_auth: &str, cb: ChannelBindingMode) -> AuthPolicy {
        AuthPolicy { channel_binding: cb, require_auth: RequireAuth::parse(require_auth).unwrap() }
    }

    #[test]
    fn require_auth_lists() {
        let p = policy("scram-sha-256", ChannelBindingMode::Prefer);
        assert!(p.check(Request::Sasl).is_ok());
        assert!(p.check(Request::Md5).is_err());
        assert!(p.check(Request::Password).is_err());
        assert!(p.check(Request::Ok { done: false, bound: false }).is_err(), "trust is refused");
        assert!(p.check(Request::Ok { done: true, bound: false }).is_ok());

        let p = policy("!password,!md5", ChannelBindingMode::Prefer);
        assert!(p.check(Request::Sasl).is_ok());
        assert!(p.check(Request::Md5).is_err());
        assert!(p.check(Request::Ok { done: false, bound: false }).is_ok(), "none is not excluded");

        let p = policy("!none", ChannelBindingMode::Prefer);
        assert!(p.check(Request::Md5).is_ok());
        assert!(p.check(Request::Ok { done: false, bound: false }).is_err());

        let p = policy("md5,none", ChannelBindingMode::Prefer);
        assert!(p.check(Request::Ok { done: false, bound: false }).is_ok());
        assert!(p.check(Request::Sasl).is_err());

        for bad in ["md5,!none", "md5,md5", "kerberos", "!", ","] {
            assert!(RequireAuth::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(RequireAuth::parse("").unwrap(), None);
    }

    #[test]
    fn channel_binding_require_refuses_every_downgrade() {
        let p = policy("", ChannelBindingMode::Require);
        assert!(p.check(Request::Sasl).is_ok());
        for r in
            [Request::Password, Request::Md5, Request::Gss, Request::Sspi, Request::Ok { done: true, bound: false }]
        {
            assert!(p.check(r).is_err(), "{r:?}");
        }
        assert!(p.check(Request::Ok { done: true, bound: true }).is_ok());
    }
}
