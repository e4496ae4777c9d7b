//! The `tracing` feature: a span per connect attempt and per request, stream and COPY, with
//! OpenTelemetry's database attributes, seen by a subscriber that records them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use pgsans_tests::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

type Fields = BTreeMap<String, String>;

/// Records every pgsans span and its fields, for the whole test binary.
#[derive(Default)]
struct Capture {
    next: AtomicU64,
    spans: Mutex<Vec<(&'static str, Fields)>>,
}

struct Into<'a>(&'a mut Fields);

impl Visit for Into<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl Subscriber for Capture {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target().starts_with("pgsans")
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = Fields::new();
        span.record(&mut Into(&mut fields));
        let mut spans = self.spans.lock().unwrap();
        spans.push((span.metadata().name(), fields));
        self.next.store(spans.len() as u64, Ordering::Relaxed);
        Id::from_u64(spans.len() as u64)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut spans = self.spans.lock().unwrap();
        if let Some((_, fields)) = spans.get_mut(span.into_u64() as usize - 1) {
            values.record(&mut Into(fields));
        }
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<&'static Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture: &'static Capture = Box::leak(Box::default());
        tracing::subscriber::set_global_default(CaptureRef(capture)).expect("no other subscriber");
        capture
    })
}

/// The global subscriber: a reference to the leaked capture.
struct CaptureRef(&'static Capture);

impl Subscriber for CaptureRef {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        self.0.enabled(m)
    }
    fn new_span(&self, s: &Attributes<'_>) -> Id {
        self.0.new_span(s)
    }
    fn record(&self, s: &Id, v: &Record<'_>) {
        self.0.record(s, v)
    }
    fn record_follows_from(&self, a: &Id, b: &Id) {
        self.0.record_follows_from(a, b)
    }
    fn event(&self, e: &Event<'_>) {
        self.0.event(e)
    }
    fn enter(&self, s: &Id) {
        self.0.enter(s)
    }
    fn exit(&self, s: &Id) {
        self.0.exit(s)
    }
}

/// The spans of one backend.
fn spans_of(pid: i32) -> Vec<(&'static str, Fields)> {
    let pid = pid.to_string();
    capture()
        .spans
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, f)| f.get("db.pgsans.backend_pid") == Some(&pid))
        .cloned()
        .collect()
}

pub async fn spans_follow_opentelemetry_conventions<R: TestRt>() {
    capture();
    let server = TestServer::shared();
    let mut config = pgsans_client::load(&server.conninfo(AuthMethod::Scram)).unwrap();
    config.trace_query_text(true);
    let mut c: Conn<R> = Conn::<R>::connect_with(&config).await.unwrap();
    c.set_autocommit(true).await.unwrap();
    let pid = c.backend_pid();
    c.query("SELECT g FROM generate_series(1, 3) g WHERE g > $1", &[&0i32]).await.unwrap();
    c.batch_execute("SELECT 1/0").await.unwrap_err();
    let mut stream = c.query_raw("SELECT 1 UNION ALL SELECT 2", &[]).await.unwrap();
    while stream.next().await.unwrap().is_some() {}
    drop(stream);
    let mut copy = c.copy_out("COPY (SELECT g FROM generate_series(1, 5) g) TO STDOUT").await.unwrap();
    while copy.next().await.unwrap().is_some() {}
    drop(copy);
    let spans = spans_of(pid);
    let get = |s: &(&str, Fields), k: &str| s.1.get(k).cloned().unwrap_or_default();

    let connect = spans.iter().find(|s| s.0 == "pgsans.connect").expect("a connect span");
    assert_eq!(get(connect, "db.pgsans.auth_method"), "SCRAM-SHA-256");
    assert_eq!(get(connect, "db.system.name"), "postgresql");
    assert_eq!(get(connect, "server.port"), server.port.to_string());
    assert_eq!(get(connect, "db.pgsans.tls"), "false");

    let query = spans.iter().find(|s| get(s, "db.query.text").contains("generate_series(1, 3)")).expect("query span");
    assert_eq!(query.0, "pgsans.request");
    assert_eq!(get(query, "db.operation.name"), "SELECT");
    assert_eq!(get(query, "otel.kind"), "client");
    assert_eq!(get(query, "db.response.returned_rows"), "3");
    assert!(!get(query, "db.namespace").is_empty());
    assert!(!query.1.contains_key("db.response.status_code"));

    let failed = spans.iter().find(|s| get(s, "db.query.text") == "SELECT 1/0").expect("the failed query's span");
    assert_eq!(get(failed, "db.response.status_code"), "22012");
    assert_eq!(get(failed, "error.type"), "22012");

    let stream = spans.iter().find(|s| get(s, "db.query.text").contains("UNION ALL")).expect("the stream's span");
    assert_eq!(get(stream, "db.response.returned_rows"), "2");
    let copy = spans.iter().find(|s| get(s, "db.operation.name") == "COPY").expect("the COPY's span");
    assert_eq!(get(copy, "db.response.returned_rows"), "5");

    // Without trace_query_text, no text.
    let mut quiet: Conn<R> = Conn::<R>::connect(&server.conninfo(AuthMethod::Trust)).await.unwrap();
    quiet.query("SELECT 42", &[]).await.unwrap();
    let spans = spans_of(quiet.backend_pid());
    assert!(spans.iter().any(|s| s.0 == "pgsans.request" && get(s, "db.operation.name") == "SELECT"));
    assert!(spans.iter().all(|s| !s.1.contains_key("db.query.text")), "{spans:?}");
}
