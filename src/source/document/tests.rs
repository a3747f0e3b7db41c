use super::*;
use serde_json::json;

fn utc() -> Zone {
    Zone::Fixed(0)
}

/// 2026-02-04T08:00:01Z in nanoseconds.
const T0: i64 = 1_770_192_001_000_000_000;

fn seed_mapping() -> Mapping {
    Mapping {
        facility: "data_stream.namespace".into(),
        hostname: "host.name".into(),
        message: "message".into(),
        timestamp: "@timestamp".into(),
        service: "appname".into(),
        queueid: "postfix.queueid.keyword".into(),
        queued_as: "postfix.queued_as.keyword".into(),
        ..Mapping::default()
    }
}

fn base_doc() -> Value {
    json!({
        "@timestamp": "2026-02-04T08:00:01Z",
        "host": {"name": "smtp1"},
        "log": {"syslog": {"appname": "postfix/smtp", "facility": {"name": "mail"}}},
        "message": "A1: removed",
    })
}

#[test]
fn nested_paths_with_default_mapping() {
    let r = map_document(&base_doc(), &Mapping::default(), &utc()).unwrap();
    assert_eq!(r.timestamp_ns, T0);
    assert_eq!(r.host, "smtp1");
    assert_eq!(r.service, "postfix/smtp");
    assert_eq!(r.message, "A1: removed");
    assert_eq!(r.source_id, None);
    assert!(r.hints.is_empty());
}

#[test]
fn flat_dotted_keys() {
    let doc = json!({
        "@timestamp": "2026-02-04T08:00:01Z",
        "host.name": "smtp1",
        "log.syslog.appname": "postfix/smtp",
        "message": "m",
        "log.syslog.structured_data.queueid": "A1",
    });
    let r = map_document(&doc, &Mapping::default(), &utc()).unwrap();
    assert_eq!(r.host, "smtp1");
    assert_eq!(r.service, "postfix/smtp");
    assert_eq!(r.hints.queue_id.as_deref(), Some("A1"));
}

#[test]
fn mixed_nested_and_flat() {
    let doc = json!({"host": {"os.name": "linux"}, "log": {"syslog.appname": "exim"}});
    assert_eq!(lookup(&doc, "host.os.name"), Some(&json!("linux")));
    assert_eq!(lookup(&doc, "log.syslog.appname"), Some(&json!("exim")));
    let doc = json!({"log.syslog": {"appname": "exim"}});
    assert_eq!(lookup(&doc, "log.syslog.appname"), Some(&json!("exim")));
    assert_eq!(lookup(&doc, "log.syslog.nope"), None);
    assert_eq!(lookup(&doc, ""), None);
}

#[test]
fn keyword_suffix_both_shapes() {
    let m = Mapping {
        queueid: "postfix.queueid.keyword".into(),
        ..Mapping::default()
    };
    let mut a = base_doc();
    a["postfix"] = json!({"queueid": {"keyword": "X1"}});
    let mut b = base_doc();
    b["postfix"] = json!({"queueid": "X2"});
    assert_eq!(
        map_document(&a, &m, &utc())
            .unwrap()
            .hints
            .queue_id
            .as_deref(),
        Some("X1")
    );
    assert_eq!(
        map_document(&b, &m, &utc())
            .unwrap()
            .hints
            .queue_id
            .as_deref(),
        Some("X2")
    );
}

#[test]
fn source_wrapper_gives_source_id() {
    let hit = json!({"_index": "mail-1", "_id": "abc123", "_source": base_doc()});
    let r = map_document(&hit, &Mapping::default(), &utc()).unwrap();
    assert_eq!(r.source_id.as_deref(), Some("abc123"));
    assert_eq!(r.host, "smtp1");
}

#[test]
fn timestamp_shapes() {
    let z = utc();
    for (s, want) in [
        ("2026-02-04T08:00:01Z", T0),
        ("2026-02-04T08:00:01.5Z", T0 + 500_000_000),
        ("2026-02-04T08:00:01.123456789+00:00", T0 + 123_456_789),
        ("2026-02-04T16:00:01+08:00", T0),
        ("2026-02-04T16:00:01+0800", T0),
        ("2026-02-04T03:00:01-05", T0),
        ("2026-02-04 08:00:01", T0),
        ("2026-02-04 08:00:01 +0000", T0),
        ("2026-02-04t08:00:01,000z", T0),
        ("1770192001000", T0),
    ] {
        assert_eq!(parse_timestamp(s, &z), Some(want), "{s}");
    }
    // No offset: the configured zone applies.
    assert_eq!(
        parse_timestamp("2026-02-04 16:00:01", &Zone::Fixed(8 * 3600)),
        Some(T0)
    );
    let berlin = Zone::Named(chrono_tz::Europe::Berlin);
    assert_eq!(parse_timestamp("2026-02-04T09:00:01", &berlin), Some(T0));
    for bad in [
        "",
        "yesterday",
        "2026-02-30T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-02-04T08:00:01+",
        "2026-02-04T08:00:01.Z",
        "2026-02-04T24:00:00Z",
        "2026-02-04T08:00:01Zjunk",
    ] {
        assert_eq!(parse_timestamp(bad, &z), None, "{bad:?}");
    }
}

#[test]
fn epoch_millis_number_and_array_values() {
    let doc = json!({
        "@timestamp": 1_770_192_001_000i64,
        "host": {"name": ["smtp1"]},
        "log": {"syslog": {"appname": "postfix/smtp"}},
        "message": "m",
        "relay_port": 25,
    });
    let m = Mapping {
        relay_port: "relay_port".into(),
        ..Mapping::default()
    };
    let r = map_document(&doc, &m, &utc()).unwrap();
    assert_eq!(r.timestamp_ns, T0);
    assert_eq!(r.host, "smtp1");
    assert_eq!(r.hints.relay_port.as_deref(), Some("25"));
    let mut f = doc.clone();
    f["@timestamp"] = json!(1_770_192_001_000.5f64);
    assert_eq!(
        map_document(&f, &m, &utc()).unwrap().timestamp_ns,
        T0 + 500_000
    );
}

#[test]
fn missing_required_fields() {
    let m = Mapping::default();
    for (key, field) in [("@timestamp", "timestamp"), ("message", "message")] {
        let mut d = base_doc();
        d.as_object_mut().unwrap().remove(key);
        assert_eq!(
            map_document(&d, &m, &utc()),
            Err(DocumentError::MissingField(field, key.to_string()))
        );
    }
    let mut d = base_doc();
    d["host"] = json!({"name": null});
    assert_eq!(
        map_document(&d, &m, &utc()),
        Err(DocumentError::MissingField("hostname", "host.name".into()))
    );
    // A service-less document is not guessed from its message.
    let d = json!({"@timestamp": "2026-02-04T08:00:01Z", "host": {"name": "a"},
                   "message": "postfix/smtp[12]: A1: removed"});
    let e = map_document(&d, &m, &utc()).unwrap_err();
    assert_eq!(
        e,
        DocumentError::MissingField("service", "log.syslog.appname".into())
    );
    assert_eq!(
        e.to_string(),
        "missing field `service` (looked up at `log.syslog.appname`)"
    );
}

#[test]
fn hints_and_queueid_precedence() {
    let m = Mapping {
        mail_id: "mail_id".into(),
        message_id: "msgid".into(),
        ..Mapping::default()
    };
    let mut d = base_doc();
    d["mail_id"] = json!("M1");
    d["msgid"] = json!("");
    let r = map_document(&d, &m, &utc()).unwrap();
    assert_eq!(r.hints.queue_id.as_deref(), Some("M1"));
    assert_eq!(r.hints.message_id, None);
    d["log"]["syslog"]["structured_data"] = json!({"queueid": "Q1", "queued_as": "Q2"});
    let r = map_document(&d, &m, &utc()).unwrap();
    assert_eq!(r.hints.queue_id.as_deref(), Some("Q1"));
    assert_eq!(r.hints.queued_as.as_deref(), Some("Q2"));
}

#[test]
fn facility_filter() {
    let m = Mapping::default();
    assert!(facility_matches(&base_doc(), &m, "mail"));
    assert!(facility_matches(&base_doc(), &m, "MAIL"));
    assert!(!facility_matches(&base_doc(), &m, "auth"));
    assert!(facility_matches(&base_doc(), &m, ""));
    let none = Mapping {
        facility: String::new(),
        ..Mapping::default()
    };
    assert!(facility_matches(&json!({}), &none, "mail"));
    assert!(!facility_matches(&json!({}), &m, "mail"));
    let hit = json!({"_id": "1", "_source": base_doc()});
    assert!(facility_matches(&hit, &m, "mail"));
    assert!(facility_matches(
        &json!({"log.syslog.facility.name": ["kern", "mail"]}),
        &m,
        "mail"
    ));
}

#[test]
fn odd_documents_do_not_panic() {
    let m = Mapping::default();
    let mut deep = json!("x");
    for _ in 0..500 {
        deep = json!({ "host": deep });
    }
    let huge = "é".repeat(1_000_000);
    for doc in [
        json!(null),
        json!([1, 2]),
        json!("str"),
        json!({}),
        json!({"_source": null}),
        json!({"_source": [], "_id": 5}),
        deep,
        json!({"@timestamp": {"a": 1}, "host": {"name": "h"}, "message": "m", "log": {"syslog": {"appname": "x"}}}),
        json!({"@timestamp": huge.clone(), "host": {"name": "h"}, "message": "m", "log": {"syslog": {"appname": "x"}}}),
        json!({"@timestamp": 1e300, "host": {"name": "h"}, "message": "m", "log": {"syslog": {"appname": "x"}}}),
        json!({"@timestamp": "9999999999999999", "host": {"name": [1, 2]}, "message": huge, "log": {"syslog": {"appname": "x"}}}),
        json!({"@timestamp": "2026-02-04T08:00:01Z", "host": [[{"name": "h"}]], "message": [[]], "log": [{"syslog": [{"appname": true}]}]}),
    ] {
        let _ = map_document(&doc, &m, &utc());
        let _ = facility_matches(&doc, &m, "mail");
    }
    assert_eq!(
        map_document(&json!([1]), &m, &utc()),
        Err(DocumentError::NotAnObject)
    );
    let bad = json!({"@timestamp": {"a": 1}, "host": {"name": "h"}, "message": "m", "log": {"syslog": {"appname": "x"}}});
    assert!(matches!(
        map_document(&bad, &m, &utc()),
        Err(DocumentError::BadTimestamp { .. })
    ));
    let arr = json!({"@timestamp": 0, "host": {"name": ["a", "b"]}, "message": "m", "log": {"syslog": {"appname": "x"}}});
    assert!(matches!(
        map_document(&arr, &m, &utc()),
        Err(DocumentError::BadValue {
            field: "hostname",
            ..
        })
    ));
}

#[test]
fn seed_mapping_maps_seed_line() {
    let line = r#"{"@timestamp":"2026-02-04T08:00:03Z","host":{"name":"smtp1"},"data_stream":{"namespace":"mail"},"appname":"postfix/smtp","message":"A1: to=<b@x>, status=sent (250 queued as B1)","postfix":{"queueid":{"keyword":"A1"},"queued_as":{"keyword":"B1"},"message-id":"m@x"}}"#;
    let doc: Value = serde_json::from_str(line).unwrap();
    let m = seed_mapping();
    assert!(facility_matches(&doc, &m, "mail"));
    let r = map_document(&doc, &m, &utc()).unwrap();
    assert_eq!(r.hints.queue_id.as_deref(), Some("A1"));
    assert_eq!(r.hints.queued_as.as_deref(), Some("B1"));
    assert_eq!(r.service, "postfix/smtp");
}

proptest::proptest! {
    /// The quick `trim` trims as `str::trim` does.
    #[test]
    fn quick_trim_is_trim(s in "[ \t\u{a0}\u{2003}a-c.é]{0,6}") {
        proptest::prop_assert_eq!(super::trim(&s), s.trim());
    }
}
