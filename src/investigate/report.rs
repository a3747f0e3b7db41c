//! What an investigation prints: the stable JSON shape of `run --json`, the Graphviz DOT of
//! `graph`, and a one-line path per message for the text output.
//!
//! JSON shape (field order as listed; times RFC 3339 UTC; durations in seconds):
//! `{ messages: [ { message_id, trace_id, outcome, incomplete, notice_of, start, end,
//!   total_seconds, path, hops: [ { host, queue_id, mta, parent, client, sender,
//!   sasl_username, size, first_seen, last_seen, finished, attempts: [ { recipients, status,
//!   dsn, relay, reply, delay, time, next_queue_id } ], notices: [ { kind, queue_id, time } ] } ]
//!   } ], rejects: [ { time, host, stage, client, sender, recipient, code, dsn, reason } ] }`.
//! `parent` is the index of the upstream hop in `hops` (null for the first hop), so a host
//! visited twice stays two hops.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Serialize;

use crate::correlate::{Hop, Message, RejectReport};
use crate::parse::{AttemptStatus, NoticeKind};
use crate::trace::ids;
use crate::trace::model::message_outcome;

#[derive(Debug, Serialize)]
pub struct Report {
    pub messages: Vec<MessageReport>,
    pub rejects: Vec<RejectJson>,
}

#[derive(Debug, Serialize)]
pub struct MessageReport {
    pub message_id: String,
    pub trace_id: String,
    pub outcome: &'static str,
    pub incomplete: bool,
    pub notice_of: Option<NoticeOfJson>,
    pub start: String,
    pub end: String,
    pub total_seconds: f64,
    /// Each path from a first hop to a final destination, as host names.
    pub path: Vec<Vec<String>>,
    pub hops: Vec<HopReport>,
}

#[derive(Debug, Serialize)]
pub struct NoticeOfJson {
    pub message_id: String,
    pub host: String,
    pub queue_id: String,
}

#[derive(Debug, Serialize)]
pub struct HopReport {
    pub host: String,
    pub queue_id: String,
    pub mta: &'static str,
    pub parent: Option<usize>,
    pub client: Option<String>,
    pub sender: Option<String>,
    pub sasl_username: Option<String>,
    pub size: Option<u64>,
    pub first_seen: String,
    pub last_seen: String,
    pub finished: bool,
    pub attempts: Vec<AttemptReport>,
    pub notices: Vec<NoticeJson>,
}

#[derive(Debug, Serialize)]
pub struct AttemptReport {
    pub recipients: Vec<String>,
    pub status: Option<&'static str>,
    pub dsn: Option<String>,
    pub relay: Option<String>,
    pub reply: Option<String>,
    /// Postfix `delay=`, else Exim `DT=`.
    pub delay: Option<f64>,
    pub time: String,
    pub next_queue_id: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct NoticeJson {
    pub kind: &'static str,
    pub queue_id: String,
    pub time: String,
}

#[derive(Debug, Serialize)]
pub struct RejectJson {
    pub time: String,
    pub host: String,
    pub stage: Option<String>,
    pub client: Option<String>,
    pub sender: Option<String>,
    pub recipient: Option<String>,
    pub code: Option<String>,
    pub dsn: Option<String>,
    pub reason: String,
}

/// The `--json` document.
pub fn report(messages: &[Message], rejects: &[RejectReport]) -> Report {
    Report {
        messages: messages.iter().map(message_report).collect(),
        rejects: rejects
            .iter()
            .map(|r| RejectJson {
                time: rfc3339(r.timestamp_ns),
                host: r.host.clone(),
                stage: r.reject.stage.clone(),
                client: r.reject.client.clone(),
                sender: r.reject.sender.clone(),
                recipient: r.reject.recipient.clone(),
                code: r.reject.code.clone(),
                dsn: r.reject.dsn.clone(),
                reason: r.reject.reason.clone(),
            })
            .collect(),
    }
}

pub fn message_report(msg: &Message) -> MessageReport {
    let start = msg.hops.iter().map(|h| h.first_ns).min().unwrap_or(0);
    let end = msg.hops.iter().map(|h| h.last_ns).max().unwrap_or(0);
    MessageReport {
        message_id: msg.message_id.clone(),
        trace_id: ids::hex(&ids::trace_id(&msg.message_id)),
        outcome: message_outcome(msg),
        incomplete: msg.incomplete,
        notice_of: msg.notice_of.as_ref().map(|n| NoticeOfJson {
            message_id: n.message_id.clone(),
            host: n.host.clone(),
            queue_id: n.queue_id.clone(),
        }),
        start: rfc3339(start),
        end: rfc3339(end),
        total_seconds: round_ms((end - start) as f64 / 1e9),
        path: paths(msg),
        hops: msg.hops.iter().map(hop_report).collect(),
    }
}

fn hop_report(h: &Hop) -> HopReport {
    HopReport {
        host: h.host.clone(),
        queue_id: h.queue_id.clone(),
        mta: h.mta.as_str(),
        parent: h.parent,
        client: h.client.clone(),
        sender: h.sender.clone(),
        sasl_username: h.sasl_username.clone(),
        size: h.size,
        first_seen: rfc3339(h.first_ns),
        last_seen: rfc3339(h.last_ns),
        finished: h.finished,
        attempts: h
            .attempts
            .iter()
            .map(|t| {
                let a = &t.attempt;
                AttemptReport {
                    recipients: a.recipients.clone(),
                    status: a.status.map(AttemptStatus::as_str),
                    dsn: a.dsn.clone(),
                    relay: a.relay.as_ref().map(|r| r.raw.clone()),
                    reply: a.reply.clone(),
                    delay: a.delay_s.or(a.deliver_time_s),
                    time: rfc3339(t.timestamp_ns),
                    next_queue_id: a.next_queue_id.clone(),
                }
            })
            .collect(),
        notices: h
            .notices
            .iter()
            .map(|n| NoticeJson {
                kind: notice_kind(n.kind),
                queue_id: n.notice_queue_id.clone(),
                time: rfc3339(n.timestamp_ns),
            })
            .collect(),
    }
}

fn notice_kind(k: NoticeKind) -> &'static str {
    match k {
        NoticeKind::NonDelivery => "non_delivery",
        NoticeKind::Delay => "delay",
        NoticeKind::Success => "success",
        NoticeKind::Other => "other",
    }
}

/// Every path from a first hop to where the mail ended: the hosts, then, for an attempt that
/// left the logged hosts, its relay (`mx.example.com`, `local`), or the status when there is
/// no relay (`bounced`).
pub fn paths(msg: &Message) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for root in (0..msg.hops.len()).filter(|&i| msg.hops[i].parent.is_none()) {
        walk(msg, root, &mut Vec::new(), &mut out);
    }
    out
}

fn walk(msg: &Message, i: usize, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    prefix.push(msg.hops[i].host.clone());
    let children: Vec<usize> = (0..msg.hops.len())
        .filter(|&c| msg.hops[c].parent == Some(i))
        .collect();
    for &c in &children {
        walk(msg, c, prefix, out);
    }
    let ends = exits(msg, i);
    for end in &ends {
        let mut p = prefix.clone();
        // A relay named after its status needs no status; others did not get through.
        let status = end.status.map_or("unknown", AttemptStatus::as_str);
        match end.status {
            Some(AttemptStatus::Sent) => p.push(end.label.clone()),
            _ if end.label == status => p.push(end.label.clone()),
            _ => p.push(format!("{} ({status})", end.label)),
        }
        out.push(p);
    }
    if children.is_empty() && ends.is_empty() {
        out.push(prefix.clone());
    }
    prefix.pop();
}

/// Where a hop's attempts went that no logged hop of the message received.
struct Exit {
    /// Graph node id: the relay host, or `host/local` for deliveries on the host itself.
    node: String,
    label: String,
    status: Option<AttemptStatus>,
    dsn: Option<String>,
    /// The queue ID the receiving side named ("queued as …"), when it did.
    next_queue_id: Option<String>,
}

fn exits(msg: &Message, i: usize) -> Vec<Exit> {
    let hop = &msg.hops[i];
    let child_ids: Vec<&str> = msg
        .hops
        .iter()
        .filter(|h| h.parent == Some(i))
        .map(|h| h.queue_id.as_str())
        .collect();
    let mut out: Vec<Exit> = Vec::new();
    for t in &hop.attempts {
        let a = &t.attempt;
        if a.next_queue_id
            .as_deref()
            .is_some_and(|n| child_ids.contains(&n))
        {
            continue;
        }
        let relay = a.relay.as_ref();
        let on_host = relay.is_none_or(|r| {
            matches!(r.host.as_str(), "" | "local" | "virtual" | "none")
                || r.addr
                    .as_deref()
                    .is_some_and(|x| x.starts_with("private/") || x.starts_with("public/"))
        });
        let (node, label) = match relay {
            Some(r) if !on_host => (r.host.clone(), r.host.clone()),
            Some(r) if !matches!(r.host.as_str(), "" | "none") => {
                (format!("{}/{}", hop.host, r.host), r.host.clone())
            }
            _ => {
                let s = a
                    .status
                    .map_or("unknown", AttemptStatus::as_str)
                    .to_string();
                (format!("{}/{s}", hop.host), s)
            }
        };
        // The latest attempt per destination decides (a deferral later sent is sent).
        out.retain(|e| e.node != node);
        out.push(Exit {
            node,
            label,
            status: a.status,
            dsn: a.dsn.clone(),
            next_queue_id: a.next_queue_id.clone(),
        });
    }
    out
}

/// One edge of a message's path, as the MCP tools return it: from a hop's host to the next
/// logged hop's host, or to where the mail left the logged hosts (the nodes of `graph_dot`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    /// The queue ID the edge delivered to: the next logged hop's, else the one the receiving
    /// server named in its reply ("queued as …"); null when unknown (local, bounced).
    pub mail_id: Option<String>,
    /// The queue ID the mail left `from` under.
    pub from_mail_id: String,
    /// Latest delivery status on this edge (`sent`, `deferred`, `bounced` …).
    pub status: Option<&'static str>,
    pub dsn: Option<String>,
    /// `to` is no logged host (a remote MX, `host/local` for a delivery on the host itself).
    pub external: bool,
}

/// Every edge of `msg`, in hop order: the same edges `graph_dot` draws.
pub fn edges(msg: &Message) -> Vec<Edge> {
    let mut out = Vec::new();
    for (i, hop) in msg.hops.iter().enumerate() {
        if let Some(p) = hop.parent {
            let up = &msg.hops[p];
            let via = up
                .attempts
                .iter()
                .rev()
                .find(|t| t.attempt.next_queue_id.as_deref() == Some(hop.queue_id.as_str()));
            out.push(Edge {
                from: up.host.clone(),
                to: hop.host.clone(),
                mail_id: Some(hop.queue_id.clone()),
                from_mail_id: up.queue_id.clone(),
                status: via.and_then(|t| t.attempt.status.map(AttemptStatus::as_str)),
                dsn: via.and_then(|t| t.attempt.dsn.clone()),
                external: false,
            });
        }
        for exit in exits(msg, i) {
            out.push(Edge {
                from: hop.host.clone(),
                to: exit.node,
                mail_id: exit.next_queue_id,
                from_mail_id: hop.queue_id.clone(),
                status: exit.status.map(AttemptStatus::as_str),
                dsn: exit.dsn,
                external: true,
            });
        }
    }
    out
}

/// One line per path: `smtp1 → relay1 → mx.external.example.com`.
pub fn path_lines(msg: &Message) -> Vec<String> {
    paths(msg).into_iter().map(|p| p.join(" → ")).collect()
}

/// A Graphviz digraph of the messages: nodes are hosts (dashed: destinations outside the
/// logged hosts), edges are hops labelled with the queue ID the mail left under (and the
/// status when it did not get through).
pub fn graph_dot(messages: &[Message]) -> String {
    let mut nodes: BTreeSet<(String, String, bool)> = BTreeSet::new();
    let mut edges: Vec<(String, String, String, &'static str)> = Vec::new();
    let mut push_edge = |e: (String, String, String, &'static str)| {
        if !edges.contains(&e) {
            edges.push(e);
        }
    };
    for msg in messages {
        for (i, hop) in msg.hops.iter().enumerate() {
            nodes.insert((hop.host.clone(), hop.host.clone(), false));
            if let Some(p) = hop.parent {
                let up = &msg.hops[p];
                push_edge((
                    up.host.clone(),
                    hop.host.clone(),
                    format!("{} → {}", up.queue_id, hop.queue_id),
                    "",
                ));
            }
            for exit in exits(msg, i) {
                let style = match exit.status {
                    Some(AttemptStatus::Sent) => "",
                    Some(AttemptStatus::Deferred) => "style=dashed, color=orange",
                    _ => "color=red",
                };
                let mut label = hop.queue_id.clone();
                if exit.status != Some(AttemptStatus::Sent) {
                    let s = exit.status.map_or("unknown", AttemptStatus::as_str);
                    let _ = write!(label, " {s}");
                    if let Some(d) = &exit.dsn {
                        let _ = write!(label, " {d}");
                    }
                }
                nodes.insert((exit.node.clone(), exit.label.clone(), true));
                push_edge((hop.host.clone(), exit.node, label, style));
            }
        }
    }
    // A destination that is also a logged host is drawn as the host.
    let hosts: BTreeSet<String> = nodes
        .iter()
        .filter(|(_, _, ext)| !ext)
        .map(|(id, _, _)| id.clone())
        .collect();
    let mut out = String::from("digraph mailtrace {\n  rankdir=LR;\n  node [shape=box];\n");
    for (id, label, external) in &nodes {
        if *external && hosts.contains(id) {
            continue;
        }
        let style = if *external { ", style=dashed" } else { "" };
        let _ = writeln!(out, "  {} [label={}{style}];", quote(id), quote(label));
    }
    for (from, to, label, style) in &edges {
        let extra = if style.is_empty() {
            String::new()
        } else {
            format!(", {style}")
        };
        let _ = writeln!(
            out,
            "  {} -> {} [label={}{extra}];",
            quote(from),
            quote(to),
            quote(label)
        );
    }
    out.push_str("}\n");
    out
}

/// A DOT double-quoted string: whatever a log line named a host, it stays one token.
fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' | '\r' => q.push(' '),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

/// `2026-02-04T08:00:00.000Z`: the time format of every report.
pub fn rfc3339(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns)
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

fn round_ms(s: f64) -> f64 {
    (s * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_strings_cannot_break_out() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(quote("x\ny"), "\"x y\"");
    }
}
