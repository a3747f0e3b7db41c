//! Export requests encoded straight from messages (`trace::request`) are byte for byte what
//! prost writes for the requests `engine::requests_for` builds — same batching, grouping
//! and span order — on the real fixtures, on generated traffic and on arbitrary messages
//! (property-based: hosts named like the root service, empty strings, NaN and negative
//! times, out-of-range parents, re-exported hops).

use std::path::Path;

use mailtrace::config::Config;
use mailtrace::correlate::{
    Correlator, CorrelatorConfig, Hop, HopLine, Message, Notice, NoticeOrigin, TimedAttempt,
};
use mailtrace::engine::requests_for;
use mailtrace::export::otlp::count_spans;
use mailtrace::loadgen::{self, LoadSpec};
use mailtrace::parse::syslog::{parse_line, SyslogContext};
use mailtrace::parse::{Arrival, Attempt, AttemptStatus, Mta, NoticeKind, Reject, Relay};
use mailtrace::record::LogRecord;
use mailtrace::source::document::DocumentContext;
use mailtrace::trace::model::{build_spans, ModelOptions};
use mailtrace::trace::request::{encode_requests, RequestEncoder};
use proptest::prelude::*;

/// Both encodings of `messages` in requests of `max_spans`, as (bytes, spans) each.
fn assert_identical(messages: &[Message], model: &ModelOptions, max_spans: usize) {
    let expected: Vec<(Vec<u8>, usize)> = requests_for(messages, model, max_spans)
        .iter()
        .map(|r| (prost::Message::encode_to_vec(r), count_spans(r)))
        .collect();
    let ours: Vec<(Vec<u8>, usize)> = encode_requests(messages, model, max_spans)
        .into_iter()
        .map(|r| (r.to_bytes(), r.spans))
        .collect();
    // As `replay` encodes: each request's buffers handed back for the next as soon as it
    // is counted.
    let mut enc = RequestEncoder::new(max_spans);
    let mut recycled = Vec::new();
    enc.encode_all(messages, model, |enc, req| {
        recycled.push((req.to_bytes(), req.spans));
        enc.recycle(req);
        Ok::<_, ()>(())
    })
    .unwrap();
    assert!(
        recycled == ours,
        "recycled buffers change the bytes (max_spans {max_spans})"
    );
    let total: usize = messages.iter().map(|m| build_spans(m, model).len()).sum();
    assert_eq!(ours.iter().map(|r| r.1).sum::<usize>(), total);
    assert_eq!(ours.len(), expected.len(), "request count");
    for (i, (o, e)) in ours.iter().zip(&expected).enumerate() {
        assert_eq!(o.1, e.1, "spans in request {i}");
        assert!(
            o.0 == e.0,
            "bytes of request {i} differ (max_spans {max_spans})"
        );
    }
}

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn correlate(records: impl IntoIterator<Item = LogRecord>) -> Vec<Message> {
    let mut c = Correlator::new(CorrelatorConfig::default());
    for r in records {
        c.ingest(&r);
    }
    c.drain()
}

fn syslog_messages(name: &str) -> Vec<Message> {
    let text = String::from_utf8_lossy(&std::fs::read(fixture(name)).unwrap()).into_owned();
    let ctx = SyslogContext {
        year: Some(2026),
        default_host: Some("mx-e".into()),
        ..SyslogContext::default()
    };
    correlate(
        text.lines()
            .filter_map(|l| parse_line(l, &ctx).ok())
            .collect::<Vec<_>>(),
    )
}

fn ndjson_messages(name: &str) -> Vec<Message> {
    let cfg = Config::load(&fixture("seed-config.yaml")).unwrap();
    let docs = DocumentContext::new(&cfg.opensearch_config).unwrap();
    let text = std::fs::read_to_string(fixture(name)).unwrap();
    correlate(
        text.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .filter_map(|d: serde_json::Value| docs.map(&d).ok())
            .collect::<Vec<_>>(),
    )
}

#[test]
fn fixtures_encode_identically() {
    let mut any = 0;
    for name in [
        "chain-postfix-exim.log",
        "odd-lines.log",
        "hostile.log",
        "seed-cross-cluster.ndjson",
        "hostile.ndjson",
    ] {
        let messages = if name.ends_with(".log") {
            syslog_messages(name)
        } else {
            ndjson_messages(name)
        };
        any += messages.len();
        for max_spans in [1, 3, 17, 2000] {
            for events in [0, 2, 100] {
                let model = ModelOptions {
                    max_events_per_hop: events,
                };
                assert_identical(&messages, &model, max_spans);
            }
        }
    }
    assert!(any > 20, "the fixtures yield messages ({any})");
}

#[test]
fn generated_traffic_encodes_identically() {
    let spec = LoadSpec {
        messages: 300,
        ..LoadSpec::default()
    };
    let mut records = Vec::new();
    loadgen::generate(&spec, |l| {
        records.push(l.to_record());
        Ok(())
    })
    .unwrap();
    let messages = correlate(records);
    assert_eq!(messages.len(), 300);
    for max_spans in [1, 50, 2000] {
        assert_identical(&messages, &ModelOptions::default(), max_spans);
    }
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z]{1,4}",
        "\\PC{0,20}",
        "[a-z]{150,200}",
    ]
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("mx-a"),
        Just("mx-b"),
        Just("mailtrace"),
        Just(""),
        Just("local"),
        Just("zz"),
    ]
    .prop_map(str::to_string)
}

fn secs() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(-1.5),
        Just(f64::NAN),
        Just(f64::INFINITY),
        0.0..5000.0f64,
    ]
}

fn time() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(0i64),
        Just(-5),
        Just(1_700_000_000_000_000_000),
        1_700_000_000_000_000_000..1_700_000_100_000_000_000i64,
    ]
}

fn recipient() -> impl Strategy<Value = String> {
    prop_oneof![Just("a@x"), Just("b@x"), Just("c@y")].prop_map(str::to_string)
}

fn attempt() -> impl Strategy<Value = TimedAttempt> {
    let relay = (
        host(),
        proptest::option::of(prop_oneof![Just("10.0.0.1"), Just("/var/run/x")]),
    )
        .prop_map(|(h, addr)| Relay {
            raw: format!("{h}[x]:25"),
            host: h,
            addr: addr.map(str::to_string),
            port: Some(25),
        });
    let status = proptest::option::of(prop_oneof![
        Just(AttemptStatus::Sent),
        Just(AttemptStatus::Deferred),
        Just(AttemptStatus::Bounced),
        Just(AttemptStatus::Expired),
        Just(AttemptStatus::Other),
    ]);
    (
        (
            prop::collection::vec(recipient(), 0..3),
            proptest::option::of(recipient()),
            proptest::option::of(relay),
            proptest::option::of(secs()),
            proptest::option::of([secs(), secs(), secs(), secs()]),
            proptest::option::of(text()),
        ),
        (
            status,
            proptest::option::of(text()),
            proptest::option::of(prop_oneof![Just("Q1"), Just("Q2")].prop_map(str::to_string)),
            proptest::option::of(secs()),
            proptest::option::of(secs()),
            prop_oneof![Just(1_700_000_000_000_000_000i64), time()],
            prop::bool::weighted(0.1),
        ),
    )
        .prop_map(
            |(
                (recipients, orig_to, relay, delay_s, delays, dsn),
                (status, reply, next_queue_id, queue_time_s, deliver_time_s, ts, before),
            )| TimedAttempt {
                timestamp_ns: ts,
                attempt: Attempt {
                    recipients,
                    orig_to,
                    relay,
                    delay_s,
                    delays,
                    dsn,
                    status,
                    reply,
                    next_queue_id,
                    queue_time_s,
                    deliver_time_s,
                },
                exported_before: before,
            },
        )
}

fn notice_kind() -> impl Strategy<Value = NoticeKind> {
    prop_oneof![
        Just(NoticeKind::NonDelivery),
        Just(NoticeKind::Delay),
        Just(NoticeKind::Success),
        Just(NoticeKind::Other),
    ]
}

fn hop() -> impl Strategy<Value = Hop> {
    let arrival = (
        text(),
        proptest::option::of(text()),
        proptest::option::of(any::<u64>()),
        prop::collection::vec(recipient(), 0..3),
        proptest::option::of(secs()),
    )
        .prop_map(|(sender, client, size, recipients, rt)| Arrival {
            sender,
            client,
            size,
            message_id: None,
            recipients,
            receive_time_s: rt,
        });
    let line = (time(), text(), text()).prop_map(|(t, service, text)| HopLine {
        timestamp_ns: t,
        service,
        text,
    });
    let notice = (time(), notice_kind(), text()).prop_map(|(t, kind, q)| Notice {
        timestamp_ns: t,
        kind,
        notice_queue_id: q,
    });
    let reject = (
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(text()),
        text(),
    )
        .prop_map(|(stage, code, dsn, reason)| Reject {
            stage,
            code,
            dsn,
            reason,
            ..Reject::default()
        });
    (
        (
            host(),
            text(),
            prop_oneof![Just(Mta::Postfix), Just(Mta::Exim)],
            proptest::option::of(0usize..4),
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::option::of(any::<u64>()),
            proptest::option::of(any::<u32>()),
            proptest::option::of(arrival),
        ),
        (
            prop::collection::vec(attempt(), 0..5),
            prop::collection::vec(notice, 0..3),
            prop::collection::vec(reject, 0..2),
            prop::collection::vec(line, 0..5),
            0u32..3,
            (time(), time()),
            any::<bool>(),
            proptest::option::of(secs()),
            prop::bool::weighted(0.15),
            // A hop revived by a late line: its own span is not sent again, nor the root.
            prop::bool::weighted(0.1),
        ),
    )
        .prop_map(
            |(
                (host, queue_id, mta, parent, client, sasl, sender, size, nrcpt, arrival),
                (
                    attempts,
                    notices,
                    rejects,
                    lines,
                    dropped,
                    (first, last),
                    finished,
                    qt,
                    before,
                    sent,
                ),
            )| {
                let mut h = Hop::new(&host, &queue_id, mta, first);
                h.parent = parent;
                h.client = client;
                h.sasl_username = sasl;
                h.sender = sender;
                h.size = size;
                h.nrcpt = nrcpt;
                h.arrival = arrival.map(Box::new);
                h.attempts = attempts;
                h.notices = notices;
                h.rejects = rejects;
                h.lines = lines.into();
                h.lines_dropped = dropped;
                h.last_ns = last;
                h.finished = finished;
                h.completed_queue_time_s = qt;
                h.exported_before = before;
                h.span_exported = sent;
                h
            },
        )
}

fn message() -> impl Strategy<Value = Message> {
    let origin = (notice_kind(), text(), host(), text()).prop_map(|(kind, m, h, q)| NoticeOrigin {
        kind,
        message_id: m,
        host: h,
        queue_id: q,
    });
    (
        text(),
        prop::collection::vec(hop(), 0..4),
        any::<bool>(),
        proptest::option::of(origin),
    )
        .prop_map(|(message_id, hops, incomplete, notice_of)| Message {
            message_id,
            hops,
            incomplete,
            notice_of,
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_messages_encode_identically(
        messages in prop::collection::vec(message(), 0..5),
        max_spans in 1usize..40,
        events in 0usize..4,
    ) {
        assert_identical(&messages, &ModelOptions { max_events_per_hop: events }, max_spans);
    }
}
