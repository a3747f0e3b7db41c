//! OTLP-JSON lines: the format the OpenTelemetry Collector's `file` exporter writes (and its
//! `otlpjsonfile` receiver reads) — one `{"resourceSpans":[…]}` object per line, IDs as
//! lowercase hex, 64-bit integers (`*UnixNano`, `intValue`) as decimal strings, enums as
//! integers, camelCase keys.
//!
//! Each line is written straight from the prost structs into a buffer reused across lines.
//! This module used to build a `serde_json::Value` with opentelemetry-proto's serde derive,
//! prune it and serialize it; that took ~70% of the instructions of `replay -o FILE`, and
//! writing directly costs a sixth of it. The bytes are the same — a test keeps the tree-based
//! writer as an oracle and checks the two agree byte for byte:
//! - default fields are left out (`"parentSpanId":""`, `"droppedEventsCount":0`, an unset
//!   `status`, …), as the collector omits them, so lines match its own and stay small;
//! - but never inside an `AnyValue`, where `{"stringValue":""}` (the null sender) or
//!   `{"intValue":"0"}` is data;
//! - keys come in byte order, as the tree's `BTreeMap` sorted them (JSON readers ignore it);
//! - strings, numbers and floats (non-finite ones as `null`) go through serde_json, so
//!   escaping and formatting are its own.

use std::io::{self, Write};

use base64::Engine as _;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, EntityRef, InstrumentationScope, KeyValue,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};
use serde::Serialize;

/// Writes one OTLP-JSON object per request, one per line.
#[derive(Debug)]
pub struct JsonLinesWriter<W: Write> {
    out: W,
    /// The line being written, kept to reuse its allocation.
    line: Vec<u8>,
}

impl<W: Write> JsonLinesWriter<W> {
    pub fn new(out: W) -> Self {
        Self {
            out,
            line: Vec::new(),
        }
    }

    /// Append one request as one line.
    pub fn write(&mut self, req: &ExportTraceServiceRequest) -> io::Result<()> {
        self.line.clear();
        write_json_line(req, &mut self.line)?;
        self.line.push(b'\n');
        self.out.write_all(&self.line)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Append one request to `out` as a single line of OTLP-JSON (no trailing newline).
/// Writing to memory cannot fail; the `Result` only carries serde_json's signature.
pub fn write_json_line(req: &ExportTraceServiceRequest, out: &mut Vec<u8>) -> io::Result<()> {
    let mut o = Object::open(out);
    // Kept even when empty: an empty request is still `{"resourceSpans":[]}`.
    write_array(
        o.key("resourceSpans"),
        &req.resource_spans,
        resource_spans_fields,
    )?;
    o.close();
    Ok(())
}

// One function per message, writing its fields in the byte order of their JSON keys.

fn resource_spans_fields(o: &mut Object, rs: &ResourceSpans) -> io::Result<()> {
    if let Some(r) = &rs.resource {
        o.object("resource", |o| resource_fields(o, r))?;
    }
    o.str("schemaUrl", &rs.schema_url)?;
    o.objects("scopeSpans", &rs.scope_spans, scope_spans_fields)
}

fn resource_fields(o: &mut Object, r: &Resource) -> io::Result<()> {
    o.objects("attributes", &r.attributes, key_value_fields)?;
    o.number("droppedAttributesCount", r.dropped_attributes_count)?;
    o.objects("entityRefs", &r.entity_refs, entity_ref_fields)
}

fn entity_ref_fields(o: &mut Object, e: &EntityRef) -> io::Result<()> {
    o.strings("descriptionKeys", &e.description_keys)?;
    o.strings("idKeys", &e.id_keys)?;
    o.str("schemaUrl", &e.schema_url)?;
    o.str("type", &e.r#type)
}

fn scope_spans_fields(o: &mut Object, ss: &ScopeSpans) -> io::Result<()> {
    o.str("schemaUrl", &ss.schema_url)?;
    if let Some(s) = &ss.scope {
        o.object("scope", |o| scope_fields(o, s))?;
    }
    o.objects("spans", &ss.spans, span_fields)
}

fn scope_fields(o: &mut Object, s: &InstrumentationScope) -> io::Result<()> {
    o.objects("attributes", &s.attributes, key_value_fields)?;
    o.number("droppedAttributesCount", s.dropped_attributes_count)?;
    o.str("name", &s.name)?;
    o.str("version", &s.version)
}

fn span_fields(o: &mut Object, s: &Span) -> io::Result<()> {
    o.objects("attributes", &s.attributes, key_value_fields)?;
    o.number("droppedAttributesCount", s.dropped_attributes_count)?;
    o.number("droppedEventsCount", s.dropped_events_count)?;
    o.number("droppedLinksCount", s.dropped_links_count)?;
    o.nanos("endTimeUnixNano", s.end_time_unix_nano)?;
    o.objects("events", &s.events, event_fields)?;
    o.number("flags", s.flags)?;
    o.number("kind", s.kind)?;
    o.objects("links", &s.links, link_fields)?;
    o.str("name", &s.name)?;
    o.hex("parentSpanId", &s.parent_span_id);
    o.hex("spanId", &s.span_id);
    o.nanos("startTimeUnixNano", s.start_time_unix_nano)?;
    if let Some(st) = &s.status {
        o.object("status", |o| status_fields(o, st))?;
    }
    o.hex("traceId", &s.trace_id);
    o.str("traceState", &s.trace_state)
}

fn event_fields(o: &mut Object, e: &span::Event) -> io::Result<()> {
    o.objects("attributes", &e.attributes, key_value_fields)?;
    o.number("droppedAttributesCount", e.dropped_attributes_count)?;
    o.str("name", &e.name)?;
    o.nanos("timeUnixNano", e.time_unix_nano)
}

fn link_fields(o: &mut Object, l: &span::Link) -> io::Result<()> {
    o.objects("attributes", &l.attributes, key_value_fields)?;
    o.number("droppedAttributesCount", l.dropped_attributes_count)?;
    o.number("flags", l.flags)?;
    o.hex("spanId", &l.span_id);
    o.hex("traceId", &l.trace_id);
    o.str("traceState", &l.trace_state)
}

fn status_fields(o: &mut Object, s: &Status) -> io::Result<()> {
    o.number("code", s.code)?;
    o.str("message", &s.message)
}

fn key_value_fields(o: &mut Object, kv: &KeyValue) -> io::Result<()> {
    o.str("key", &kv.key)?;
    o.number("keyStrindex", kv.key_strindex)?;
    if let Some(v) = &kv.value {
        // Left out when it has no field: no value, or a zero `stringValueStrindex`.
        o.object("value", |o| any_value_fields(o, v))?;
    }
    Ok(())
}

/// The oneof flattened to its single key. Its value is data, written even when it looks
/// like a default; only the messages nested in arrays and kvlists lose their defaults.
fn any_value_fields(o: &mut Object, v: &AnyValue) -> io::Result<()> {
    use any_value::Value;
    let Some(value) = &v.value else {
        return Ok(());
    };
    match value {
        Value::StringValue(s) => scalar(o.key("stringValue"), s.as_str()),
        Value::BoolValue(b) => scalar(o.key("boolValue"), b),
        Value::IntValue(i) => quoted(o.key("intValue"), i),
        Value::DoubleValue(d) => scalar(o.key("doubleValue"), d),
        Value::ArrayValue(a) => {
            let mut inner = Object::open(o.key("arrayValue"));
            write_array(inner.key("values"), &a.values, any_value_fields)?;
            inner.close();
            Ok(())
        }
        Value::KvlistValue(kvs) => {
            let mut inner = Object::open(o.key("kvlistValue"));
            write_array(inner.key("values"), &kvs.values, key_value_fields)?;
            inner.close();
            Ok(())
        }
        Value::BytesValue(b) => scalar(
            o.key("bytesValue"),
            base64::engine::general_purpose::STANDARD.encode(b).as_str(),
        ),
        // Not one of the keys the pruning spared, so it goes when zero like any number.
        Value::StringValueStrindex(i) => o.number("stringValueStrindex", *i),
    }
}

/// A JSON object being written; each field method leaves a default value out.
struct Object<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> Object<'a> {
    fn open(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, empty: true }
    }

    /// Close the object; whether it got no field.
    fn close(self) -> bool {
        self.out.push(b'}');
        self.empty
    }

    /// Start a field and return the buffer for its value. Keys are plain ASCII names.
    fn key(&mut self, key: &str) -> &mut Vec<u8> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    fn str(&mut self, key: &str, s: &str) -> io::Result<()> {
        if s.is_empty() {
            return Ok(());
        }
        scalar(self.key(key), s)
    }

    fn number<N: Serialize + Default + PartialEq>(&mut self, key: &str, n: N) -> io::Result<()> {
        if n == N::default() {
            return Ok(());
        }
        scalar(self.key(key), &n)
    }

    /// A `fixed64` timestamp, as a decimal string.
    fn nanos(&mut self, key: &str, n: u64) -> io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        quoted(self.key(key), &n)
    }

    /// Trace and span IDs, as lowercase hex.
    fn hex(&mut self, key: &str, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let out = self.key(key);
        out.push(b'"');
        for b in bytes {
            out.push(DIGITS[usize::from(b >> 4)]);
            out.push(DIGITS[usize::from(b & 15)]);
        }
        out.push(b'"');
    }

    fn strings(&mut self, key: &str, items: &[String]) -> io::Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        let out = self.key(key);
        out.push(b'[');
        for (i, s) in items.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            scalar(out, s.as_str())?;
        }
        out.push(b']');
        Ok(())
    }

    /// An array of messages, left out when empty; its elements stay even when they have
    /// no field (`{}`).
    fn objects<T>(
        &mut self,
        key: &str,
        items: &[T],
        fields: fn(&mut Object, &T) -> io::Result<()>,
    ) -> io::Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        write_array(self.key(key), items, fields)
    }

    /// A nested message, left out when none of its fields was written.
    fn object(
        &mut self,
        key: &str,
        fields: impl FnOnce(&mut Object) -> io::Result<()>,
    ) -> io::Result<()> {
        let (mark, was_empty) = (self.out.len(), self.empty);
        let mut inner = Object::open(self.key(key));
        fields(&mut inner)?;
        if inner.close() {
            self.out.truncate(mark);
            self.empty = was_empty;
        }
        Ok(())
    }
}

/// `[…]` of messages, written even when empty.
fn write_array<T>(
    out: &mut Vec<u8>,
    items: &[T],
    fields: fn(&mut Object, &T) -> io::Result<()>,
) -> io::Result<()> {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let mut o = Object::open(out);
        fields(&mut o, item)?;
        o.close();
    }
    out.push(b']');
    Ok(())
}

/// A string, bool, number or float exactly as serde_json writes it.
fn scalar<T: Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) -> io::Result<()> {
    serde_json::to_writer(out, v).map_err(io::Error::from)
}

/// A 64-bit integer as opentelemetry-proto writes it: `to_string()`, then as a JSON string.
fn quoted(out: &mut Vec<u8>, n: &(impl Serialize + ?Sized)) -> io::Result<()> {
    out.push(b'"');
    scalar(out, n)?;
    out.push(b'"');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::model::resource_spans_for;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};
    use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
    use proptest::collection::vec;
    use proptest::prelude::*;
    use serde_json::Value;

    /// The writer this one replaced, kept as the reference: the serde derive into a
    /// `serde_json::Value`, proto3 defaults pruned, serialized with sorted keys.
    mod oracle {
        use super::*;

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
    }

    fn line(req: &ExportTraceServiceRequest) -> String {
        let mut out = Vec::new();
        write_json_line(req, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Byte identity with the oracle, with the request in the message when it fails.
    fn assert_matches_oracle(req: &ExportTraceServiceRequest) {
        let ours = line(req);
        let expected = oracle::to_json_line(req).unwrap();
        assert!(
            ours == expected,
            "lines differ for {req:?}\n ours: {ours}\noracle: {expected}"
        );
    }

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
            kind: SpanKind::Internal as i32,
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
            kind: SpanKind::Server as i32,
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
        assert_eq!(lines[0], lines[1], "the reused buffer starts afresh");
        assert!(text.ends_with('\n'));
        assert_eq!(lines[0], oracle::to_json_line(&req).unwrap());

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
        let req = ExportTraceServiceRequest::default();
        assert_eq!(line(&req), r#"{"resourceSpans":[]}"#);
        assert_matches_oracle(&req);
    }

    /// Each default and each look-alike of one, by hand, so no run of the property test
    /// can miss them.
    #[test]
    fn defaults_and_look_alikes_match_the_oracle() {
        use any_value::Value as V;
        let values = vec![
            None,
            Some(V::StringValue(String::new())),
            Some(V::StringValue(
                "\"\\\n\t\u{0}\u{1f}\u{7f}\u{2028}é😀</".into(),
            )),
            Some(V::BoolValue(false)),
            Some(V::BoolValue(true)),
            Some(V::IntValue(0)),
            Some(V::IntValue(i64::MIN)),
            Some(V::IntValue(i64::MAX)),
            Some(V::DoubleValue(0.0)),
            Some(V::DoubleValue(-0.0)),
            Some(V::DoubleValue(-1.5)),
            Some(V::DoubleValue(0.1)),
            Some(V::DoubleValue(1e300)),
            Some(V::DoubleValue(5e-324)),
            Some(V::DoubleValue(f64::NAN)),
            Some(V::DoubleValue(f64::INFINITY)),
            Some(V::DoubleValue(f64::NEG_INFINITY)),
            Some(V::BytesValue(Vec::new())),
            Some(V::BytesValue(vec![0, 255, 7])),
            Some(V::StringValueStrindex(0)),
            Some(V::StringValueStrindex(-3)),
            Some(V::ArrayValue(ArrayValue::default())),
            Some(V::KvlistValue(KeyValueList::default())),
        ];
        let any = |value: &Option<V>| AnyValue {
            value: value.clone(),
        };
        let mut attributes: Vec<KeyValue> = values
            .iter()
            .map(|v| KeyValue {
                key: String::new(),
                value: Some(any(v)),
                key_strindex: 0,
            })
            .collect();
        attributes.push(KeyValue::default());
        attributes.push(KeyValue {
            key: "k".into(),
            value: None,
            key_strindex: 9,
        });
        // The same values nested in an array and a kvlist, and those nested once more.
        let array = V::ArrayValue(ArrayValue {
            values: values.iter().map(any).collect(),
        });
        let kvlist = V::KvlistValue(KeyValueList {
            values: attributes.clone(),
        });
        let nested = V::ArrayValue(ArrayValue {
            values: vec![any(&Some(array.clone())), any(&Some(kvlist.clone()))],
        });
        attributes.extend([array, kvlist, nested].map(|v| kv("n", v)));

        let default_span = Span::default();
        let full_span = Span {
            trace_id: vec![0xab; 16],
            span_id: vec![0; 8],
            trace_state: "s=1".into(),
            parent_span_id: vec![1, 2, 3],
            flags: 0x301,
            name: "0".into(),
            kind: -1,
            start_time_unix_nano: u64::MAX,
            end_time_unix_nano: 1,
            attributes: attributes.clone(),
            dropped_attributes_count: 1,
            events: vec![
                span::Event::default(),
                span::Event {
                    time_unix_nano: 5,
                    name: "e".into(),
                    attributes: attributes.clone(),
                    dropped_attributes_count: u32::MAX,
                },
            ],
            dropped_events_count: 2,
            links: vec![
                span::Link::default(),
                span::Link {
                    trace_id: vec![1; 16],
                    span_id: vec![2; 8],
                    trace_state: "t".into(),
                    attributes: attributes.clone(),
                    dropped_attributes_count: 3,
                    flags: 1,
                },
            ],
            dropped_links_count: 3,
            status: Some(Status {
                message: "m".into(),
                code: 1,
            }),
        };
        let requests = [
            ExportTraceServiceRequest {
                resource_spans: vec![ResourceSpans::default()],
            },
            ExportTraceServiceRequest {
                resource_spans: vec![
                    ResourceSpans {
                        resource: Some(Resource::default()),
                        scope_spans: vec![
                            ScopeSpans::default(),
                            ScopeSpans {
                                scope: Some(InstrumentationScope::default()),
                                spans: vec![
                                    default_span.clone(),
                                    Span {
                                        status: Some(Status::default()),
                                        ..Span::default()
                                    },
                                    Span {
                                        status: Some(Status {
                                            message: String::new(),
                                            code: 2,
                                        }),
                                        ..Span::default()
                                    },
                                ],
                                schema_url: String::new(),
                            },
                        ],
                        schema_url: String::new(),
                    },
                    ResourceSpans {
                        resource: Some(Resource {
                            attributes: attributes.clone(),
                            dropped_attributes_count: 4,
                            entity_refs: vec![
                                EntityRef::default(),
                                EntityRef {
                                    schema_url: "u".into(),
                                    r#type: "host".into(),
                                    id_keys: vec![String::new(), "host.name".into()],
                                    description_keys: vec!["\u{1}".into()],
                                },
                            ],
                        }),
                        scope_spans: vec![ScopeSpans {
                            scope: Some(InstrumentationScope {
                                name: "mailtrace".into(),
                                version: "1".into(),
                                attributes: attributes.clone(),
                                dropped_attributes_count: 5,
                            }),
                            spans: vec![full_span],
                            schema_url: "https://x/\"".into(),
                        }],
                        schema_url: "r".into(),
                    },
                ],
            },
        ];
        for req in &requests {
            assert_matches_oracle(req);
        }
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => Just(String::new()),
            3 => "[a-z.]{1,8}",
            2 => "\\PC{0,12}",
            2 => "[\\x00-\\x1f\"\\\\/\u{7f}\u{2028}é😀a]{1,6}",
        ]
    }

    fn id() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            Just(Vec::new()),
            vec(any::<u8>(), 8),
            vec(any::<u8>(), 16),
            vec(any::<u8>(), 0..20),
        ]
    }

    /// Mostly zero, so defaults are common.
    fn small<T: Arbitrary + Default + Clone + std::fmt::Debug + 'static>(
    ) -> impl Strategy<Value = T> {
        prop_oneof![Just(T::default()), any::<T>()]
    }

    fn nanos() -> impl Strategy<Value = u64> {
        prop_oneof![
            Just(0u64),
            1_700_000_000_000_000_000..1_700_000_100_000_000_000u64,
            any::<u64>(),
        ]
    }

    fn double() -> impl Strategy<Value = f64> {
        prop_oneof![
            Just(0.0),
            Just(-0.0),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(f64::MAX),
            Just(f64::MIN_POSITIVE),
            -1e6..1e6f64,
            any::<f64>(),
        ]
    }

    fn any_value() -> impl Strategy<Value = AnyValue> {
        use any_value::Value as V;
        let leaf = prop_oneof![
            Just(None),
            text().prop_map(|s| Some(V::StringValue(s))),
            any::<bool>().prop_map(|b| Some(V::BoolValue(b))),
            small::<i64>().prop_map(|i| Some(V::IntValue(i))),
            double().prop_map(|d| Some(V::DoubleValue(d))),
            vec(any::<u8>(), 0..6).prop_map(|b| Some(V::BytesValue(b))),
            small::<i32>().prop_map(|i| Some(V::StringValueStrindex(i))),
        ]
        .prop_map(|value| AnyValue { value });
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..4).prop_map(|values| AnyValue {
                    value: Some(any_value::Value::ArrayValue(ArrayValue { values })),
                }),
                vec(key_value_of(inner), 0..4).prop_map(|values| AnyValue {
                    value: Some(any_value::Value::KvlistValue(KeyValueList { values })),
                }),
            ]
        })
    }

    fn key_value_of(value: impl Strategy<Value = AnyValue>) -> impl Strategy<Value = KeyValue> {
        (
            text(),
            proptest::option::weighted(0.9, value),
            small::<i32>(),
        )
            .prop_map(|(key, value, key_strindex)| KeyValue {
                key,
                value,
                key_strindex,
            })
    }

    fn attributes() -> impl Strategy<Value = Vec<KeyValue>> {
        vec(key_value_of(any_value()), 0..4)
    }

    fn event() -> impl Strategy<Value = span::Event> {
        (nanos(), text(), attributes(), small::<u32>()).prop_map(
            |(time_unix_nano, name, attributes, dropped_attributes_count)| span::Event {
                time_unix_nano,
                name,
                attributes,
                dropped_attributes_count,
            },
        )
    }

    fn link() -> impl Strategy<Value = span::Link> {
        (
            id(),
            id(),
            text(),
            attributes(),
            small::<u32>(),
            small::<u32>(),
        )
            .prop_map(
                |(trace_id, span_id, trace_state, attributes, dropped_attributes_count, flags)| {
                    span::Link {
                        trace_id,
                        span_id,
                        trace_state,
                        attributes,
                        dropped_attributes_count,
                        flags,
                    }
                },
            )
    }

    fn status() -> impl Strategy<Value = Option<Status>> {
        proptest::option::of(
            (text(), prop_oneof![0..3i32, any::<i32>()])
                .prop_map(|(message, code)| Status { message, code }),
        )
    }

    fn span() -> impl Strategy<Value = Span> {
        let ids = (
            id(),
            id(),
            text(),
            id(),
            small::<u32>(),
            text(),
            small::<i32>(),
        );
        let rest = (
            nanos(),
            nanos(),
            attributes(),
            small::<u32>(),
            vec(event(), 0..3),
            small::<u32>(),
            vec(link(), 0..2),
            small::<u32>(),
            status(),
        );
        (ids, rest).prop_map(
            |(
                (trace_id, span_id, trace_state, parent_span_id, flags, name, kind),
                (
                    start_time_unix_nano,
                    end_time_unix_nano,
                    attributes,
                    dropped_attributes_count,
                    events,
                    dropped_events_count,
                    links,
                    dropped_links_count,
                    status,
                ),
            )| Span {
                trace_id,
                span_id,
                trace_state,
                parent_span_id,
                flags,
                name,
                kind,
                start_time_unix_nano,
                end_time_unix_nano,
                attributes,
                dropped_attributes_count,
                events,
                dropped_events_count,
                links,
                dropped_links_count,
                status,
            },
        )
    }

    fn entity_ref() -> impl Strategy<Value = EntityRef> {
        (text(), text(), vec(text(), 0..3), vec(text(), 0..3)).prop_map(
            |(schema_url, r#type, id_keys, description_keys)| EntityRef {
                schema_url,
                r#type,
                id_keys,
                description_keys,
            },
        )
    }

    fn scope_spans() -> impl Strategy<Value = ScopeSpans> {
        let scope = (text(), text(), attributes(), small::<u32>()).prop_map(
            |(name, version, attributes, dropped_attributes_count)| InstrumentationScope {
                name,
                version,
                attributes,
                dropped_attributes_count,
            },
        );
        (proptest::option::of(scope), vec(span(), 0..3), text()).prop_map(
            |(scope, spans, schema_url)| ScopeSpans {
                scope,
                spans,
                schema_url,
            },
        )
    }

    fn resource_spans() -> impl Strategy<Value = ResourceSpans> {
        let resource = (attributes(), small::<u32>(), vec(entity_ref(), 0..2)).prop_map(
            |(attributes, dropped_attributes_count, entity_refs)| Resource {
                attributes,
                dropped_attributes_count,
                entity_refs,
            },
        );
        (
            proptest::option::of(resource),
            vec(scope_spans(), 0..3),
            text(),
        )
            .prop_map(|(resource, scope_spans, schema_url)| ResourceSpans {
                resource,
                scope_spans,
                schema_url,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Every field of every message, defaults and not: the same bytes as the oracle.
        #[test]
        fn arbitrary_requests_match_the_oracle(
            resource_spans in vec(resource_spans(), 0..3),
        ) {
            assert_matches_oracle(&ExportTraceServiceRequest { resource_spans });
        }
    }

    /// What the pipeline really sends: generated traffic through the span model, in
    /// requests of a few sizes.
    #[test]
    fn model_output_matches_the_oracle() {
        use crate::correlate::{Correlator, CorrelatorConfig};
        use crate::loadgen::{self, LoadSpec};
        use crate::trace::model::ModelOptions;

        let spec = LoadSpec {
            messages: 200,
            ..LoadSpec::default()
        };
        let mut c = Correlator::new(CorrelatorConfig::default());
        loadgen::generate(&spec, |l| {
            c.ingest(&l.to_record());
            Ok(())
        })
        .unwrap();
        let messages = c.drain();
        assert_eq!(messages.len(), 200);
        for max_spans in [1, 7, 2000] {
            for req in crate::engine::requests_for(&messages, &ModelOptions::default(), max_spans) {
                assert_matches_oracle(&req);
            }
        }
    }
}
