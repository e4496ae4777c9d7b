//! Trace spans (the `tracing` feature), named and filled as OpenTelemetry's database client
//! conventions say: `db.system.name = "postgresql"`, `db.namespace`, `db.operation.name`,
//! `db.query.text` (only with [`Config::trace_query_text`](pgsans::Config::trace_query_text)),
//! `db.response.status_code` (the SQLSTATE), `db.response.returned_rows`, `error.type`,
//! `server.address`, `server.port`; `otel.name` and `otel.kind` for tracing-opentelemetry.
//! Without the feature every call here compiles to nothing.

use pgsans::{Error, Request, Response};

/// The longest SQL text put in a span.
#[cfg(feature = "tracing")]
const MAX_TEXT: usize = 2048;

/// A span open for the life of a request, a stream or a COPY.
#[must_use]
pub(crate) struct Traced {
    #[cfg(feature = "tracing")]
    span: tracing::Span,
}

impl Traced {
    /// A span for `request` on `engine`'s connection.
    #[inline]
    pub(crate) fn request(engine: &pgsans::Connection, request: &Request) -> Traced {
        #[cfg(feature = "tracing")]
        {
            let summary = request.summary();
            let span = tracing::info_span!(
                "pgsans.request",
                otel.name = %summary.operation,
                otel.kind = "client",
                db.system.name = "postgresql",
                db.namespace = parameter(engine, "dbname"),
                db.operation.name = %summary.operation,
                db.operation.batch.size = summary.queries,
                db.query.text = tracing::field::Empty,
                db.pgsans.kind = summary.kind,
                db.pgsans.statement = summary.statement,
                db.pgsans.backend_pid = engine.backend_pid(),
                server.address = parameter(engine, "host"),
                server.port = parameter(engine, "port"),
                db.response.status_code = tracing::field::Empty,
                db.response.returned_rows = tracing::field::Empty,
                error.type = tracing::field::Empty,
            );
            if engine_traces_text(engine) {
                if let Some(sql) = summary.sql {
                    span.record("db.query.text", truncate(sql));
                }
            }
            Traced { span }
        }
        #[cfg(not(feature = "tracing"))]
        {
            let _ = (engine, request);
            Traced {}
        }
    }

    /// Records how the request ended.
    #[inline]
    pub(crate) fn finish(self, result: &Result<Response, Error>) {
        #[cfg(feature = "tracing")]
        match result {
            Ok(Response::Query(q)) => {
                self.span.record("db.response.returned_rows", q.rows_affected());
            }
            Ok(Response::Batch(b)) => {
                if let Some(e) = &b.error {
                    self.span.record("db.response.status_code", e.code().code());
                    self.span.record("error.type", e.code().code());
                }
            }
            Ok(_) => {}
            Err(e) => self.failed(e),
        }
        #[cfg(not(feature = "tracing"))]
        let _ = result;
    }

    /// Records rows and an end for a stream or a COPY.
    #[inline]
    pub(crate) fn rows(&self, rows: u64) {
        #[cfg(feature = "tracing")]
        self.span.record("db.response.returned_rows", rows);
        #[cfg(not(feature = "tracing"))]
        let _ = rows;
    }

    /// Records an error.
    #[inline]
    pub(crate) fn failed(&self, e: &Error) {
        #[cfg(feature = "tracing")]
        {
            match e.code() {
                Some(code) => {
                    self.span.record("db.response.status_code", code.code());
                    self.span.record("error.type", code.code());
                }
                None => {
                    self.span.record("error.type", error_type(e));
                }
            }
        }
        #[cfg(not(feature = "tracing"))]
        let _ = e;
    }
}

/// A span for connecting to one host.
#[inline]
pub(crate) fn connect_attempt(host: &pgsans::config::Host, port: u16, attempt: usize) -> Traced {
    #[cfg(feature = "tracing")]
    {
        Traced {
            span: tracing::info_span!(
                "pgsans.connect",
                otel.name = "connect",
                otel.kind = "client",
                db.system.name = "postgresql",
                server.address = %match host {
                    pgsans::config::Host::Tcp(name) => name.clone(),
                    pgsans::config::Host::Unix(dir) => dir.display().to_string(),
                },
                server.port = port,
                db.pgsans.attempt = attempt,
                db.pgsans.auth_method = tracing::field::Empty,
                db.pgsans.tls = tracing::field::Empty,
                db.pgsans.protocol = tracing::field::Empty,
                db.pgsans.backend_pid = tracing::field::Empty,
                error.type = tracing::field::Empty,
            ),
        }
    }
    #[cfg(not(feature = "tracing"))]
    {
        let _ = (host, port, attempt);
        Traced {}
    }
}

impl Traced {
    /// Records what a connection attempt that succeeded agreed with the server.
    #[inline]
    pub(crate) fn connected(&self, engine: &pgsans::Connection) {
        #[cfg(feature = "tracing")]
        {
            self.span.record("db.pgsans.auth_method", engine.auth_method().unwrap_or("unknown"));
            self.span.record("db.pgsans.tls", engine.ssl_in_use());
            let (major, minor) = engine.protocol_version();
            self.span.record("db.pgsans.protocol", tracing::field::display(format_args!("{major}.{minor}")));
            self.span.record("db.pgsans.backend_pid", engine.backend_pid());
        }
        #[cfg(not(feature = "tracing"))]
        let _ = engine;
    }
}

#[cfg(feature = "tracing")]
fn parameter<'e>(engine: &'e pgsans::Connection, key: &str) -> &'e str {
    engine.dsn_parameters().iter().find(|(k, _)| k == key).map_or("", |(_, v)| v.as_str())
}

#[cfg(feature = "tracing")]
fn engine_traces_text(engine: &pgsans::Connection) -> bool {
    engine.trace_query_text()
}

#[cfg(feature = "tracing")]
fn truncate(sql: &str) -> &str {
    if sql.len() <= MAX_TEXT {
        return sql;
    }
    let mut end = MAX_TEXT;
    while !sql.is_char_boundary(end) {
        end -= 1;
    }
    &sql[..end]
}

/// `error.type` for an error that is not the server's: its kind.
#[cfg(feature = "tracing")]
fn error_type(e: &Error) -> &'static str {
    match e {
        Error::Db(_) => "db",
        Error::Protocol(_) => "protocol",
        Error::Usage(_) => "usage",
        Error::Auth(_) => "auth",
        Error::Config(_) => "config",
        Error::Closed(_) => "closed",
        Error::Io(_) => "io",
        Error::PipelineAborted => "pipeline_aborted",
        Error::Timeout => "timeout",
        Error::Tls(_) => "tls",
        Error::TargetSessionAttrs { .. } => "target_session_attrs",
        Error::Internal(_) => "internal",
        _ => "other",
    }
}
