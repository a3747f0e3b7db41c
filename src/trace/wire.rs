//! OTLP protobuf straight from span views (`trace::view`), without building prost structs.
//!
//! The bytes are exactly those `prost::Message::encode` writes for the
//! `ExportTraceServiceRequest` that `model::to_request` builds from the same spans (proto3
//! as prost writes it: fields in tag order, default scalars left out, oneof and message
//! fields always written, minimal varints). Lengths are computed before each message is
//! written, so nothing is written twice or moved. Tests compare the two encodings on the
//! fixtures and on generated messages.

use crate::trace::view::{Attr, EventView, LinkView, SpanView, Value};

const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;

/// Bytes of `v` as a varint.
pub fn varint_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

pub fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push(v as u8 | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn key_len(tag: u32) -> usize {
    varint_len(u64::from(tag << 3))
}

pub fn put_key(buf: &mut Vec<u8>, tag: u32, wire_type: u32) {
    put_varint(buf, u64::from(tag << 3 | wire_type));
}

/// Bytes of a length-delimited field whose body has `len` bytes.
pub fn len_field_len(tag: u32, len: usize) -> usize {
    key_len(tag) + varint_len(len as u64) + len
}

/// Key and length of a length-delimited field; the caller writes the `len` bytes of body.
pub fn put_len_prefix(buf: &mut Vec<u8>, tag: u32, len: usize) {
    put_key(buf, tag, LEN);
    put_varint(buf, len as u64);
}

fn put_bytes(buf: &mut Vec<u8>, tag: u32, bytes: &[u8]) {
    put_len_prefix(buf, tag, bytes.len());
    buf.extend_from_slice(bytes);
}

/// A proto3 string/bytes field: left out when empty.
fn opt_bytes_len(tag: u32, bytes: &[u8]) -> usize {
    if bytes.is_empty() {
        0
    } else {
        len_field_len(tag, bytes.len())
    }
}

fn put_opt_bytes(buf: &mut Vec<u8>, tag: u32, bytes: &[u8]) {
    if !bytes.is_empty() {
        put_bytes(buf, tag, bytes);
    }
}

/// A proto3 fixed64 field: left out when zero.
fn opt_fixed64_len(tag: u32, v: u64) -> usize {
    if v == 0 {
        0
    } else {
        key_len(tag) + 8
    }
}

fn put_opt_fixed64(buf: &mut Vec<u8>, tag: u32, v: u64) {
    if v != 0 {
        put_key(buf, tag, FIXED64);
        buf.extend_from_slice(&v.to_le_bytes());
    }
}

/// A proto3 varint field (uint32, enum): left out when zero.
fn opt_varint_len(tag: u32, v: u64) -> usize {
    if v == 0 {
        0
    } else {
        key_len(tag) + varint_len(v)
    }
}

fn put_opt_varint(buf: &mut Vec<u8>, tag: u32, v: u64) {
    if v != 0 {
        put_key(buf, tag, VARINT);
        put_varint(buf, v);
    }
}

// `AnyValue`: a oneof, so even an empty string or a zero is written.
const ANY_STRING: u32 = 1;
const ANY_BOOL: u32 = 2;
const ANY_INT: u32 = 3;
const ANY_DOUBLE: u32 = 4;
const ANY_ARRAY: u32 = 5;
// `ArrayValue.values`
const ARRAY_VALUES: u32 = 1;

fn string_any_len(s: &str) -> usize {
    len_field_len(ANY_STRING, s.len())
}

fn array_len(list: &[std::borrow::Cow<'_, str>]) -> usize {
    list.iter()
        .map(|s| len_field_len(ARRAY_VALUES, string_any_len(s)))
        .sum()
}

fn any_value_len(v: &Value) -> usize {
    match v {
        Value::Str(s) => string_any_len(s),
        Value::Bool(_) => key_len(ANY_BOOL) + 1,
        Value::Int(i) => key_len(ANY_INT) + varint_len(*i as u64),
        Value::Double(_) => key_len(ANY_DOUBLE) + 8,
        Value::StrList(list) => len_field_len(ANY_ARRAY, array_len(list)),
    }
}

fn put_any_value(buf: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Str(s) => put_bytes(buf, ANY_STRING, s.as_bytes()),
        Value::Bool(b) => {
            put_key(buf, ANY_BOOL, VARINT);
            buf.push(u8::from(*b));
        }
        Value::Int(i) => {
            put_key(buf, ANY_INT, VARINT);
            put_varint(buf, *i as u64);
        }
        Value::Double(d) => {
            put_key(buf, ANY_DOUBLE, FIXED64);
            buf.extend_from_slice(&d.to_bits().to_le_bytes());
        }
        Value::StrList(list) => {
            put_len_prefix(buf, ANY_ARRAY, array_len(list));
            for s in list {
                put_len_prefix(buf, ARRAY_VALUES, string_any_len(s));
                put_bytes(buf, ANY_STRING, s.as_bytes());
            }
        }
    }
}

// `KeyValue`
const KV_KEY: u32 = 1;
const KV_VALUE: u32 = 2;

/// Body length of a `KeyValue` whose `AnyValue` has `value_len` bytes.
fn key_value_len_with(a: &Attr, value_len: usize) -> usize {
    opt_bytes_len(KV_KEY, a.key.as_bytes()) + len_field_len(KV_VALUE, value_len)
}

/// Body length of a `KeyValue`.
pub fn key_value_len(a: &Attr) -> usize {
    key_value_len_with(a, any_value_len(&a.value))
}

/// A `KeyValue` as field `tag` of its parent.
pub fn put_key_value(buf: &mut Vec<u8>, tag: u32, a: &Attr) {
    let value_len = any_value_len(&a.value);
    put_len_prefix(buf, tag, key_value_len_with(a, value_len));
    put_opt_bytes(buf, KV_KEY, a.key.as_bytes());
    put_len_prefix(buf, KV_VALUE, value_len);
    put_any_value(buf, &a.value);
}

fn attrs_len<'a>(tag: u32, attrs: impl IntoIterator<Item = &'a Attr<'a>>) -> usize {
    attrs
        .into_iter()
        .map(|a| len_field_len(tag, key_value_len(a)))
        .sum()
}

// `Span.Event`
const EVENT_TIME: u32 = 1;
const EVENT_NAME: u32 = 2;
const EVENT_ATTRIBUTES: u32 = 3;

fn event_len(e: &EventView) -> usize {
    opt_fixed64_len(EVENT_TIME, e.time_unix_nano())
        + opt_bytes_len(EVENT_NAME, e.name().as_bytes())
        + e.attributes()
            .map(|a| len_field_len(EVENT_ATTRIBUTES, key_value_len(&a)))
            .sum::<usize>()
}

fn put_event(buf: &mut Vec<u8>, tag: u32, e: &EventView) {
    put_len_prefix(buf, tag, event_len(e));
    put_opt_fixed64(buf, EVENT_TIME, e.time_unix_nano());
    put_opt_bytes(buf, EVENT_NAME, e.name().as_bytes());
    for a in e.attributes() {
        put_key_value(buf, EVENT_ATTRIBUTES, &a);
    }
}

// `Span.Link`
const LINK_TRACE_ID: u32 = 1;
const LINK_SPAN_ID: u32 = 2;
const LINK_ATTRIBUTES: u32 = 4;

fn link_len(l: &LinkView) -> usize {
    len_field_len(LINK_TRACE_ID, l.trace_id.len())
        + len_field_len(LINK_SPAN_ID, l.span_id.len())
        + attrs_len(LINK_ATTRIBUTES, &l.attributes())
}

fn put_link(buf: &mut Vec<u8>, tag: u32, l: &LinkView) {
    put_len_prefix(buf, tag, link_len(l));
    put_bytes(buf, LINK_TRACE_ID, &l.trace_id);
    put_bytes(buf, LINK_SPAN_ID, &l.span_id);
    for a in &l.attributes() {
        put_key_value(buf, LINK_ATTRIBUTES, a);
    }
}

// `Status`
const STATUS_MESSAGE: u32 = 2;
const STATUS_CODE: u32 = 3;
const STATUS_CODE_ERROR: u64 = 2;

fn status_len(message: &str) -> usize {
    opt_bytes_len(STATUS_MESSAGE, message.as_bytes())
        + opt_varint_len(STATUS_CODE, STATUS_CODE_ERROR)
}

// `Span`
const SPAN_TRACE_ID: u32 = 1;
const SPAN_SPAN_ID: u32 = 2;
const SPAN_PARENT_SPAN_ID: u32 = 4;
const SPAN_NAME: u32 = 5;
const SPAN_KIND: u32 = 6;
const SPAN_START: u32 = 7;
const SPAN_END: u32 = 8;
const SPAN_ATTRIBUTES: u32 = 9;
const SPAN_EVENTS: u32 = 11;
const SPAN_DROPPED_EVENTS: u32 = 12;
const SPAN_LINKS: u32 = 13;
const SPAN_STATUS: u32 = 15;

/// Body length of a `Span`.
pub fn span_len(v: &SpanView) -> usize {
    let parent = v.parent_span_id.as_ref().map_or(&[][..], |p| &p[..]);
    len_field_len(SPAN_TRACE_ID, v.trace_id.len())
        + len_field_len(SPAN_SPAN_ID, v.span_id.len())
        + opt_bytes_len(SPAN_PARENT_SPAN_ID, parent)
        + if v.name.is_empty() {
            0
        } else {
            len_field_len(SPAN_NAME, v.name.len())
        }
        + opt_varint_len(SPAN_KIND, v.kind as i32 as u64)
        + opt_fixed64_len(SPAN_START, v.start_time_unix_nano)
        + opt_fixed64_len(SPAN_END, v.end_time_unix_nano)
        + attrs_len(SPAN_ATTRIBUTES, &v.attributes)
        + v.events
            .iter()
            .map(|e| len_field_len(SPAN_EVENTS, event_len(e)))
            .sum::<usize>()
        + opt_varint_len(SPAN_DROPPED_EVENTS, u64::from(v.dropped_events_count))
        + v.link
            .as_ref()
            .map_or(0, |l| len_field_len(SPAN_LINKS, link_len(l)))
        + v.error
            .as_ref()
            .map_or(0, |m| len_field_len(SPAN_STATUS, status_len(m)))
}

/// A `Span` as field `tag` of its parent (`ScopeSpans.spans`).
pub fn put_span(buf: &mut Vec<u8>, tag: u32, v: &SpanView) {
    let len = span_len(v);
    buf.reserve(len + 4);
    put_len_prefix(buf, tag, len);
    put_bytes(buf, SPAN_TRACE_ID, &v.trace_id);
    put_bytes(buf, SPAN_SPAN_ID, &v.span_id);
    if let Some(p) = &v.parent_span_id {
        put_bytes(buf, SPAN_PARENT_SPAN_ID, p);
    }
    if !v.name.is_empty() {
        put_len_prefix(buf, SPAN_NAME, v.name.len());
        for piece in v.name.pieces() {
            buf.extend_from_slice(piece.as_bytes());
        }
    }
    put_opt_varint(buf, SPAN_KIND, v.kind as i32 as u64);
    put_opt_fixed64(buf, SPAN_START, v.start_time_unix_nano);
    put_opt_fixed64(buf, SPAN_END, v.end_time_unix_nano);
    for a in &v.attributes {
        put_key_value(buf, SPAN_ATTRIBUTES, a);
    }
    for e in &v.events {
        put_event(buf, SPAN_EVENTS, e);
    }
    put_opt_varint(buf, SPAN_DROPPED_EVENTS, u64::from(v.dropped_events_count));
    if let Some(l) = &v.link {
        put_link(buf, SPAN_LINKS, l);
    }
    if let Some(m) = &v.error {
        put_len_prefix(buf, SPAN_STATUS, status_len(m));
        put_opt_bytes(buf, STATUS_MESSAGE, m.as_bytes());
        put_opt_varint(buf, STATUS_CODE, STATUS_CODE_ERROR);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_match_prost() {
        for v in [
            0u64,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u32::MAX as u64,
            u64::MAX,
        ] {
            let mut ours = Vec::new();
            put_varint(&mut ours, v);
            let mut theirs = Vec::new();
            prost::encoding::encode_varint(v, &mut theirs);
            assert_eq!(ours, theirs, "{v}");
            assert_eq!(varint_len(v), prost::encoding::encoded_len_varint(v), "{v}");
        }
    }
}
