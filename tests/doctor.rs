//! `mailtrace doctor` against real peers: osmem-server (seeded, or with a deliberately weak
//! mapping), a real OTLP gRPC receiver, and log files. Exit status 0 only when nothing failed.

mod common;

use std::path::Path;
use std::process::Output;

use common::osmem::Osmem;
use common::otlp_receiver::OtlpReceiver;
use common::seed::{documents, mailtrace, opensearch_config, stdout};

/// Runs doctor with the OTLP endpoint pointed at a live receiver.
fn doctor(config: &Path, otlp: &OtlpReceiver) -> Output {
    mailtrace(config, &["doctor", "--otel-endpoint", &otlp.endpoint()])
}

fn line<'a>(out: &'a str, check: &str) -> &'a str {
    out.lines()
        .find(|l| l.contains(&format!(" {check} — ")))
        .unwrap_or_else(|| panic!("no check {check:?} in:\n{out}"))
}

fn receiver() -> (tokio::runtime::Runtime, OtlpReceiver) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let rx = rt.block_on(OtlpReceiver::start());
    (rt, rx)
}

#[test]
fn a_healthy_setup_passes_every_check() {
    let (_rt, otlp) = receiver();
    let os = Osmem::start();
    os.bulk_index("mail-seed", &documents());
    let dir = tempfile::tempdir().unwrap();
    let cfg = opensearch_config(dir.path(), os.port, "");
    let o = doctor(&cfg, &otlp);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}");
    assert!(!out.contains('✘'), "{out}");
    assert!(line(&out, "config").starts_with('✔'));
    assert!(
        line(&out, "opensearch reachable").contains("version 3.8.0"),
        "{out}"
    );
    assert!(line(&out, "index").contains("matches 1 index"), "{out}");
    assert!(line(&out, "field hostname").starts_with('✔'), "{out}");
    assert!(
        line(&out, "sample documents").contains("50 mapped (50 mail lines), 0 failed"),
        "{out}"
    );
    assert!(line(&out, "otlp endpoint").starts_with('✔'), "{out}");
}

#[test]
fn weak_and_wrong_mappings_are_named_with_a_fix() {
    let (_rt, otlp) = receiver();
    let os = Osmem::start();
    // hostname as text without a keyword subfield: a warning, not a failure.
    let body = r#"{"mappings":{"properties":{"host":{"properties":{"name":{"type":"text"}}},
        "message":{"type":"text"},"@timestamp":{"type":"date"},"appname":{"type":"keyword"},
        "data_stream":{"properties":{"namespace":{"type":"keyword"}}}}}}"#;
    ureq::put(&format!("{}/mail-weak", os.url))
        .header("Content-Type", "application/json")
        .send(body)
        .unwrap();
    // Documents as a shipper without the Postfix field extraction writes them.
    let docs: Vec<_> = documents()[..5]
        .iter()
        .map(|d| {
            let mut d = d.clone();
            d.as_object_mut().unwrap().remove("postfix");
            d
        })
        .collect();
    os.bulk_index("mail-weak", &docs);
    let dir = tempfile::tempdir().unwrap();
    let cfg = opensearch_config(dir.path(), os.port, "");
    let o = doctor(&cfg, &otlp);
    let out = stdout(&o);
    let host = line(&out, "field hostname");
    assert!(
        host.starts_with('⚠') && host.contains("without a .keyword"),
        "{out}"
    );
    // The optional queue ID fields of the seed config are absent from this index.
    assert!(line(&out, "field queueid").starts_with('⚠'), "{out}");
    assert!(o.status.success(), "warnings do not fail: {out}");

    // A required field that no document has: a failure with a fix.
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("service: appname", "service: syslog.program");
    std::fs::write(&cfg, text).unwrap();
    let o = doctor(&cfg, &otlp);
    let out = stdout(&o);
    let svc = line(&out, "field service");
    assert!(
        svc.starts_with('✘') && svc.contains("syslog.program"),
        "{out}"
    );
    assert!(
        out.contains("fix: set opensearch_config.mapping.service"),
        "{out}"
    );
    assert!(line(&out, "sample documents").starts_with('✘'), "{out}");
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn unreachable_servers_and_missing_credentials_fail() {
    let (_rt, otlp) = receiver();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let dir = tempfile::tempdir().unwrap();
    let cfg = opensearch_config(dir.path(), port, "");
    let o = mailtrace(
        &cfg,
        &[
            "doctor",
            "--otel-endpoint",
            &format!("http://127.0.0.1:{port}"),
        ],
    );
    let out = stdout(&o);
    assert!(line(&out, "opensearch reachable").starts_with('✘'), "{out}");
    assert!(line(&out, "otlp endpoint").starts_with('✘'), "{out}");
    assert_eq!(o.status.code(), Some(1));

    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("  index:", "  username: reader\n  index:");
    std::fs::write(&cfg, text).unwrap();
    let o = doctor(&cfg, &otlp);
    let out = stdout(&o);
    let cred = line(&out, "credentials");
    assert!(
        cred.starts_with('✘') && cred.contains("no password"),
        "{out}"
    );
    assert!(out.contains("MAILTRACE_OPENSEARCH_PASSWORD"), "{out}");
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn file_paths_must_match_readable_files() {
    let (_rt, otlp) = receiver();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("mail.log");
    std::fs::copy(common::seed::fixture("chain-postfix-exim.log"), &log).unwrap();
    let cfg = dir.path().join("config.yaml");
    let write = |paths: &str| {
        std::fs::write(
            &cfg,
            format!("method: file\nfile_config:\n  paths: {paths}\n"),
        )
        .unwrap()
    };
    write(&format!("[{:?}]", log.display().to_string()));
    let o = doctor(&cfg, &otlp);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("1 file(s) readable"), "{out}");

    write(&format!(
        "[{:?}]",
        dir.path().join("nothing-*.log").display().to_string()
    ));
    let o = doctor(&cfg, &otlp);
    let out = stdout(&o);
    assert!(
        out.contains("✘ files") && out.contains("matches no file"),
        "{out}"
    );
    assert_eq!(o.status.code(), Some(1));

    // A config that does not load is the first failure, with the key named.
    std::fs::write(&cfg, "method: file\nfile_config:\n  pathz: []\n").unwrap();
    let o = doctor(&cfg, &otlp);
    let out = stdout(&o);
    assert!(
        out.starts_with("✘ config") && out.contains("pathz"),
        "{out}"
    );
    assert_eq!(o.status.code(), Some(1));
}
