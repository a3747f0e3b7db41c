//! `mailtrace replay` on the shared fixtures, exported over real OTLP gRPC to an in-process
//! receiver: the shape of every trace, the bounce/DSN link, the NOQUEUE reject, and the
//! byte-identical OTLP-JSON of two replays.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::otlp_receiver::OtlpReceiver;
use common::traces::{attr_str, by_trace, is_error, trace_of};
use mailtrace::trace::ids;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn mailtrace(args: &[&str]) -> Output {
    // No config.yaml from the working directory may leak in.
    Command::new(env!("CARGO_BIN_EXE_mailtrace"))
        .args(args)
        .env_remove("MAILTRACE_CONFIG")
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run mailtrace")
}

async fn replay_to_receiver(
    args: Vec<String>,
) -> (Vec<common::otlp_receiver::ReceivedSpan>, String) {
    let rx = OtlpReceiver::start().await;
    let mut args = args;
    args.extend(["--otel-endpoint".to_string(), rx.endpoint()]);
    let out = tokio::task::spawn_blocking(move || {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        mailtrace(&a)
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "replay failed: {stderr}");
    (rx.spans(), stderr)
}

const CHAIN_MESSAGES: [&str; 7] = [
    "20261121194533.017056@vm",
    "20261121194533.017063@vm",
    "20261121194533.017071@vm",
    "20261121194533.DC50199AB69@mx-b.example.test",
    "20261121194533.017080@vm",
    "20261121194533.017084@vm",
    "20261121194534.017087@vm",
];

fn chain_args() -> Vec<String> {
    vec![
        "replay".into(),
        "--input".into(),
        fixture("chain-postfix-exim.log").display().to_string(),
        "--default-host".into(),
        "mx-e".into(),
        "--year".into(),
        "2026".into(),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_fixture_becomes_one_coherent_trace_per_message() {
    let (spans, stderr) = replay_to_receiver(chain_args()).await;
    let traces = by_trace(spans);
    assert_eq!(traces.len(), CHAIN_MESSAGES.len(), "one trace per message");
    for m in CHAIN_MESSAGES {
        let t = trace_of(&traces, m);
        t.assert_coherent();
        assert_eq!(attr_str(t.root(), "message.id").as_deref(), Some(m));
    }

    // A → B → C, each hop its own span, parented on the upstream hop.
    let t = trace_of(&traces, "20261121194533.017056@vm");
    let root = t.root();
    let a = t.hop("B9DAF99AB54");
    let b = t.hop("C3EF499AB57");
    let c = t.hop("CDC5299AB5B");
    assert_eq!(a.span.parent_span_id, root.span_id);
    assert_eq!(b.span.parent_span_id, a.span.span_id);
    assert_eq!(c.span.parent_span_id, b.span.span_id);
    assert_eq!(
        (a.service.as_str(), b.service.as_str(), c.service.as_str()),
        ("mx-a", "mx-b", "mx-c")
    );
    assert_eq!(attr_str(root, "email.hop_count").as_deref(), Some("3"));

    // The bounced recipient's attempt is ERROR; the message's root too.
    let t = trace_of(&traces, "20261121194533.017071@vm");
    let bounced_hop = t.hop("D75F299AB5B");
    let attempts = t.children(&bounced_hop.span);
    let bounced: Vec<_> = attempts
        .iter()
        .filter(|s| attr_str(&s.span, "email.status").as_deref() == Some("bounced"))
        .collect();
    assert_eq!(bounced.len(), 1);
    assert!(is_error(&bounced[0].span));
    assert!(is_error(t.root()));
    // The NOQUEUE reject at mx-c never became a hop of this (or any) message.
    assert_eq!(t.hops().len(), 2);
    for tr in traces.values() {
        for s in tr.hops() {
            assert_ne!(
                attr_str(&s.span, "email.queue_id").as_deref(),
                Some("NOQUEUE")
            );
        }
    }
    assert!(stderr.contains("1 rejected before queueing"), "{stderr}");
    assert!(stderr.contains("reject mx-c"), "{stderr}");

    // The DSN's trace links to the hop that bounced.
    let dsn = trace_of(&traces, "20261121194533.DC50199AB69@mx-b.example.test");
    let link = dsn
        .root()
        .links
        .first()
        .expect("DSN root links to the original");
    assert_eq!(
        link.trace_id,
        ids::trace_id("20261121194533.017071@vm").to_vec()
    );
    assert_eq!(
        link.span_id,
        ids::hop_span_id("20261121194533.017071@vm", "mx-b", "D75F299AB5B").to_vec()
    );
    assert_eq!(dsn.hops().len(), 2, "DSN travels mx-b → mx-a");

    // Postfix → Exim → Postfix: the Exim hop sits between the two Postfix hops.
    let t = trace_of(&traces, "20261121194534.017087@vm");
    let a = t.hop("149E799AB73");
    let e = t.hop("1xUr1i-0004Rc-0H");
    let c = t.hop("1ADB099AB7D");
    assert_eq!(e.service, "mx-e");
    assert_eq!(attr_str(&e.span, "email.mta").as_deref(), Some("exim"));
    assert_eq!(e.span.parent_span_id, a.span.span_id);
    assert_eq!(c.span.parent_span_id, e.span.span_id);

    // The deferred message: ERROR with the reason on its attempt.
    let t = trace_of(&traces, "20261121194533.017084@vm");
    let hop = t.hop("F373299AB5B");
    let attempt = &t.children(&hop.span)[0].span;
    assert!(is_error(attempt));
    assert!(attempt
        .status
        .as_ref()
        .unwrap()
        .message
        .contains("Connection refused"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_documents_become_one_coherent_trace_per_message_id() {
    let args = vec![
        "-c".to_string(),
        fixture("seed-config.yaml").display().to_string(),
        "replay".into(),
        "--input".into(),
        fixture("seed-cross-cluster.ndjson").display().to_string(),
    ];
    let (spans, stderr) = replay_to_receiver(args).await;
    let traces = by_trace(spans);
    // (message, hops (host, queue ID) in path order, outcome)
    type Path = &'static [(&'static str, &'static str)];
    let expected: [(&str, Path, &str); 8] = [
        (
            "msg-s1-001@internal.example.org",
            &[("smtp1", "A1001CC0001"), ("relay1", "B1001CC0001")],
            "delivered",
        ),
        (
            "msg-s2-002@internal.example.org",
            &[("smtp2", "A2001CC0002"), ("relay1", "B2001CC0002")],
            "delivered",
        ),
        (
            "msg-inbound-003@bigcorp.example.net",
            &[
                ("mx1", "C3001CC0003"),
                ("list1", "D3001CC0003"),
                ("relay1", "E3001CC0003"),
            ],
            "delivered",
        ),
        (
            "msg-inbound-004@partner.example.net",
            &[
                ("mx2", "C3002CC0004"),
                ("list1", "D3002CC0004"),
                ("relay1", "E3002CC0004"),
            ],
            "delivered",
        ),
        (
            "msg-deferred-005@vendor.example.com",
            &[("mx1", "C3003CC0005"), ("list1", "D3003CC0005")],
            "deferred",
        ),
        (
            "msg-fanout-006@bigcorp.example.net",
            &[("mx1", "C3004CC0006"), ("list1", "D3004CC0006")],
            "delivered",
        ),
        (
            "msg-spam-007@internal.example.org",
            &[
                ("smtp1", "A1003CC0007"),
                ("relay1", "B1003CC0007"),
                ("list1", "D1003CC0007"),
            ],
            "bounced",
        ),
        (
            "bounce-msg-spam-007@list1",
            &[
                ("list1", "E1003CC0007"),
                ("relay1", "F1003CC0007"),
                ("smtp1", "G1003CC0007"),
            ],
            "delivered",
        ),
    ];
    assert_eq!(traces.len(), expected.len(), "{stderr}");
    for (m, path, outcome) in expected {
        let t = trace_of(&traces, m);
        t.assert_coherent();
        assert_eq!(t.hops().len(), path.len(), "{m}");
        let mut parent = t.root().span_id.clone();
        for (host, qid) in path {
            let hop = t.hop(qid);
            assert_eq!(&hop.service, host, "{m} {qid}");
            assert_eq!(hop.span.parent_span_id, parent, "{m}: {qid} parent");
            parent = hop.span.span_id.clone();
        }
        assert_eq!(
            attr_str(t.root(), "email.outcome").as_deref(),
            Some(outcome),
            "{m}"
        );
    }
    // Two local deliveries of the fan-out message.
    let t = trace_of(&traces, "msg-fanout-006@bigcorp.example.net");
    let hop = t.hop("D3004CC0006");
    assert_eq!(t.children(&hop.span).len(), 2);
    // The NDN links to the list1 hop that bounced.
    let ndn = trace_of(&traces, "bounce-msg-spam-007@list1");
    let link = &ndn.root().links[0];
    assert_eq!(
        link.span_id,
        ids::hop_span_id("msg-spam-007@internal.example.org", "list1", "D1003CC0007").to_vec()
    );
    assert!(stderr.contains("5 rejected before queueing"), "{stderr}");
}

#[test]
fn replaying_twice_gives_byte_identical_otlp_json() {
    let dir = tempfile::tempdir().unwrap();
    let mut outputs = Vec::new();
    for run in 0..2 {
        let out = dir.path().join(format!("run{run}.json"));
        let mut args = chain_args();
        args.push("--input".into());
        args.push(fixture("odd-lines.log").display().to_string());
        args.push("--output".into());
        args.push(out.display().to_string());
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let res = mailtrace(&a);
        assert!(
            res.status.success(),
            "{}",
            String::from_utf8_lossy(&res.stderr)
        );
        outputs.push(std::fs::read(&out).unwrap());
    }
    assert!(!outputs[0].is_empty());
    assert_eq!(outputs[0], outputs[1]);
    // And it is the Collector file-exporter shape: one {"resourceSpans":[…]} per line.
    for line in String::from_utf8(outputs[0].clone()).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let trace_id = v["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"]
            .as_str()
            .unwrap();
        assert_eq!(trace_id.len(), 32);
    }
}

#[test]
fn hostile_input_is_counted_and_skipped_never_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    // The fixture plus a 1 MiB line and raw binary, written here to keep the repo small.
    let mut bytes = std::fs::read(fixture("hostile.log")).unwrap();
    bytes.extend_from_slice(b"\nNov 21 19:45:33 mx-a postfix/smtp[3]: ");
    bytes.extend(std::iter::repeat_n(b'A', 1 << 20));
    bytes.push(b'\n');
    bytes.extend((0..=255u8).cycle().take(4096));
    bytes.push(b'\n');
    let log = dir.path().join("hostile.log");
    std::fs::write(&log, bytes).unwrap();
    let out = dir.path().join("out.json");
    let res = mailtrace(&[
        "replay",
        "-i",
        log.to_str().unwrap(),
        "--year",
        "2026",
        "-o",
        out.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert!(res.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("skipped"), "{stderr}");
    assert!(stderr.contains("not a syslog line"), "{stderr}");
    // The good lines among the garbage still made their trace.
    let json = std::fs::read_to_string(&out).unwrap();
    assert!(
        json.contains("hostile-ok@vm"),
        "valid lines lost among garbage"
    );

    let res = mailtrace(&[
        "-c",
        fixture("seed-config.yaml").to_str().unwrap(),
        "replay",
        "-i",
        fixture("hostile.ndjson").to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert!(res.status.success(), "{stderr}");
    assert!(stderr.contains("missing field `timestamp`"), "{stderr}");
    assert!(stderr.contains("missing field `hostname`"), "{stderr}");
    assert!(stderr.contains("not a JSON document"), "{stderr}");
    assert!(stderr.contains("not a JSON object"), "{stderr}");
    assert!(stderr.contains("is not a time"), "{stderr}");
    assert!(stderr.contains("filtered 2 documents"), "{stderr}");
    let json = std::fs::read_to_string(&out).unwrap();
    assert!(json.contains("hostile-doc@x"), "{stderr}");
}

#[test]
fn trace_id_command_matches_the_exported_trace() {
    let out = mailtrace(&["trace-id", "<20261121194533.017056@vm>"]);
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        printed.trim(),
        ids::hex(&ids::trace_id("20261121194533.017056@vm"))
    );
    let out = mailtrace(&["trace-id", "<>"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("empty Message-ID"));
}
