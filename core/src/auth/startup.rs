//! The startup exchange as a state machine: authentication requests answered (cleartext, MD5,
//! SCRAM-SHA-256), then BackendKeyData, ParameterStatus and NegotiateProtocolVersion until the
//! first ReadyForQuery.

use crate::auth::scram::{ChannelBinding, ScramClient};
use crate::auth::target::{self, Check};
use crate::config::auth_policy::{AuthPolicy, ChannelBindingMode, Request};
use crate::config::TargetSessionAttrs;
use crate::error::{AuthError, DbError, Error, ProtocolError};
use crate::session::status::{BackendKey, ServerStatus, TransactionStatus};
use crate::wire::codec::backend::{Authentication, BackendMessage};
use crate::wire::codec::frontend;

/// The printable nonce for SCRAM. Injected so that the engine never draws randomness itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientNonce(pub(crate) String);

impl ClientNonce {
    /// The nonce libpq would build from 18 random bytes (their base64). Transports pass bytes
    /// from the OS random source.
    pub fn from_random_bytes(bytes: [u8; 18]) -> Self {
        ClientNonce(crate::auth::scram::nonce_from_random(&bytes))
    }

    /// A given printable nonce, for replaying a recorded exchange. It must be non-empty,
    /// printable ASCII and contain no `,`.
    pub fn from_printable(s: &str) -> Result<Self, crate::UsageError> {
        if s.is_empty() || !s.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',') {
            return Err(crate::UsageError::InvalidArgument("SCRAM nonce must be printable ASCII without ','".into()));
        }
        Ok(ClientNonce(s.to_owned()))
    }
}

#[derive(Debug)]
enum AuthState {
    /// Waiting for the first Authentication request.
    Start,
    /// A password was sent; waiting for AuthenticationOk.
    SentPassword,
    Scram(Box<ScramClient>),
    /// AuthenticationOk received; waiting for BackendKeyData, ParameterStatus and ReadyForQuery.
    Authenticated,
    /// `target_session_attrs` asked the server a question; waiting for its answer.
    CheckingTarget {
        value: Option<Vec<u8>>,
    },
}

/// The client side of startup: who we are and how far authentication got.
pub(crate) struct Startup {
    state: AuthState,
    user: String,
    /// Forgotten as soon as authentication is over.
    password: Option<Vec<u8>>,
    nonce: ClientNonce,
    /// A message of the server was handled.
    received: bool,
    policy: AuthPolicy,
    attrs: TargetSessionAttrs,
    /// `min_protocol_version`'s minor version.
    min_minor: u16,
    /// An authentication exchange (password or SCRAM) was completed.
    exchanged: bool,
    /// How the client authenticated: `trust` until the server asks for more.
    pub(crate) method: &'static str,
}

impl std::fmt::Debug for Startup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Startup").field("state", &self.state).field("user", &self.user).finish_non_exhaustive()
    }
}

fn unexpected(ty: char, state: &'static str) -> Error {
    ProtocolError::Unexpected { ty, state }.into()
}

impl Drop for Startup {
    fn drop(&mut self) {
        if let Some(password) = self.password.as_mut() {
            zeroize::Zeroize::zeroize(password);
        }
    }
}

impl Startup {
    /// The startup for `attempt`: its state, and the StartupMessage to send (after the TLS
    /// handshake, when there is one) — user, database, application name, client encoding,
    /// options, replication and the extra run-time parameters, for the highest protocol
    /// version asked for.
    pub(crate) fn for_attempt(
        config: &crate::config::Config,
        attempt: &crate::config::HostAttempt,
        nonce: ClientNonce,
    ) -> Result<(Startup, Vec<u8>, u16), crate::Error> {
        let user = config.user().ok_or(crate::error::ConfigError::NoUser)?.to_owned();
        let database = config.dbname().unwrap_or(&user).to_owned();
        let mut params: Vec<(&str, &str)> = vec![("user", &user), ("database", &database)];
        if let Some(app) = config.application_name() {
            params.push(("application_name", app));
        }
        let encoding = match config.get("client_encoding") {
            None | Some("auto") => "UTF8",
            Some(e) => e,
        };
        params.push(("client_encoding", encoding));
        if let Some(options) = config.options() {
            params.push(("options", options));
        }
        if let Some(replication) = config.get("replication") {
            params.push(("replication", replication));
        }
        for (k, v) in config.params() {
            params.push((k, v));
        }
        let (min_minor, max_minor) = config.protocol_versions()?;
        let mut packet = Vec::new();
        crate::wire::codec::frontend::startup_message_version(max_minor, params.iter().copied(), &mut packet)?;
        let password = config.password_for(&attempt.target).map(|p| p.as_bytes().to_vec());
        let startup = Startup::new(user, password, nonce, config.auth_policy()?, attempt.attrs, min_minor);
        Ok((startup, packet, max_minor))
    }

    pub(crate) fn new(
        user: String,
        password: Option<Vec<u8>>,
        nonce: ClientNonce,
        policy: AuthPolicy,
        attrs: TargetSessionAttrs,
        min_minor: u16,
    ) -> Startup {
        Startup {
            state: AuthState::Start,
            user,
            password,
            nonce,
            received: false,
            policy,
            attrs,
            exchanged: false,
            method: "trust",
            min_minor,
        }
    }

    /// One startup message. `Ok(Some(status))` at the first ReadyForQuery: the session is
    /// ready. Replies are appended to `send`; what the server reports goes into `status`.
    pub(crate) fn on_message(
        &mut self,
        ty: u8,
        msg: BackendMessage<'_>,
        send: &mut Vec<u8>,
        status: &mut ServerStatus,
        encoding: crate::encoding::Encoding,
        tls: Option<&crate::auth::tls::TlsSession>,
    ) -> Result<Option<TransactionStatus>, Error> {
        self.received = true;
        match msg {
            BackendMessage::Authentication(a) => {
                let state = std::mem::replace(&mut self.state, AuthState::Start);
                self.state = self.authenticate(state, a, send, tls)?;
                Ok(None)
            }
            BackendMessage::BackendKeyData { process_id, secret_key } => {
                if !matches!(self.state, AuthState::Authenticated) {
                    return Err(unexpected('K', "authenticating"));
                }
                // 4 bytes in protocol 3.0; 3.2 allows up to 256 (PostgreSQL 18 sends 32).
                let fits = if status.protocol_minor == 0 {
                    secret_key.len() == 4
                } else {
                    (4..=256).contains(&secret_key.len())
                };
                if !fits {
                    return Err(
                        ProtocolError::Malformed { message: "BackendKeyData", what: "secret key length" }.into()
                    );
                }
                status.backend_key = Some(BackendKey { process_id, secret_key: secret_key.to_vec() });
                Ok(None)
            }
            BackendMessage::NegotiateProtocolVersion(v) => {
                // The server offers an older version than asked for (a newer or equal one is a
                // protocol violation), and lists the `_pq_.` options it does not know; we send none.
                if v.newest_minor >= status.protocol_minor || !self.state_is_start() {
                    return Err(ProtocolError::Unexpected {
                        ty: 'v',
                        state: "not a downgrade of the requested version",
                    }
                    .into());
                }
                if v.unrecognized_options().next().is_some() {
                    return Err(ProtocolError::Unexpected { ty: 'v', state: "options we did not send" }.into());
                }
                if v.newest_minor < self.min_minor {
                    return Err(ProtocolError::UnsupportedVersion(v.newest_minor).into());
                }
                status.protocol_minor = v.newest_minor;
                Ok(None)
            }
            BackendMessage::ErrorResponse(fields) => Err(Error::Db(Box::new(DbError::parse_in(fields, encoding)?))),
            BackendMessage::ReadyForQuery { status: s } => {
                let tx = TransactionStatus::from_ready_for_query(s)?;
                let decision = match &mut self.state {
                    AuthState::Authenticated => {
                        if let Some(mut password) = self.password.take() {
                            zeroize::Zeroize::zeroize(&mut password);
                        }
                        target::check(self.attrs, status)
                    }
                    AuthState::CheckingTarget { value } => match value.take() {
                        Some(v) => target::answer(self.attrs, &v),
                        None => return Err(unexpected('Z', "checking target_session_attrs (no answer)")),
                    },
                    _ => return Err(unexpected('Z', "authenticating")),
                };
                match decision {
                    Check::Accept => Ok(Some(tx)),
                    Check::Reject(why) => Err(Error::TargetSessionAttrs { wanted: self.attrs.as_str(), why }),
                    Check::Ask(sql) => {
                        frontend::query(sql, send)?;
                        self.state = AuthState::CheckingTarget { value: None };
                        Ok(None)
                    }
                }
            }
            BackendMessage::RowDescription(_) | BackendMessage::CommandComplete { .. }
                if matches!(self.state, AuthState::CheckingTarget { .. }) =>
            {
                Ok(None)
            }
            BackendMessage::DataRow(row) if matches!(self.state, AuthState::CheckingTarget { value: None }) => {
                let value = row.values().next().flatten().map(<[u8]>::to_vec);
                self.state = AuthState::CheckingTarget { value: Some(value.unwrap_or_default()) };
                Ok(None)
            }
            _ => Err(unexpected(ty as char, "starting up")),
        }
    }

    fn state_is_start(&self) -> bool {
        matches!(self.state, AuthState::Start)
    }

    /// Whether no message of the server has been handled yet.
    pub(crate) fn nothing_received(&self) -> bool {
        matches!(self.state, AuthState::Start) && !self.received
    }

    fn password(&self, method: &'static str) -> Result<&[u8], Error> {
        self.password.as_deref().ok_or(Error::Auth(AuthError::PasswordMissing(method)))
    }

    fn authenticate(
        &mut self,
        state: AuthState,
        a: Authentication<'_>,
        send: &mut Vec<u8>,
        tls: Option<&crate::auth::tls::TlsSession>,
    ) -> Result<AuthState, Error> {
        let r = |what: &'static str| unexpected('R', what);
        if let AuthState::Start = state {
            let req = match &a {
                Authentication::Ok => Some(Request::Ok { done: self.exchanged, bound: false }),
                Authentication::CleartextPassword => Some(Request::Password),
                Authentication::Md5Password { .. } => Some(Request::Md5),
                Authentication::Gss | Authentication::GssContinue { .. } => Some(Request::Gss),
                Authentication::Sspi => Some(Request::Sspi),
                Authentication::Sasl { .. } => Some(Request::Sasl),
                _ => None,
            };
            if let Some(req) = req {
                self.policy.check(req)?;
            }
        }
        match (state, a) {
            (AuthState::Start, Authentication::Ok) => Ok(AuthState::Authenticated),
            (AuthState::SentPassword, Authentication::Ok) => {
                self.exchanged = true;
                self.policy.check(Request::Ok { done: true, bound: false })?;
                Ok(AuthState::Authenticated)
            }
            (AuthState::Scram(s), Authentication::Ok) => {
                if !s.is_done() {
                    return Err(ProtocolError::Scram(
                        "AuthenticationOk before the server proved it knows the password",
                    )
                    .into());
                }
                self.exchanged = true;
                self.policy.check(Request::Ok { done: true, bound: s.is_bound() })?;
                Ok(AuthState::Authenticated)
            }
            (AuthState::Start, Authentication::CleartextPassword) => {
                let pw = self.password("password")?.to_vec();
                frontend::password_message(&pw, send)?;
                self.method = "password";
                Ok(AuthState::SentPassword)
            }
            (AuthState::Start, Authentication::Md5Password { salt }) => {
                let pw = self.password("MD5")?;
                let hashed = crate::auth::md5_password(&self.user, pw, salt);
                frontend::password_message(hashed.as_bytes(), send)?;
                self.method = "md5";
                Ok(AuthState::SentPassword)
            }
            (AuthState::Start, Authentication::Sasl { mechanisms }) => {
                let offered: Vec<&str> = mechanisms.iter().collect();
                let plus = offered.contains(&"SCRAM-SHA-256-PLUS");
                if plus && tls.is_none() {
                    // Only a server that lies offers a binding to a channel that is not there.
                    return Err(ProtocolError::Scram(
                        "server offered SCRAM-SHA-256-PLUS over a connection without TLS",
                    )
                    .into());
                }
                let mode = self.policy.channel_binding;
                let binding = match tls {
                    Some(t) if plus && mode != ChannelBindingMode::Disable => {
                        ChannelBinding::TlsServerEndPoint(t.server_end_point()?)
                    }
                    // We could bind, the server did not offer it (`y`: lets a server that does
                    // support it detect a downgrade by a man in the middle).
                    Some(_) if mode != ChannelBindingMode::Disable => ChannelBinding::UnusedBySever,
                    _ => ChannelBinding::Unsupported,
                };
                if mode == ChannelBindingMode::Require && !matches!(binding, ChannelBinding::TlsServerEndPoint(_)) {
                    return Err(AuthError::ChannelBinding(
                        "channel binding is required, but server did not offer an authentication method that supports channel binding",
                    )
                    .into());
                }
                if !plus && !offered.contains(&"SCRAM-SHA-256") {
                    return Err(AuthError::NoCommonMechanism(offered.join(", ")).into());
                }
                let pw = self.password(binding.mechanism())?;
                let client = ScramClient::new(pw, &self.nonce.0, binding);
                self.method = client.mechanism();
                frontend::sasl_initial_response(client.mechanism(), client.client_first().as_bytes(), send)?;
                Ok(AuthState::Scram(Box::new(client)))
            }
            (AuthState::Scram(mut s), Authentication::SaslContinue { data }) => {
                let reply = s.handle_server_first(data)?;
                frontend::sasl_response(reply.as_bytes(), send)?;
                Ok(AuthState::Scram(s))
            }
            (AuthState::Scram(mut s), Authentication::SaslFinal { data }) => {
                s.handle_server_final(data)?;
                Ok(AuthState::Scram(s))
            }
            (AuthState::Start, Authentication::KerberosV5) => {
                Err(ProtocolError::UnsupportedAuth("Kerberos V5".into()).into())
            }
            (AuthState::Start, Authentication::Gss | Authentication::GssContinue { .. }) => {
                Err(ProtocolError::UnsupportedAuth("GSSAPI".into()).into())
            }
            (AuthState::Start, Authentication::Sspi) => Err(ProtocolError::UnsupportedAuth("SSPI".into()).into()),
            (AuthState::Authenticated, _) => Err(r("authenticated")),
            (_, _) => Err(r("authenticating")),
        }
    }
}
