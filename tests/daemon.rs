//! `mailtrace tracing` end to end: the real binary against real peers (osmem-server as
//! OpenSearch, the in-process OTLP receiver, followed files on disk), proving the daemon
//! loses nothing and exports nothing twice: pagination, lines spread over rounds, late
//! lines, source and exporter outages, kill -9, SIGTERM, limits, metrics, the file source,
//! and the state-directory lock.
//!
//! The daemon windows on the wall clock, so every test generates its log lines near now.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use common::daemon::{
    file_config, free_port, opensearch_config, Daemon, Receiver, SwitchProxy, Workdir,
};
use common::mailgen::{self, docs, mails, now_ns, Mail, SEC, SPANS_PER_MAIL};
use common::osmem::Osmem;
use common::otlp_receiver::ReceivedSpan;
use common::traces::{attr_str, by_trace, is_error, trace_of};
use mailtrace::correlate::Correlator;
use mailtrace::trace::ids;
use mailtrace::trace::model::{build_spans, ModelOptions};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;

const INDEX: &str = "mail-test";

/// Every message arrived complete (root + its 3 hop spans with the right queue IDs), no
/// span ID arrived twice, and nothing else arrived.
fn assert_exactly_once(spans: &[ReceivedSpan], mails: &[Mail]) {
    let mut seen: HashSet<&[u8]> = HashSet::new();
    for s in spans {
        assert!(
            seen.insert(&s.span.span_id),
            "span {} ({}) arrived twice",
            ids::hex(&s.span.span_id),
            s.span.name
        );
    }
    assert_eq!(spans.len(), mails.len() * SPANS_PER_MAIL, "span count");
    let traces = by_trace(spans.to_vec());
    assert_eq!(traces.len(), mails.len(), "one trace per message");
    for m in mails {
        let t = trace_of(&traces, &m.message_id);
        t.assert_coherent();
        assert_eq!(t.spans.len(), SPANS_PER_MAIL, "spans of <{}>", m.message_id);
        for h in 0..3 {
            t.hop(m.queue_id(h));
        }
    }
}

/// span ID → encoded span, asserting that a span received twice was byte-identical.
fn span_map(spans: &[ReceivedSpan]) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut out: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for s in spans {
        let bytes = s.span.encode_to_vec();
        if let Some(prev) = out.insert(s.span.span_id.clone(), bytes.clone()) {
            assert_eq!(
                prev,
                bytes,
                "span {} ({}) was sent twice with different content",
                ids::hex(&s.span.span_id),
                s.span.name
            );
        }
    }
    out
}

#[test]
fn reads_every_page_of_a_25k_document_window_and_exports_each_message_once() {
    let os = Osmem::start();
    // 1667 messages × 15 lines = 25,005 documents, all in the first window.
    let t0 = now_ns() - 25 * SEC;
    let all = mails("pg", 1667, t0, 10 * mailgen::MS);
    let lines: Vec<_> = all.iter().flat_map(Mail::all_lines).collect();
    assert!(lines.len() >= 25_000);
    os.bulk_index(INDEX, &docs(&lines));

    let wd = Workdir::new();
    let rx = Receiver::start();
    let cfg = wd.config(&opensearch_config(
        os.port,
        INDEX,
        &["go_back_seconds: 60", "scroll_batch_size: 1000"],
    ));
    let mut d = Daemon::start(&wd, &cfg, &rx.endpoint());
    rx.wait_spans(all.len() * SPANS_PER_MAIL, &d);
    // Later rounds re-read the same 25k documents (the 60 s overlap): still nothing twice.
    d.wait_rounds(2);
    let spans = rx.spans();
    assert_exactly_once(&spans, &all);
    let m = d.metrics();
    assert!(
        m["mailtrace_lines_read_total"] >= lines.len() as f64,
        "{m:?}"
    );
    assert!(
        m["mailtrace_lines_duplicate_total"] >= lines.len() as f64,
        "{m:?}"
    );
    assert_eq!(m["mailtrace_messages_exported_total"], all.len() as f64);
    assert_eq!(m["mailtrace_spans_exported_total"], spans.len() as f64);
}

#[test]
fn a_second_daemon_on_the_same_state_dir_is_refused() {
    let wd = Workdir::new();
    let log = wd.path("mail.log");
    std::fs::write(&log, "").unwrap();
    let cfg = wd.config(&file_config(&[&log], &[]));
    let rx = Receiver::start();
    let mut first = Daemon::start(&wd, &cfg, &rx.endpoint());
    first.wait_rounds(1);
    let mut second = Daemon::start(&wd, &cfg, &rx.endpoint());
    let st = second
        .wait_exit(common::daemon::PATIENCE)
        .expect("the second daemon exits");
    assert!(!st.success(), "second daemon must fail, got {st}");
    let err = second.stderr();
    assert!(
        err.contains("in use by another mailtrace"),
        "clear error expected, got:\n{err}"
    );
    assert!(first.is_running(), "the first daemon keeps running");
}

/// Every metric the README documents.
const DOCUMENTED_METRICS: [&str; 17] = [
    "mailtrace_rounds_total",
    "mailtrace_round_failures_total",
    "mailtrace_lines_read_total",
    "mailtrace_lines_unmatched_total",
    "mailtrace_lines_duplicate_total",
    "mailtrace_lines_skipped_total",
    "mailtrace_rejects_total",
    "mailtrace_late_lines_total",
    "mailtrace_messages_exported_total",
    "mailtrace_messages_incomplete_total",
    "mailtrace_spans_exported_total",
    "mailtrace_export_failures_total",
    "mailtrace_spans_evicted_total",
    "mailtrace_pending_messages",
    "mailtrace_export_queue_spans",
    "mailtrace_lag_seconds",
    "mailtrace_last_round_timestamp_seconds",
];

#[test]
fn metrics_and_healthz_answer_over_http_on_localhost() {
    // The default binds to loopback only: metrics are not for the network unless asked.
    let cfg = mailtrace::config::Config::from_yaml_str("method: file\n", "test").unwrap();
    let default: std::net::SocketAddr = cfg.tracing.metrics_address.parse().unwrap();
    assert!(default.ip().is_loopback(), "{default}");

    let wd = Workdir::new();
    let log = wd.path("mail.log");
    std::fs::write(&log, "").unwrap();
    let cfg = wd.config(&file_config(&[&log], &[]));
    let rx = Receiver::start();
    let mut d = Daemon::start(&wd, &cfg, &rx.endpoint());
    assert!(d.metrics_addr().ip().is_loopback());
    d.wait_rounds(1);

    let (status, body) = d.http_get("/metrics");
    assert_eq!(status, 200);
    for name in DOCUMENTED_METRICS {
        assert!(
            body.contains(&format!("# TYPE {name} ")),
            "{name} in:\n{body}"
        );
        assert!(
            body.contains(&format!("# HELP {name} ")),
            "{name} in:\n{body}"
        );
    }
    let m = d.metrics();
    for name in DOCUMENTED_METRICS {
        assert!(m.contains_key(name), "{name} sample");
    }
    assert!(m["mailtrace_rounds_total"] >= 1.0);
    assert!(m["mailtrace_last_round_timestamp_seconds"] > 1.7e9);
    let (status, body) = d.http_get("/healthz");
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, _) = d.http_get("/nope");
    assert_eq!(status, 404);
}

/// What a one-shot run of the library makes of `lines` (all at once, then drained): span
/// ID → span. The daemon, however its rounds cut the input, must produce the same spans.
fn reference_spans(lines: &[mailgen::Line]) -> BTreeMap<Vec<u8>, Span> {
    let yaml = opensearch_config(9200, INDEX, &[]);
    let cfg = mailtrace::config::Config::from_yaml_str(&yaml, "test").unwrap();
    let mapper = mailtrace::source::document::DocumentContext::new(&cfg.opensearch_config).unwrap();
    let mut c = Correlator::new(mailtrace::engine::correlator_config(&cfg));
    let mut sorted = lines.to_vec();
    sorted.sort_by_key(|l| l.ts_ns);
    for l in &sorted {
        let mut doc = l.doc();
        doc.as_object_mut().unwrap().remove("_id");
        let source = serde_json::value::to_raw_value(&doc).unwrap();
        c.ingest(&mapper.map_hit(&l.id, &source).unwrap());
    }
    let mut out = BTreeMap::new();
    for msg in c.drain() {
        for b in build_spans(&msg, &ModelOptions::default()) {
            out.insert(b.span.span_id.clone(), b.span);
        }
    }
    out
}

fn ids_of(spans: &[ReceivedSpan]) -> HashSet<Vec<u8>> {
    spans.iter().map(|s| s.span.span_id.clone()).collect()
}

fn assert_no_span_twice(spans: &[ReceivedSpan]) {
    let mut seen = HashSet::new();
    for s in spans {
        assert!(
            seen.insert(&s.span.span_id),
            "span {} ({}) arrived twice",
            ids::hex(&s.span.span_id),
            s.span.name
        );
    }
}

/// A fresh osmem with the index created (a first message of `tag`, exported and checked),
/// a receiver and a running daemon.
fn running_daemon(tag: &str, tracing: &[&str]) -> (Osmem, Workdir, Receiver, Daemon, Mail) {
    let os = Osmem::start();
    // Event times from now on: the first window reaches back only go_back_seconds from
    // whenever the daemon gets to its first read.
    let first = Mail::new(tag, 999_999, now_ns());
    os.bulk_index(INDEX, &docs(&first.all_lines()));
    let wd = Workdir::new();
    let rx = Receiver::start();
    let cfg = wd.config(&opensearch_config(os.port, INDEX, tracing));
    let d = Daemon::start(&wd, &cfg, &rx.endpoint());
    let spans = rx.wait_spans(SPANS_PER_MAIL, &d);
    assert_exactly_once(&spans, std::slice::from_ref(&first));
    (os, wd, rx, d, first)
}

#[test]
fn a_message_whose_lines_span_three_rounds_is_one_trace_with_its_deferred_attempt() {
    let (os, _wd, rx, mut d, _) = running_daemon("span3", &[]);
    let base = rx.spans().len();
    let m = Mail::new("span3", 1, now_ns() - SEC);
    let hop_b = &m.lines[1];
    // Round 1: all of hop A, hop B up to its queue manager line.
    let mut part1: Vec<_> = m.lines[0].clone();
    part1.extend_from_slice(&hop_b[..3]);
    os.bulk_index(INDEX, &docs(&part1));
    d.wait_rounds(2);
    // Round 2: hop B's first attempt is deferred.
    let deferred = mailgen::Line {
        text: "to=<bob@example.net>, relay=mx1[10.0.1.22]:25, delay=30, \
               delays=0.1/0/30/0, dsn=4.4.1, status=deferred (connect to \
               mx1[10.0.1.22]:25: Connection refused)"
            .into(),
        queued_as: None,
        id: "span3-deferred".into(),
        ..hop_b[3].at(now_ns())
    };
    os.bulk_index(INDEX, &docs(std::slice::from_ref(&deferred)));
    d.wait_rounds(2);
    assert_eq!(
        rx.spans().len(),
        base,
        "nothing is exported while hop B is queued"
    );
    // Round 3: the retry is sent, B is removed, and hop C (all of it) follows.
    let t = now_ns();
    let mut part3 = vec![hop_b[3].at(t), hop_b[4].at(t + 10 * mailgen::MS)];
    for (i, l) in m.lines[2].iter().enumerate() {
        part3.push(l.at(t + SEC + i as i64 * 10 * mailgen::MS));
    }
    os.bulk_index(INDEX, &docs(&part3));

    let mut all_lines = part1.clone();
    all_lines.push(deferred.clone());
    all_lines.extend(part3.iter().cloned());
    let want = reference_spans(&all_lines);
    rx.wait_spans(base + want.len(), &d);
    d.wait_rounds(2);
    let spans = rx.spans().split_off(base).into_iter().collect::<Vec<_>>();
    assert_eq!(spans.len(), want.len(), "no more spans later either");
    assert_no_span_twice(&spans);
    let traces = by_trace(spans.clone());
    assert_eq!(traces.len(), 1, "one trace");
    let t = trace_of(&traces, &m.message_id);
    t.assert_coherent();
    let hop = t.hop(m.queue_id(1));
    let status = |s: &ReceivedSpan| attr_str(&s.span, "email.status").unwrap_or_default();
    let attempts: Vec<_> = t
        .children(&hop.span)
        .into_iter()
        .filter(|s| !status(s).is_empty())
        .collect();
    assert_eq!(
        attempts.len(),
        2,
        "a deferred and a sent attempt under hop B"
    );
    // Hop C hangs under hop B too: the edge formed across rounds.
    let hop_c = t.hop(m.queue_id(2));
    assert_eq!(hop_c.span.parent_span_id, hop.span.span_id);
    let deferred_span = attempts.iter().find(|s| status(s) == "deferred").unwrap();
    assert!(is_error(&deferred_span.span), "deferred attempt is ERROR");
    assert!(attempts
        .iter()
        .any(|s| status(s) == "sent" && !is_error(&s.span)));
    // Exactly what a one-shot run of all the lines gives, byte for byte.
    for s in &spans {
        assert_eq!(
            Some(&s.span),
            want.get(&s.span.span_id),
            "span {} differs from the one-shot reference",
            s.span.name
        );
    }
}

#[test]
fn late_indexed_lines_within_go_back_are_caught_and_overlap_duplicates_dropped() {
    let (os, wd, rx, mut d, _) = running_daemon(
        "late",
        &["go_back_seconds: 10", "next_hop_grace_seconds: 30"],
    );
    let base = rx.spans().len();
    d.wait_rounds(1);
    let cursor = wd.saved_cursor().expect("a saved cursor");
    // M1: every line indexed after the round that covered its event time.
    let m1 = Mail::new("late", 1, cursor - 3500 * mailgen::MS);
    assert!(m1.all_lines().iter().all(|l| l.ts_ns < cursor));
    os.bulk_index(INDEX, &docs(&m1.all_lines()));
    // M2: hops A and B on time; hop C's lines come a round later with event times before
    // the cursor of that round (a slow shipper on mx1). The grace for the next hop holds M2.
    let m2 = Mail::new("late", 2, now_ns() - 2 * SEC);
    let mut ab = m2.lines[0].clone();
    ab.extend(m2.lines[1].iter().cloned());
    os.bulk_index(INDEX, &docs(&ab));
    d.wait_rounds(2);
    let cursor2 = wd.saved_cursor().unwrap();
    let c_lines: Vec<_> = m2.lines[2]
        .iter()
        .enumerate()
        .map(|(i, l)| l.at(cursor2 - 3 * SEC + i as i64 * 10 * mailgen::MS))
        .collect();
    os.bulk_index(INDEX, &docs(&c_lines));

    rx.wait_spans(base + 2 * SPANS_PER_MAIL, &d);
    d.wait_rounds(3);
    let spans = rx.spans().split_off(base);
    assert_exactly_once(&spans, &[m1, m2]);
    // Each document was read in several overlapping windows; the repeats were dropped.
    assert!(d.metric("mailtrace_lines_duplicate_total") > 0.0);
}

#[test]
fn late_lines_for_an_exported_message_export_only_the_new_spans_under_the_old_hop() {
    let (os, _wd, rx, mut d, _) = running_daemon("latex", &["go_back_seconds: 20"]);
    let base = rx.spans().len();
    // M1 is exported without hop C's delivery line; M2 without any line of hop C.
    let m1 = Mail::new("latex", 1, now_ns() - 3 * SEC);
    let m2 = Mail::new("latex", 2, now_ns() - 3 * SEC);
    let late1 = m1.lines[2][3].clone();
    let mut first: Vec<_> = m1.all_lines().into_iter().filter(|l| *l != late1).collect();
    first.extend(m2.lines[0].iter().cloned());
    first.extend(m2.lines[1].iter().cloned());
    os.bulk_index(INDEX, &docs(&first));
    let before_late = 14 + 13; // M1: root, 3 hops, 2 attempts, 8 stages; M2: one hop less.
    rx.wait_spans(base + before_late, &d);
    d.wait_rounds(2);
    let exported = rx.spans().split_off(base);
    assert_eq!(
        exported.len(),
        before_late,
        "both messages released before the late lines"
    );

    // The late lines, with their original event times (inside the read window).
    let mut late = vec![late1.clone()];
    late.extend(m2.lines[2].iter().cloned());
    os.bulk_index(INDEX, &docs(&late));
    let new_spans = 5 + 6; // M1: attempt + 4 stages; M2: hop + attempt + 4 stages.
    rx.wait_spans(base + before_late + new_spans, &d);
    d.wait_rounds(3);
    let all = rx.spans().split_off(base);
    assert_no_span_twice(&all);
    assert_eq!(all.len(), before_late + new_spans);
    let added = &all[before_late..];

    // Together they are the complete messages, with the IDs a one-shot run gives.
    let want = reference_spans(&[m1.all_lines(), m2.all_lines()].concat());
    let got: HashSet<Vec<u8>> = ids_of(&all);
    assert_eq!(got, want.keys().cloned().collect::<HashSet<_>>());

    // M1's new attempt hangs under the hop span exported earlier.
    let hop_c1 = ids::hop_span_id(&m1.message_id, "mx1", m1.queue_id(2)).to_vec();
    let attempt1: Vec<_> = added
        .iter()
        .filter(|s| s.span.trace_id == ids::trace_id(&m1.message_id).to_vec())
        .collect();
    assert_eq!(attempt1.len(), 5);
    assert!(exported.iter().any(|s| s.span.span_id == hop_c1));
    let att = attempt1
        .iter()
        .find(|s| s.span.parent_span_id == hop_c1)
        .expect("the new attempt's parent is the exported hop C span");
    assert!(attempt1
        .iter()
        .filter(|s| s.span.span_id != att.span.span_id)
        .all(|s| s.span.parent_span_id == att.span.span_id));

    // M2's new hop hangs under hop B's span exported earlier.
    let hop_b2 = ids::hop_span_id(&m2.message_id, "relay1", m2.queue_id(1)).to_vec();
    let hop_c2 = ids::hop_span_id(&m2.message_id, "mx1", m2.queue_id(2)).to_vec();
    let new_hop = added
        .iter()
        .find(|s| s.span.span_id == hop_c2)
        .expect("M2's hop C span is new");
    assert_eq!(new_hop.span.parent_span_id, hop_b2);
    assert!(exported.iter().any(|s| s.span.span_id == hop_b2));
    assert_eq!(d.metric("mailtrace_late_lines_total"), 1.0, "M1's line");
}

#[test]
fn max_pending_messages_exports_the_oldest_as_incomplete_and_counts_them() {
    let os = Osmem::start();
    // 20 messages stuck on smtp1 (no delivery, no `removed`): never finished.
    let all = mails("limit", 20, now_ns(), 20 * mailgen::MS);
    let lines: Vec<_> = all.iter().flat_map(|m| m.lines[0][..3].to_vec()).collect();
    os.bulk_index(INDEX, &docs(&lines));
    let wd = Workdir::new();
    let rx = Receiver::start();
    let cfg = wd.config(&opensearch_config(
        os.port,
        INDEX,
        &["max_pending_messages: 5"],
    ));
    let mut d = Daemon::start(&wd, &cfg, &rx.endpoint());
    rx.wait_spans(15 * 2, &d);
    d.wait_rounds(2);
    let spans = rx.spans();
    assert_no_span_twice(&spans);
    assert_eq!(spans.len(), 15 * 2, "root + hop of the 15 oldest");
    let traces = by_trace(spans);
    for (i, m) in all.iter().enumerate() {
        let key = ids::hex(&ids::trace_id(&m.message_id));
        if i < 15 {
            let root = traces[&key].root();
            assert_eq!(attr_str(root, "email.incomplete").as_deref(), Some("true"));
        } else {
            assert!(!traces.contains_key(&key), "the 5 newest stay pending");
        }
    }
    let m = d.metrics();
    assert_eq!(m["mailtrace_messages_incomplete_total"], 15.0);
    assert_eq!(m["mailtrace_pending_messages"], 5.0);
}

/// A daemon reading osmem-server through a proxy, its first mail exported; then the proxy
/// is cut off and a round has failed.
fn daemon_cut_off_after_one_mail(
    tag: &str,
    tracing: &[&str],
) -> (Osmem, SwitchProxy, Workdir, Receiver, Daemon, Mail) {
    let os = Osmem::start();
    let proxy = SwitchProxy::start(os.port);
    let first = Mail::new(tag, 0, now_ns());
    os.bulk_index(INDEX, &docs(&first.all_lines()));
    let wd = Workdir::new();
    let rx = Receiver::start();
    let cfg = wd.config(&opensearch_config(proxy.port, INDEX, tracing));
    let mut d = Daemon::start(&wd, &cfg, &rx.endpoint());
    rx.wait_spans(SPANS_PER_MAIL, &d);
    d.wait_rounds(1);
    proxy.set_up(false);
    d.wait_metric("mailtrace_round_failures_total", |v| v >= 1.0);
    (os, proxy, wd, rx, d, first)
}

#[test]
fn an_opensearch_outage_holds_the_cursor_and_everything_is_read_after_it() {
    let (os, proxy, wd, rx, mut d, first) =
        daemon_cut_off_after_one_mail("outage", &["go_back_seconds: 5"]);
    let held = wd.saved_cursor().expect("cursor saved before the outage");
    // Mail logged during the outage.
    let during = mails("outage", 5, now_ns(), 100 * mailgen::MS);
    let during = &during[1..];
    let lines: Vec<_> = during.iter().flat_map(Mail::all_lines).collect();
    os.bulk_index(INDEX, &docs(&lines));
    let failures = d.metric("mailtrace_round_failures_total");
    d.wait_metric("mailtrace_round_failures_total", |v| v >= failures + 3.0);
    assert_eq!(
        wd.saved_cursor(),
        Some(held),
        "the cursor does not move while reads fail"
    );
    assert_eq!(
        rx.spans().len(),
        SPANS_PER_MAIL,
        "nothing new while the source is down"
    );

    proxy.set_up(true);
    rx.wait_spans(SPANS_PER_MAIL * 5, &d);
    d.wait_rounds(2);
    assert_exactly_once(&rx.spans(), &[&[first][..], during].concat());
    assert!(wd.saved_cursor().unwrap() > held);
    assert!(d.metric("mailtrace_round_failures_total") >= 4.0);
    let err = d.stderr();
    assert_eq!(
        err.matches("reading the logs failed").count(),
        1,
        "one error per outage, not one per round:\n{err}"
    );
    assert_eq!(err.matches("source is back").count(), 1, "{err}");
}

/// After an outage longer than the age limit, the backlog is read a step per round, each
/// round at once after the last, and its messages go out complete as their hold window
/// passes. Read as one window, the store's clock would jump to now and the age limit would
/// release the oldest of them marked incomplete.
#[test]
fn a_backlog_longer_than_the_age_limit_is_caught_up_in_steps_and_released_complete() {
    // Steps of min(10 rounds, 12 s / (hold 1 + 2)) = 4 s of log time.
    let (os, proxy, _wd, rx, mut d, first) =
        daemon_cut_off_after_one_mail("backlog", &["max_trace_age_seconds: 12"]);
    let down_at = now_ns();
    // Ten messages, 2 s apart, over the next 20 s: at the end of the outage the oldest is
    // twice the age limit old.
    let backlog = mails("backlog", 11, down_at, 2 * SEC);
    let backlog = &backlog[1..];
    let lines: Vec<_> = backlog.iter().flat_map(Mail::all_lines).collect();
    os.bulk_index(INDEX, &docs(&lines));
    std::thread::sleep(
        Duration::from_secs(24).saturating_sub(Duration::from_nanos((now_ns() - down_at) as u64)),
    );
    let rounds = d.metric("mailtrace_rounds_total");
    proxy.set_up(true);

    rx.wait_spans(SPANS_PER_MAIL * 11, &d);
    let spans = rx.spans();
    assert_exactly_once(&spans, &[std::slice::from_ref(&first), backlog].concat());
    assert_caught_up_complete(spans, backlog, &mut d);
    // 25 s of backlog (go_back 5 s included) in steps of 4 s.
    let m = d.metrics();
    assert!(
        m["mailtrace_rounds_total"] >= rounds + 6.0,
        "{} rounds for the backlog",
        m["mailtrace_rounds_total"] - rounds
    );
}

/// After a backlog: none of `backlog` went out incomplete (nor was counted so), and the
/// daemon said once that it was catching up and once that it had.
fn assert_caught_up_complete(spans: Vec<ReceivedSpan>, backlog: &[Mail], d: &mut Daemon) {
    let traces = by_trace(spans);
    for m in backlog {
        let root = traces[&ids::hex(&ids::trace_id(&m.message_id))].root();
        assert_eq!(
            attr_str(root, "email.incomplete"),
            None,
            "{} went out incomplete",
            m.message_id
        );
    }
    assert_eq!(d.metric("mailtrace_messages_incomplete_total"), 0.0);
    // The messages go out while the clock still steps towards now.
    d.wait_stderr("caught up with the backlog");
    let err = d.stderr();
    for said in ["catching up with a backlog", "caught up with the backlog"] {
        assert_eq!(err.matches(said).count(), 1, "{said:?} in {err}");
    }
}

#[test]
fn an_otlp_outage_delays_spans_but_loses_none_and_sends_none_twice() {
    let os = Osmem::start();
    let batch1 = mails("otlpdown", 5, now_ns(), 100 * mailgen::MS);
    os.bulk_index(
        INDEX,
        &docs(&batch1.iter().flat_map(Mail::all_lines).collect::<Vec<_>>()),
    );
    // Nothing listens on the endpoint when the daemon starts.
    let port = free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let wd = Workdir::new();
    let cfg = wd.config(&opensearch_config(os.port, INDEX, &[]));
    let mut d = Daemon::start(&wd, &cfg, &endpoint);
    d.wait_metric("mailtrace_export_failures_total", |v| v >= 2.0);
    // Spans wait in the queue. (Waited for, not read once: on a loaded machine the last
    // mail's lines may fall in the daemon's second round, after the second failure.)
    let queued = (5 * SPANS_PER_MAIL) as f64;
    d.wait_metric("mailtrace_export_queue_spans", |v| v == queued);
    let rx = Receiver::start_at(&format!("127.0.0.1:{port}"));
    rx.wait_spans(5 * SPANS_PER_MAIL, &d);

    // The receiver refuses the next calls (a collector restarting): retried, not lost.
    rx.rx.fail_next(3, tonic::Code::Unavailable);
    let batch2: Vec<Mail> = (5..10)
        .map(|n| Mail::new("otlpdown", n, now_ns()))
        .collect();
    os.bulk_index(
        INDEX,
        &docs(&batch2.iter().flat_map(Mail::all_lines).collect::<Vec<_>>()),
    );
    rx.wait_spans(10 * SPANS_PER_MAIL, &d);
    d.wait_rounds(2);
    assert_exactly_once(&rx.spans(), &[batch1, batch2].concat());
    assert!(
        rx.rx.calls() > rx.rx.requests().len(),
        "failed calls happened"
    );
    let m = d.metrics();
    assert_eq!(m["mailtrace_export_queue_spans"], 0.0);
    assert_eq!(
        m["mailtrace_spans_exported_total"],
        (10 * SPANS_PER_MAIL) as f64
    );
    assert_eq!(m["mailtrace_spans_evicted_total"], 0.0);
}

#[test]
fn sigterm_exits_promptly_with_state_saved_and_a_restart_resumes_without_reexporting() {
    let os = Osmem::start();
    let batch1 = mails("term", 3, now_ns() - 3 * SEC, 10 * mailgen::MS);
    os.bulk_index(
        INDEX,
        &docs(&batch1.iter().flat_map(Mail::all_lines).collect::<Vec<_>>()),
    );
    let wd = Workdir::new();
    let rx = Receiver::start();
    // A long sleep: SIGTERM must interrupt it.
    let cfg = wd.config(&opensearch_config(
        os.port,
        INDEX,
        &["sleep_seconds: 30", "hold_rounds: 0", "go_back_seconds: 10"],
    ));
    let mut d = Daemon::start(&wd, &cfg, &rx.endpoint());
    rx.wait_spans(3 * SPANS_PER_MAIL, &d);
    let cursor = wd.saved_cursor().expect("state saved");
    d.sigterm();
    let st = d
        .wait_exit(Duration::from_secs(5))
        .expect("exits within 5 s of SIGTERM");
    assert!(st.success(), "exit 0 on SIGTERM, got {st}; {}", d.stderr());
    assert_eq!(wd.saved_cursor(), Some(cursor));

    // More mail while it is down; the restart reads from the saved cursor.
    let batch2 = mails("term", 6, now_ns() - 2 * SEC, 10 * mailgen::MS).split_off(3);
    os.bulk_index(
        INDEX,
        &docs(&batch2.iter().flat_map(Mail::all_lines).collect::<Vec<_>>()),
    );
    let cfg = wd.config(&opensearch_config(
        os.port,
        INDEX,
        &["hold_rounds: 0", "go_back_seconds: 10"],
    ));
    let rx2 = Receiver::start();
    let mut d = Daemon::start(&wd, &cfg, &rx2.endpoint());
    rx2.wait_spans(3 * SPANS_PER_MAIL, &d);
    d.wait_rounds(2);
    // Only the new mail: the first batch, re-read through the go-back overlap, is not sent
    // again.
    assert_exactly_once(&rx2.spans(), &batch2);
    assert!(d.stderr().contains("resuming from saved state"));
}

/// Run a daemon over `INDEX` of `os` into a fresh receiver until `want` distinct spans
/// arrived, optionally killing it with SIGKILL at `kill` and restarting on the same state
/// dir. Returns span ID → encoded span (a span received twice must be byte-identical).
fn run_with_kill(os: &Osmem, want: usize, kill: Option<KillPoint>) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let wd = Workdir::new();
    let rx = Receiver::start();
    let cfg = wd.config(&opensearch_config(
        os.port,
        INDEX,
        &["go_back_seconds: 120", "hold_rounds: 2"],
    ));
    let mut d = Daemon::start(&wd, &cfg, &rx.endpoint());
    if let Some(k) = kill {
        match k {
            KillPoint::AtOnce => std::thread::sleep(Duration::from_millis(300)),
            KillPoint::AfterFirstRound => d.wait_rounds(1),
            KillPoint::MidExport => {
                // Slow calls so the queue is only partly drained when the kill comes.
                rx.rx.delay_calls(Duration::from_millis(400));
                let deadline = std::time::Instant::now() + common::daemon::PATIENCE;
                while rx.rx.requests().is_empty() {
                    assert!(std::time::Instant::now() < deadline, "{}", d.stderr());
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
        d.kill9();
        rx.rx.delay_calls(Duration::ZERO);
        d = Daemon::start(&wd, &cfg, &rx.endpoint());
    }
    let deadline = std::time::Instant::now() + common::daemon::PATIENCE;
    while ids_of(&rx.spans()).len() < want {
        assert!(std::time::Instant::now() < deadline, "{}", d.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    d.wait_rounds(3);
    span_map(&rx.spans())
}

#[derive(Debug, Clone, Copy)]
enum KillPoint {
    AtOnce,
    AfterFirstRound,
    MidExport,
}

#[test]
fn kill_9_at_any_point_then_restart_gives_the_spans_of_an_uninterrupted_run() {
    let os = Osmem::start();
    let all = mails("kill", 300, now_ns() - 8 * SEC, 10 * mailgen::MS);
    os.bulk_index(
        INDEX,
        &docs(&all.iter().flat_map(Mail::all_lines).collect::<Vec<_>>()),
    );
    let want = all.len() * SPANS_PER_MAIL;
    let reference = run_with_kill(&os, want, None);
    assert_eq!(reference.len(), want);
    for k in [
        KillPoint::AtOnce,
        KillPoint::AfterFirstRound,
        KillPoint::MidExport,
    ] {
        let got = run_with_kill(&os, want, Some(k));
        assert_eq!(got.len(), reference.len(), "{k:?}: span count");
        for (id, bytes) in &reference {
            assert_eq!(got.get(id), Some(bytes), "{k:?}: span {}", ids::hex(id));
        }
    }
}

#[test]
fn a_file_backlog_older_than_the_age_limit_is_read_in_steps_and_released_complete() {
    // A restart after a long stop, in small: eleven messages 2 s apart, the newest written
    // 40 s ago, read with an age limit of 12 s. Read at once with the clock at now, every one
    // would go out incomplete; read a step of log time per round (min(10 rounds, 12 s /
    // (hold 1 + 2)) = 4 s), each goes out complete once its hold has passed.
    let wd = Workdir::new();
    let log = wd.path("mail.log");
    let backlog = mails("filebacklog", 11, now_ns() - 60 * SEC, 2 * SEC);
    let mut lines: Vec<_> = backlog.iter().flat_map(Mail::all_lines).collect();
    lines.sort_by_key(|l| l.ts_ns);
    let text: String = lines.iter().map(mailgen::Line::syslog).collect();
    std::fs::write(&log, &text).unwrap();
    let cfg = wd.config(&file_config(&[&log], &["max_trace_age_seconds: 12"]));
    let rx = Receiver::start();
    let mut d = Daemon::start(&wd, &cfg, &rx.endpoint());

    rx.wait_spans(SPANS_PER_MAIL * backlog.len(), &d);
    d.wait_rounds(1);
    let spans = rx.spans();
    assert_exactly_once(&spans, &backlog);
    assert_caught_up_complete(spans, &backlog, &mut d);
    let m = d.metrics();
    assert_eq!(m["mailtrace_lines_read_total"], lines.len() as f64);
    // 20 s of log in steps of about 4 s.
    assert!(
        m["mailtrace_rounds_total"] >= 4.0,
        "{} rounds for the backlog",
        m["mailtrace_rounds_total"]
    );
}

#[test]
fn follows_a_syslog_file_across_appends_rotation_and_restart() {
    let wd = Workdir::new();
    let log = wd.path("mail.log");
    let all = mails("file", 20, now_ns(), 50 * mailgen::MS);
    let text = |ms: &[Mail]| -> String {
        let mut lines: Vec<_> = ms.iter().flat_map(Mail::all_lines).collect();
        lines.sort_by_key(|l| l.ts_ns);
        lines.iter().map(mailgen::Line::syslog).collect()
    };
    let append = |path: &std::path::Path, s: &str| {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        f.write_all(s.as_bytes()).unwrap();
    };
    append(&log, &text(&all[..5]));
    let cfg = wd.config(&file_config(&[&log], &[]));
    let rx = Receiver::start();
    let mut d = Daemon::start(&wd, &cfg, &rx.endpoint());
    rx.wait_spans(5 * SPANS_PER_MAIL, &d);

    // Appended between rounds.
    append(&log, &text(&all[5..10]));
    rx.wait_spans(10 * SPANS_PER_MAIL, &d);

    // Rotation: part of the mail goes to the old file (also after its rename, as a writer
    // does until it reopens its log), the rest to a new file at the same path.
    let rotating = text(&all[10..15]);
    let lines: Vec<&str> = rotating.split_inclusive('\n').collect();
    let (old, new) = lines.split_at(lines.len() / 2);
    let (old_a, old_b) = old.split_at(old.len() / 2);
    append(&log, &old_a.concat());
    let rotated = wd.path("mail.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    append(&rotated, &old_b.concat());
    append(&log, &new.concat());
    rx.wait_spans(15 * SPANS_PER_MAIL, &d);
    d.wait_rounds(1);

    // Down for a while: what is written meanwhile is read from the saved offsets.
    d.sigterm();
    assert!(d.wait_exit(Duration::from_secs(5)).unwrap().success());
    let more = text(&all[15..]);
    append(&log, &more);
    let mut d = Daemon::start(&wd, &cfg, &rx.endpoint());
    rx.wait_spans(20 * SPANS_PER_MAIL, &d);
    d.wait_rounds(2);
    assert_exactly_once(&rx.spans(), &all);
    assert_eq!(
        d.metric("mailtrace_lines_read_total"),
        more.lines().count() as f64,
        "the restart reads only what was appended after the saved offsets"
    );
}
