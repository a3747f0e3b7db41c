//! Borrowed spans: what `model` decides a span holds, before it becomes prost structs
//! (`SpanView::to_span`, for JSON, console, tests) or protobuf bytes (`wire`, for export).
//! One definition of the trace model, two renderings that must agree byte for byte.
//!
//! Views borrow the correlated `Message` instead of copying its strings: building the
//! owned prost structs (and dropping them) was most of the cost of exporting.

use std::borrow::Cow;

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, ArrayValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{span, status, Span, Status};

use crate::correlate::{LineView, Notice, NoticeOrigin};
use crate::parse::NoticeKind;
use crate::trace::ids::{self, SpanId, TraceId};

/// An attribute value: the few OTLP `AnyValue` kinds the model uses.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    Bool(bool),
    Double(f64),
    /// An `ArrayValue` of strings.
    StrList(Strs<'a>),
}

/// Strings of an `ArrayValue`: borrowed from the message (recipients, hosts, queue IDs;
/// a list of them is made once, in the vector it was gathered in), or made for the span.
#[derive(Debug, Clone, PartialEq)]
pub enum Strs<'a> {
    Borrowed(Vec<&'a str>),
    Owned(Vec<String>),
}

impl Strs<'_> {
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        let (borrowed, owned): (&[&str], &[String]) = match self {
            Strs::Borrowed(v) => (v, &[]),
            Strs::Owned(v) => (&[], v),
        };
        borrowed
            .iter()
            .copied()
            .chain(owned.iter().map(String::as_str))
    }
}

/// One span attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct Attr<'a> {
    pub key: &'static str,
    pub value: Value<'a>,
}

impl<'a> Attr<'a> {
    pub fn str(key: &'static str, v: &'a str) -> Self {
        Attr {
            key,
            value: Value::Str(Cow::Borrowed(v)),
        }
    }

    pub fn string(key: &'static str, v: String) -> Self {
        Attr {
            key,
            value: Value::Str(Cow::Owned(v)),
        }
    }

    pub fn int(key: &'static str, v: i64) -> Self {
        Attr {
            key,
            value: Value::Int(v),
        }
    }

    pub fn bool(key: &'static str, v: bool) -> Self {
        Attr {
            key,
            value: Value::Bool(v),
        }
    }

    pub fn double(key: &'static str, v: f64) -> Self {
        Attr {
            key,
            value: Value::Double(v),
        }
    }

    pub fn strs(key: &'static str, v: impl IntoIterator<Item = &'a str>) -> Self {
        Attr {
            key,
            // A `Vec<&str>` is taken as it is (collected in place).
            value: Value::StrList(Strs::Borrowed(v.into_iter().collect())),
        }
    }

    pub fn to_key_value(&self) -> KeyValue {
        let value = match &self.value {
            Value::Str(s) => any_value::Value::StringValue(s.to_string()),
            Value::Int(v) => any_value::Value::IntValue(*v),
            Value::Bool(v) => any_value::Value::BoolValue(*v),
            Value::Double(v) => any_value::Value::DoubleValue(*v),
            Value::StrList(list) => any_value::Value::ArrayValue(ArrayValue {
                values: list
                    .iter()
                    .map(|s| AnyValue {
                        value: Some(any_value::Value::StringValue(s.to_string())),
                    })
                    .collect(),
            }),
        };
        KeyValue {
            key: self.key.to_string(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        }
    }
}

/// A span name: one piece, or two joined by a space (`postfix mx-a`, `delivery sent`),
/// so names need no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Name<'a> {
    Plain(&'a str),
    Pair(&'a str, &'a str),
}

impl Name<'_> {
    pub fn len(&self) -> usize {
        match self {
            Name::Plain(s) => s.len(),
            Name::Pair(a, b) => a.len() + 1 + b.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name's bytes, in up to three pieces.
    pub fn pieces(&self) -> [&str; 3] {
        match *self {
            Name::Plain(s) => [s, "", ""],
            Name::Pair(a, b) => [a, " ", b],
        }
    }
}

impl std::fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.pieces().iter().try_for_each(|p| f.write_str(p))
    }
}

/// A span event: a raw log line, or a notice (bounce/DSN) the hop caused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EventView<'a> {
    Line(LineView<'a>),
    Notice(&'a Notice),
}

impl<'a> EventView<'a> {
    pub fn time_unix_nano(&self) -> u64 {
        ns(match self {
            EventView::Line(l) => l.timestamp_ns,
            EventView::Notice(n) => n.timestamp_ns,
        })
    }

    pub fn name(&self) -> &'a str {
        match self {
            EventView::Line(l) => l.service,
            EventView::Notice(_) => "email.notice",
        }
    }

    pub fn attributes(&self) -> impl Iterator<Item = Attr<'a>> {
        let (first, second) = match *self {
            EventView::Line(l) => (Attr::str("log.line", l.text), None),
            EventView::Notice(n) => (
                Attr::str("email.notice_kind", notice_kind_str(n.kind)),
                Some(Attr::str("email.notice_queue_id", &n.notice_queue_id)),
            ),
        };
        std::iter::once(first).chain(second)
    }

    pub fn to_event(&self) -> span::Event {
        span::Event {
            time_unix_nano: self.time_unix_nano(),
            name: self.name().to_string(),
            attributes: self.attributes().map(|a| a.to_key_value()).collect(),
            dropped_attributes_count: 0,
        }
    }
}

/// The link of a notice message (bounce, DSN) to the hop of the message it is about.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkView<'a> {
    pub origin: &'a NoticeOrigin,
    pub trace_id: TraceId,
    pub span_id: SpanId,
}

impl<'a> LinkView<'a> {
    pub fn new(origin: &'a NoticeOrigin) -> Self {
        LinkView {
            origin,
            trace_id: ids::trace_id(&origin.message_id),
            span_id: ids::hop_span_id(&origin.message_id, &origin.host, &origin.queue_id),
        }
    }

    pub fn attributes(&self) -> [Attr<'a>; 4] {
        let o = self.origin;
        [
            Attr::str("link.type", link_type(o.kind)),
            Attr::str("message.id", &o.message_id),
            Attr::str("email.queue_id", &o.queue_id),
            Attr::str("server.address", &o.host),
        ]
    }

    pub fn to_link(&self) -> span::Link {
        span::Link {
            trace_id: self.trace_id.to_vec(),
            span_id: self.span_id.to_vec(),
            attributes: self.attributes().iter().map(Attr::to_key_value).collect(),
            ..Default::default()
        }
    }
}

/// One span, borrowing its strings from the message it was built from.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanView<'a> {
    /// `service.name` of the resource the span belongs to.
    pub service: &'a str,
    pub trace_id: TraceId,
    pub span_id: SpanId,
    /// `None` for the root.
    pub parent_span_id: Option<SpanId>,
    pub name: Name<'a>,
    pub kind: span::SpanKind,
    pub start_time_unix_nano: u64,
    pub end_time_unix_nano: u64,
    pub attributes: Vec<Attr<'a>>,
    pub events: Vec<EventView<'a>>,
    pub dropped_events_count: u32,
    pub link: Option<LinkView<'a>>,
    /// `Some(message)`: status ERROR with that message; `None`: UNSET.
    pub error: Option<Cow<'a, str>>,
}

impl SpanView<'_> {
    pub fn to_span(&self) -> Span {
        Span {
            trace_id: self.trace_id.to_vec(),
            span_id: self.span_id.to_vec(),
            parent_span_id: self.parent_span_id.map(|p| p.to_vec()).unwrap_or_default(),
            name: self.name.to_string(),
            kind: self.kind as i32,
            start_time_unix_nano: self.start_time_unix_nano,
            end_time_unix_nano: self.end_time_unix_nano,
            attributes: self.attributes.iter().map(Attr::to_key_value).collect(),
            events: self.events.iter().map(EventView::to_event).collect(),
            dropped_events_count: self.dropped_events_count,
            links: self.link.iter().map(LinkView::to_link).collect(),
            status: self.error.as_ref().map(|m| Status {
                message: m.to_string(),
                code: status::StatusCode::Error as i32,
            }),
            ..Default::default()
        }
    }
}

/// Log times are i64 ns (may be negative for absurd inputs); OTLP wants u64.
pub fn ns(t: i64) -> u64 {
    t.max(0) as u64
}

pub fn link_type(kind: NoticeKind) -> &'static str {
    match kind {
        NoticeKind::NonDelivery => "bounce_of",
        NoticeKind::Delay => "delay_notice_of",
        NoticeKind::Success => "success_notice_of",
        NoticeKind::Other => "notice_of",
    }
}

pub fn notice_kind_str(kind: NoticeKind) -> &'static str {
    match kind {
        NoticeKind::NonDelivery => "non_delivery",
        NoticeKind::Delay => "delay",
        NoticeKind::Success => "success",
        NoticeKind::Other => "other",
    }
}
