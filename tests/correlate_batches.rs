//! The correlator gives the same traces however the lines are cut into batches: a line that
//! arrives rounds after its message's `message-id=` line (or rounds before it) still lands
//! on the right hop. Real lines from the shared fixture, parsed by the real parsers.

use std::collections::BTreeMap;
use std::path::Path;

use mailtrace::correlate::{Correlator, CorrelatorConfig, Message, ParsedRecord};
use mailtrace::parse::syslog::{parse_line, SyslogContext};
use mailtrace::record::LogRecord;
use mailtrace::trace::ids::hex;
use mailtrace::trace::model::{build_spans, ModelOptions};

fn records() -> Vec<LogRecord> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/chain-postfix-exim.log");
    let text = std::fs::read_to_string(path).unwrap();
    let ctx = SyslogContext {
        year: Some(2026),
        default_host: Some("mx-e".into()),
        ..SyslogContext::default()
    };
    text.lines()
        .filter_map(|l| parse_line(l, &ctx).ok())
        .collect()
}

/// Span identity and content, without the raw-line events (whose order follows arrival).
fn spans_of(messages: &[Message]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for m in messages {
        for b in build_spans(m, &ModelOptions::default()) {
            let mut s = b.span;
            s.events.clear();
            s.dropped_events_count = 0;
            // First release wins, as the daemon's exported-span filter does.
            out.entry(hex(&s.span_id))
                .or_insert_with(|| format!("{}|{s:?}", b.service));
        }
    }
    out
}

fn one_batch() -> BTreeMap<String, String> {
    let mut c = Correlator::new(CorrelatorConfig::default());
    for r in records() {
        c.ingest(&r);
    }
    spans_of(&c.drain())
}

fn assert_same(got: &BTreeMap<String, String>, want: &BTreeMap<String, String>) {
    let missing: Vec<&String> = want.keys().filter(|k| !got.contains_key(*k)).collect();
    let extra: Vec<&String> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    let differ_keys: Vec<&String> = want
        .iter()
        .filter(|(k, v)| got.get(*k).is_some_and(|g| g != *v))
        .map(|(k, _)| k)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty() && differ_keys.is_empty(),
        "missing spans {missing:?}\nextra spans {extra:?}\ndiffering spans {differ_keys:?}\nfirst difference:\n{}\n{}",
        differ_keys.first().map(|k| want[*k].as_str()).unwrap_or(""),
        differ_keys.first().map(|k| got[*k].as_str()).unwrap_or(""),
    );
}

#[test]
fn one_line_per_round_gives_the_same_traces_as_one_batch() {
    let mut c = Correlator::new(CorrelatorConfig {
        hold_rounds: 2,
        ..CorrelatorConfig::default()
    });
    let mut released = Vec::new();
    for r in records() {
        c.ingest(&r);
        released.extend(c.end_round());
    }
    for _ in 0..3 {
        released.extend(c.end_round());
    }
    // Only the deferred message (never finished) is still pending.
    assert_eq!(c.pending_messages(), 1);
    released.extend(c.drain());
    assert_same(&spans_of(&released), &one_batch());
}

#[test]
fn message_id_lines_many_rounds_late_still_attach() {
    let (late, early): (Vec<LogRecord>, Vec<LogRecord>) = records()
        .into_iter()
        .partition(|r| r.message.contains("message-id=") || r.message.contains(" <= "));
    assert!(late.len() >= 8);
    let mut c = Correlator::new(CorrelatorConfig::default());
    for r in &early {
        c.ingest(r);
    }
    for _ in 0..5 {
        // Nothing can be released: no hop knows its message yet.
        assert!(c.end_round().is_empty());
    }
    for r in &late {
        c.ingest(r);
    }
    let out = c.drain();
    assert_eq!(c.stats().orphans_released, 0);
    assert_same(&spans_of(&out), &one_batch());
}

#[test]
fn a_retry_rounds_later_extends_the_same_hop() {
    // The deferred message of the fixture, then its successful retry an hour later.
    let mut c = Correlator::new(CorrelatorConfig::default());
    for r in records() {
        c.ingest(&r);
    }
    let first = c.end_round();
    assert!(first
        .iter()
        .all(|m| m.message_id != "20261121194533.017084@vm"));
    for _ in 0..10 {
        c.end_round();
    }
    let ctx = SyslogContext {
        year: Some(2026),
        ..SyslogContext::default()
    };
    for line in [
        "Nov 21 20:45:34 mx-a postfix/smtp[18062]: F373299AB5B: to=<y@down.example.test>, relay=127.0.0.9[127.0.0.9]:25, delay=3600, delays=3599/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 9ABCDEF0123)",
        "Nov 21 20:45:34 mx-a postfix/qmgr[16890]: F373299AB5B: removed",
    ] {
        c.ingest(&parse_line(line, &ctx).unwrap());
    }
    let mut out = Vec::new();
    for _ in 0..3 {
        out.extend(c.end_round());
    }
    let m = out
        .iter()
        .find(|m| m.message_id == "20261121194533.017084@vm")
        .expect("released after the retry");
    assert_eq!(m.hops.len(), 1);
    let statuses: Vec<_> = m.hops[0]
        .attempts
        .iter()
        .map(|a| a.attempt.status.unwrap().as_str())
        .collect();
    assert_eq!(statuses, ["deferred", "sent"]);
}

/// A record parsed on another thread first files exactly what a borrowed record does: same
/// messages, same raw lines, same counters, duplicates and noise included, and a line with
/// a source ID and hints too.
#[test]
fn preparsed_records_file_what_borrowed_ones_do() {
    let mut input = records();
    // Every tenth line twice, so the duplicate filter is exercised on each path.
    let again: Vec<LogRecord> = input.iter().step_by(10).cloned().collect();
    input.extend(again);
    let mut hinted = input[5].clone();
    hinted.source_id = Some("doc-9".into());
    hinted.hints.queue_id = Some("HINTED1".into());
    input.push(hinted);
    let mut borrowed = Correlator::new(CorrelatorConfig::default());
    let mut parsed = Correlator::new(CorrelatorConfig::default());
    for r in &input {
        borrowed.ingest(r);
        parsed.ingest_record(ParsedRecord::parse(r));
    }
    let want = borrowed.drain();
    assert!(borrowed.stats().duplicates > 0);
    assert!(borrowed.stats().unmatched > 0);
    assert!(want
        .iter()
        .flat_map(|m| &m.hops)
        .any(|h| !h.lines.is_empty()));
    assert_eq!(parsed.drain(), want);
    assert_eq!(parsed.stats(), borrowed.stats());
}
