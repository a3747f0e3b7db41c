//! Streaming replay on generated relay-chain logs (`mailtrace::loadgen`): the store stays
//! bounded by the hold window whatever the input's length, the traces are those of reading
//! everything at once, and the generator itself is deterministic and realistic enough to
//! correlate (3 linked hops per message, long mixed-case queue IDs on the relay).

use std::io::Write;
use std::process::{Command, Stdio};

use mailtrace::correlate::{Correlator, CorrelatorConfig, Message};
use mailtrace::engine::LogRounds;
use mailtrace::loadgen::{self, LoadFormat, LoadSpec, LINES_PER_MESSAGE};
use mailtrace::parse::syslog::{parse_line, SyslogContext};
use mailtrace::record::LogRecord;

const SEC: i64 = 1_000_000_000;

fn records(spec: &LoadSpec) -> Vec<LogRecord> {
    let mut text = Vec::new();
    loadgen::write(spec, LoadFormat::Syslog, &mut text).unwrap();
    let ctx = SyslogContext::default();
    String::from_utf8(text)
        .unwrap()
        .lines()
        .map(|l| parse_line(l, &ctx).unwrap())
        .collect()
}

/// Small windows, so a modest input spans many of them.
fn config() -> CorrelatorConfig {
    CorrelatorConfig {
        dedup_window_ns: 60 * SEC,
        recent_rounds: 5,
        ..CorrelatorConfig::default()
    }
}

fn sorted(mut v: Vec<Message>) -> Vec<Message> {
    v.sort_by(|a, b| a.message_id.cmp(&b.message_id));
    v
}

#[test]
fn streaming_store_stays_bounded_and_gives_the_one_batch_traces() {
    // 4,000 messages at 4 a second: 1,000 s of log, 100 rounds of 10 s.
    let spec = LoadSpec {
        messages: 4000,
        ..LoadSpec::default()
    };
    let recs = records(&spec);
    assert_eq!(recs.len() as u64, spec.messages * LINES_PER_MESSAGE);

    let cfg = config();
    let mut streamed = Vec::new();
    let mut store = Correlator::new(cfg.clone());
    let mut rounds = LogRounds::new(10 * SEC, &cfg);
    let mut peak = mailtrace::correlate::Retained::default();
    for rec in &recs {
        rounds
            .advance(rec.timestamp_ns, &mut store, |_, released| {
                streamed.extend(released);
                Ok::<_, ()>(())
            })
            .unwrap();
        store.ingest(rec);
        let r = store.retained();
        peak.messages = peak.messages.max(r.messages);
        peak.live_hops = peak.live_hops.max(r.live_hops);
        peak.recent_hops = peak.recent_hops.max(r.recent_hops);
        peak.released_messages = peak.released_messages.max(r.released_messages);
        peak.released_order = peak.released_order.max(r.released_order);
        peak.dedup_lines = peak.dedup_lines.max(r.dedup_lines);
        peak.rejects = peak.rejects.max(r.rejects);
    }
    eprintln!("peak retained: {peak:?}");
    streamed.extend(store.drain());

    // Held: about hold_rounds + 1 rounds of messages (4/s × 30 s); remembered: recent_rounds
    // rounds of them; deduplicated: 60 s of queue-file lines (18 of 24 per message).
    assert!(peak.messages <= 200, "pending messages {peak:?}");
    assert!(peak.live_hops <= 3 * 200, "{peak:?}");
    assert!(peak.recent_hops <= 3 * 4 * 70, "{peak:?}");
    assert!(peak.released_messages <= 4 * 70, "{peak:?}");
    assert!(peak.released_order <= 2 * 4 * 70 + 16, "{peak:?}");
    assert!(peak.dedup_lines <= 18 * 4 * 70, "{peak:?}");

    let mut batch = Correlator::new(cfg);
    for rec in &recs {
        batch.ingest(rec);
    }
    let whole = batch.drain();
    assert_eq!(whole.len(), 4000);
    assert_eq!(sorted(streamed), sorted(whole));
}

#[test]
fn generated_messages_are_three_linked_hops_with_long_ids_on_the_relay() {
    let spec = LoadSpec {
        messages: 50,
        seed: 7,
        ..LoadSpec::default()
    };
    let mut store = Correlator::new(config());
    for rec in records(&spec) {
        store.ingest(&rec);
    }
    let msgs = store.drain();
    assert_eq!(msgs.len(), 50);
    for m in &msgs {
        let hosts: Vec<&str> = m.hops.iter().map(|h| h.host.as_str()).collect();
        assert_eq!(hosts, ["mx-in", "relay", "mbox"], "{}", m.message_id);
        assert_eq!(m.hops[0].parent, None);
        assert_eq!(m.hops[1].parent, Some(0));
        assert_eq!(m.hops[2].parent, Some(1));
        assert!(m
            .hops
            .iter()
            .all(|h| h.finished && h.recipients().len() == 2));
        let relay_qid = &m.hops[1].queue_id;
        assert!(
            relay_qid.len() >= 15 && relay_qid.contains('z'),
            "{relay_qid}"
        );
        assert!(relay_qid.bytes().any(|b| b.is_ascii_lowercase()));
        assert!(relay_qid.bytes().any(|b| b.is_ascii_uppercase()));
    }
    // Interleaved: a later message starts before an earlier one has finished.
    let overlapping = msgs
        .windows(2)
        .any(|w| w[1].hops[0].first_ns < w[0].hops[2].last_ns);
    assert!(overlapping);
}

#[test]
fn generator_is_deterministic_and_its_formats_agree() {
    let spec = LoadSpec {
        messages: 30,
        ..LoadSpec::default()
    };
    let write = |spec: &LoadSpec, f| {
        let mut out = Vec::new();
        loadgen::write(spec, f, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    };
    assert_eq!(
        write(&spec, LoadFormat::Syslog),
        write(&spec, LoadFormat::Syslog)
    );
    let other = LoadSpec {
        seed: 2,
        ..spec.clone()
    };
    assert_ne!(
        write(&spec, LoadFormat::Syslog),
        write(&other, LoadFormat::Syslog)
    );

    // ndjson (nested and flat keys) maps to the same records as the syslog text.
    let cfg = mailtrace::config::Config::default();
    let docs = mailtrace::source::document::DocumentContext::new(&cfg.opensearch_config).unwrap();
    let from_syslog = records(&spec);
    for format in [LoadFormat::Ndjson, LoadFormat::NdjsonFlat] {
        let from_json: Vec<LogRecord> = write(&spec, format)
            .lines()
            .map(|l| match docs.map_line(l) {
                mailtrace::source::document::LineOutcome::Record(r) => r,
                other => panic!("{other:?}: {l}"),
            })
            .collect();
        assert_eq!(from_json, from_syslog, "{format:?}");
    }
}

#[test]
fn replay_discard_runs_the_whole_pipeline_on_generated_input() {
    let bin = env!("CARGO_BIN_EXE_mailtrace");
    let gen = Command::new(bin)
        .args(["gen-load", "--messages", "40", "--format", "ndjson"])
        .output()
        .unwrap();
    assert!(gen.status.success());
    let mut replay = Command::new(bin)
        .args(["replay", "--input", "-", "--discard"])
        .env_remove("MAILTRACE_CONFIG")
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    replay.stdin.take().unwrap().write_all(&gen.stdout).unwrap();
    let out = replay.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("960 lines read"), "{stderr}");
    assert!(stderr.contains("40 messages"), "{stderr}");
    assert!(stderr.contains("discarded"), "{stderr}");
}
