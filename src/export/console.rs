//! A readable rendering of messages for people: per message its path of hops, each
//! recipient's status, reply and delay. Used by the daemon's console exporter (the
//! embedded demo) and by one-shot commands.

use std::fmt::Write as _;

use crate::correlate::{Hop, Message};
use crate::parse::AttemptStatus;
use crate::trace::ids;
use crate::trace::model::message_outcome;

/// Render one message as indented text (ends with a newline).
pub fn render_message(msg: &Message) -> String {
    let mut out = String::new();
    let start = msg.hops.iter().map(|h| h.first_ns).min().unwrap_or(0);
    let end = msg.hops.iter().map(|h| h.last_ns).max().unwrap_or(0);
    let _ = writeln!(
        out,
        "message <{}>  trace {}  {}  {} hop{}  {}{}",
        msg.message_id,
        ids::hex(&ids::trace_id(&msg.message_id)),
        message_outcome(msg),
        msg.hops.len(),
        if msg.hops.len() == 1 { "" } else { "s" },
        seconds((end - start) as f64 / 1e9),
        if msg.incomplete { "  (incomplete)" } else { "" }
    );
    if let Some(origin) = &msg.notice_of {
        let _ = writeln!(
            out,
            "  notice for <{}> (bounced at {} {})",
            origin.message_id, origin.host, origin.queue_id
        );
    }
    // Depth-first from the hops without a parent, so the path reads top to bottom.
    let roots: Vec<usize> = (0..msg.hops.len())
        .filter(|&i| msg.hops[i].parent.is_none())
        .collect();
    for r in roots {
        render_hop(&mut out, msg, r, 1);
    }
    out
}

fn render_hop(out: &mut String, msg: &Message, i: usize, depth: usize) {
    let hop: &Hop = &msg.hops[i];
    let pad = "  ".repeat(depth);
    let from = hop
        .sender
        .as_deref()
        .map(|s| {
            if s.is_empty() {
                "<>".to_string()
            } else {
                s.to_string()
            }
        })
        .unwrap_or_else(|| "?".into());
    let _ = writeln!(
        out,
        "{pad}{} {} [{}] from {}{}{}",
        hop.host,
        hop.queue_id,
        hop.mta.as_str(),
        from,
        hop.client
            .as_deref()
            .map(|c| format!(" via {c}"))
            .unwrap_or_default(),
        if hop.finished { "" } else { "  (still queued)" }
    );
    for t in &hop.attempts {
        let a = &t.attempt;
        let status = a.status.map_or("?", AttemptStatus::as_str);
        let relay = a.relay.as_ref().map(|r| r.raw.as_str()).unwrap_or("-");
        let delay = a
            .delay_s
            .or(a.deliver_time_s)
            .map(|d| format!(" {}", seconds(d)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{pad}  → {} {status}{} relay={relay}{delay}{}",
            a.recipients.join(","),
            a.dsn
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default(),
            a.reply
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        );
    }
    for n in &hop.notices {
        let _ = writeln!(out, "{pad}  ↳ notice queued as {}", n.notice_queue_id);
    }
    let children: Vec<usize> = (0..msg.hops.len())
        .filter(|&c| msg.hops[c].parent == Some(i))
        .collect();
    for c in children {
        render_hop(out, msg, c, depth + 1);
    }
}

fn seconds(s: f64) -> String {
    if s < 10.0 {
        format!("{s:.2}s")
    } else {
        format!("{s:.0}s")
    }
}
