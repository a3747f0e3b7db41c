//! OTLP-JSON lines: the format the OpenTelemetry Collector's `file` exporter writes (and its
//! `otlpjsonfile` receiver reads) — one `{"resourceSpans":[…]}` object per line, IDs as
//! lowercase hex, 64-bit integers (`*UnixNano`, `intValue`) as decimal strings, enums as
//! integers, camelCase keys.
//!
//! opentelemetry-proto's serde derive already gets IDs, integers and enums right; it also
//! writes every default field (`"parentSpanId":""`, `"droppedEventsCount":0`, …), which the
//! collector omits. We prune those so lines match the collector's and stay small, but never
//! inside an `AnyValue`, where `{"stringValue":""}` (the null sender) or `{"intValue":"0"}`
//! is data. Keys come out sorted (serde_json's map), which JSON readers ignore.

use std::io::{self, Write};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use serde_json::Value;

/// Writes one OTLP-JSON object per request, one per line.
#[derive(Debug)]
pub struct JsonLinesWriter<W: Write> {
    out: W,
}

impl<W: Write> JsonLinesWriter<W> {
    pub fn new(out: W) -> Self {
        Self { out }
    }

    /// Append one request as one line.
    pub fn write(&mut self, req: &ExportTraceServiceRequest) -> io::Result<()> {
        let line = to_json_line(req)?;
        self.out.write_all(line.as_bytes())?;
        self.out.write_all(b"\n")
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// One request as a single line of OTLP-JSON (no trailing newline).
pub fn to_json_line(req: &ExportTraceServiceRequest) -> io::Result<String> {
    let mut value = serde_json::to_value(req).map_err(io::Error::other)?;
    prune_defaults(&mut value);
    // An empty request still has to be a valid OTLP-JSON object.
    if let Value::Object(map) = &mut value {
        map.entry("resourceSpans")
            .or_insert_with(|| Value::Array(Vec::new()));
    }
    serde_json::to_string(&value).map_err(io::Error::other)
}

/// The `AnyValue` variants: their values are data even when they look like defaults.
const ANY_VALUE_KEYS: &[&str] = &[
    "stringValue",
    "boolValue",
    "intValue",
    "doubleValue",
    "arrayValue",
    "kvlistValue",
    "bytesValue",
];

/// Remove proto3 default fields the way the collector's marshaler omits them.
fn prune_defaults(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.retain(|key, child| {
                if ANY_VALUE_KEYS.contains(&key.as_str()) {
                    prune_any_value(child);
                    return true;
                }
                prune_defaults(child);
                !is_default(key, child)
            });
        }
        Value::Array(items) => items.iter_mut().for_each(prune_defaults),
        _ => {}
    }
}

/// Inside an AnyValue, only nested arrays/kvlists hold structures to prune.
fn prune_any_value(v: &mut Value) {
    if let Value::Object(map) = v {
        if let Some(Value::Array(values)) = map.get_mut("values") {
            values.iter_mut().for_each(prune_defaults);
        }
    }
}

fn is_default(key: &str, v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty() || (key.ends_with("UnixNano") && s == "0"),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::model::resource_spans_for;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
    use opentelemetry_proto::tonic::trace::v1::{span, Span, Status};

    fn kv(key: &str, v: any_value::Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(v) }),
            ..Default::default()
        }
    }

    fn sample() -> ExportTraceServiceRequest {
        let root = Span {
            trace_id: crate::trace::ids::trace_id("m@x").to_vec(),
            span_id: crate::trace::ids::root_span_id("m@x").to_vec(),
            name: "email.delivery".into(),
            kind: span::SpanKind::Internal as i32,
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_001_000_000_000,
            attributes: vec![
                kv("email.sender", any_value::Value::StringValue(String::new())),
                kv("email.hop_count", any_value::Value::IntValue(0)),
                kv("email.incomplete", any_value::Value::BoolValue(false)),
                kv("delay", any_value::Value::DoubleValue(0.25)),
            ],
            status: Some(Status {
                message: "bounced".into(),
                code: 2,
            }),
            ..Default::default()
        };
        let child = Span {
            trace_id: root.trace_id.clone(),
            span_id: vec![0, 0, 0, 0, 0, 0, 0, 7],
            parent_span_id: root.span_id.clone(),
            name: "postfix mx-a".into(),
            kind: span::SpanKind::Server as i32,
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_000_500_000_000,
            events: vec![span::Event {
                time_unix_nano: 1_700_000_000_100_000_000,
                name: "postfix/smtp".into(),
                attributes: vec![kv("log.line", any_value::Value::StringValue("x".into()))],
                dropped_attributes_count: 0,
            }],
            ..Default::default()
        };
        ExportTraceServiceRequest {
            resource_spans: vec![
                resource_spans_for("mailtrace", vec![root]),
                resource_spans_for("mx-a", vec![child]),
            ],
        }
    }

    #[test]
    fn writes_collector_file_format_and_round_trips() {
        let req = sample();
        let mut w = JsonLinesWriter::new(Vec::new());
        w.write(&req).unwrap();
        w.write(&req).unwrap();
        w.flush().unwrap();
        let text = String::from_utf8(w.into_inner()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(text.ends_with('\n'));

        let v: Value = serde_json::from_str(lines[0]).unwrap();
        let span = &v["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        let trace_id = span["traceId"].as_str().unwrap();
        assert_eq!(trace_id.len(), 32);
        assert!(trace_id
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(span["spanId"].as_str().unwrap().len(), 16);
        assert_eq!(span["startTimeUnixNano"], "1700000000000000000");
        assert_eq!(span["kind"], 1);
        assert_eq!(span["status"]["code"], 2);
        // Defaults pruned, but AnyValue data kept even when it looks like a default.
        assert!(span.get("parentSpanId").is_none());
        assert!(span.get("droppedEventsCount").is_none());
        assert!(span.get("traceState").is_none());
        let attrs = span["attributes"].as_array().unwrap();
        assert_eq!(attrs[0]["value"], serde_json::json!({"stringValue": ""}));
        assert_eq!(attrs[1]["value"], serde_json::json!({"intValue": "0"}));
        assert_eq!(attrs[2]["value"], serde_json::json!({"boolValue": false}));
        assert_eq!(attrs[3]["value"], serde_json::json!({"doubleValue": 0.25}));
        let child = &v["resourceSpans"][1]["scopeSpans"][0]["spans"][0];
        assert_eq!(child["parentSpanId"], span["spanId"]);
        assert_eq!(child["events"][0]["timeUnixNano"], "1700000000100000000");
        assert_eq!(
            v["resourceSpans"][1]["resource"]["attributes"][0]["value"]["stringValue"],
            "mx-a"
        );

        let back: ExportTraceServiceRequest = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(back, req);
    }

    #[test]
    fn empty_request_is_valid() {
        let line = to_json_line(&ExportTraceServiceRequest::default()).unwrap();
        assert_eq!(line, r#"{"resourceSpans":[]}"#);
    }
}
