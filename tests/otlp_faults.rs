//! OTLP faults: a collector that answers RESOURCE_EXHAUSTED or DEADLINE_EXCEEDED, one that
//! accepts the connection and never answers, one that is down for rounds. The exporter
//! retries with backoff; the daemon keeps undelivered spans queued (persisted, bounded),
//! delivers them once the collector is back, and past the bound evicts the oldest, counted.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use common::otlp_receiver::OtlpReceiver;
use common::sample_message;
use mailtrace::config::Config;
use mailtrace::daemon::{self, DaemonOptions, Sink};
use mailtrace::export::otlp::{OtlpConfig, OtlpExporter};
use mailtrace::trace::model::{build_spans, to_request, ModelOptions};
use serde_json::Value;

fn config(endpoint: String) -> OtlpConfig {
    OtlpConfig {
        endpoint,
        timeout: Duration::from_millis(500),
        max_retries: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        ..Default::default()
    }
}

#[tokio::test]
async fn overloaded_and_slow_collectors_are_retried() {
    let req = to_request(build_spans(&sample_message(), &ModelOptions::default()));
    for code in [
        tonic::Code::ResourceExhausted,
        tonic::Code::DeadlineExceeded,
    ] {
        let rx = OtlpReceiver::start().await;
        rx.fail_next(2, code);
        let exporter = OtlpExporter::connect(config(rx.endpoint())).await.unwrap();
        let outcome = exporter.export(req.clone()).await.unwrap();
        assert_eq!(outcome.attempts, 3, "{code:?}");
        assert_eq!(rx.requests(), vec![req.clone()], "{code:?}: delivered once");
    }
}

#[tokio::test]
async fn a_collector_that_never_answers_times_out_and_is_retried() {
    // Accepts TCP connections and then says nothing at all.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let a = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            a.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(sock);
        }
    });
    let exporter = OtlpExporter::connect(config(format!("http://{addr}")))
        .await
        .unwrap();
    let req = to_request(build_spans(&sample_message(), &ModelOptions::default()));
    let err = exporter
        .export(req)
        .await
        .expect_err("a silent collector is an error");
    assert!(err.is_retryable(), "{err}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

fn state_queue(state: &Path) -> (u64, usize) {
    let v: Value =
        serde_json::from_slice(&std::fs::read(state.join("state.json")).unwrap()).unwrap();
    let q = &v["queue"];
    (
        q["evicted_spans"].as_u64().unwrap_or(0),
        q["batches"].as_array().map_or(0, Vec::len),
    )
}

fn daemon_config(log: &Path, queue_max: usize) -> Config {
    Config::from_yaml_str(
        &format!(
            "method: file
file_config:
  paths: [\"{}\"]
  default_host: mx-e
tracing:
  hold_rounds: 0
  export_queue_max_spans: {queue_max}
  otel_timeout_seconds: 1
  metrics_address: \"\"
",
            log.display()
        ),
        "test.yaml",
    )
    .unwrap()
}

fn opts(state: &Path, endpoint: &str) -> DaemonOptions {
    DaemonOptions {
        once: true,
        sink: Sink::Otlp(endpoint.to_string()),
        state_dir: Some(state.to_path_buf()),
    }
}

fn demo_log(dir: &Path) -> std::path::PathBuf {
    let log = dir.join("mail.log");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo/mail.log"),
        &log,
    )
    .unwrap();
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_wait_in_the_queue_while_the_collector_is_down_and_arrive_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = demo_log(dir.path());
    let state = dir.path().join("state");
    // Nothing listens here yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    for _ in 0..2 {
        let res = daemon::run(
            daemon_config(&log, 1_000_000),
            opts(&state, &endpoint),
            std::future::pending(),
        )
        .await;
        assert!(res.is_err(), "a round that could not export says so");
    }
    let (evicted, queued) = state_queue(&state);
    assert_eq!(evicted, 0);
    assert!(queued > 0, "spans wait in the persisted queue");

    // The collector comes up on that port: the next round delivers the queue, each span once.
    let rx = OtlpReceiver::start_at(&format!("127.0.0.1:{port}")).await;
    daemon::run(
        daemon_config(&log, 1_000_000),
        opts(&state, &endpoint),
        std::future::pending(),
    )
    .await
    .unwrap();
    let mut seen: HashMap<Vec<u8>, usize> = HashMap::new();
    for s in rx.spans() {
        *seen.entry(s.span.span_id.clone()).or_default() += 1;
    }
    assert!(seen.values().all(|&n| n == 1), "a span arrived twice");
    // The demo log's messages, all of them (the deferred one is released incomplete at once:
    // its log is older than max_trace_age_seconds).
    let roots = rx
        .spans()
        .iter()
        .filter(|s| s.span.name == "email.delivery")
        .count();
    assert_eq!(roots, 7);
    assert_eq!(state_queue(&state).1, 0, "queue drained");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_its_bound_the_queue_evicts_the_oldest_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let full = std::fs::read_to_string(demo_log(dir.path())).unwrap();
    let lines: Vec<&str> = full.lines().collect();
    let log = dir.path().join("growing.log");
    let state = dir.path().join("state");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    // Three rounds with the collector down, each adding a third of the log: three queued
    // requests of some 30–40 spans each against a bound of 50.
    for part in lines.chunks(lines.len().div_ceil(3)) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        use std::io::Write;
        writeln!(f, "{}", part.join("\n")).unwrap();
        let res = daemon::run(
            daemon_config(&log, 50),
            opts(&state, &endpoint),
            std::future::pending(),
        )
        .await;
        assert!(res.is_err());
    }
    let (evicted, queued) = state_queue(&state);
    assert!(evicted > 0, "eviction is counted in the state");
    assert!(queued >= 1, "the newest stay queued");
    let rx = OtlpReceiver::start_at(&format!("127.0.0.1:{port}")).await;
    daemon::run(
        daemon_config(&log, 50),
        opts(&state, &endpoint),
        std::future::pending(),
    )
    .await
    .unwrap();
    let received = rx.spans().len() as u64;
    assert!(received > 0 && received <= 50 + 40, "{received}");
    assert_eq!(
        state_queue(&state).0,
        evicted,
        "the count survives in the state"
    );
}
