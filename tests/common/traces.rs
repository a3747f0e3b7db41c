//! Received spans grouped into traces, with the lookups the fixture tests need.

use std::collections::{BTreeMap, HashSet};

use mailtrace::trace::ids;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;

use super::otlp_receiver::ReceivedSpan;

pub struct Trace {
    pub spans: Vec<ReceivedSpan>,
}

impl Trace {
    pub fn root(&self) -> &Span {
        let roots: Vec<&ReceivedSpan> = self
            .spans
            .iter()
            .filter(|s| s.span.name == "email.delivery")
            .collect();
        assert_eq!(roots.len(), 1, "exactly one root span per trace");
        &roots[0].span
    }

    /// The hop span with this queue ID (exactly one).
    pub fn hop(&self, queue_id: &str) -> &ReceivedSpan {
        let hops: Vec<&ReceivedSpan> = self
            .spans
            .iter()
            .filter(|s| attr_str(&s.span, "email.queue_id").as_deref() == Some(queue_id))
            .filter(|s| s.span.name.starts_with("postfix ") || s.span.name.starts_with("exim "))
            .collect();
        assert_eq!(hops.len(), 1, "one hop span for queue ID {queue_id}");
        hops[0]
    }

    pub fn hops(&self) -> Vec<&ReceivedSpan> {
        self.spans
            .iter()
            .filter(|s| s.span.name.starts_with("postfix ") || s.span.name.starts_with("exim "))
            .collect()
    }

    pub fn children(&self, parent: &Span) -> Vec<&ReceivedSpan> {
        self.spans
            .iter()
            .filter(|s| s.span.parent_span_id == parent.span_id)
            .collect()
    }

    /// Every parent named in the trace exists in it, and no span ID repeats.
    pub fn assert_coherent(&self) {
        let ids: Vec<&Vec<u8>> = self.spans.iter().map(|s| &s.span.span_id).collect();
        let unique: HashSet<&Vec<u8>> = ids.iter().copied().collect();
        assert_eq!(ids.len(), unique.len(), "duplicate span IDs");
        for s in &self.spans {
            if !s.span.parent_span_id.is_empty() {
                assert!(
                    unique.contains(&s.span.parent_span_id),
                    "orphan parent in span {}",
                    s.span.name
                );
            }
        }
    }
}

/// Group by trace ID (hex).
pub fn by_trace(spans: Vec<ReceivedSpan>) -> BTreeMap<String, Trace> {
    let mut out: BTreeMap<String, Trace> = BTreeMap::new();
    for s in spans {
        out.entry(ids::hex(&s.span.trace_id))
            .or_insert_with(|| Trace { spans: Vec::new() })
            .spans
            .push(s);
    }
    out
}

pub fn trace_of<'a>(traces: &'a BTreeMap<String, Trace>, message_id: &str) -> &'a Trace {
    traces
        .get(&ids::hex(&ids::trace_id(message_id)))
        .unwrap_or_else(|| panic!("no trace for <{message_id}>"))
}

pub fn attr_str(s: &Span, key: &str) -> Option<String> {
    s.attributes.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(v) => Some(v.clone()),
            Value::IntValue(i) => Some(i.to_string()),
            Value::BoolValue(b) => Some(b.to_string()),
            _ => None,
        }
    })
}

pub fn is_error(s: &Span) -> bool {
    s.status.as_ref().is_some_and(|st| st.code == 2)
}
