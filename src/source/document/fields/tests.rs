//! The tree-less way against the tree way (`map_line_tree`): same outcome on every line it
//! answers for, and it does answer for the plain shapes.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use serde_json::value::RawValue;
use serde_json::Value;

use super::{FieldPlan, Line, Shapes};
use crate::config::{Mapping, OpenSearchConfig};
use crate::record::RecordRef;
use crate::source::document::scan::tests::{
    document, fixture_line, fixtures, mappings, mutated, proptest_config, scalar,
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

/// `fields::map_line` with the record made owned, to compare.
fn map_line(
    ctx: &DocumentContext,
    plan: &FieldPlan,
    line: &str,
    shapes: Option<&mut Shapes>,
) -> Option<LineOutcome> {
    super::map_line(ctx, plan, line, shapes, &mut |o| {
        o.map_record(RecordRef::to_record)
    })
}

fn fast(ctx: &DocumentContext, line: &str) -> Option<LineOutcome> {
    map_line(ctx, ctx.sparse.fields.as_ref().unwrap(), line, None)
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
    if format!("{got:?}") != format!("{want:?}") {
        return Err(format!("{line:?}\n text: {got:?}\n tree: {want:?}"));
    }
    // The second time, a reader of many hits reads it by the shape it learned.
    let mut shapes = Shapes::default();
    for _ in 0..2 {
        let got = ctx.map_hit_shaped("hit-1", &raw, &mut shapes);
        if format!("{got:?}") != format!("{want:?}") {
            return Err(format!("{line:?}\n shaped: {got:?}\n tree: {want:?}"));
        }
    }
    Ok(())
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

/// Strings with escapes, several on a line, are read the tree-less way, walked and by a
/// learned shape alike (`Found::Escaped`), and map as the tree maps them.
#[test]
fn escaped_strings_are_read_without_a_tree() {
    let ctx = DocumentContext::new(&OpenSearchConfig::default()).unwrap();
    let plan = ctx.sparse.fields.as_ref().unwrap();
    let line = |id: &str, host: &str, app: &str, message: &str| {
        format!(
            r#"{{"_id":"{id}","_source":{{"@timestamp":"2025-03-01T00:00:00Z","host":{{"name":"{host}"}},"log":{{"syslog":{{"appname":"{app}","facility":{{"name":"mail"}}}}}},"message":"{message}"}}}}"#
        )
    };
    let plain = line("x1", "mx", "exim", "m");
    let escaped = [
        line(r"x\u0031", r"m\u0078", "exim", r#"a\"b\\c"#),
        line("x1", r"\tmx", r"ex\/im", r"m\r\n"),
        line(r#"\""#, "mx", r"\u00e9xim", r"\ud83d\ude00 and \u00e9"),
    ];
    for escaped in &escaped {
        let mut shapes = Shapes::default();
        let first = map_line(&ctx, plan, &plain, Some(&mut shapes));
        assert_eq!(first, Some(ctx.map_line_tree(&plain)));
        assert!(shape_reads(&ctx, &mut shapes, escaped), "{escaped}");
        let tree = ctx.map_line_tree(escaped);
        assert!(matches!(tree, LineOutcome::Record(_)), "{tree:?}");
        let shaped = map_line(&ctx, plan, escaped, Some(&mut shapes));
        assert_eq!(shaped.as_ref(), Some(&tree), "{escaped}");
        assert_eq!(fast(&ctx, escaped).as_ref(), Some(&tree), "{escaped}");
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

fn shape_reads(ctx: &DocumentContext, shapes: &mut Shapes, line: &str) -> bool {
    shapes.read(line, &ctx.sparse.wanted, &mut Line::new())
}

/// `learned`'s shape, learned, then written out with other values in its slots
/// (`value(is_string)`, as `Shapes::write_newest` takes them): the shaped way maps that line
/// as the tree way does. Returns whether a shape read it.
fn shaped_agrees(
    learned: &str,
    mut value: impl FnMut(bool) -> String,
) -> Result<bool, TestCaseError> {
    let mut read_by_shape = false;
    for ctx in contexts() {
        let plan = ctx.sparse.fields.as_ref().unwrap();
        let mut shapes = Shapes::default();
        map_line(&ctx, plan, learned, Some(&mut shapes));
        let Some(line) = shapes.write_newest(&mut value) else {
            continue;
        };
        read_by_shape |= shape_reads(&ctx, &mut shapes, &line);
        let got = ctx.map_line_shaped(&line, &mut shapes);
        let tree = ctx.map_line_tree(&line);
        prop_assert_eq!(got, tree, "learned from {:?}, read {:?}", learned, line);
    }
    Ok(read_by_shape)
}

/// Any JSON scalar (or near-scalar) in turn: after a string's opening quote, a string
/// literal goes without its own.
fn any_values(values: &[String]) -> impl FnMut(bool) -> String + '_ {
    let mut next = values.iter().cycle();
    move |is_string| {
        let v = next.next().unwrap();
        match v.strip_prefix('"') {
            Some(body) if is_string => body.to_string(),
            _ => v.clone(),
        }
    }
}

/// Values of the slot's own kind in turn: a string body with its closing quote, a number.
fn plain_values(values: &[(String, String)]) -> impl FnMut(bool) -> String + '_ {
    let mut next = values.iter().cycle();
    move |is_string| {
        let (string, number) = next.next().unwrap();
        if is_string {
            format!("{string}\"")
        } else {
            number.clone()
        }
    }
}

fn plain_value() -> impl Strategy<Value = (String, String)> {
    (
        r"[a-zA-Z0-9 :/<>@.=\[\]-]{0,30}",
        r"-?[1-9][0-9]{0,8}(\.[0-9]{1,3})?",
    )
}

#[test]
fn a_shape_reads_what_the_walk_reads_and_learns_a_few() {
    let ctx = DocumentContext::new(&OpenSearchConfig::default()).unwrap();
    let plan = ctx.sparse.fields.as_ref().unwrap();
    let line = r#"{"@timestamp":"2025-03-01T00:00:00.028000Z","host":{"name":"mx-in"},"log":{"syslog":{"appname":"postfix/smtpd","procid":"3777","facility":{"name":"mail","code":2},"severity":{"name":"info"}}},"message":"A76E811FEE4: client=mail.sender.example[192.0.2.56]"}"#;
    let mut shapes = Shapes::default();
    let first = map_line(&ctx, plan, line, Some(&mut shapes));
    assert_eq!(shapes.len(), 1);
    // The shape written back with the line's own values is the line.
    let mut values = vec![
        "2025-03-01T00:00:00.028000Z\"",
        "mx-in\"",
        "postfix/smtpd\"",
        "3777\"",
        "mail\"",
        "2",
        "info\"",
        "A76E811FEE4: client=mail.sender.example[192.0.2.56]\"",
    ]
    .into_iter();
    let written = shapes.write_newest(|_| values.next().unwrap().to_string());
    assert_eq!(written.as_deref(), Some(line));
    let other = line.replace("mx-in", "mx-out").replace("3777", "12");
    assert!(shape_reads(&ctx, &mut shapes, &other));
    assert_eq!(
        ctx.map_line_shaped(&other, &mut shapes),
        ctx.map_line_tree(&other)
    );
    assert_eq!(Some(ctx.map_line_tree(line)), first);
    // Another order of keys is another shape: walked, learned on the first miss, and
    // then on every 16th; at most four are kept.
    let reordered = line
        .replace(r#""procid":"3777","#, "")
        .replace(r#""message":"#, r#""procid":"1","message":"#);
    assert!(!shape_reads(&ctx, &mut shapes, &reordered));
    assert_eq!(
        ctx.map_line_shaped(&reordered, &mut shapes),
        ctx.map_line_tree(&reordered)
    );
    assert_eq!(shapes.len(), 1, "the second miss is not learned");
    for i in 0..64 {
        let spaced = line.replacen(':', &format!("{}:", " ".repeat(i + 1)), 1);
        assert_eq!(
            ctx.map_line_shaped(&spaced, &mut shapes),
            ctx.map_line_tree(&spaced)
        );
    }
    assert_eq!(shapes.len(), 4);
}

#[test]
fn fixture_shapes_read_other_values_alike() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut read = 0;
    for f in ["seed-cross-cluster.ndjson", "hostile.ndjson"] {
        let bytes = std::fs::read(fixtures().join(f)).unwrap();
        for line in String::from_utf8_lossy(&bytes).lines() {
            let values = prop::collection::vec(plain_value(), 1..20)
                .new_tree(&mut runner)
                .unwrap()
                .current();
            read += usize::from(shaped_agrees(line, plain_values(&values)).unwrap());
        }
    }
    assert!(read > 20, "only {read} fixture lines read by their shape");
}

proptest! {
    #![proptest_config(proptest_config())]

    /// Any text in a shape's slots: read by the shape or walked, the outcome is the tree's.
    #[test]
    fn documents_of_a_learned_shape_agree(
        learned in prop_oneof![fixture_line(), document()],
        values in prop::collection::vec(scalar(), 1..40),
    ) {
        shaped_agrees(&learned, any_values(&values))?;
    }

    /// Lines a few bytes off a learned one: read by its shape or walked, the tree's outcome.
    #[test]
    fn lines_near_a_learned_shape_agree(
        (learned, near) in prop_oneof![fixture_line(), document()]
            .prop_flat_map(|l| (Just(l.clone()), mutated(l))),
    ) {
        for ctx in contexts() {
            let mut shapes = Shapes::default();
            ctx.map_line_shaped(&learned, &mut shapes);
            prop_assert_eq!(ctx.map_line_shaped(&near, &mut shapes), ctx.map_line_tree(&near));
        }
    }

    /// Lines that differ from a learned one in their values only are read by its shape.
    #[test]
    fn other_values_are_read_by_the_shape(
        learned in fixture_line(),
        values in prop::collection::vec(plain_value(), 1..40),
    ) {
        let ctx = DocumentContext::new(&OpenSearchConfig::default()).unwrap();
        let plan = ctx.sparse.fields.as_ref().unwrap();
        let mut shapes = Shapes::default();
        map_line(&ctx, plan, &learned, Some(&mut shapes));
        if shapes.len() == 1 {
            prop_assert!(shaped_agrees(&learned, plain_values(&values))?, "{}", learned);
        }
    }

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

proptest! {
    /// The quick `trim_line_end` trims as `trim_end_matches(['\n', '\r'])` does.
    #[test]
    fn quick_line_end_trim_is_trim_end_matches(s in "[a \r\n\u{2028}é]{0,6}") {
        prop_assert_eq!(super::trim_line_end(&s), s.trim_end_matches(['\n', '\r']));
    }
}
