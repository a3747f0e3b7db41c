//! Spans from a correlated `Message` (SPEC §4): one root `email.delivery` span, one span per
//! hop, one span per delivery transaction and one per delay stage, as OTLP protobuf.
//!
//! Pure and deterministic: the same `Message` always yields byte-identical spans (IDs from
//! `trace::ids`, no wall clock, no hash-map iteration), because Jaeger never merges two
//! versions of one span ID and the daemon may re-export a message after late lines.
//!
//! Choices the spec leaves open (documented here and in the README):
//! - Hop spans are `SERVER` when something handed the message to the host (a `client=`/`H=`
//!   or an upstream hop), else `INTERNAL` (local submission through pickup). Attempt spans are
//!   `CLIENT` when they relay over the network, else `INTERNAL` (local, virtual, lmtp socket).
//! - Span status: attempts `bounced`/`expired` → ERROR (reply text), `deferred` → ERROR
//!   (reason); `sent` stays UNSET (Jaeger shows no error, and UNSET leaves OK to operators'
//!   own processors). The root is ERROR only when the outcome is `bounced`.
//! - Every span lasts at least 1 µs, stages at least 2 µs; an attempt span starts early
//!   enough to hold its stages.

use std::borrow::Cow;
use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span};

use crate::correlate::{Hop, Message, TimedAttempt};
use crate::parse::{AttemptStatus, Mta};
use crate::trace::ids::{self, HopIds, SpanId, TraceId};
use crate::trace::view::{
    notice_kind_str, ns, Attr, EventView, LinkView, Name, SpanView, Strs, Value,
};

/// `service.name` of the root span's resource.
pub const ROOT_SERVICE: &str = "mailtrace";
/// Instrumentation scope name of every span.
pub const SCOPE_NAME: &str = "mailtrace";
/// Name of the root span.
pub const ROOT_SPAN_NAME: &str = "email.delivery";

const MICRO: u64 = 1_000;
/// Minimum length of a stage span: a zero-length span is invisible in Jaeger.
const MIN_STAGE_NS: u64 = 2 * MICRO;
/// Minimum length of every other span.
const MIN_SPAN_NS: u64 = MICRO;

/// Knobs of the span builder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelOptions {
    /// Raw log lines kept as span events per hop; the rest only counted
    /// (`dropped_events_count`).
    pub max_events_per_hop: usize,
}

impl Default for ModelOptions {
    fn default() -> Self {
        Self {
            max_events_per_hop: 100,
        }
    }
}

/// One span and the `service.name` of the resource it belongs to (the hop's host, or
/// `mailtrace` for the root).
#[derive(Debug, Clone, PartialEq)]
pub struct BuiltSpan {
    pub service: String,
    pub span: Span,
}

/// Final outcome of a message, as the root span's `email.outcome`:
/// - `bounced`: some recipient's latest attempt on some hop bounced or expired;
/// - `deferred`: otherwise, some recipient's latest attempt is a deferral (still queued);
/// - `delivered`: every latest attempt is `sent` and every final hop (no downstream hop)
///   has at least one attempt;
/// - `in_flight`: no failure, but some final hop has no delivery attempt yet;
/// - `unknown`: anything else (no hops, or only unusual statuses such as `undeliverable`).
pub fn message_outcome(msg: &Message) -> &'static str {
    let latest = latest_statuses(msg);
    let any = |f: fn(AttemptStatus) -> bool| latest.iter().any(|(_, _, s)| s.is_some_and(f));
    if any(|s| matches!(s, AttemptStatus::Bounced | AttemptStatus::Expired)) {
        return "bounced";
    }
    if any(|s| s == AttemptStatus::Deferred) {
        return "deferred";
    }
    if msg.hops.is_empty() {
        return "unknown";
    }
    let finals = final_hops(msg);
    if finals.iter().any(|&i| msg.hops[i].attempts.is_empty()) {
        return "in_flight";
    }
    if !latest.is_empty()
        && latest
            .iter()
            .all(|(_, _, s)| *s == Some(AttemptStatus::Sent))
    {
        return "delivered";
    }
    "unknown"
}

/// Latest status of every (hop index, recipient), in first-seen order.
fn latest_statuses(msg: &Message) -> Vec<(usize, &str, Option<AttemptStatus>)> {
    let mut out: Vec<(usize, &str, Option<AttemptStatus>)> = Vec::new();
    for (i, hop) in msg.hops.iter().enumerate() {
        for a in &hop.attempts {
            for r in &a.attempt.recipients {
                match out.iter_mut().find(|(h, x, _)| *h == i && *x == r.as_str()) {
                    Some(slot) => slot.2 = a.attempt.status,
                    None => out.push((i, r.as_str(), a.attempt.status)),
                }
            }
        }
    }
    out
}

/// Indices of hops no other hop names as its parent.
fn final_hops(msg: &Message) -> Vec<usize> {
    (0..msg.hops.len())
        .filter(|&i| !msg.hops.iter().any(|h| h.parent == Some(i)))
        .collect()
}

/// All spans of one message: root first, then each hop followed by its attempts and their
/// stages, in hop order.
pub fn build_spans(msg: &Message, opts: &ModelOptions) -> Vec<BuiltSpan> {
    let mut out = Vec::new();
    visit_spans(msg, opts, |v| {
        out.push(BuiltSpan {
            service: v.service.to_string(),
            span: v.to_span(),
        })
    });
    // The root comes last from `visit_spans` (when there is one); it goes first.
    if out.last().is_some_and(|b| b.span.parent_span_id.is_empty()) {
        if let Some(root) = out.pop() {
            out.insert(0, root);
        }
    }
    out
}

/// Every span of one message, as borrowed views: each hop followed by its attempts and
/// their stages, in hop order, then the root last (its times cover all the others, so it
/// is known only at the end). `build_spans` and `wire` both render these, so the model is
/// defined once.
///
/// A message re-released for late lines (some hop has `span_exported`) gets only its new
/// spans: not the root, not the spans of hops already exported (their new attempts hang
/// under them), since a collector never merges two versions of one span ID.
pub fn visit_spans<'a>(msg: &'a Message, opts: &ModelOptions, mut emit: impl FnMut(&SpanView<'a>)) {
    let trace_id = ids::trace_id(&msg.message_id);
    let root_id = ids::root_span_id(&msg.message_id);
    let notice_link = msg.notice_of.as_ref().map(LinkView::new);

    // The root covers everything below it, whatever clock skew between hosts did.
    let mut span_range: Option<(u64, u64)> = None;
    let mut scratch = Scratch::default();
    let mut emit_covered = |v: &SpanView<'a>| {
        let (s, e) = (v.start_time_unix_nano, v.end_time_unix_nano);
        span_range = Some(match span_range {
            Some((lo, hi)) => (lo.min(s), hi.max(e)),
            None => (s, e),
        });
        emit(v)
    };
    // Each hop's ID is needed for its own span and again for its children's.
    let hop_ids: Vec<SpanId> = msg
        .hops
        .iter()
        .map(|h| ids::hop_span_id(&msg.message_id, &h.host, &h.queue_id))
        .collect();
    for (i, hop) in msg.hops.iter().enumerate() {
        if hop.exported_before {
            // Sent with an earlier release; present only so late hops find their parent.
            continue;
        }
        let parent_id = match hop.parent.and_then(|p| hop_ids.get(p)) {
            Some(&p) => p,
            None => root_id,
        };
        let link = if i == 0 { notice_link } else { None };
        let hop_ctx = HopContext {
            msg,
            hop,
            trace_id,
            hop_id: hop_ids[i],
        };
        hop_ctx.visit(parent_id, link, opts, &mut scratch, &mut emit_covered);
    }

    if msg.hops.iter().any(|h| h.span_exported) {
        return;
    }
    let (start, end) = span_range.unwrap_or((0, 0));
    let end = end.max(start + MIN_SPAN_NS);

    let outcome = message_outcome(msg);
    let mut attrs = scratch.attrs(vec![Attr::str("message.id", &msg.message_id)]);
    if let Some(sender) = msg.hops.first().and_then(hop_sender) {
        attrs.push(Attr::str("email.sender", sender));
    }
    attrs.push(Attr::strs("email.recipients", root_recipients(msg)));
    attrs.push(Attr::int("email.hop_count", msg.hops.len() as i64));
    attrs.push(Attr::str("email.outcome", outcome));
    if msg.incomplete {
        attrs.push(Attr::bool("email.incomplete", true));
    }
    if let Some(o) = &msg.notice_of {
        attrs.push(Attr::str("email.notice_kind", notice_kind_str(o.kind)));
        attrs.push(Attr::str("email.notice_of", &o.message_id));
    }
    let root = SpanView {
        service: ROOT_SERVICE,
        trace_id,
        span_id: root_id,
        parent_span_id: None,
        name: Name::Plain(ROOT_SPAN_NAME),
        kind: span::SpanKind::Internal,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes: attrs,
        events: Vec::new(),
        dropped_events_count: 0,
        link: notice_link,
        error: (outcome == "bounced").then(|| Cow::Owned(bounce_summary(msg))),
    };
    emit(&root);
}

/// Vectors reused from one span to the next of a message (one allocation per message
/// instead of per span).
#[derive(Default)]
struct Scratch<'a> {
    attrs: Vec<Attr<'a>>,
    events: Vec<EventView<'a>>,
}

impl<'a> Scratch<'a> {
    /// The attribute vector, starting with `first`.
    fn attrs(&mut self, first: impl IntoIterator<Item = Attr<'a>>) -> Vec<Attr<'a>> {
        let mut v = std::mem::take(&mut self.attrs);
        v.clear();
        v.extend(first);
        v
    }

    /// Take the vectors back from an emitted span.
    fn recycle(&mut self, v: SpanView<'a>) {
        self.attrs = v.attributes;
        self.events = v.events;
    }
}

/// Hosts keep their own clocks, and spans keep the times the logs wrote (Jaeger's skew
/// adjustment is meant to be off). On one clock, the downstream queue file is created during
/// the upstream's SMTP transaction: after it connected, before it logged the 250 reply. A
/// first line outside that window means the two clocks disagree by at least the distance:
/// negative when the downstream host's clock is behind. Logs have second resolution, so a
/// second of tolerance is not skew.
fn clock_skew_ns(msg: &Message, hop: &Hop) -> Option<i64> {
    const TOLERANCE_NS: i64 = 1_000_000_000;
    let parent = msg.hops.get(hop.parent?)?;
    let handoff = parent
        .attempts
        .iter()
        .find(|a| a.attempt.next_queue_id.as_deref() == Some(hop.queue_id.as_str()))?;
    let a = &handoff.attempt;
    // Connection setup plus transmission (Postfix `delays` c/d, Exim `DT`).
    let transaction_s = a
        .delays
        .map(|d| d[2] + d[3])
        .or(a.deliver_time_s)
        .unwrap_or(0.0);
    let latest = handoff.timestamp_ns;
    let earliest = latest - (transaction_s.max(0.0) * 1e9) as i64;
    if hop.first_ns < earliest - TOLERANCE_NS {
        Some(hop.first_ns - earliest)
    } else if hop.first_ns > latest + TOLERANCE_NS {
        Some(hop.first_ns - latest)
    } else {
        None
    }
}

/// Recipients of the final hops (where the message left the logged hosts), else of all hops.
fn root_recipients(msg: &Message) -> Vec<&str> {
    fn add<'a>(out: &mut Vec<&'a str>, hop: &'a Hop) {
        for r in hop.recipients() {
            push_unique(out, r);
        }
    }
    let mut out: Vec<&str> = Vec::new();
    for i in final_hops(msg) {
        add(&mut out, &msg.hops[i]);
    }
    if out.is_empty() {
        for hop in &msg.hops {
            add(&mut out, hop);
        }
    }
    out
}

fn bounce_summary(msg: &Message) -> String {
    let bounced: Vec<&TimedAttempt> = msg
        .hops
        .iter()
        .flat_map(|h| h.attempts.iter())
        .filter(|a| {
            matches!(
                a.attempt.status,
                Some(AttemptStatus::Bounced | AttemptStatus::Expired)
            )
        })
        .collect();
    let n: usize = bounced.iter().map(|a| a.attempt.recipients.len()).sum();
    match bounced.first().and_then(|a| a.attempt.reply.as_deref()) {
        Some(reply) => format!("{n} recipient(s) bounced: {reply}"),
        None => format!("{n} recipient(s) bounced"),
    }
}

fn hop_sender(hop: &Hop) -> Option<&str> {
    hop.sender
        .as_deref()
        .or(hop.arrival.as_ref().map(|a| a.sender.as_str()))
}

/// Relay hosts that are another machine (not Postfix's local/virtual/none pseudo relays).
fn is_network_relay(host: &str) -> bool {
    !matches!(
        host,
        "" | "local" | "virtual" | "none" | "error" | "discard"
    )
}

fn push_unique<'a>(out: &mut Vec<&'a str>, s: &'a str) {
    if !out.contains(&s) {
        out.push(s);
    }
}

/// One hop being turned into spans.
struct HopContext<'a> {
    msg: &'a Message,
    hop: &'a Hop,
    trace_id: TraceId,
    hop_id: SpanId,
}

impl<'a> HopContext<'a> {
    /// The hop span, then each attempt group's span and its stage spans.
    fn visit(
        &self,
        parent_id: SpanId,
        link: Option<LinkView<'a>>,
        opts: &ModelOptions,
        scratch: &mut Scratch<'a>,
        emit: &mut impl FnMut(&SpanView<'a>),
    ) {
        let (msg, hop) = (self.msg, self.hop);
        let start = ns(hop.first_ns);
        let end = ns(hop.last_ns).max(start + MIN_SPAN_NS);
        let client = hop
            .client
            .as_deref()
            .or(hop.arrival.as_ref().and_then(|a| a.client.as_deref()));
        let size = hop.size.or(hop.arrival.as_ref().and_then(|a| a.size));

        let mut next_hosts: Vec<&str> = Vec::new();
        let mut next_qids: Vec<&str> = Vec::new();
        for a in &hop.attempts {
            if let Some(r) = a
                .attempt
                .relay
                .as_ref()
                .filter(|r| is_network_relay(&r.host))
            {
                push_unique(&mut next_hosts, &r.host);
            }
            if let Some(q) = &a.attempt.next_queue_id {
                push_unique(&mut next_qids, q);
            }
        }

        let mut attrs = scratch.attrs([
            Attr::str("server.address", &hop.host),
            Attr::str("email.queue_id", &hop.queue_id),
            Attr::str("email.mta", hop.mta.as_str()),
        ]);
        if !next_hosts.is_empty() {
            attrs.push(Attr::strs("email.next_host", next_hosts));
        }
        if !next_qids.is_empty() {
            attrs.push(Attr::strs("email.next_queue_id", next_qids));
        }
        if let Some(s) = hop_sender(hop) {
            attrs.push(Attr::str("email.sender", s));
        }
        attrs.push(Attr::strs("email.recipients", hop.recipients()));
        if let Some(n) = hop.nrcpt {
            attrs.push(Attr::int("email.nrcpt", n as i64));
        }
        if let Some(s) = size {
            attrs.push(Attr::int("email.size", s as i64));
        }
        if let Some(c) = client {
            attrs.push(Attr::str("client.address", c));
        }
        if let Some(u) = &hop.sasl_username {
            attrs.push(Attr::str("email.sasl_username", u));
        }
        attrs.push(Attr::bool("email.finished", hop.finished));
        if let Some(skew) = clock_skew_ns(msg, hop) {
            attrs.push(Attr::double("email.clock_skew_seconds", skew as f64 / 1e9));
        }
        if hop.lines_dropped > 0 {
            attrs.push(Attr::int("email.lines_dropped", hop.lines_dropped as i64));
        }
        if let Some(qt) = hop.completed_queue_time_s {
            attrs.push(Attr::double("email.queue_time_seconds", qt));
        }
        if !hop.notices.is_empty() {
            let qids = hop.notices.iter().map(|n| n.notice_queue_id.as_str());
            attrs.push(Attr::strs("email.notice_queue_ids", qids));
        }
        if !hop.rejects.is_empty() {
            // Rejections are not messages; they only explain this hop.
            let rejects = hop
                .rejects
                .iter()
                .map(|r| {
                    let parts = [r.stage.as_deref(), r.code.as_deref(), r.dsn.as_deref()];
                    parts
                        .into_iter()
                        .flatten()
                        .chain([r.reason.as_str()])
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect();
            attrs.push(Attr {
                key: "email.rejects",
                value: Value::StrList(Strs::Owned(rejects)),
            });
        }

        // Raw lines (capped) plus one event per notice, in time order (stable for ties).
        let kept = hop.lines.len().min(opts.max_events_per_hop);
        let dropped = (hop.lines.len() - kept) as u64 + hop.lines_dropped as u64;
        let mut events = std::mem::take(&mut scratch.events);
        events.clear();
        events.extend(hop.lines.iter().take(kept).map(EventView::Line));
        events.extend(hop.notices.iter().map(EventView::Notice));
        events.sort_by_key(EventView::time_unix_nano);

        let has_client = client.is_some() || hop.parent.is_some();
        let bounced = hop.attempts.iter().any(|a| {
            matches!(
                a.attempt.status,
                Some(AttemptStatus::Bounced | AttemptStatus::Expired)
            )
        });
        let hop_span = SpanView {
            service: &hop.host,
            trace_id: self.trace_id,
            span_id: self.hop_id,
            parent_span_id: Some(parent_id),
            name: Name::Pair(hop.mta.as_str(), &hop.host),
            kind: if has_client {
                span::SpanKind::Server
            } else {
                span::SpanKind::Internal
            },
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            attributes: attrs,
            events,
            dropped_events_count: u32::try_from(dropped).unwrap_or(u32::MAX),
            link,
            error: bounced.then_some(Cow::Borrowed("some recipients bounced")),
        };
        if !hop.span_exported {
            emit(&hop_span);
        }
        scratch.recycle(hop_span);

        let groups = group_attempts(&hop.attempts);
        if !groups.is_empty() {
            let ids = HopIds::new(&msg.message_id, &hop.host, &hop.queue_id);
            for group in groups {
                self.visit_attempt(&group, &ids, scratch, emit);
            }
        }
    }

    /// One attempt group's span, then its stage spans.
    fn visit_attempt(
        &self,
        group: &[&'a TimedAttempt],
        ids: &HopIds,
        scratch: &mut Scratch<'a>,
        emit: &mut impl FnMut(&SpanView<'a>),
    ) {
        let hop = self.hop;
        let first = group[0];
        let a = &first.attempt;
        let mut recipients: Vec<&str> = Vec::new();
        let mut orig_to: Vec<&str> = Vec::new();
        for t in group {
            for r in &t.attempt.recipients {
                push_unique(&mut recipients, r);
            }
            if let Some(o) = &t.attempt.orig_to {
                push_unique(&mut orig_to, o);
            }
        }
        let (attempt_id, stage_ids) = ids.attempt(first.timestamp_ns, &recipients);
        let end = ns(first.timestamp_ns);

        // Stages, laid end to end backwards from the attempt's log time.
        let mut stages: [(&'static str, f64); 4] = [("", 0.0); 4];
        let mut n = 0;
        let mut stage = |name: &'static str, secs: f64| {
            stages[n] = (name, secs);
            n += 1;
        };
        match hop.mta {
            Mta::Postfix => {
                if let Some([b, q, c, t]) = a.delays {
                    stage("before_qmgr", b);
                    stage("in_qmgr", q);
                    stage("conn_setup", c);
                    stage("transmission", t);
                }
            }
            Mta::Exim => {
                let rt = hop.arrival.as_ref().and_then(|x| x.receive_time_s);
                let dt = a.deliver_time_s;
                if let Some(rt) = rt {
                    stage("receive_time", rt);
                }
                if let Some(qt) = a.queue_time_s {
                    let own = qt - rt.unwrap_or(0.0) - dt.unwrap_or(0.0);
                    stage("queue_time", own.max(0.0));
                }
                if let Some(dt) = dt {
                    stage("deliver_time", dt);
                }
            }
        }
        let stages = &stages[..n];
        let mut windows = [(0u64, 0u64); 4];
        let mut cursor = end;
        for (i, (_, secs)) in stages.iter().enumerate().rev() {
            let dur = secs_to_ns(*secs).max(MIN_STAGE_NS);
            let s_start = cursor.saturating_sub(dur);
            windows[i] = (s_start, cursor);
            cursor = s_start;
        }

        let primary = match hop.mta {
            Mta::Postfix => a.delay_s,
            Mta::Exim => a.deliver_time_s,
        };
        let start = end
            .saturating_sub(primary.map(secs_to_ns).unwrap_or(0))
            .min(cursor)
            .min(end.saturating_sub(MIN_SPAN_NS));

        let status_word = a.status.map(AttemptStatus::as_str).unwrap_or("unknown");
        let mut attrs = scratch.attrs([
            Attr::strs("email.recipients", recipients.iter().copied()),
            Attr::str("email.status", status_word),
        ]);
        if let Some(r) = &a.relay {
            attrs.push(Attr::str("email.relay", &r.raw));
        }
        if let Some(d) = &a.dsn {
            attrs.push(Attr::str("email.dsn", d));
        }
        if let Some(r) = &a.reply {
            attrs.push(Attr::str("email.reply", r));
        }
        if let Some(q) = &a.next_queue_id {
            attrs.push(Attr::str("email.next_queue_id", q));
        }
        if !orig_to.is_empty() {
            attrs.push(Attr::strs("email.orig_to", orig_to));
        }
        if let Some(d) = a.delay_s.or(a.queue_time_s) {
            attrs.push(Attr::double("email.delay_seconds", d));
        }
        if let Some(qt) = a.queue_time_s {
            attrs.push(Attr::double("email.queue_time_seconds", qt));
        }
        if let Some(dt) = a.deliver_time_s {
            attrs.push(Attr::double("email.deliver_time_seconds", dt));
        }
        let error = match a.status {
            Some(AttemptStatus::Bounced | AttemptStatus::Expired | AttemptStatus::Deferred) => {
                Some(Cow::Borrowed(a.reply.as_deref().unwrap_or(status_word)))
            }
            _ => None,
        };
        let remote = a.relay.as_ref().is_some_and(|r| {
            is_network_relay(&r.host) && !r.addr.as_deref().is_some_and(|x| x.contains('/'))
        });
        let mut span = SpanView {
            service: &hop.host,
            trace_id: self.trace_id,
            span_id: attempt_id,
            parent_span_id: Some(self.hop_id),
            name: Name::Pair("delivery", status_word),
            kind: if remote {
                span::SpanKind::Client
            } else {
                span::SpanKind::Internal
            },
            start_time_unix_nano: start,
            end_time_unix_nano: end.max(start + MIN_SPAN_NS),
            attributes: attrs,
            events: std::mem::take(&mut scratch.events),
            dropped_events_count: 0,
            link: None,
            error,
        };
        span.events.clear();
        emit(&span);

        // The stages reuse the attempt's view: same service and trace, no events.
        for ((name, secs), (s_start, s_end)) in stages.iter().zip(windows) {
            span.span_id = stage_ids.span_id(name);
            span.parent_span_id = Some(attempt_id);
            span.name = Name::Plain(name);
            span.kind = span::SpanKind::Internal;
            span.start_time_unix_nano = s_start;
            span.end_time_unix_nano = s_end;
            span.attributes.clear();
            span.attributes
                .push(Attr::double("delay.duration_seconds", *secs));
            span.error = None;
            emit(&span);
        }
        scratch.recycle(span);
    }
}

/// Attempts logged in one SMTP/LMTP transaction: same time, relay, status, DSN, reply,
/// next-hop queue ID and delays. Grouped in first-seen order.
fn group_attempts(attempts: &[TimedAttempt]) -> Vec<Vec<&TimedAttempt>> {
    let mut groups: Vec<Vec<&TimedAttempt>> = Vec::new();
    for a in attempts.iter().filter(|a| !a.exported_before) {
        let same = |g: &&mut Vec<&TimedAttempt>| {
            let f = &g[0];
            // Numbers first: strings are compared only for attempts these cannot tell apart.
            f.timestamp_ns == a.timestamp_ns
                && f.attempt.status == a.attempt.status
                // One transaction logs the same delays for all its recipients; separate
                // local deliveries in the same second do not.
                && f.attempt.delay_s == a.attempt.delay_s
                && f.attempt.delays == a.attempt.delays
                && f.attempt.next_queue_id == a.attempt.next_queue_id
                && f.attempt.dsn == a.attempt.dsn
                && f.attempt.relay == a.attempt.relay
                && f.attempt.reply == a.attempt.reply
        };
        match groups.iter_mut().find(same) {
            Some(g) => g.push(a),
            None => groups.push(vec![a]),
        }
    }
    groups
}

/// One OTLP request: a `ResourceSpans` per service (`mailtrace` first, then hosts sorted),
/// each with one `mailtrace` scope; spans keep the order they were built in.
pub fn to_request(spans: Vec<BuiltSpan>) -> ExportTraceServiceRequest {
    let mut root: Vec<Span> = Vec::new();
    let mut by_host: BTreeMap<String, Vec<Span>> = BTreeMap::new();
    for b in spans {
        if b.service == ROOT_SERVICE {
            root.push(b.span);
        } else {
            by_host.entry(b.service).or_default().push(b.span);
        }
    }
    let mut resource_spans = Vec::with_capacity(by_host.len() + 1);
    if !root.is_empty() {
        resource_spans.push(resource_spans_for(ROOT_SERVICE, root));
    }
    for (service, spans) in by_host {
        resource_spans.push(resource_spans_for(&service, spans));
    }
    ExportTraceServiceRequest { resource_spans }
}

/// `ResourceSpans` for one `service.name`, with the `mailtrace` scope.
pub fn resource_spans_for(service: &str, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource {
            attributes: vec![Attr::str("service.name", service).to_key_value()],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            scope: Some(InstrumentationScope {
                name: SCOPE_NAME.to_string(),
                version: env!("CARGO_PKG_VERSION").to_string(),
                ..Default::default()
            }),
            spans,
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    }
}

fn secs_to_ns(s: f64) -> u64 {
    if s.is_finite() && s > 0.0 {
        (s * 1e9).round() as u64
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlate::{Notice, NoticeOrigin};
    use crate::parse::NoticeKind;
    use crate::parse::{Arrival, Attempt, Relay};
    use crate::trace::ids::AttemptIdentity;
    use opentelemetry_proto::tonic::common::v1::any_value;
    use opentelemetry_proto::tonic::trace::v1::status;
    use prost::Message as _;

    const S: i64 = 1_000_000_000;
    const T0: i64 = 1_700_000_000 * S;
    const MID: &str = "abc123@example.test";
    const EXIM_ID: &str = "1xUr1i-0004Rc-0H";

    fn relay(raw: &str, host: &str, addr: Option<&str>, port: Option<u16>) -> Option<Relay> {
        Some(Relay {
            raw: raw.into(),
            host: host.into(),
            addr: addr.map(Into::into),
            port,
        })
    }

    fn attempt(
        ts: i64,
        rcpt: &str,
        status: AttemptStatus,
        f: impl FnOnce(&mut Attempt),
    ) -> TimedAttempt {
        let mut a = Attempt {
            recipients: vec![rcpt.into()],
            status: Some(status),
            ..Default::default()
        };
        f(&mut a);
        TimedAttempt {
            timestamp_ns: ts,
            attempt: a,
            exported_before: false,
        }
    }

    fn hop(host: &str, qid: &str, mta: Mta, parent: Option<usize>, first: i64, last: i64) -> Hop {
        Hop {
            parent,
            last_ns: last,
            finished: true,
            ..Hop::new(host, qid, mta, first)
        }
    }

    /// mx-a (Postfix) relays a@ and b@ to mx-b (Postfix) in one transaction, defers c@ then
    /// relays it to mx-c (Exim); mx-b delivers a@ locally and bounces b@.
    fn sample() -> Message {
        let mut a = hop("mx-a", "B9DAF99AB54", Mta::Postfix, None, T0, T0 + 60 * S);
        a.client = Some("client.example[192.0.2.1]".into());
        a.sender = Some("alice@example.test".into());
        a.size = Some(1234);
        a.sasl_username = Some("alice".into());
        let to_b = |r: &str| {
            attempt(T0 + S, r, AttemptStatus::Sent, |x| {
                x.relay = relay("mx-b[10.0.0.2]:25", "mx-b", Some("10.0.0.2"), Some(25));
                x.delay_s = Some(0.9);
                x.delays = Some([0.1, 0.2, 0.3, 0.3]);
                x.dsn = Some("2.0.0".into());
                x.reply = Some("250 2.0.0 Ok: queued as 4jX3T01nHvz1Wjpx".into());
                x.next_queue_id = Some("4jX3T01nHvz1Wjpx".into());
            })
        };
        a.attempts.push(to_b("a@example.net"));
        a.attempts.push(to_b("b@example.net"));
        a.attempts.push(attempt(
            T0 + S,
            "c@example.org",
            AttemptStatus::Deferred,
            |x| {
                x.relay = relay("none", "none", None, None);
                x.delays = Some([0.1, 0.0, 0.0, 0.0]);
                x.delay_s = Some(0.1);
                x.dsn = Some("4.4.1".into());
                x.reply = Some("connect to mx-c[10.0.0.3]:25: Connection refused".into());
            },
        ));
        a.attempts.push(attempt(
            T0 + 59 * S,
            "c@example.org",
            AttemptStatus::Sent,
            |x| {
                x.relay = relay("mx-c[10.0.0.3]:25", "mx-c", Some("10.0.0.3"), Some(25));
                x.delays = Some([0.1, 58.0, 0.0, 0.0]);
                x.delay_s = Some(58.1);
                x.next_queue_id = Some(EXIM_ID.into());
            },
        ));
        for i in 0..5 {
            a.lines
                .push(T0 + i * S, "postfix/smtp", &format!("line {i}"));
        }
        a.lines_dropped = 2;

        let mut b = hop(
            "mx-b",
            "4jX3T01nHvz1Wjpx",
            Mta::Postfix,
            Some(0),
            T0 + S,
            T0 + 2 * S,
        );
        b.client = Some("mx-a[10.0.0.1]".into());
        b.sender = Some("alice@example.test".into());
        b.attempts.push(attempt(
            T0 + 2 * S,
            "a@example.net",
            AttemptStatus::Sent,
            |x| {
                x.relay = relay("local", "local", None, None);
                x.delays = Some([0.0, 0.0, 0.0, 0.0]);
                x.delay_s = Some(0.0);
                x.orig_to = Some("postmaster@example.net".into());
            },
        ));
        b.attempts.push(attempt(
            T0 + 2 * S,
            "b@example.net",
            AttemptStatus::Bounced,
            |x| {
                x.relay = relay("local", "local", None, None);
                x.delays = Some([0.0, 0.0, 0.0, 0.0]);
                x.dsn = Some("5.1.1".into());
                x.reply = Some("unknown user: \"b\"".into());
            },
        ));
        b.notices.push(Notice {
            timestamp_ns: T0 + 2 * S,
            kind: NoticeKind::NonDelivery,
            notice_queue_id: "7F00A1".into(),
        });

        let mut c = hop(
            "mx-c",
            EXIM_ID,
            Mta::Exim,
            Some(0),
            T0 + 59 * S,
            T0 + 63 * S,
        );
        c.arrival = Some(Box::new(Arrival {
            sender: "alice@example.test".into(),
            client: Some("(mx-a) [10.0.0.1]".into()),
            size: Some(1300),
            message_id: Some(MID.into()),
            recipients: vec!["c@example.org".into()],
            receive_time_s: Some(0.5),
        }));
        c.attempts.push(attempt(
            T0 + 62 * S,
            "c@example.org",
            AttemptStatus::Sent,
            |x| {
                x.relay = relay(
                    "mail.example.org [203.0.113.5]",
                    "mail.example.org",
                    Some("203.0.113.5"),
                    None,
                );
                x.queue_time_s = Some(3.0);
                x.deliver_time_s = Some(1.0);
            },
        ));
        c.completed_queue_time_s = Some(3.0);

        Message {
            message_id: MID.into(),
            hops: vec![a, b, c],
            incomplete: false,
            notice_of: Some(NoticeOrigin {
                kind: NoticeKind::NonDelivery,
                message_id: "orig@example.test".into(),
                host: "mx-z".into(),
                queue_id: "ABCDEF".into(),
            }),
        }
    }

    fn find<'a>(spans: &'a [BuiltSpan], id: &[u8]) -> &'a BuiltSpan {
        spans.iter().find(|b| b.span.span_id == id).expect("span")
    }

    fn attr<'a>(s: &'a Span, key: &str) -> Option<&'a any_value::Value> {
        s.attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref()?.value.as_ref())
    }

    fn attr_str(s: &Span, key: &str) -> String {
        match attr(s, key) {
            Some(any_value::Value::StringValue(v)) => v.clone(),
            other => panic!("{key}: {other:?}"),
        }
    }

    fn attr_strs(s: &Span, key: &str) -> Vec<String> {
        match attr(s, key) {
            Some(any_value::Value::ArrayValue(a)) => a
                .values
                .iter()
                .map(|v| match &v.value {
                    Some(any_value::Value::StringValue(s)) => s.clone(),
                    other => panic!("{other:?}"),
                })
                .collect(),
            other => panic!("{key}: {other:?}"),
        }
    }

    fn hop_id(host: &str, qid: &str) -> Vec<u8> {
        ids::hop_span_id(MID, host, qid).to_vec()
    }

    fn attempt_id(host: &str, qid: &str, ts: i64, rcpts: &[&str]) -> AttemptIdentity<'static> {
        let recipients: Vec<String> = rcpts.iter().map(|s| s.to_string()).collect();
        AttemptIdentity {
            message_id: MID,
            host: host.to_string().leak(),
            queue_id: qid.to_string().leak(),
            timestamp_ns: ts,
            recipients: recipients.leak(),
        }
    }

    #[test]
    fn span_tree_counts_and_parents() {
        let msg = sample();
        let spans = build_spans(&msg, &ModelOptions::default());
        // root + 3 hops + mx-a 3 attempts × 4 stages + mx-b 2 × 4 + mx-c 1 × 3
        assert_eq!(spans.len(), 1 + 3 + (3 + 12) + (2 + 8) + (1 + 3));
        let tid = ids::trace_id(MID).to_vec();
        assert!(spans.iter().all(|b| b.span.trace_id == tid));
        let mut ids_seen: Vec<&Vec<u8>> = spans.iter().map(|b| &b.span.span_id).collect();
        ids_seen.sort();
        ids_seen.dedup();
        assert_eq!(ids_seen.len(), spans.len(), "span IDs are unique");

        let root = &spans[0];
        assert_eq!(root.service, "mailtrace");
        assert_eq!(root.span.name, "email.delivery");
        assert!(root.span.parent_span_id.is_empty());
        assert_eq!(root.span.span_id, ids::root_span_id(MID).to_vec());
        assert_eq!(attr_str(&root.span, "email.outcome"), "bounced");
        assert_eq!(attr_str(&root.span, "email.sender"), "alice@example.test");
        assert_eq!(
            attr_strs(&root.span, "email.recipients"),
            ["a@example.net", "b@example.net", "c@example.org"]
        );
        assert_eq!(
            attr(&root.span, "email.hop_count"),
            Some(&any_value::Value::IntValue(3))
        );
        assert!(attr(&root.span, "email.incomplete").is_none());
        assert_eq!(
            root.span.status.as_ref().unwrap().code,
            status::StatusCode::Error as i32
        );
        // The root covers every span, including stages that start before their hop's first line.
        assert!(spans.iter().all(|b| b.span.start_time_unix_nano
            >= root.span.start_time_unix_nano
            && b.span.end_time_unix_nano <= root.span.end_time_unix_nano));

        let a = find(&spans, &hop_id("mx-a", "B9DAF99AB54"));
        let b = find(&spans, &hop_id("mx-b", "4jX3T01nHvz1Wjpx"));
        let c = find(&spans, &hop_id("mx-c", EXIM_ID));
        assert_eq!(a.span.parent_span_id, root.span.span_id);
        assert_eq!(b.span.parent_span_id, a.span.span_id);
        assert_eq!(c.span.parent_span_id, a.span.span_id);
        assert_eq!((a.service.as_str(), b.service.as_str()), ("mx-a", "mx-b"));
        assert_eq!(a.span.name, "postfix mx-a");
        assert_eq!(c.span.name, "exim mx-c");
        assert_eq!(a.span.kind, span::SpanKind::Server as i32);
        assert_eq!(attr_strs(&a.span, "email.next_host"), ["mx-b", "mx-c"]);
        assert_eq!(attr_str(&a.span, "email.sasl_username"), "alice");
        assert_eq!(attr_str(&c.span, "client.address"), "(mx-a) [10.0.0.1]");
        assert_eq!(
            attr(&c.span, "email.size"),
            Some(&any_value::Value::IntValue(1300))
        );
        // Events: the 5 kept lines; the 2 the correlator dropped are counted.
        assert_eq!(a.span.events.len(), 5);
        assert_eq!(a.span.events[0].name, "postfix/smtp");
        assert_eq!(a.span.dropped_events_count, 2);
        assert_eq!(
            attr(&a.span, "email.lines_dropped"),
            Some(&any_value::Value::IntValue(2))
        );
        // The bounce-causing hop names the notice queue ID.
        assert_eq!(attr_strs(&b.span, "email.notice_queue_ids"), ["7F00A1"]);
        assert!(b.span.events.iter().any(|e| e.name == "email.notice"));

        // Every non-root, non-hop span hangs under a span of its own host.
        for s in &spans[1..] {
            let parent = spans
                .iter()
                .find(|p| p.span.span_id == s.span.parent_span_id);
            let parent = parent.expect("parent exists");
            if parent.service != "mailtrace" && !s.span.name.contains(' ') {
                assert_eq!(parent.service, s.service);
            }
        }
    }

    #[test]
    fn attempts_grouped_with_statuses() {
        let spans = build_spans(&sample(), &ModelOptions::default());
        let id = attempt_id(
            "mx-a",
            "B9DAF99AB54",
            T0 + S,
            &["a@example.net", "b@example.net"],
        );
        let sent = find(&spans, &id.span_id());
        assert_eq!(sent.span.name, "delivery sent");
        assert_eq!(sent.span.kind, span::SpanKind::Client as i32);
        assert_eq!(sent.span.parent_span_id, hop_id("mx-a", "B9DAF99AB54"));
        assert!(sent.span.status.is_none());
        assert_eq!(
            attr_str(&sent.span, "email.next_queue_id"),
            "4jX3T01nHvz1Wjpx"
        );
        assert_eq!(attr_str(&sent.span, "email.relay"), "mx-b[10.0.0.2]:25");
        assert_eq!(sent.span.end_time_unix_nano, (T0 + S) as u64);
        assert_eq!(
            sent.span.start_time_unix_nano,
            (T0 + S) as u64 - 900_000_000
        );

        let deferred = find(
            &spans,
            &attempt_id("mx-a", "B9DAF99AB54", T0 + S, &["c@example.org"]).span_id(),
        );
        let st = deferred.span.status.as_ref().unwrap();
        assert_eq!(st.code, status::StatusCode::Error as i32);
        assert!(st.message.contains("Connection refused"));
        assert_eq!(deferred.span.name, "delivery deferred");

        let bounced = find(
            &spans,
            &attempt_id("mx-b", "4jX3T01nHvz1Wjpx", T0 + 2 * S, &["b@example.net"]).span_id(),
        );
        let st = bounced.span.status.as_ref().unwrap();
        assert_eq!(st.code, status::StatusCode::Error as i32);
        assert_eq!(st.message, "unknown user: \"b\"");
        assert_eq!(attr_str(&bounced.span, "email.dsn"), "5.1.1");
        assert_eq!(bounced.span.kind, span::SpanKind::Internal as i32);
        let local = find(
            &spans,
            &attempt_id("mx-b", "4jX3T01nHvz1Wjpx", T0 + 2 * S, &["a@example.net"]).span_id(),
        );
        assert_eq!(
            attr_strs(&local.span, "email.orig_to"),
            ["postmaster@example.net"]
        );
    }

    #[test]
    fn postfix_stages_end_to_end_with_minimum_length() {
        let spans = build_spans(&sample(), &ModelOptions::default());
        let id = attempt_id(
            "mx-a",
            "B9DAF99AB54",
            T0 + S,
            &["a@example.net", "b@example.net"],
        );
        let names = ["before_qmgr", "in_qmgr", "conn_setup", "transmission"];
        let stages: Vec<&Span> = names
            .iter()
            .map(|n| &find(&spans, &id.stage_span_id(n)).span)
            .collect();
        let end = (T0 + S) as u64;
        assert_eq!(stages[3].end_time_unix_nano, end);
        assert_eq!(stages[3].start_time_unix_nano, end - 300_000_000);
        assert_eq!(stages[2].end_time_unix_nano, stages[3].start_time_unix_nano);
        assert_eq!(stages[1].end_time_unix_nano, stages[2].start_time_unix_nano);
        assert_eq!(stages[0].end_time_unix_nano, stages[1].start_time_unix_nano);
        assert_eq!(stages[0].start_time_unix_nano, end - 900_000_000);
        assert_eq!(
            attr(stages[1], "delay.duration_seconds"),
            Some(&any_value::Value::DoubleValue(0.2))
        );
        for (s, n) in stages.iter().zip(names) {
            assert_eq!(s.name, n);
            assert_eq!(s.parent_span_id, id.span_id());
        }

        // All-zero delays: every stage still lasts 2 µs, and the attempt holds them.
        let id = attempt_id("mx-b", "4jX3T01nHvz1Wjpx", T0 + 2 * S, &["a@example.net"]);
        let attempt = &find(&spans, &id.span_id()).span;
        for n in names {
            let s = &find(&spans, &id.stage_span_id(n)).span;
            assert_eq!(s.end_time_unix_nano - s.start_time_unix_nano, 2_000);
            assert!(s.start_time_unix_nano >= attempt.start_time_unix_nano);
            assert!(s.end_time_unix_nano <= attempt.end_time_unix_nano);
        }
        assert!(spans
            .iter()
            .all(|b| b.span.end_time_unix_nano > b.span.start_time_unix_nano));
    }

    #[test]
    fn exim_stages_from_rt_qt_dt() {
        let spans = build_spans(&sample(), &ModelOptions::default());
        let id = attempt_id("mx-c", EXIM_ID, T0 + 62 * S, &["c@example.org"]);
        let end = (T0 + 62 * S) as u64;
        let dt = &find(&spans, &id.stage_span_id("deliver_time")).span;
        let qt = &find(&spans, &id.stage_span_id("queue_time")).span;
        let rt = &find(&spans, &id.stage_span_id("receive_time")).span;
        assert_eq!(
            (dt.start_time_unix_nano, dt.end_time_unix_nano),
            (end - S as u64, end)
        );
        // queue_time = QT − RT − DT = 3 − 0.5 − 1
        assert_eq!(
            qt.end_time_unix_nano - qt.start_time_unix_nano,
            1_500_000_000
        );
        assert_eq!(qt.end_time_unix_nano, dt.start_time_unix_nano);
        assert_eq!(rt.end_time_unix_nano, qt.start_time_unix_nano);
        assert_eq!(
            attr(qt, "delay.duration_seconds"),
            Some(&any_value::Value::DoubleValue(1.5))
        );
        let attempt = &find(&spans, &id.span_id()).span;
        assert_eq!(attempt.start_time_unix_nano, rt.start_time_unix_nano);
        assert_eq!(attempt.kind, span::SpanKind::Client as i32);
    }

    #[test]
    fn notice_link_targets_the_origin_hop() {
        let spans = build_spans(&sample(), &ModelOptions::default());
        let expect_trace = ids::trace_id("orig@example.test").to_vec();
        let expect_span = ids::hop_span_id("orig@example.test", "mx-z", "ABCDEF").to_vec();
        for s in [
            &spans[0].span,
            &find(&spans, &hop_id("mx-a", "B9DAF99AB54")).span,
        ] {
            assert_eq!(s.links.len(), 1);
            let l = &s.links[0];
            assert_eq!((&l.trace_id, &l.span_id), (&expect_trace, &expect_span));
            assert_eq!(
                l.attributes[0].value.as_ref().unwrap().value,
                Some(any_value::Value::StringValue("bounce_of".into()))
            );
        }
        assert!(find(&spans, &hop_id("mx-b", "4jX3T01nHvz1Wjpx"))
            .span
            .links
            .is_empty());
    }

    #[test]
    fn deterministic_and_grouped_per_host() {
        let msg = sample();
        let encode = || to_request(build_spans(&msg, &ModelOptions::default())).encode_to_vec();
        assert_eq!(encode(), encode());

        let req = to_request(build_spans(&msg, &ModelOptions::default()));
        let services: Vec<String> = req
            .resource_spans
            .iter()
            .map(|rs| {
                match &rs.resource.as_ref().unwrap().attributes[0]
                    .value
                    .as_ref()
                    .unwrap()
                    .value
                {
                    Some(any_value::Value::StringValue(s)) => s.clone(),
                    _ => panic!(),
                }
            })
            .collect();
        assert_eq!(services, ["mailtrace", "mx-a", "mx-b", "mx-c"]);
        let counts: Vec<usize> = req
            .resource_spans
            .iter()
            .map(|r| r.scope_spans[0].spans.len())
            .collect();
        assert_eq!(counts, [1, 16, 11, 5]);
        let scope = req.resource_spans[1].scope_spans[0].scope.as_ref().unwrap();
        assert_eq!(scope.name, "mailtrace");
        assert_eq!(scope.version, env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn event_cap_and_outcomes() {
        let mut msg = sample();
        let spans = build_spans(
            &msg,
            &ModelOptions {
                max_events_per_hop: 3,
            },
        );
        let a = find(&spans, &hop_id("mx-a", "B9DAF99AB54"));
        assert_eq!(a.span.events.len(), 3);
        assert_eq!(a.span.dropped_events_count, 2 + 2);

        // Without the bounce: delivered.
        msg.hops[1]
            .attempts
            .retain(|t| t.attempt.status == Some(AttemptStatus::Sent));
        assert_eq!(message_outcome(&msg), "delivered");
        let root = &build_spans(&msg, &ModelOptions::default())[0];
        assert!(root.span.status.is_none());
        // A final hop that has not delivered yet: in flight.
        msg.hops[2].attempts.clear();
        assert_eq!(message_outcome(&msg), "in_flight");
        // Latest state deferred wins over in-flight.
        msg.hops[0].attempts.pop();
        assert_eq!(message_outcome(&msg), "deferred");
        msg.incomplete = true;
        let root = &build_spans(&msg, &ModelOptions::default())[0];
        assert_eq!(
            attr(&root.span, "email.incomplete"),
            Some(&any_value::Value::BoolValue(true))
        );
        let empty = Message {
            message_id: "x".into(),
            hops: Vec::new(),
            incomplete: false,
            notice_of: None,
        };
        assert_eq!(message_outcome(&empty), "unknown");
        assert_eq!(build_spans(&empty, &ModelOptions::default()).len(), 1);
    }
}
