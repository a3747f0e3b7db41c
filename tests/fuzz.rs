//! Hostile input, property-based: the syslog framer, the Postfix and Exim parsers, the
//! OpenSearch document mapper and the whole engine behind them never panic and never blow
//! up in size, on real lines mutated at random and on arbitrary text and JSON.
//!
//! Seeds are the real lines of tests/fixtures; every failure proptest finds is saved under
//! `proptest-regressions/` and replayed first on every later run (the regression corpus).
//! The pass is bounded: `PROPTEST_CASES` (default 256 per property) sets its length — raise
//! it for a longer local fuzzing session.

use std::path::Path;
use std::sync::OnceLock;

use mailtrace::config::Config;
use mailtrace::correlate::{Correlator, CorrelatorConfig};
use mailtrace::parse::syslog::{parse_line, SyslogContext};
use mailtrace::parse::{exim, parse_record, postfix};
use mailtrace::record::LogRecord;
use mailtrace::source::document::DocumentContext;
use mailtrace::trace::model::{build_spans, ModelOptions};
use proptest::prelude::*;
use serde_json::Value;

fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned()
}

/// Real lines to mutate: every fixture line and every seed document's message.
fn seeds() -> &'static [String] {
    static SEEDS: OnceLock<Vec<String>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut out: Vec<String> = Vec::new();
        for f in ["chain-postfix-exim.log", "odd-lines.log", "hostile.log"] {
            out.extend(fixture(f).lines().map(str::to_string));
        }
        for l in fixture("seed-cross-cluster.ndjson").lines() {
            out.push(l.to_string());
        }
        out
    })
}

fn seed_docs() -> Vec<Value> {
    fixture("seed-cross-cluster.ndjson")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn documents() -> &'static DocumentContext {
    static CTX: OnceLock<DocumentContext> = OnceLock::new();
    CTX.get_or_init(|| {
        let cfg = Config::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed-config.yaml"),
        )
        .unwrap();
        DocumentContext::new(&cfg.opensearch_config).unwrap()
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    Insert(usize, String),
    Delete(usize, usize),
    Repeat(usize, usize, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (
            any::<usize>(),
            "[\\PC\\[\\]<>():=;,\"\\\\ \t\u{0}-\u{1f}]{0,12}"
        )
            .prop_map(|(i, s)| Mutation::Insert(i, s)),
        (any::<usize>(), 0usize..40).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<usize>(), 1usize..30, 1u8..8).prop_map(|(i, n, k)| Mutation::Repeat(i, n, k)),
    ]
}

fn boundary(s: &str, i: usize) -> usize {
    let mut i = if s.is_empty() { 0 } else { i % (s.len() + 1) };
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(mut s: String, muts: &[Mutation]) -> String {
    for m in muts {
        match m {
            Mutation::Truncate(i) => {
                let i = boundary(&s, *i);
                s.truncate(i);
            }
            Mutation::Insert(i, t) => {
                let i = boundary(&s, *i);
                s.insert_str(i, t);
            }
            Mutation::Delete(i, n) => {
                let a = boundary(&s, *i);
                let b = boundary(&s, a.saturating_add(*n).min(s.len()));
                if b > a {
                    s.replace_range(a..b, "");
                }
            }
            Mutation::Repeat(i, n, k) => {
                let a = boundary(&s, *i);
                let b = boundary(&s, a.saturating_add(*n).min(s.len()));
                let piece = s[a..b].repeat(*k as usize);
                s.insert_str(b, &piece);
            }
        }
    }
    s
}

fn mutated_line() -> impl Strategy<Value = String> {
    let n = seeds().len();
    prop_oneof![
        4 => (0..n, prop::collection::vec(mutation(), 0..6)).prop_map(|(i, m)| apply(seeds()[i].clone(), &m)),
        1 => "\\PC{0,200}",
        1 => ".{0,200}",
    ]
}

const SERVICES: [&str; 8] = [
    "postfix/smtp",
    "postfix/smtpd",
    "postfix/cleanup",
    "postfix/qmgr",
    "postfix/bounce",
    "postfix/lmtp",
    "exim",
    "postfix-out/smtp",
];

/// What a parser returns must stay in proportion to what it read.
fn parsed_size(line: &mailtrace::parse::MailLine) -> usize {
    serde_json::to_string(line).map(|s| s.len()).unwrap_or(0)
}

fn ctx() -> SyslogContext {
    SyslogContext {
        year: Some(2026),
        default_host: Some("mx-e".into()),
        ..SyslogContext::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    #[test]
    fn framing_never_panics(line in mutated_line()) {
        if let Ok(rec) = parse_line(&line, &ctx()) {
            prop_assert!(rec.message.len() <= line.len());
            prop_assert!(rec.host.len() <= line.len().max(4));
        }
    }

    #[test]
    fn message_parsers_never_panic_and_stay_bounded(text in mutated_line(), svc in 0usize..SERVICES.len()) {
        let bound = 4 * text.len() + 512;
        if let Some(l) = postfix::parse(SERVICES[svc], &text) {
            prop_assert!(parsed_size(&l) <= bound, "postfix output too large");
        }
        if let Some(l) = exim::parse(&text) {
            prop_assert!(parsed_size(&l) <= bound, "exim output too large");
        }
        let rec = LogRecord {
            timestamp_ns: 1,
            host: "h".into(),
            service: SERVICES[svc].into(),
            message: text.clone(),
            ..Default::default()
        };
        if let Some(l) = parse_record(&rec) {
            prop_assert!(parsed_size(&l) <= bound);
        }
    }

    #[test]
    fn the_engine_survives_a_batch_of_mutated_lines(lines in prop::collection::vec(mutated_line(), 1..60)) {
        let mut c = Correlator::new(CorrelatorConfig { hold_rounds: 0, ..CorrelatorConfig::default() });
        let ctx = ctx();
        for (i, l) in lines.iter().enumerate() {
            if let Ok(rec) = parse_line(l, &ctx) {
                c.ingest(&rec);
            }
            if i % 7 == 0 {
                for m in c.end_round() {
                    for s in build_spans(&m, &ModelOptions::default()) {
                        prop_assert_ne!(s.span.span_id, vec![0u8; 8]);
                        prop_assert!(s.span.end_time_unix_nano >= s.span.start_time_unix_nano);
                    }
                }
            }
        }
        for m in c.drain() {
            for s in build_spans(&m, &ModelOptions::default()) {
                prop_assert!(s.span.end_time_unix_nano >= s.span.start_time_unix_nano);
            }
        }
    }

    #[test]
    fn the_document_mapper_never_panics_on_mutated_documents(
        i in 0usize..105,
        muts in prop::collection::vec(mutation(), 0..6),
    ) {
        let docs = seed_docs();
        let text = apply(serde_json::to_string(&docs[i % docs.len()]).unwrap(), &muts);
        if let Ok(doc) = serde_json::from_str::<Value>(&text) {
            let _ = documents().facility_matches(&doc);
            if let Ok(rec) = documents().map(&doc) {
                prop_assert!(rec.message.len() <= text.len());
            }
        }
    }

    #[test]
    fn the_document_mapper_never_panics_on_arbitrary_json(doc in arbitrary_json()) {
        let _ = documents().facility_matches(&doc);
        let _ = documents().map(&doc);
        let wrapped = serde_json::json!({"_id": "x", "_source": doc});
        let _ = documents().map(&wrapped);
    }
}

/// JSON documents whose keys are drawn from the mapped field names, so the mapper walks deep.
fn arbitrary_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("@timestamp".to_string()),
        Just("host".to_string()),
        Just("name".to_string()),
        Just("host.name".to_string()),
        Just("message".to_string()),
        Just("appname".to_string()),
        Just("data_stream".to_string()),
        Just("namespace".to_string()),
        Just("postfix".to_string()),
        Just("queueid".to_string()),
        Just("keyword".to_string()),
        Just("_source".to_string()),
        "\\PC{0,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "\\PC{0,40}".prop_map(Value::String),
        Just(Value::String("2026-02-04T08:00:01Z".into())),
        Just(Value::String("mail".into())),
    ];
    leaf.prop_recursive(6, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[test]
fn a_one_megabyte_line_is_handled() {
    let big = format!(
        "Nov 21 19:45:33 mx-a postfix/smtp[1]: 0A1B2C3D4E: to=<{}@x>, relay=local, status=sent ({})",
        "a".repeat(1 << 19),
        "b".repeat(1 << 19)
    );
    let rec = parse_line(&big, &ctx()).expect("a long line is still a line");
    let line = parse_record(&rec).expect("and still a delivery");
    assert!(parsed_size(&line) < 3 * big.len());
    let deep = "[".repeat(100_000);
    let _ = serde_json::from_str::<Value>(&deep).map(|v| documents().map(&v));
}
