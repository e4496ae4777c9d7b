//! `target_session_attrs`, as configured (the check against a server is `auth/target.rs`).

/// `target_session_attrs`: the kind of server a connection accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TargetSessionAttrs {
    #[default]
    Any,
    ReadWrite,
    ReadOnly,
    Primary,
    Standby,
    /// A standby when one of the hosts is; else any. The engine checks one host at a time, so
    /// it checks for a standby: the connecting loop tries the hosts again with `Any` when none
    /// was one (libpq's second pass).
    PreferStandby,
}

impl TargetSessionAttrs {
    /// libpq's keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetSessionAttrs::Any => "any",
            TargetSessionAttrs::ReadWrite => "read-write",
            TargetSessionAttrs::ReadOnly => "read-only",
            TargetSessionAttrs::Primary => "primary",
            TargetSessionAttrs::Standby => "standby",
            TargetSessionAttrs::PreferStandby => "prefer-standby",
        }
    }
}
