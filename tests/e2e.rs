//! End to end with real mail servers: checks what the OTLP sinks of `tests/e2e/run.sh`
//! received from the two daemons (OpenSearch source and file source) against the real logs.
//! Ignored in a plain `cargo test`: the harness runs it after driving Postfix, Exim, rsyslog
//! and osmem-server (it needs root and port 25 on loopback).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::otlp_receiver::{flatten, ReceivedSpan};
use common::traces::{attr_str, by_trace, is_error, trace_of, Trace};
use mailtrace::trace::ids;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

fn e2e_dir() -> PathBuf {
    PathBuf::from(
        std::env::var("MAILTRACE_E2E_DIR")
            .expect("MAILTRACE_E2E_DIR is not set: run tests/e2e/run.sh (as root), which sets it"),
    )
}

/// Ground truth from the servers' own logs: Message-ID → its (host, queue ID) hops, and the
/// bounce notices (host, bounced queue ID, notice queue ID).
struct Logs {
    hops: BTreeMap<String, Vec<(String, String)>>,
    notices: Vec<(String, String, String)>,
    noqueue_rejects: usize,
}

fn read_logs(dir: &Path) -> Logs {
    let mut hops: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut notices = Vec::new();
    let mut noqueue_rejects = 0;
    let maillog = std::fs::read_to_string(dir.join("log/maillog")).unwrap();
    for line in maillog.lines() {
        // "Nov 21 19:45:33 mx-a postfix/cleanup[17061]: QID: message-id=<ID>"
        let f: Vec<&str> = line.splitn(6, ' ').collect();
        let (host, rest) = if f.len() == 6 && f[1].is_empty() {
            // "Nov  1 …": the day is space-padded.
            let g: Vec<&str> = line.splitn(7, ' ').collect();
            (g[4], g[6])
        } else {
            (f[3], f[5])
        };
        if let Some((qid, tail)) = rest.split_once(": message-id=<") {
            let id = tail.trim_end_matches('>').to_string();
            hops.entry(id).or_default().push((host.into(), qid.into()));
        } else if let Some((qid, tail)) = rest.split_once(": sender non-delivery notification: ") {
            notices.push((host.into(), qid.into(), tail.trim().into()));
        } else if rest.starts_with("NOQUEUE: reject:") {
            noqueue_rejects += 1;
        }
    }
    let mainlog = std::fs::read_to_string(dir.join("exim/log/mainlog")).unwrap();
    for line in mainlog.lines() {
        // "2026-11-21 19:45:34 1xUr1i-0004Rc-0H <= sender … id=ID …"
        let f: Vec<&str> = line.splitn(4, ' ').collect();
        if f.len() == 4 && f[3].starts_with("<= ") {
            if let Some(id) = f[3].split(" id=").nth(1).and_then(|s| s.split(' ').next()) {
                hops.entry(id.into())
                    .or_default()
                    .push(("mx-e".into(), f[2].into()));
            }
        }
    }
    Logs {
        hops,
        notices,
        noqueue_rejects,
    }
}

fn received(dir: &Path, daemon: &str) -> Vec<ReceivedSpan> {
    let text = std::fs::read_to_string(dir.join(format!("out/{daemon}.jsonl")))
        .unwrap_or_else(|e| panic!("no output of the {daemon} daemon: {e}"));
    let reqs: Vec<ExportTraceServiceRequest> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("OTLP-JSON line"))
        .collect();
    flatten(&reqs)
}

fn mailtrace_trace_id(message_id: &str) -> String {
    let bin = std::env::var("MAILTRACE_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_mailtrace").to_string());
    let out = std::process::Command::new(bin)
        .args(["trace-id", message_id])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The hop of `host`/`queue_id`, checked to sit under `parent`.
fn hop_under<'a>(t: &'a Trace, host: &str, qid: &str, parent: &[u8]) -> &'a ReceivedSpan {
    let hop = t.hop(qid);
    assert_eq!(hop.service, host, "{qid} is on {host}");
    assert_eq!(hop.span.parent_span_id, parent, "parent of {host} {qid}");
    hop
}

fn hops_on<'a>(logs: &'a Logs, id: &str, host: &str) -> Vec<&'a str> {
    logs.hops[id]
        .iter()
        .filter(|(h, _)| h == host)
        .map(|(_, q)| q.as_str())
        .collect()
}

fn check(daemon: &str) {
    let dir = e2e_dir();
    let logs = read_logs(&dir);
    let spans = received(&dir, daemon);
    let mut ids_seen = std::collections::HashSet::new();
    for s in &spans {
        assert!(
            ids_seen.insert(s.span.span_id.clone()),
            "{daemon}: span {} ({}) exported twice",
            ids::hex(&s.span.span_id),
            s.span.name
        );
    }
    let traces = by_trace(spans);
    for t in traces.values() {
        t.assert_coherent();
        for h in t.hops() {
            assert_ne!(
                attr_str(&h.span, "email.queue_id").as_deref(),
                Some("NOQUEUE")
            );
        }
    }

    let test_ids = [
        "e2e-multi@mailtrace.test",
        "e2e-bounce@mailtrace.test",
        "e2e-later@mailtrace.test",
        "e2e-exim@mailtrace.test",
    ];
    for id in test_ids {
        let t = trace_of(&traces, id);
        assert_eq!(
            mailtrace_trace_id(&format!("<{id}>")),
            ids::hex(&t.root().trace_id)
        );
        assert_eq!(attr_str(t.root(), "message.id").as_deref(), Some(id));
        // Every queue file the servers logged for this message is a hop of its trace.
        assert_eq!(t.hops().len(), logs.hops[id].len(), "{daemon} {id}: hops");
    }

    // Two recipients through A → B (long queue IDs) → C.
    let id = "e2e-multi@mailtrace.test";
    let t = trace_of(&traces, id);
    let (a, b, c) = (
        hops_on(&logs, id, "mx-a"),
        hops_on(&logs, id, "mx-b"),
        hops_on(&logs, id, "mx-c"),
    );
    assert!(
        b[0].len() > 11 && b[0].chars().any(|ch| ch.is_ascii_lowercase()),
        "long queue ID {}",
        b[0]
    );
    let ha = hop_under(t, "mx-a", a[0], &t.root().span_id);
    let hb = hop_under(t, "mx-b", b[0], &ha.span.span_id);
    let hc = hop_under(t, "mx-c", c[0], &hb.span.span_id);
    let delivered: Vec<String> = t
        .children(&hc.span)
        .iter()
        .flat_map(|s| attr_strs(&s.span, "email.recipients"))
        .collect();
    assert_eq!(delivered.len(), 2, "both recipients delivered at C");
    assert_eq!(
        attr_str(t.root(), "email.outcome").as_deref(),
        Some("delivered")
    );

    // Unknown recipient: C rejects at RCPT (NOQUEUE, never a hop), B bounces, DSN to A.
    let id = "e2e-bounce@mailtrace.test";
    let t = trace_of(&traces, id);
    assert!(logs.noqueue_rejects >= 1);
    assert!(hops_on(&logs, id, "mx-c").is_empty());
    let (a, b) = (hops_on(&logs, id, "mx-a"), hops_on(&logs, id, "mx-b"));
    let ha = hop_under(t, "mx-a", a[0], &t.root().span_id);
    let hb = hop_under(t, "mx-b", b[0], &ha.span.span_id);
    let bounced: Vec<_> = t
        .children(&hb.span)
        .into_iter()
        .filter(|s| attr_str(&s.span, "email.status").as_deref() == Some("bounced"))
        .collect();
    assert_eq!(bounced.len(), 1);
    assert!(is_error(&bounced[0].span));
    assert!(is_error(t.root()));
    let (_, _, notice_qid) = logs
        .notices
        .iter()
        .find(|(h, q, _)| h == "mx-b" && q == b[0])
        .expect("B logged the bounce notice");
    let dsn_id = logs
        .hops
        .iter()
        .find(|(_, hs)| hs.iter().any(|(h, q)| h == "mx-b" && q == notice_qid))
        .map(|(id, _)| id.clone())
        .expect("the DSN's message-id line");
    let dsn = trace_of(&traces, &dsn_id);
    let link = dsn.root().links.first().expect("DSN links to the bounce");
    assert_eq!(link.trace_id, ids::trace_id(id).to_vec());
    assert_eq!(link.span_id, hb.span.span_id);
    let dn = hop_under(dsn, "mx-b", notice_qid, &dsn.root().span_id);
    let dsn_a = hops_on(&logs, &dsn_id, "mx-a");
    hop_under(dsn, "mx-a", dsn_a[0], &dn.span.span_id);

    // 451 for one recipient: deferred at B, delivered after the release, rounds later; carol
    // went through at once. B fans out to two C queue files.
    let id = "e2e-later@mailtrace.test";
    let t = trace_of(&traces, id);
    let (a, b, c) = (
        hops_on(&logs, id, "mx-a"),
        hops_on(&logs, id, "mx-b"),
        hops_on(&logs, id, "mx-c"),
    );
    assert_eq!(c.len(), 2, "two queue files at C");
    let ha = hop_under(t, "mx-a", a[0], &t.root().span_id);
    let hb = hop_under(t, "mx-b", b[0], &ha.span.span_id);
    for q in c {
        hop_under(t, "mx-c", q, &hb.span.span_id);
    }
    let statuses: Vec<(String, bool)> = t
        .children(&hb.span)
        .iter()
        .filter(|s| s.span.name.starts_with("delivery"))
        .filter(|s| {
            attr_strs(&s.span, "email.recipients").contains(&"later@dest.example.test".to_string())
        })
        .map(|s| {
            (
                attr_str(&s.span, "email.status").unwrap(),
                is_error(&s.span),
            )
        })
        .collect();
    assert!(
        statuses.contains(&("deferred".into(), true)),
        "{statuses:?}"
    );
    assert!(statuses.contains(&("sent".into(), false)), "{statuses:?}");
    assert_eq!(
        attr_str(t.root(), "email.outcome").as_deref(),
        Some("delivered")
    );

    // Postfix → Exim → Postfix.
    let id = "e2e-exim@mailtrace.test";
    let t = trace_of(&traces, id);
    let (a, e, c) = (
        hops_on(&logs, id, "mx-a"),
        hops_on(&logs, id, "mx-e"),
        hops_on(&logs, id, "mx-c"),
    );
    let ha = hop_under(t, "mx-a", a[0], &t.root().span_id);
    let he = hop_under(t, "mx-e", e[0], &ha.span.span_id);
    assert_eq!(attr_str(&he.span, "email.mta").as_deref(), Some("exim"));
    hop_under(t, "mx-c", c[0], &he.span.span_id);
}

fn attr_strs(s: &opentelemetry_proto::tonic::trace::v1::Span, key: &str) -> Vec<String> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    s.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .map(|v| match v {
            Value::ArrayValue(a) => a
                .values
                .iter()
                .filter_map(|x| match x.value.as_ref()? {
                    Value::StringValue(s) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
            Value::StringValue(s) => vec![s.clone()],
            _ => Vec::new(),
        })
        .unwrap_or_default()
}

#[test]
#[ignore = "run by tests/e2e/run.sh, which drives real Postfix, Exim, rsyslog and osmem-server"]
fn opensearch_daemon_traced_the_real_servers() {
    check("opensearch");
}

#[test]
#[ignore = "run by tests/e2e/run.sh, which drives real Postfix, Exim, rsyslog and osmem-server"]
fn file_daemon_traced_the_real_servers() {
    check("file");
}
