//! `Message`: what the correlator hands to the trace model — one email, its hops, and how
//! they connect. Plain data, fully ordered, so building spans from it is deterministic.

use serde::{Deserialize, Serialize};

use super::hop_lines::HopLines;
use crate::parse::{Arrival, Attempt, Mta, NoticeKind, Reject};

/// One email as it travelled: every hop, keyed by its normalized Message-ID.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Normalized Message-ID (no angle brackets). For a queue file whose `message-id=` line
    /// never came, a synthetic `mailtrace.missing/<host>/<queue_id>`.
    pub message_id: String,
    /// Hops ordered by first log time, then host, then queue ID.
    pub hops: Vec<Hop>,
    /// Released by a limit (age, count) rather than because every hop finished.
    pub incomplete: bool,
    /// This message is a notification (bounce/DSN) that this hop of another message created.
    pub notice_of: Option<NoticeOrigin>,
}

/// The hop of another message whose bounce/delay notice this message is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoticeOrigin {
    pub kind: NoticeKind,
    pub message_id: String,
    pub host: String,
    pub queue_id: String,
}

/// One queue file on one host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hop {
    pub host: String,
    pub queue_id: String,
    pub mta: Mta,
    /// Index into `Message::hops` of the upstream hop whose delivery created this one.
    pub parent: Option<usize>,
    /// `client=` (Postfix) or `H=` (Exim).
    pub client: Option<String>,
    pub sasl_username: Option<String>,
    /// Envelope sender; "" for the null sender `<>`.
    pub sender: Option<String>,
    pub size: Option<u64>,
    pub nrcpt: Option<u32>,
    /// Exim arrival details (`<=` line), when this is an Exim hop.
    pub arrival: Option<Box<Arrival>>,
    /// Delivery attempts in log order.
    pub attempts: Vec<TimedAttempt>,
    /// Notifications this hop caused (`sender non-delivery notification: QID`).
    pub notices: Vec<Notice>,
    /// Rejections logged with this queue ID (`milter-reject`, `reject: … DATA`).
    pub rejects: Vec<Reject>,
    /// Raw lines of this hop, capped at `lines_cap` per hop (the rest only counted).
    pub lines: HopLines,
    pub lines_dropped: u32,
    pub first_ns: i64,
    pub last_ns: i64,
    /// `removed` (Postfix) or `Completed` (Exim) was seen.
    pub finished: bool,
    /// Exim `Completed QT=`.
    pub completed_queue_time_s: Option<f64>,
    /// This hop was exported with an earlier release of the message and is here only so
    /// late hops link to it: no span is built for it (its span ID is still the parent).
    #[serde(default)]
    pub exported_before: bool,
    /// This hop's own span went out with an earlier release (it stays true when a late line
    /// revives the hop), so a re-release must not send that span ID again.
    #[serde(default)]
    pub span_exported: bool,
}

impl Hop {
    /// A hop with nothing known yet but where and when it was first seen.
    pub fn new(host: &str, queue_id: &str, mta: Mta, first_ns: i64) -> Self {
        Hop {
            host: host.to_string(),
            queue_id: queue_id.to_string(),
            mta,
            parent: None,
            client: None,
            sasl_username: None,
            sender: None,
            size: None,
            nrcpt: None,
            arrival: None,
            attempts: Vec::new(),
            notices: Vec::new(),
            rejects: Vec::new(),
            lines: HopLines::default(),
            lines_dropped: 0,
            first_ns,
            last_ns: first_ns,
            finished: false,
            completed_queue_time_s: None,
            exported_before: false,
            span_exported: false,
        }
    }

    /// Every recipient this hop attempted (arrival, then attempts), in first-seen order,
    /// without repeats.
    pub fn recipients(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        let arrival = self.arrival.iter().flat_map(|a| a.recipients.iter());
        let attempted = self
            .attempts
            .iter()
            .flat_map(|a| a.attempt.recipients.iter());
        for r in arrival.chain(attempted) {
            if !out.contains(&r.as_str()) {
                out.push(r);
            }
        }
        out
    }
}

/// A delivery attempt with its log time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimedAttempt {
    pub timestamp_ns: i64,
    pub attempt: Attempt,
    /// Exported with an earlier release of the message (kept for linking only).
    #[serde(default)]
    pub exported_before: bool,
}

/// A notification this hop created, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    pub timestamp_ns: i64,
    pub kind: NoticeKind,
    pub notice_queue_id: String,
}

/// One raw log line kept on its hop (becomes a span event).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HopLine {
    pub timestamp_ns: i64,
    pub service: String,
    pub text: String,
}

/// Saved as `[time, service, text]`: pending messages carry every raw line, and the daemon
/// saves them each round; field names would be a fifth of the bytes. (The derived
/// `Deserialize` reads this array and the earlier object form alike.)
impl Serialize for HopLine {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (self.timestamp_ns, &self.service, &self.text).serialize(s)
    }
}
