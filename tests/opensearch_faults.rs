//! OpenSearch faults, injected by a proxy in front of a real osmem-server: 429 with
//! Retry-After and 5xx are retried with backoff; malformed JSON, a connection cut mid-page, an
//! expired point-in-time, a timeout and a vanished index are errors — never a silently short
//! result — and the daemon holds its cursor through them and reads everything once service
//! returns, exporting each span once.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::faultproxy::{Fault, FaultProxy};
use common::osmem::Osmem;
use mailtrace::config::Config;
use mailtrace::daemon::{self, DaemonOptions, Sink};
use mailtrace::source::opensearch::{
    OpenSearchSettings, OpenSearchSource, Pagination, SourceError,
};
use serde_json::{json, Value};

const INDEX: &str = "mail-faults";
const MESSAGES: usize = 250;

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

fn rfc3339(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let millis = ns.rem_euclid(1_000_000_000) / 1_000_000;
    let days = secs.div_euclid(86_400);
    let (y, m, d) = mailtrace::parse::time::civil_from_days(days);
    let t = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        t / 3600,
        t % 3600 / 60,
        t % 60
    )
}

/// Two-hop messages (smtp1 → relay1), ten documents each, in the last minute.
fn documents(base_ns: i64) -> Vec<Value> {
    let mut docs = Vec::new();
    for i in 0..MESSAGES {
        let (qa, qb) = (format!("A{i:09X}"), format!("B{i:09X}"));
        let mid = format!("fault-{i}@example.test");
        let t = |k: i64| rfc3339(base_ns + (i as i64) * 100_000_000 + k * 1_000_000);
        let lines = [
            ("smtp1", "postfix/smtpd", format!("{qa}: client=web[10.0.0.5]"), 0),
            ("smtp1", "postfix/cleanup", format!("{qa}: message-id=<{mid}>"), 1),
            ("smtp1", "postfix/qmgr", format!("{qa}: from=<a@x.test>, size=10, nrcpt=1 (queue active)"), 2),
            ("smtp1", "postfix/smtp", format!("{qa}: to=<b@y.test>, relay=relay1[10.0.1.30]:25, delay=0.1, delays=0/0/0.05/0.05, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as {qb})"), 3),
            ("smtp1", "postfix/qmgr", format!("{qa}: removed"), 4),
            ("relay1", "postfix/smtpd", format!("{qb}: client=smtp1[10.0.1.21]"), 3),
            ("relay1", "postfix/cleanup", format!("{qb}: message-id=<{mid}>"), 3),
            ("relay1", "postfix/qmgr", format!("{qb}: from=<a@x.test>, size=10, nrcpt=1 (queue active)"), 4),
            ("relay1", "postfix/local", format!("{qb}: to=<b@y.test>, relay=local, delay=0.2, delays=0/0/0/0.2, dsn=2.0.0, status=sent (delivered to maildir)"), 5),
            ("relay1", "postfix/qmgr", format!("{qb}: removed"), 6),
        ];
        for (n, (host, app, msg, k)) in lines.into_iter().enumerate() {
            docs.push(json!({
                "_id": format!("{i}-{n}"),
                "@timestamp": t(k),
                "host": {"name": host},
                "data_stream": {"namespace": "mail"},
                "appname": app,
                "message": msg,
            }));
        }
    }
    docs
}

fn settings(port: u16) -> OpenSearchSettings {
    OpenSearchSettings {
        host: "127.0.0.1".into(),
        port,
        index: INDEX.into(),
        timeout: Duration::from_secs(2),
        page_size: 500,
        timestamp_field: "@timestamp".into(),
        facility_field: "data_stream.namespace".into(),
        facility_value: "mail".into(),
        pagination: Pagination::Pit,
        max_attempts: 3,
        retry_backoff: Duration::from_millis(100),
        ..OpenSearchSettings::default()
    }
}

struct Setup {
    _osmem: Osmem,
    proxy: FaultProxy,
    base_ns: i64,
}

fn setup() -> Setup {
    let osmem = Osmem::start();
    let base_ns = now_ns() - 60_000_000_000;
    osmem.bulk_index(INDEX, &documents(base_ns));
    let proxy = FaultProxy::start(osmem.port);
    Setup {
        _osmem: osmem,
        proxy,
        base_ns,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_is_retried_or_an_error_never_a_short_result() {
    let s = setup();
    let source = OpenSearchSource::new(settings(s.proxy.port)).unwrap();
    let (from, to) = (s.base_ns - 1_000_000_000, now_ns());
    let all = MESSAGES * 10;
    assert_eq!(source.fetch_window(from, to).await.unwrap().len(), all);

    // Transient: retried, honouring Retry-After, and the result is complete.
    s.proxy.inject(
        Fault::TooMany {
            retry_after_secs: 1,
        },
        "_search",
        1,
    );
    let started = Instant::now();
    assert_eq!(source.fetch_window(from, to).await.unwrap().len(), all);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "Retry-After honoured"
    );
    s.proxy.inject(Fault::Status(503), "search_after", 2);
    assert_eq!(source.fetch_window(from, to).await.unwrap().len(), all);

    // Persistent or broken: an error naming the server, then all is read once it is fixed.
    type Check = fn(&SourceError) -> bool;
    let cases: Vec<(Fault, &str, usize, Check)> = vec![
        (Fault::Status(503), "_search", 3, |e| {
            matches!(e, SourceError::Http { status: 503, .. })
        }),
        (Fault::Malformed, "search_after", 1, |e| {
            matches!(e, SourceError::Malformed { .. })
        }),
        (Fault::CutMidBody, "search_after", 1, |_| true),
        (Fault::Hang(Duration::from_secs(4)), "_search", 1, |e| {
            matches!(e, SourceError::Timeout { .. })
        }),
        (Fault::ExpiredContext, "search_after", 1, |_| true),
        (Fault::IndexGone, "_search", 1, |e| {
            matches!(e, SourceError::IndexNotFound { .. })
        }),
    ];
    for (fault, on, times, check) in cases {
        let before = s.proxy.injected();
        s.proxy.inject(fault.clone(), on, times);
        let err = source
            .fetch_window(from, to)
            .await
            .expect_err(&format!("{fault:?} must fail the window, not shorten it"));
        assert!(check(&err), "{fault:?}: unexpected error {err}");
        assert!(
            err.to_string()
                .contains(&format!("127.0.0.1:{}", s.proxy.port)),
            "{err}"
        );
        assert!(s.proxy.injected() > before, "{fault:?} was injected");
        s.proxy.clear();
        assert_eq!(
            source.fetch_window(from, to).await.unwrap().len(),
            all,
            "after {fault:?}"
        );
    }
}

fn daemon_config(port: u16, state: &Path, out: &Path) -> (Config, DaemonOptions) {
    let yaml = format!(
        "method: opensearch
opensearch_config:
  host: 127.0.0.1
  port: {port}
  index: {INDEX}
  timeout: 2
  mapping:
    facility: data_stream.namespace
    hostname: host.name
    service: appname
    message: message
    timestamp: \"@timestamp\"
tracing:
  sleep_seconds: 1
  hold_rounds: 0
  go_back_seconds: 600
  scroll_batch_size: 500
  metrics_address: \"\"
"
    );
    let cfg = Config::from_yaml_str(&yaml, "test.yaml").unwrap();
    let opts = DaemonOptions {
        once: true,
        sink: Sink::Json(out.to_path_buf()),
        state_dir: Some(state.to_path_buf()),
    };
    (cfg, opts)
}

fn cursor(state: &Path) -> Option<i64> {
    let v: Value = serde_json::from_slice(&std::fs::read(state.join("state.json")).ok()?).ok()?;
    v["cursor_ns"].as_i64()
}

/// Span ID → how many times it was exported.
fn exported(out: &Path) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    let text = std::fs::read_to_string(out).unwrap_or_default();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        for rs in v["resourceSpans"].as_array().unwrap() {
            for ss in rs["scopeSpans"].as_array().unwrap() {
                for sp in ss["spans"].as_array().unwrap() {
                    *seen
                        .entry(sp["spanId"].as_str().unwrap().to_string())
                        .or_insert(0) += 1;
                }
            }
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_holds_its_cursor_through_faults_and_exports_everything_once() {
    let s = setup();
    let dir = tempfile::tempdir().unwrap();
    let (state, out) = (dir.path().join("state"), dir.path().join("spans.jsonl"));
    // Each round fails differently, mid-window: nothing may be exported, the cursor stays.
    for fault in [
        Fault::Malformed,
        Fault::CutMidBody,
        Fault::ExpiredContext,
        Fault::Status(502),
    ] {
        s.proxy.clear();
        let before = s.proxy.injected();
        s.proxy.inject(fault.clone(), "search_after", 3);
        let (cfg, opts) = daemon_config(s.proxy.port, &state, &out);
        let res = daemon::run(cfg, opts, std::future::pending()).await;
        assert!(
            s.proxy.injected() > before,
            "{fault:?} hit a page after the first"
        );
        assert!(res.is_err(), "{fault:?}: the round reports its failure");
        assert_eq!(cursor(&state), None, "{fault:?}: cursor held");
        assert!(
            exported(&out).is_empty(),
            "{fault:?}: a partial window exported nothing"
        );
    }
    s.proxy.clear();
    let (cfg, opts) = daemon_config(s.proxy.port, &state, &out);
    daemon::run(cfg, opts, std::future::pending())
        .await
        .unwrap();
    assert!(cursor(&state).is_some());
    let spans = exported(&out);
    // Per message: root, 2 hops, 2 attempts, 8 stages.
    assert_eq!(spans.len(), MESSAGES * 13);
    assert!(spans.values().all(|&n| n == 1), "a span exported twice");
    // Another round over the overlapping window exports nothing new.
    let (cfg, opts) = daemon_config(s.proxy.port, &state, &out);
    daemon::run(cfg, opts, std::future::pending())
        .await
        .unwrap();
    assert_eq!(exported(&out).len(), MESSAGES * 13);
    assert!(exported(&out).values().all(|&n| n == 1));
}
