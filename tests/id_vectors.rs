//! Golden vectors of the ID scheme (README, "Trace and span IDs"). These values are a
//! promise to users: anyone computing a trace ID from a Message-ID gets these. A failure
//! here means the scheme changed and every existing trace would split — don't "fix" the
//! vectors, fix the code.

use mailtrace::trace::ids::{self, hex, AttemptIdentity};

#[test]
fn trace_ids() {
    let cases = [
        (
            "20261121194533.017056@vm",
            "15e7589698d9ac1f00a8cc554b3c6d0c",
        ),
        (
            "msg-s1-001@internal.example.org",
            "4e8ba4310a55ff4b72d9a6f05103f04e",
        ),
        ("ünïcødé@example.org", "0b5cf53e4472e8e31be4702949592b47"),
    ];
    for (m, want) in cases {
        assert_eq!(hex(&ids::trace_id(m)), want, "{m}");
    }
}

#[test]
fn span_ids() {
    let m = "20261121194533.017056@vm";
    assert_eq!(hex(&ids::root_span_id(m)), "0a66d90fd92db081");
    assert_eq!(
        hex(&ids::hop_span_id(m, "mx-a", "B9DAF99AB54")),
        "311d5c76bde0d651"
    );
    let rcpts = [
        "alice@dest.example.test".to_string(),
        "bob@dest.example.test".to_string(),
    ];
    let attempt = AttemptIdentity {
        message_id: m,
        host: "mx-a",
        queue_id: "B9DAF99AB54",
        timestamp_ns: 1_795_290_333_000_000_000,
        recipients: &rcpts,
    };
    assert_eq!(hex(&attempt.span_id()), "831f74f5c4eb9f1c");
    assert_eq!(
        hex(&attempt.stage_span_id("transmission")),
        "3831f95f1ebdada0"
    );
}

/// The standard-library Python implementation in scripts/ (for operators' scripts) agrees
/// with the Rust one: the README's description is complete enough to reimplement.
#[test]
fn the_python_reference_agrees() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/trace_id.py");
    for (m, host, qid) in [
        ("<20261121194533.017056@vm>", "mx-a", "B9DAF99AB54"),
        ("ünïcødé@example.org", "relay1", "4jX3T01nHvz1Wjpx"),
        (
            "a-much-longer-message-id-than-sixteen-bytes.1234567890@example.org",
            "h",
            "Q",
        ),
    ] {
        let out = std::process::Command::new("python3")
            .args([script, m, host, qid])
            .output()
            .expect("python3 runs (it is on every supported machine)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let norm = ids::normalize_message_id(m).unwrap();
        assert_eq!(lines[0], hex(&ids::trace_id(&norm)));
        assert_eq!(lines[1], hex(&ids::hop_span_id(&norm, host, qid)));
    }
}
