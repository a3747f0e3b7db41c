//! The scanner against `sparse::decode` (serde_json): wherever the scanner answers, it must
//! build the very same tree and hint flag, and it must never answer for a line serde_json
//! rejects. Also: it does answer for the plain shapes, or it would be no faster.

use std::path::Path;

use proptest::prelude::*;
use proptest::strategy::ValueTree;

use super::decode;
use crate::config::{Config, Mapping};
use crate::source::document::sparse::{self, wanted_paths, PathTrie};

pub(crate) fn mappings() -> Vec<Mapping> {
    let custom = Mapping {
        facility: String::new(),
        hostname: "host.name.keyword".into(),
        service: "log.syslog.appname.keyword".into(),
        message_id: "postfix.message-id".into(),
        relay_host: "relay.host".into(),
        ..Mapping::default()
    };
    let seed = Config::load(&fixtures().join("seed-config.yaml"))
        .unwrap()
        .opensearch_config
        .mapping;
    vec![Mapping::default(), custom, seed]
}

fn tries() -> Vec<PathTrie> {
    mappings().iter().map(wanted_paths).collect()
}

pub(crate) fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The property: no answer, or serde's answer.
fn agrees(line: &str, trie: &PathTrie) -> Result<(), String> {
    match (decode(line, trie), sparse::decode(line, trie)) {
        (None, _) => Ok(()),
        (Some(fast), Some(slow)) if fast == slow => Ok(()),
        (fast, slow) => Err(format!("{line:?}\n scan:  {fast:?}\n serde: {slow:?}")),
    }
}

fn assert_agrees(line: &str) {
    for trie in tries() {
        if let Err(e) = agrees(line, &trie) {
            panic!("{e}");
        }
    }
}

/// Lines the scanner must answer for itself (and agree).
fn assert_fast(line: &str) {
    assert_agrees(line);
    for trie in tries() {
        assert!(decode(line, &trie).is_some(), "not handled: {line:?}");
    }
}

#[test]
fn real_fixture_documents_are_scanned_alike() {
    for f in ["seed-cross-cluster.ndjson", "hostile.ndjson"] {
        let bytes = std::fs::read(fixtures().join(f)).unwrap();
        for line in String::from_utf8_lossy(&bytes).lines() {
            assert_agrees(line);
        }
    }
    for line in std::fs::read_to_string(fixtures().join("seed-cross-cluster.ndjson"))
        .unwrap()
        .lines()
    {
        assert_fast(line);
    }
}

#[test]
fn plain_shapes_take_the_fast_way() {
    for line in [
        r#"{"@timestamp":"2025-03-01T00:00:00.028000Z","host":{"name":"mx-in"},"log":{"syslog":{"appname":"postfix/smtpd","procid":"3777","facility":{"name":"mail","code":2},"severity":{"name":"info"}}},"message":"A76E811FEE4: client=mail.sender.example[192.0.2.56]"}"#,
        r#"{"_id":"d1","_source":{"@timestamp":1770192001123,"host":{"name":["mx"]},"message":"x \"quoted\" \u00e9 \ud83d\ude00","log.syslog.appname":"exim"}}"#,
        r#" { "host" : { "name" : "a" } , "skipped" : [ 1 , -2.5 , true , false , null , { } , [ ] , { "k" : [ "\u0041\ud800" ] } ] } "#,
        r#"{"host":{"name":"x"},"host":{"name":"dup"},"h\u006fst":{"name":12.50},"message":-0}"#,
        "{\"message\":\"tab\\there\",\"n\":0.5}\r",
    ] {
        assert_fast(line);
    }
}

#[test]
fn edge_lines_agree() {
    let nested = |n: usize| {
        format!(
            r#"{{"x":{}1{},"message":"m"}}"#,
            "[".repeat(n),
            "]".repeat(n)
        )
    };
    let (deep_skipped, deeper_skipped) = (nested(120), nested(300));
    let deep_kept = format!(
        r#"{{"host":{}{{"name":"x"}}{}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    let big = "é\\\"".repeat(350_000);
    let long = format!(r#"{{"message":"{big}","skipped":"{big}","host":{{"name":"x"}}}}"#);
    let lines = [
        // Surrogates: pairs, lone ones kept (serde_json rejects) and skipped (it accepts).
        r#"{"message":"\ud83d\ude00"}"#,
        r#"{"message":"\ud83d"}"#,
        r#"{"message":"\udc00x"}"#,
        r#"{"message":"\ud83d\u0041"}"#,
        r#"{"other":"\ud83d","message":"m"}"#,
        r#"{"h\ud83dst":{"name":"x"}}"#,
        r#"{"host":{"n\udc00":"x"}}"#,
        // Numbers: exponents, range, grammar.
        r#"{"@timestamp":1e3,"x":1e400,"message":"m"}"#,
        r#"{"@timestamp":1e400}"#,
        r#"{"@timestamp":123456789012345678901234567890}"#,
        r#"{"x":01}"#,
        r#"{"x":-}"#,
        r#"{"x":1.}"#,
        r#"{"x":.5}"#,
        r#"{"x":+1}"#,
        r#"{"@timestamp":-0.0}"#,
        r#"{"@timestamp":18446744073709551615}"#,
        r#"{"@timestamp":-9223372036854775809}"#,
        // Syntax errors in kept and skipped parts.
        r#"{"host":{"name":"x",}}"#,
        r#"{"skip":{"a":1,}}"#,
        r#"{"skip":[1,]}"#,
        r#"{"skip":[1 2]}"#,
        r#"{"skip":{"a" 1}}"#,
        r#"{"skip":{1:2}}"#,
        r#"{"skip":tru}"#,
        r#"{"skip":nul,"message":"m"}"#,
        r#"{"skip":"bad \x escape"}"#,
        r#"{"skip":"bad \u12G4 escape"}"#,
        "{\"skip\":\"ctl \u{1} char\"}",
        "{\"message\":\"ctl \u{1f} char\"}",
        "{\"message\":\"raw \t tab\"}",
        r#"{"message":"unterminated}"#,
        r#"{"message":"m"} x"#,
        r#"{"message":"m"}}"#,
        r#"{"message":"m""#,
        r#"{"skip":[{"a":[}]}"#,
        r#"{"skip":[{"a":1]]}"#,
        "\u{feff}{\"message\":\"m\"}",
        "{\"message\":\"m\"}\u{a0}",
        "[{\"message\":\"m\"}]",
        "\"x\"",
        "",
        "{",
        "{}",
        &deep_skipped,
        &deeper_skipped,
        &deep_kept,
        &long,
    ];
    for line in lines {
        assert_agrees(line);
    }
    assert_fast(&deep_skipped);
    assert_fast(&long);
}

/// `same_bytes` is `==`: for every length up to five words, equal slices, and slices that
/// differ in one byte at any position (the first word, a middle one, the overlapping last),
/// or differ in length.
#[test]
fn same_bytes_is_slice_equality() {
    for len in 0..=40usize {
        let a: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
        assert!(super::same_bytes(&a, &a.clone()), "{len}");
        for at in 0..len {
            let mut b = a.clone();
            b[at] ^= 0x20;
            assert!(!super::same_bytes(&a, &b), "{len} {at}");
            assert!(!super::same_bytes(&b, &a), "{len} {at}");
        }
        if len > 0 {
            assert!(!super::same_bytes(&a, &a[..len - 1]), "{len}");
            assert!(!super::same_bytes(&a[1..], &a), "{len}");
        }
    }
}

/// What `find_special` must answer: the plain byte loop.
fn find_special_reference(b: &[u8], from: usize) -> usize {
    (from..b.len())
        .find(|&i| matches!(b[i], b'"' | b'\\' | 0..=0x1f))
        .unwrap_or(b.len().max(from))
}

/// Bytes that are special, and bytes next to them in value (a compare off by one, or signed
/// where it must be unsigned, flags these).
const SPECIAL: [u8; 5] = [b'"', b'\\', 0x00, 0x0a, 0x1f];
const NEAR_SPECIAL: [u8; 9] = [b'!', b'#', b'[', b']', 0x20, 0x7f, 0x80, 0xa2, 0xff];

/// The search finds exactly what a byte loop finds: one special byte at every position of
/// strings of every length up to five steps of the search, from every start (and past the
/// end), among plain and near-special bytes.
#[test]
fn find_special_is_exact_everywhere() {
    for len in 0..=80usize {
        for fill in [b'#', 0x20, 0x80, 0xff] {
            let plain = vec![fill; len];
            for from in 0..=len + 2 {
                assert_eq!(
                    super::find_special(&plain, from),
                    find_special_reference(&plain, from),
                    "{plain:?} {from}"
                );
            }
            for at in 0..len {
                for special in SPECIAL {
                    let mut bytes = plain.clone();
                    bytes[at] = special;
                    for from in 0..=len + 2 {
                        assert_eq!(
                            super::find_special(&bytes, from),
                            find_special_reference(&bytes, from),
                            "{bytes:?} {from}"
                        );
                    }
                }
            }
        }
    }
}

/// A byte loop's answer over random strings of near-special and special bytes, up to five
/// search steps long, with the first special anywhere (or nowhere).
fn special_haystack() -> impl Strategy<Value = (Vec<u8>, usize)> {
    let byte = prop_oneof![
        8 => prop::sample::select(NEAR_SPECIAL.to_vec()),
        4 => any::<u8>(),
        1 => prop::sample::select(SPECIAL.to_vec()),
    ];
    prop::collection::vec(byte, 0..=80).prop_flat_map(|bytes| {
        let len = bytes.len();
        (Just(bytes), 0..=len + 2)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    #[test]
    fn find_special_is_the_byte_loop((bytes, from) in special_haystack()) {
        prop_assert_eq!(
            super::find_special(&bytes, from),
            find_special_reference(&bytes, from)
        );
    }
}

/// Keys the mappings look for, and others.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "@timestamp",
            "host",
            "name",
            "host.name",
            "host.name.keyword",
            "keyword",
            "log",
            "syslog",
            "log.syslog",
            "syslog.appname",
            "appname",
            "facility",
            "facility.name",
            "structured_data",
            "queueid",
            "message",
            "_source",
            "_id",
            "postfix",
            "relay",
            "h\\u006fst",
            "na\\u006de",
            "x",
        ])
        .prop_map(|k| format!("\"{k}\"")),
        string(),
    ]
}

/// String literals with every kind of escape, valid or not, and raw non-ASCII.
fn string() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => "[a-zA-Z0-9 :/<>@.=-]{0,12}",
        1 => prop::sample::select(vec![
            "\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t", "\\u00e9", "\\u0041",
            "\\u0000", "\\ud83d\\ude00", "\\ud83d", "\\udc00", "\\ud83d\\u0041", "\\x", "\\u12",
            "\\uZZZZ", "é", "😀", "\u{1}", "\u{7f}", "\t", "\\",
        ])
        .prop_map(str::to_string),
    ];
    prop::collection::vec(piece, 0..6).prop_map(|p| format!("\"{}\"", p.concat()))
}

pub(crate) fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => string(),
        1 => prop::sample::select(vec![
            "null", "true", "false", "0", "-0", "12", "-7", "1.5", "12.50", "1e3", "-1.25E-2",
            "1770192001123", "1770192001123.5", "18446744073709551616", "1e400", "01", "1.",
            "-", "tru", "nul",
        ])
        .prop_map(str::to_string),
    ]
}

fn ws() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["", "", "", " ", "\n", "\t", "\r", "  "])
}

fn value() -> impl Strategy<Value = String> {
    scalar().prop_recursive(6, 64, 6, |inner| {
        let item = (ws(), inner.clone(), ws()).prop_map(|(a, v, b)| format!("{a}{v}{b}"));
        let member = (ws(), key(), ws(), ws(), inner, ws())
            .prop_map(|(a, k, b, c, v, d)| format!("{a}{k}{b}:{c}{v}{d}"));
        prop_oneof![
            prop::collection::vec(item, 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(member, 0..6).prop_map(|m| format!("{{{}}}", m.join(","))),
        ]
    })
}

/// Documents of roughly the real shape (mostly objects), bare or as search hits.
pub(crate) fn document() -> impl Strategy<Value = String> {
    fn object() -> impl Strategy<Value = String> {
        let member = (key(), value()).prop_map(|(k, v)| format!("{k}:{v}"));
        prop::collection::vec(member, 0..8).prop_map(|m| format!("{{{}}}", m.join(",")))
    }
    prop_oneof![
        3 => object(),
        1 => (scalar(), object()).prop_map(|(id, src)| format!(r#"{{"_id":{id},"_source":{src}}}"#)),
        1 => value(),
    ]
}

/// A line with a few bytes replaced, inserted or removed (JSON punctuation mostly).
pub(crate) fn mutated(line: String) -> impl Strategy<Value = String> {
    let edit = (
        any::<prop::sample::Index>(),
        0u8..3,
        prop::sample::select(vec![
            "\"", "\\", "{", "}", "[", "]", ",", ":", " ", "0", "e", "u", "\u{1}", "é", "n",
        ]),
    );
    prop::collection::vec(edit, 1..4).prop_map(move |edits| {
        let mut s = line.clone();
        for (at, op, text) in edits {
            let mut i = at.index(s.len() + 1);
            while !s.is_char_boundary(i) {
                i -= 1;
            }
            match op {
                0 => s.insert_str(i, text),
                1 => {
                    if let Some(c) = s[i..].chars().next() {
                        s.replace_range(i..i + c.len_utf8(), text);
                    }
                }
                _ => {
                    if let Some(c) = s[i..].chars().next() {
                        s.replace_range(i..i + c.len_utf8(), "");
                    }
                }
            }
        }
        s
    })
}

pub(crate) fn fixture_line() -> impl Strategy<Value = String> {
    let lines: Vec<String> = ["seed-cross-cluster.ndjson", "hostile.ndjson"]
        .iter()
        .flat_map(|f| {
            let bytes = std::fs::read(fixtures().join(f)).unwrap();
            String::from_utf8_lossy(&bytes)
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    prop::sample::select(lines)
}

/// The generated documents do exercise the scanner, not only the way around it.
#[test]
fn generated_documents_are_mostly_scanned() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let trie = wanted_paths(&Mapping::default());
    let (mut fast, mut objects) = (0, 0);
    for _ in 0..1000 {
        let line = document().new_tree(&mut runner).unwrap().current();
        if sparse::decode(&line, &trie).is_some_and(|d| d.doc.is_object()) {
            objects += 1;
            fast += usize::from(decode(&line, &trie).is_some());
        }
    }
    assert!(objects > 100 && fast * 2 > objects, "{fast} of {objects}");
}

/// The decoders' property tests: `PROPTEST_CASES` cases (512 by default).
pub(crate) fn proptest_config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(512),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(proptest_config())]

    #[test]
    fn generated_documents_agree(line in document()) {
        for trie in tries() {
            agrees(&line, &trie).map_err(TestCaseError::fail)?;
        }
    }

    #[test]
    fn mutated_documents_agree(line in document().prop_flat_map(mutated)) {
        for trie in tries() {
            agrees(&line, &trie).map_err(TestCaseError::fail)?;
        }
    }

    #[test]
    fn mutated_fixture_documents_agree(line in fixture_line().prop_flat_map(mutated)) {
        for trie in tries() {
            agrees(&line, &trie).map_err(TestCaseError::fail)?;
        }
    }

    /// Lines as `replay` reads them from bytes that are not UTF-8 (lossy conversion).
    #[test]
    fn lossy_lines_agree(line in fixture_line(), bad in prop::collection::vec((any::<prop::sample::Index>(), 0x80u8..=0xff), 1..4)) {
        let mut bytes = line.into_bytes();
        for (at, b) in bad {
            let i = at.index(bytes.len() + 1);
            bytes.insert(i, b);
        }
        let line = String::from_utf8_lossy(&bytes);
        for trie in tries() {
            agrees(&line, &trie).map_err(TestCaseError::fail)?;
        }
    }
}
