//! The tree-less way against the tree way (`map_line_tree`): same outcome on every line it
//! answers for, and it does answer for the plain shapes.

use proptest::prelude::*;
use serde_json::value::RawValue;
use serde_json::Value;

use super::map_line;
use crate::config::{Mapping, OpenSearchConfig};
use crate::source::document::scan::tests::{
    document, fixture_line, fixtures, mappings, mutated, proptest_config,
};
use crate::source::document::{DocumentContext, LineOutcome};

fn contexts() -> Vec<DocumentContext> {
    let mut out = Vec::new();
    for mapping in mappings() {
        for facility_value in ["mail", ""] {
            out.push(
                DocumentContext::new(&OpenSearchConfig {
                    mapping: mapping.clone(),
                    facility_value: facility_value.into(),
                    ..OpenSearchConfig::default()
                })
                .unwrap(),
            );
        }
    }
    out
}

fn fast(ctx: &DocumentContext, line: &str) -> Option<LineOutcome> {
    map_line(ctx, ctx.sparse.fields.as_ref().unwrap(), line)
}

fn agrees(ctx: &DocumentContext, line: &str) -> Result<(), String> {
    match fast(ctx, line) {
        None => Ok(()),
        Some(out) if out == ctx.map_line_tree(line) => Ok(()),
        Some(out) => Err(format!(
            "{line:?}\\n fields: {out:?}\\n tree:   {:?}",
            ctx.map_line_tree(line)
        )),
    }
}

/// A search hit's document read off its text (`map_hit`) maps as its `Value` tree does,
/// errors included.
fn hit_agrees(ctx: &DocumentContext, line: &str) -> Result<(), String> {
    let (Ok(raw), Ok(doc)) = (
        serde_json::from_str::<Box<RawValue>>(line),
        serde_json::from_str::<Value>(line),
    ) else {
        return Ok(());
    };
    if !doc.is_object() {
        // A page refuses such hits before mapping.
        return Ok(());
    }
    let want = ctx.map(&doc).map(|mut r| {
        r.source_id = Some("hit-1".into());
        r
    });
    let got = ctx.map_hit("hit-1", &raw);
    if format!("{got:?}") == format!("{want:?}") {
        Ok(())
    } else {
        Err(format!("{line:?}\n text: {got:?}\n tree: {want:?}"))
    }
}

fn check(line: &str) -> Result<(), TestCaseError> {
    for ctx in contexts() {
        agrees(&ctx, line).map_err(TestCaseError::fail)?;
        hit_agrees(&ctx, line).map_err(TestCaseError::fail)?;
    }
    Ok(())
}

#[test]
fn plain_documents_are_read_without_a_tree() {
    let ctx = DocumentContext::new(&OpenSearchConfig::default()).unwrap();
    for line in [
        r#"{"@timestamp":"2025-03-01T00:00:00.028000Z","host":{"name":"mx-in"},"log":{"syslog":{"appname":"postfix/smtpd","procid":"3777","facility":{"name":"mail","code":2},"severity":{"name":"info"}}},"message":"A76E811FEE4: client=mail.sender.example[192.0.2.56]"}"#,
        r#"{"_id":"x1","_source":{"@timestamp":"2025-03-01T00:00:00Z","host.name":" mx ","log.syslog.appname":"exim","log":{"syslog":{"facility":{"name":"MAIL"}}},"message":"m\\r\\n"}}"#,
        r#"{"@timestamp":"2025-03-01T00:00:00Z","host":{"name":"mx"},"log":{"syslog":{"appname":"postfix/smtp","facility":{"name":"kern"}}},"message":"filtered"}"#,
    ] {
        let out = fast(&ctx, line).expect(line);
        assert_eq!(out, ctx.map_line_tree(line), "{line}");
    }
    let bytes = std::fs::read(fixtures().join("seed-cross-cluster.ndjson")).unwrap();
    for line in String::from_utf8_lossy(&bytes).lines() {
        check(line).unwrap();
    }
}

#[test]
fn lines_the_search_could_read_otherwise_are_left_to_the_tree() {
    let ctx = DocumentContext::new(&OpenSearchConfig {
        mapping: Mapping::default(),
        ..OpenSearchConfig::default()
    })
    .unwrap();
    let head = r#""@timestamp":"2025-03-01T00:00:00Z","log":{"syslog":{"appname":"exim","facility":{"name":"mail"}}},"message":"m""#;
    for rest in [
        r#""host":{"name":"a"},"host.name":"b""#,
        r#""host":{"name":"a"},"host":{"os":"b"}"#,
        r#""host":[{"name":"a"}]"#,
        r#""host":{"name":null},"host.name":"b""#,
        r#""host":{"name":7}"#,
        r#""host":{"name":{"first":"a"}}"#,
    ] {
        let line = format!("{{{head},{rest}}}");
        assert_eq!(fast(&ctx, &line), None, "{line}");
    }
}

#[test]
fn fixture_documents_agree() {
    for f in ["seed-cross-cluster.ndjson", "hostile.ndjson"] {
        let bytes = std::fs::read(fixtures().join(f)).unwrap();
        for line in String::from_utf8_lossy(&bytes).lines() {
            check(line).unwrap();
        }
    }
}

proptest! {
    #![proptest_config(proptest_config())]

    #[test]
    fn generated_documents_agree(line in document()) {
        check(&line)?;
    }

    #[test]
    fn mutated_documents_agree(line in document().prop_flat_map(mutated)) {
        check(&line)?;
    }

    #[test]
    fn mutated_fixture_documents_agree(line in fixture_line().prop_flat_map(mutated)) {
        check(&line)?;
    }
}
