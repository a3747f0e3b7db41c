//! Shared helpers of the integration tests (`mod common;` in each test file). Not every
//! test uses every helper.
#![allow(dead_code)]

pub mod daemon;
pub mod faultproxy;
pub mod mailgen;
pub mod osmem;
pub mod otlp_receiver;
pub mod seed;
pub mod sshd;
pub mod traces;

use mailtrace::correlate::{Hop, HopLine, Message, TimedAttempt};
use mailtrace::parse::{Attempt, AttemptStatus, Mta, Relay};

/// A small delivered message: Postfix mx-a relays to Postfix mx-b, each hop with one
/// `sent` attempt (with `delays=`) and one log line. 13 spans: root, 2 hops, 2 attempts,
/// 8 stages.
pub fn sample_message() -> Message {
    let t0: i64 = 1_763_000_000_000_000_000;
    let hop = |host: &str, qid: &str, parent: Option<usize>, t: i64| Hop {
        host: host.into(),
        queue_id: qid.into(),
        mta: Mta::Postfix,
        parent,
        client: Some("client[192.0.2.1]".into()),
        sasl_username: None,
        sender: Some("alice@example.test".into()),
        size: Some(999),
        nrcpt: Some(1),
        arrival: None,
        attempts: vec![TimedAttempt {
            timestamp_ns: t + 500_000_000,
            attempt: Attempt {
                recipients: vec!["bob@example.net".into()],
                relay: Some(Relay {
                    raw: "next[10.0.0.9]:25".into(),
                    host: "next".into(),
                    addr: Some("10.0.0.9".into()),
                    port: Some(25),
                }),
                delay_s: Some(0.5),
                delays: Some([0.1, 0.1, 0.1, 0.2]),
                status: Some(AttemptStatus::Sent),
                ..Default::default()
            },
            exported_before: false,
        }],
        notices: Vec::new(),
        rejects: Vec::new(),
        lines: vec![HopLine {
            timestamp_ns: t,
            service: "postfix/smtpd".into(),
            text: format!("{qid}: client=client[192.0.2.1]"),
        }]
        .into(),
        lines_dropped: 0,
        first_ns: t,
        last_ns: t + 600_000_000,
        finished: true,
        completed_queue_time_s: None,
        exported_before: false,
        span_exported: false,
    };
    Message {
        message_id: "round-trip@example.test".into(),
        hops: vec![
            hop("mx-a", "AAAA1", None, t0),
            hop("mx-b", "BBBB2", Some(0), t0 + 1_000_000_000),
        ],
        incomplete: false,
        notice_of: None,
    }
}
