//! Store behaviour on hand-built parsed lines (the parsers are tested on real lines in
//! their own modules; the full path on fixtures in tests/).

use super::*;
use crate::parse::{Attempt, AttemptStatus, MailEvent, MailLine, Mta, NoticeKind, Relay};
use crate::record::LogRecord;

const S: i64 = 1_000_000_000;

struct Feed {
    c: Correlator,
    n: u64,
}

impl Feed {
    fn new(hold_rounds: u32) -> Self {
        Feed {
            c: Correlator::new(CorrelatorConfig {
                hold_rounds,
                ..CorrelatorConfig::default()
            }),
            n: 0,
        }
    }

    fn line(&mut self, t: i64, host: &str, qid: Option<&str>, event: MailEvent) {
        self.n += 1;
        let rec = LogRecord {
            timestamp_ns: t * S,
            host: host.into(),
            service: "postfix/x".into(),
            // Distinct text per line so the duplicate filter keeps them all.
            message: format!("line {}", self.n),
            ..Default::default()
        };
        let line = MailLine {
            mta: Mta::Postfix,
            queue_id: qid.map(str::to_string),
            event,
        };
        self.c.ingest_parsed(&rec, line);
    }

    fn hop(&mut self, t: i64, host: &str, qid: &str, msgid: &str) {
        self.line(t, host, Some(qid), client());
        self.line(t, host, Some(qid), MailEvent::MessageId(Some(msgid.into())));
    }
}

fn client() -> MailEvent {
    MailEvent::Client {
        client: Some("unknown[127.0.0.1]".into()),
        sasl_username: None,
    }
}

fn sent_to(rcpt: &str, next: Option<&str>) -> MailEvent {
    MailEvent::Attempt(Box::new(Attempt {
        recipients: vec![rcpt.into()],
        relay: Some(Relay {
            raw: "x".into(),
            host: "127.0.0.3".into(),
            addr: None,
            port: Some(25),
        }),
        status: Some(AttemptStatus::Sent),
        next_queue_id: next.map(str::to_string),
        ..Attempt::default()
    }))
}

#[test]
fn lines_rounds_apart_attach_to_the_same_hop() {
    let mut f = Feed::new(2);
    f.line(1, "a", Some("Q1"), client());
    assert!(f.c.end_round().is_empty());
    f.line(2, "a", Some("Q1"), MailEvent::MessageId(Some("m@x".into())));
    assert!(f.c.end_round().is_empty());
    let mut deferred = sent_to("r@x", None);
    if let MailEvent::Attempt(a) = &mut deferred {
        a.status = Some(AttemptStatus::Deferred);
    }
    f.line(3, "a", Some("Q1"), deferred);
    for _ in 0..5 {
        // Not finished: held however long it is quiet (within max age).
        assert!(f.c.end_round().is_empty());
    }
    f.line(900, "a", Some("Q1"), sent_to("r@x", None));
    f.line(900, "a", Some("Q1"), MailEvent::Removed);
    assert!(f.c.end_round().is_empty(), "held for hold_rounds");
    assert!(f.c.end_round().is_empty());
    let out = f.c.end_round();
    assert_eq!(out.len(), 1);
    let hop = &out[0].hops[0];
    assert_eq!(out[0].hops.len(), 1);
    assert_eq!(hop.attempts.len(), 2);
    assert_eq!(hop.lines.len(), 5);
    assert!(hop.client.is_some(), "the line before message-id= attached");
    assert!(!out[0].incomplete);
}

#[test]
fn hold_rounds_zero_releases_at_end_of_round() {
    let mut f = Feed::new(0);
    f.hop(1, "a", "Q1", "m@x");
    f.line(1, "a", Some("Q1"), MailEvent::Removed);
    assert_eq!(f.c.end_round().len(), 1);
}

#[test]
fn late_line_after_release_goes_to_the_same_message() {
    let mut f = Feed::new(0);
    f.hop(1, "a", "Q1", "m@x");
    f.line(1, "a", Some("Q1"), MailEvent::Removed);
    assert_eq!(f.c.end_round().len(), 1);
    f.line(5, "a", Some("Q1"), MailEvent::Other);
    // The hop's `removed` came before and will not come again: the late line is released
    // with its hold window, not held until the age limit.
    let out = f.c.end_round();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].message_id, "m@x");
    assert!(!out[0].incomplete);
    assert_eq!(f.c.stats().late_lines, 1);
    assert!(f.c.drain().is_empty());
}

#[test]
fn a_released_message_leaves_a_compact_ghost_and_a_re_release_builds_only_new_spans() {
    use crate::trace::ids;
    let mut f = Feed::new(0);
    f.hop(1, "a", "Q1", "m@x");
    f.line(1, "a", Some("Q1"), sent_to("r@x", Some("Q2")));
    f.line(1, "a", Some("Q1"), MailEvent::Removed);
    // Past the grace for the next hop, which has not logged yet.
    f.c.observe_clock(100 * S);
    let first = f.c.end_round();
    assert_eq!(first.len(), 1);
    // What is remembered carries no raw lines, recipients or replies.
    let state = serde_json::to_string(&f.c).unwrap();
    assert!(!state.contains("line "), "raw lines in the ghost: {state}");
    assert!(!state.contains("r@x"), "recipients in the ghost: {state}");

    // The downstream hop's lines come after the release.
    f.hop(3, "b", "Q2", "m@x");
    f.line(3, "b", Some("Q2"), MailEvent::Removed);
    let again = f.c.end_round();
    assert_eq!(again.len(), 1);
    let m = &again[0];
    let (a, b) = (&m.hops[0], &m.hops[1]);
    assert!(a.exported_before && a.span_exported && !b.span_exported);
    assert_eq!(
        b.parent,
        Some(0),
        "the late hop links under the exported one"
    );
    // Only the new hop's spans go out: not the root, not hop a's span again.
    let spans = crate::trace::model::build_spans(m, &Default::default());
    let sent: Vec<&[u8]> = spans.iter().map(|s| s.span.span_id.as_slice()).collect();
    assert!(!sent.contains(&ids::root_span_id("m@x").as_slice()));
    assert!(!sent.contains(&ids::hop_span_id("m@x", "a", "Q1").as_slice()));
    assert!(sent.contains(&ids::hop_span_id("m@x", "b", "Q2").as_slice()));
    assert!(spans.iter().all(|s| !s.span.parent_span_id.is_empty()));
}

#[test]
fn edges_follow_queued_as_including_fan_out_and_a_host_visited_twice() {
    let mut f = Feed::new(0);
    // a/Q1 → b/Q2 → a/Q3 (content filter loop back to a) and b/Q2 → c/Q4 (fan-out).
    f.hop(1, "a", "Q1", "m@x");
    f.line(2, "a", Some("Q1"), sent_to("r1@x", Some("Q2")));
    f.hop(2, "b", "Q2", "m@x");
    f.line(3, "b", Some("Q2"), sent_to("r1@x", Some("Q3")));
    f.line(3, "b", Some("Q2"), sent_to("r2@x", Some("Q4")));
    f.hop(3, "a", "Q3", "m@x");
    f.hop(3, "c", "Q4", "m@x");
    for (h, q) in [("a", "Q1"), ("b", "Q2"), ("a", "Q3"), ("c", "Q4")] {
        f.line(4, h, Some(q), MailEvent::Removed);
    }
    let out = f.c.end_round();
    assert_eq!(out.len(), 1);
    let m = &out[0];
    let idx = |h: &str, q: &str| m.hops.iter().position(|x| x.host == h && x.queue_id == q);
    let (q1, q2, q3, q4) = (
        idx("a", "Q1"),
        idx("b", "Q2"),
        idx("a", "Q3"),
        idx("c", "Q4"),
    );
    assert_eq!(m.hops.len(), 4, "host a visited twice gives two hops");
    assert_eq!(m.hops[q1.unwrap()].parent, None);
    assert_eq!(m.hops[q2.unwrap()].parent, q1);
    assert_eq!(m.hops[q3.unwrap()].parent, q2);
    assert_eq!(m.hops[q4.unwrap()].parent, q2);
}

#[test]
fn reused_queue_id_starts_a_new_hop() {
    let mut f = Feed::new(5);
    f.hop(1, "a", "Q1", "m1@x");
    f.line(2, "a", Some("Q1"), MailEvent::Removed);
    // Same queue ID, new queue file for another message, before m1 was released.
    f.hop(10, "a", "Q1", "m2@x");
    f.line(11, "a", Some("Q1"), MailEvent::Removed);
    let out = f.c.drain();
    assert_eq!(out.len(), 2);
    for m in &out {
        assert_eq!(m.hops.len(), 1);
        assert_eq!(m.hops[0].lines.len(), 3, "{}", m.message_id);
    }
}

#[test]
fn duplicates_are_dropped() {
    let mut c = Correlator::new(CorrelatorConfig::default());
    let rec = LogRecord {
        timestamp_ns: S,
        host: "a".into(),
        service: "postfix/qmgr".into(),
        message: "ABCDEF123: removed".into(),
        ..Default::default()
    };
    let line = MailLine {
        mta: Mta::Postfix,
        queue_id: Some("ABCDEF123".into()),
        event: MailEvent::Removed,
    };
    c.ingest_parsed(&rec, line.clone());
    assert!(Dedup::new(S).first_sighting(&rec));
    let mut d = Dedup::new(S);
    d.first_sighting(&rec);
    assert!(!d.first_sighting(&rec));
}

#[test]
fn bounce_notice_links_the_dsn_message_in_either_order() {
    for notice_first in [true, false] {
        let mut f = Feed::new(0);
        f.hop(1, "b", "Q2", "orig@x");
        let notice = MailEvent::Notification {
            kind: NoticeKind::NonDelivery,
            notice_queue_id: "N1".into(),
        };
        if notice_first {
            f.line(2, "b", Some("Q2"), notice);
            f.line(
                3,
                "b",
                Some("N1"),
                MailEvent::MessageId(Some("dsn@b".into())),
            );
        } else {
            f.line(
                2,
                "b",
                Some("N1"),
                MailEvent::MessageId(Some("dsn@b".into())),
            );
            f.line(3, "b", Some("Q2"), notice);
        }
        f.line(4, "b", Some("Q2"), MailEvent::Removed);
        f.line(4, "b", Some("N1"), MailEvent::Removed);
        let out = f.c.end_round();
        let dsn = out.iter().find(|m| m.message_id == "dsn@b").unwrap();
        let origin = dsn.notice_of.as_ref().expect("dsn linked");
        assert_eq!(
            (
                origin.message_id.as_str(),
                origin.host.as_str(),
                origin.queue_id.as_str()
            ),
            ("orig@x", "b", "Q2")
        );
        // Once the notice's queue file has its origin, nothing about it is kept.
        assert_eq!(f.c.retained().notices, 0, "notice_first = {notice_first}");
    }
}

#[test]
fn limits_release_incomplete_and_count() {
    let mut c = Correlator::new(CorrelatorConfig {
        hold_rounds: 0,
        max_pending_messages: 2,
        ..CorrelatorConfig::default()
    });
    let mut f = Feed { c, n: 0 };
    for i in 0..5 {
        f.hop(i, "a", &format!("Q{i}"), &format!("m{i}@x"));
    }
    let out = f.c.end_round();
    assert_eq!(out.len(), 3);
    assert!(out.iter().all(|m| m.incomplete));
    assert_eq!(f.c.pending_messages(), 2);
    assert_eq!(f.c.stats().messages_incomplete, 3);
    c = f.c;
    // Age: unfinished messages older than max_age go out incomplete, however few are
    // pending (one more than the count limit would release only one of them).
    let mut f = Feed { c, n: 100 };
    f.hop(10_000, "a", "QX", "late@x");
    f.c.observe_clock(10_000 * S);
    let out = f.c.end_round();
    let mut aged: Vec<_> = out
        .iter()
        .map(|m| (m.message_id.as_str(), m.incomplete))
        .collect();
    aged.sort();
    assert_eq!(aged, [("m3@x", true), ("m4@x", true)]);
    assert_eq!(f.c.pending_messages(), 1);
    assert_eq!(f.c.stats().messages_incomplete, 5);
}

#[test]
fn noqueue_reject_is_reported_never_a_hop() {
    let mut f = Feed::new(0);
    f.line(
        1,
        "c",
        None,
        MailEvent::Reject(Box::new(crate::parse::Reject {
            code: Some("550".into()),
            reason: "User unknown".into(),
            ..Default::default()
        })),
    );
    assert!(f.c.drain().is_empty());
    assert_eq!(f.c.take_rejects().len(), 1);
}

#[test]
fn state_round_trips_through_json() {
    let mut f = Feed::new(2);
    f.hop(1, "a", "Q1", "m@x");
    f.line(1, "b", Some("Q9"), client());
    let json = serde_json::to_string(&f.c).unwrap();
    let mut back: Correlator = serde_json::from_str(&json).unwrap();
    assert_eq!(serde_json::to_string(&back).unwrap(), json);
    assert_eq!(back.drain().len(), 2);
}

#[test]
fn hop_lines_save_as_arrays_and_load_from_either_form() {
    let line = HopLine {
        timestamp_ns: 5,
        service: "postfix/smtp".into(),
        text: "Q1: removed".into(),
    };
    let json = serde_json::to_string(&line).unwrap();
    assert_eq!(json, r#"[5,"postfix/smtp","Q1: removed"]"#);
    assert_eq!(serde_json::from_str::<HopLine>(&json).unwrap(), line);
    let old = r#"{"timestamp_ns":5,"service":"postfix/smtp","text":"Q1: removed"}"#;
    assert_eq!(serde_json::from_str::<HopLine>(old).unwrap(), line);
}

#[test]
fn a_queue_id_reused_after_release_starts_a_new_message() {
    let mut f = Feed::new(0);
    f.hop(1, "a", "Q1", "m1@x");
    f.line(1, "a", Some("Q1"), MailEvent::Removed);
    assert_eq!(f.c.end_round().len(), 1);
    // Minutes later Postfix hands the same queue ID to a new queue file.
    f.hop(300, "a", "Q1", "m2@x");
    f.line(301, "a", Some("Q1"), MailEvent::Removed);
    let out = f.c.end_round();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].message_id, "m2@x");
    assert!(!out[0].hops[0].exported_before);
    assert_eq!(out[0].hops[0].lines.len(), 3);
    assert_eq!(f.c.stats().late_lines, 0);
}

/// A noise line prepared on the reading thread keeps nothing but its time: the store only
/// counts it.
#[test]
fn a_prepared_noise_line_keeps_only_its_time() {
    let ctx = crate::parse::syslog::SyslogContext {
        now_ns: i64::MAX / 2,
        year: Some(2026),
        ..Default::default()
    };
    let noise = include_str!("../../tests/fixtures/odd-lines.log")
        .lines()
        .filter_map(|l| crate::parse::syslog::parse_line(l, &ctx).ok())
        .find(|r| crate::parse::parse_record(r).is_none())
        .expect("the fixture has noise");
    let kept = ParsedRecord::parse(&noise);
    assert_eq!(
        kept.rec,
        LogRecord {
            timestamp_ns: noise.timestamp_ns,
            ..LogRecord::default()
        }
    );
}
