//! OTLP protobuf straight from span views (`trace::view`), without building prost structs.
//!
//! The bytes are exactly those `prost::Message::encode` writes for the
//! `ExportTraceServiceRequest` that `model::to_request` builds from the same spans (proto3
//! as prost writes it: fields in tag order, default scalars left out, oneof and message
//! fields always written, minimal varints). Each message is written once: its body goes
//! after room for its length, which is filled in afterwards (`put_nested`); the room fits
//! the usual size, so a body rarely moves. Tests compare the two encodings on the fixtures
//! and on generated messages.

use crate::trace::view::{Attr, EventView, LinkView, SpanView, Strs, Value};

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
fn put_opt_fixed64(buf: &mut Vec<u8>, tag: u32, v: u64) {
    if v != 0 {
        put_key(buf, tag, FIXED64);
        buf.extend_from_slice(&v.to_le_bytes());
    }
}

/// A proto3 varint field (uint32, enum): left out when zero.
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

fn array_len(list: &Strs) -> usize {
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
        Value::StrList(list) => put_nested(buf, ANY_ARRAY, 1, |buf| {
            for s in list.iter() {
                put_nested(buf, ARRAY_VALUES, 1, |buf| {
                    put_bytes(buf, ANY_STRING, s.as_bytes())
                });
            }
        }),
    }
}

/// A length-delimited field whose body `body` writes. The body goes after `room` bytes left
/// for its length, which is written there afterwards; a body whose length takes another
/// number of bytes is moved (prost writes minimal varints). Callers pick `room` for their
/// usual body size (1: under 128 bytes, 2: under 16 KiB), so that a move is rare.
fn put_nested(buf: &mut Vec<u8>, tag: u32, room: usize, body: impl FnOnce(&mut Vec<u8>)) {
    debug_assert!((1..=2).contains(&room), "room for a length: 1 or 2 bytes");
    put_key(buf, tag, LEN);
    let at = buf.len();
    buf.extend_from_slice(&[0; 2][..room]);
    body(buf);
    let end = buf.len();
    let len = end - at - room;
    let need = varint_len(len as u64);
    if need != room {
        if need > room {
            buf.resize(end + need - room, 0);
        }
        buf.copy_within(at + room..end, at + need);
        buf.truncate(at + need + len);
    }
    let mut v = len as u64;
    for (i, b) in buf[at..at + need].iter_mut().enumerate() {
        *b = v as u8 & 0x7f | if i + 1 < need { 0x80 } else { 0 };
        v >>= 7;
    }
}

// `KeyValue`
const KV_KEY: u32 = 1;
const KV_VALUE: u32 = 2;

/// Body length of a `KeyValue`.
pub fn key_value_len(a: &Attr) -> usize {
    opt_bytes_len(KV_KEY, a.key.as_bytes()) + len_field_len(KV_VALUE, any_value_len(&a.value))
}

/// The key byte of a field numbered under 16.
fn key_byte(tag: u32, wire_type: u32) -> u8 {
    debug_assert!(tag < 16);
    (tag << 3 | wire_type) as u8
}

/// The key byte of a length-delimited field numbered under 16.
fn len_key(tag: u32) -> u8 {
    key_byte(tag, LEN)
}

/// Whether a `KeyValue` is short (`put_key_value`): every length in it is one byte.
fn is_short(tag: u32, key: &[u8], body: usize) -> bool {
    tag < 16 && !key.is_empty() && body < 0x80
}

/// A `KeyValue` as field `tag` of its parent.
///
/// Most attributes are short: a field numbered under 16 with a body under 128 bytes, so
/// every length is one byte, known before writing. Those are written as a few copies of
/// keys and lengths put together, not field by field; the others (a log line) are written
/// with their lengths worked out first, so that nothing moves after writing.
pub fn put_key_value(buf: &mut Vec<u8>, tag: u32, a: &Attr) {
    // A short string (most attributes) takes a path of its own, small enough to inline.
    if let Value::Str(v) = &a.value {
        let (key, value) = (a.key.as_bytes(), v.as_bytes());
        // Key part, then value part: each a key byte and a one-byte length.
        let any = 2 + value.len();
        let body = 2 + key.len() + 2 + any;
        if is_short(tag, key, body) {
            put_short_key(buf, tag, body, key);
            put_two_heads(buf, (KV_VALUE, any), (ANY_STRING, value.len()));
            buf.extend_from_slice(value);
            return;
        }
    }
    put_other_key_value(buf, tag, a);
}

/// `put_key_value` of any but a short string.
#[inline(never)]
fn put_other_key_value(buf: &mut Vec<u8>, tag: u32, a: &Attr) {
    let key = a.key.as_bytes();
    let key_part = opt_bytes_len(KV_KEY, key);
    match &a.value {
        Value::Str(v) => {
            let value = v.as_bytes();
            let any = string_any_len(v);
            let body = key_part + len_field_len(KV_VALUE, any);
            buf.reserve(len_field_len(tag, body));
            put_len_prefix(buf, tag, body);
            put_opt_bytes(buf, KV_KEY, key);
            put_len_prefix(buf, KV_VALUE, any);
            put_bytes(buf, ANY_STRING, value);
        }
        Value::Double(d) => {
            const ANY: usize = 9;
            let body = key_part + 2 + ANY;
            if is_short(tag, key, body) {
                put_short_key(buf, tag, body, key);
                let mut value = [0u8; 2 + ANY];
                value[..3].copy_from_slice(&[
                    len_key(KV_VALUE),
                    ANY as u8,
                    key_byte(ANY_DOUBLE, FIXED64),
                ]);
                value[3..].copy_from_slice(&d.to_bits().to_le_bytes());
                buf.extend_from_slice(&value);
                return;
            }
            put_nested_key_value(buf, tag, key, &a.value);
        }
        Value::StrList(list) => {
            let array = array_len(list);
            let any = len_field_len(ANY_ARRAY, array);
            let body = key_part + len_field_len(KV_VALUE, any);
            if is_short(tag, key, body) {
                put_short_key(buf, tag, body, key);
                put_two_heads(buf, (KV_VALUE, any), (ANY_ARRAY, array));
                for s in list.iter() {
                    put_two_heads(
                        buf,
                        (ARRAY_VALUES, string_any_len(s)),
                        (ANY_STRING, s.len()),
                    );
                    buf.extend_from_slice(s.as_bytes());
                }
                return;
            }
            put_nested_key_value(buf, tag, key, &a.value);
        }
        _ => put_nested_key_value(buf, tag, key, &a.value),
    }
}

/// The start of a short `KeyValue` (`put_key_value`): its field key and body length, then
/// its key string.
fn put_short_key(buf: &mut Vec<u8>, tag: u32, body: usize, key: &[u8]) {
    buf.reserve(2 + body);
    put_two_heads(buf, (tag, body), (KV_KEY, key.len()));
    buf.extend_from_slice(key);
}

/// The keys and one-byte lengths of a length-delimited field and of the first field in its
/// body, as one copy. Both fields are numbered under 16 and both lengths are under 128.
fn put_two_heads(
    buf: &mut Vec<u8>,
    (outer, outer_len): (u32, usize),
    (inner, inner_len): (u32, usize),
) {
    debug_assert!(outer_len < 0x80 && inner_len < 0x80);
    buf.extend_from_slice(&[
        len_key(outer),
        outer_len as u8,
        len_key(inner),
        inner_len as u8,
    ]);
}

/// A `KeyValue` of any size, written in one pass (its lengths filled in afterwards).
fn put_nested_key_value(buf: &mut Vec<u8>, tag: u32, key: &[u8], value: &Value) {
    put_nested(buf, tag, 1, |buf| {
        put_opt_bytes(buf, KV_KEY, key);
        put_nested(buf, KV_VALUE, 1, |buf| put_any_value(buf, value));
    });
}

// `Span.Event`
const EVENT_TIME: u32 = 1;
const EVENT_NAME: u32 = 2;
const EVENT_ATTRIBUTES: u32 = 3;

fn put_event(buf: &mut Vec<u8>, tag: u32, e: &EventView) {
    put_nested(buf, tag, 2, |buf| {
        put_opt_fixed64(buf, EVENT_TIME, e.time_unix_nano());
        put_opt_bytes(buf, EVENT_NAME, e.name().as_bytes());
        for a in e.attributes() {
            put_key_value(buf, EVENT_ATTRIBUTES, &a);
        }
    });
}

// `Span.Link`
const LINK_TRACE_ID: u32 = 1;
const LINK_SPAN_ID: u32 = 2;
const LINK_ATTRIBUTES: u32 = 4;

fn put_link(buf: &mut Vec<u8>, tag: u32, l: &LinkView) {
    put_nested(buf, tag, 1, |buf| {
        put_bytes(buf, LINK_TRACE_ID, &l.trace_id);
        put_bytes(buf, LINK_SPAN_ID, &l.span_id);
        for a in &l.attributes() {
            put_key_value(buf, LINK_ATTRIBUTES, a);
        }
    });
}

// `Status`
const STATUS_MESSAGE: u32 = 2;
const STATUS_CODE: u32 = 3;
const STATUS_CODE_ERROR: u64 = 2;

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

/// A `Span` as field `tag` of its parent (`ScopeSpans.spans`).
pub fn put_span(buf: &mut Vec<u8>, tag: u32, v: &SpanView) {
    // A span with no events and an attribute or two (a delay stage: most spans) is under
    // 128 bytes; the others are under 16 KiB.
    let room = if v.events.is_empty() && v.attributes.len() <= 2 && v.link.is_none() {
        1
    } else {
        2
    };
    put_nested(buf, tag, room, |buf| {
        // The IDs, then name, kind and times: fixed sizes, each group one copy.
        let mut ids = [0u8; 38];
        ids[0] = len_key(SPAN_TRACE_ID);
        ids[1] = 16;
        ids[2..18].copy_from_slice(&v.trace_id);
        ids[18] = len_key(SPAN_SPAN_ID);
        ids[19] = 8;
        ids[20..28].copy_from_slice(&v.span_id);
        let ids = match &v.parent_span_id {
            Some(p) => {
                ids[28] = len_key(SPAN_PARENT_SPAN_ID);
                ids[29] = 8;
                ids[30..].copy_from_slice(p);
                &ids[..]
            }
            None => &ids[..28],
        };
        buf.extend_from_slice(ids);
        if !v.name.is_empty() {
            put_len_prefix(buf, SPAN_NAME, v.name.len());
            for piece in v.name.pieces() {
                buf.extend_from_slice(piece.as_bytes());
            }
        }
        let mut fixed = [0u8; 20];
        let mut n = 0;
        // `SpanKind` is 0 to 5: a one-byte varint, left out when 0.
        let kind = v.kind as i32 as u8;
        if kind != 0 {
            fixed[..2].copy_from_slice(&[key_byte(SPAN_KIND, VARINT), kind]);
            n = 2;
        }
        for (tag, t) in [
            (SPAN_START, v.start_time_unix_nano),
            (SPAN_END, v.end_time_unix_nano),
        ] {
            if t != 0 {
                fixed[n] = key_byte(tag, FIXED64);
                fixed[n + 1..n + 9].copy_from_slice(&t.to_le_bytes());
                n += 9;
            }
        }
        buf.extend_from_slice(&fixed[..n]);
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
            put_nested(buf, SPAN_STATUS, 1, |buf| {
                put_opt_bytes(buf, STATUS_MESSAGE, m.as_bytes());
                put_opt_varint(buf, STATUS_CODE, STATUS_CODE_ERROR);
            });
        }
    });
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

    /// Every kind of attribute value, at every length around the one-byte limits, with and
    /// without a key, as a field numbered under 16 and above: what prost writes for the
    /// same `KeyValue`.
    #[test]
    fn key_values_of_every_size_match_prost() {
        use crate::trace::view::Attr;
        let text = |n: usize| "x".repeat(n);
        let mut attrs: Vec<Attr> = Vec::new();
        for key in ["", "k", "email.recipients", "delay.duration_seconds"] {
            for n in (0..300).chain([16_383, 16_384, 20_000]) {
                attrs.push(Attr::string(key, text(n)));
                attrs.push(Attr {
                    key,
                    value: Value::StrList(Strs::Owned(vec![text(n)])),
                });
                attrs.push(Attr {
                    key,
                    value: Value::StrList(Strs::Owned(vec![text(n), "a@b".into()])),
                });
            }
            attrs.push(Attr::strs(key, ["ab@c"; 60]));
            attrs.push(Attr::strs(key, []));
            attrs.push(Attr {
                key,
                value: Value::StrList(Strs::Owned(Vec::new())),
            });
            for d in [0.0, -1.5, f64::NAN, 1e300] {
                attrs.push(Attr::double(key, d));
            }
            for i in [0, 1, -1, i64::MAX] {
                attrs.push(Attr::int(key, i));
            }
            attrs.push(Attr::bool(key, false));
            attrs.push(Attr::bool(key, true));
        }
        let long_key: &'static str = Box::leak(text(130).into_boxed_str());
        attrs.push(Attr::double(long_key, 2.0));
        attrs.push(Attr::strs(long_key, ["a@b"]));
        attrs.push(Attr::str(long_key, "v"));
        for a in &attrs {
            for tag in [3, 9, 15, 16, 20] {
                let mut ours = vec![7u8];
                put_key_value(&mut ours, tag, a);
                let mut theirs = vec![7u8];
                prost::encoding::message::encode(tag, &a.to_key_value(), &mut theirs);
                assert!(
                    ours == theirs,
                    "key {:?}, value {:?}, tag {tag}",
                    a.key,
                    a.value
                );
                assert_eq!(len_field_len(tag, key_value_len(a)), theirs.len() - 1);
            }
        }
    }

    /// Whatever room was left for the length, a nested body comes out as prost writes a
    /// length-delimited field: minimal length varint, body unmoved in content.
    #[test]
    fn nested_bodies_of_every_length_class_match_prost() {
        for len in [0usize, 1, 127, 128, 300, 16_383, 16_384, 70_000, 2_097_152] {
            let body: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut theirs = vec![7u8];
            prost::encoding::bytes::encode(9, &body, &mut theirs);
            for room in [1, 2] {
                let mut ours = vec![7u8];
                put_nested(&mut ours, 9, room, |buf| buf.extend_from_slice(&body));
                assert!(ours == theirs, "length {len}, room {room}");
            }
        }
    }
}
