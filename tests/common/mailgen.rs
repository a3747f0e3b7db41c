//! Generated Postfix traffic for the daemon tests: messages relayed smtp1 → relay1 → mx1 and
//! delivered locally, each hop with the lines a real Postfix logs (`client=`, `message-id=`,
//! `from=`, `to=… status=sent (250 2.0.0 Ok: queued as X)`, `removed`). Lines render as
//! OpenSearch documents shaped like `tests/fixtures/seed-cross-cluster.ndjson` or as
//! RFC 5424-style syslog text lines for the file source.

use chrono::{DateTime, SecondsFormat};
use serde_json::{json, Value};

pub const SEC: i64 = 1_000_000_000;
pub const MS: i64 = 1_000_000;

pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

/// One log line of one host.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub ts_ns: i64,
    pub host: String,
    pub service: String,
    pub queue_id: String,
    pub queued_as: Option<String>,
    pub text: String,
    /// Unique per generated line, used as the document `_id`.
    pub id: String,
}

impl Line {
    /// An OpenSearch document with the seed fixture's shape (and mapping).
    pub fn doc(&self) -> Value {
        let mut postfix = json!({ "queueid": { "keyword": self.queue_id } });
        if let Some(q) = &self.queued_as {
            postfix["queued_as"] = json!({ "keyword": q });
        }
        json!({
            "_id": self.id,
            "@timestamp": DateTime::from_timestamp_nanos(self.ts_ns)
                .to_rfc3339_opts(SecondsFormat::Millis, true),
            "host": { "name": self.host },
            "data_stream": { "namespace": "mail" },
            "appname": self.service,
            "message": format!("{}: {}", self.queue_id, self.text),
            "postfix": postfix,
        })
    }

    /// `2026-11-21T19:45:33.123456+00:00 relay1 postfix/smtp[4242]: QID: text`.
    pub fn syslog(&self) -> String {
        format!(
            "{} {} {}[4242]: {}: {}\n",
            DateTime::from_timestamp_nanos(self.ts_ns)
                .to_rfc3339_opts(SecondsFormat::Micros, false),
            self.host,
            self.service,
            self.queue_id,
            self.text
        )
    }

    /// Same line at another time (and another document ID).
    pub fn at(&self, ts_ns: i64) -> Line {
        Line {
            ts_ns,
            id: format!("{}@{ts_ns}", self.id),
            ..self.clone()
        }
    }
}

/// One generated message: its Message-ID, hops (host, queue ID) and lines per hop.
#[derive(Debug, Clone)]
pub struct Mail {
    pub message_id: String,
    pub hops: Vec<(String, String)>,
    /// `lines[h]`: the lines of hop `h` in log order.
    pub lines: Vec<Vec<Line>>,
}

pub const HOSTS: [&str; 3] = ["smtp1", "relay1", "mx1"];

impl Mail {
    /// Message `n` of a test (`tag` keeps tests' IDs apart), first line at `t0_ns`. Hops
    /// start 1 s apart; lines within a hop 10 ms apart.
    pub fn new(tag: &str, n: u32, t0_ns: i64) -> Mail {
        let message_id = format!("{tag}-{n:06}@example.test");
        let qid = |h: usize| format!("{:X}{h}", 0xA0_0000_0000u64 + u64::from(n) * 16 + 7);
        let hops: Vec<(String, String)> = (0..3).map(|h| (HOSTS[h].to_string(), qid(h))).collect();
        let mut lines = Vec::new();
        for h in 0..3 {
            let q = &hops[h].1;
            let t = t0_ns + h as i64 * SEC;
            let client = match h {
                0 => "webmail.example.test[10.0.0.5]".to_string(),
                _ => format!("{}[10.0.1.{}]", HOSTS[h - 1], 20 + h),
            };
            let mut hop = vec![
                ("postfix/smtpd", None, format!("client={client}")),
                (
                    "postfix/cleanup",
                    None,
                    format!("message-id=<{message_id}>"),
                ),
                (
                    "postfix/qmgr",
                    None,
                    "from=<alice@example.test>, size=2048, nrcpt=1 (queue active)".to_string(),
                ),
            ];
            if h < 2 {
                let next = qid(h + 1);
                hop.push((
                    "postfix/smtp",
                    Some(next.clone()),
                    format!(
                        "to=<bob@example.net>, relay={}[10.0.1.{}]:25, delay=0.4, \
                         delays=0.1/0.1/0.1/0.1, dsn=2.0.0, status=sent \
                         (250 2.0.0 Ok: queued as {next})",
                        HOSTS[h + 1],
                        21 + h
                    ),
                ));
            } else {
                hop.push((
                    "postfix/local",
                    None,
                    "to=<bob@example.net>, relay=local, delay=0.3, delays=0.1/0.1/0/0.1, \
                     dsn=2.0.0, status=sent (delivered to mailbox)"
                        .to_string(),
                ));
            }
            hop.push(("postfix/qmgr", None, "removed".to_string()));
            lines.push(
                hop.into_iter()
                    .enumerate()
                    .map(|(i, (service, queued_as, text))| Line {
                        ts_ns: t + i as i64 * 10 * MS,
                        host: HOSTS[h].to_string(),
                        service: service.to_string(),
                        queue_id: q.clone(),
                        queued_as,
                        text,
                        id: format!("{tag}-{n}-{h}-{i}"),
                    })
                    .collect(),
            );
        }
        Mail {
            message_id,
            hops,
            lines,
        }
    }

    pub fn all_lines(&self) -> Vec<Line> {
        self.lines.iter().flatten().cloned().collect()
    }

    pub fn queue_id(&self, hop: usize) -> &str {
        &self.hops[hop].1
    }
}

/// `count` messages from `t0_ns`, `spacing_ns` apart.
pub fn mails(tag: &str, count: u32, t0_ns: i64, spacing_ns: i64) -> Vec<Mail> {
    (0..count)
        .map(|n| Mail::new(tag, n, t0_ns + i64::from(n) * spacing_ns))
        .collect()
}

pub fn docs(lines: &[Line]) -> Vec<Value> {
    lines.iter().map(Line::doc).collect()
}

/// Spans of one complete generated message: root, 3 hops, 3 attempts, 4 stages each.
pub const SPANS_PER_MAIL: usize = 1 + 3 + 3 + 12;
