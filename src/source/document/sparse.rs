//! `SparseDoc`: an ndjson line decoded only as far as the mapping can look.
//!
//! Building a full `serde_json::Value` costs an allocation per key and per string and a
//! B-tree per object, for a document of which the mapping reads five fields. Here the
//! deserializer is told which dotted paths may be looked up; every member no path can reach
//! is skipped (still validated: a broken line is rejected exactly as `serde_json::from_str`
//! would), and strings without escapes are borrowed from the line.
//!
//! A member is kept when some path equals its key (the value itself may be read) or starts
//! with `key.` (the rest of the path is looked up inside it). Arrays pass the same paths to
//! their items, since lookups see through one-element arrays. That is exactly what
//! `document::resolve` can visit, so a lookup on the sparse tree finds what it would find on
//! the full one.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Number;

use super::{Kind, Node};
use crate::config::Mapping;

/// A decoded line, holding only what the wanted paths reach.
#[derive(Debug, Clone, PartialEq)]
pub enum SparseDoc<'a> {
    Null,
    Bool(bool),
    Number(Number),
    Str(Cow<'a, str>),
    Array(Vec<SparseDoc<'a>>),
    /// Kept members in document order (repeated keys included; lookups take the last).
    Object(Vec<(Cow<'a, str>, SparseDoc<'a>)>),
}

impl SparseDoc<'_> {
    pub fn is_object(&self) -> bool {
        matches!(self, SparseDoc::Object(_))
    }
}

impl Node for SparseDoc<'_> {
    fn kind(&self) -> Kind<'_, Self> {
        match self {
            SparseDoc::Null => Kind::Null,
            SparseDoc::Bool(b) => Kind::Bool(*b),
            SparseDoc::Number(n) => Kind::Number(n),
            SparseDoc::Str(s) => Kind::Str(s),
            SparseDoc::Array(a) => Kind::Array(a),
            SparseDoc::Object(_) => Kind::Object,
        }
    }

    fn get(&self, key: &str) -> Option<&Self> {
        match self {
            SparseDoc::Object(members) => {
                members.iter().rev().find(|(k, _)| k == key).map(|m| &m.1)
            }
            _ => None,
        }
    }

    /// Only what was kept: callers needing the exact text re-decode the line fully.
    fn to_json(&self) -> String {
        match self {
            SparseDoc::Null => "null".into(),
            SparseDoc::Bool(b) => b.to_string(),
            SparseDoc::Number(n) => n.to_string(),
            SparseDoc::Str(s) => serde_json::to_string(s).unwrap_or_default(),
            SparseDoc::Array(_) => "[…]".into(),
            SparseDoc::Object(_) => "{…}".into(),
        }
    }
}

/// Every path a lookup may follow from the top of a line, as a byte trie: each mapped path
/// and its form without `.keyword` (the lookup's fallback), under the top and under a hit's
/// `_source`, and the hit's `_id`.
pub fn wanted_paths(m: &Mapping) -> PathTrie {
    let record = [
        &m.facility,
        &m.hostname,
        &m.message,
        &m.timestamp,
        &m.service,
    ];
    let mut paths = vec![("_id".to_string(), false)];
    let all = record.into_iter().map(|p| (p, false));
    for (p, hint) in all.chain(hint_paths(m).into_iter().map(|p| (p, true))) {
        if p.is_empty() {
            continue;
        }
        let base = p.strip_suffix(".keyword").filter(|b| !b.is_empty());
        for q in std::iter::once(p.as_str()).chain(base) {
            paths.push((q.to_string(), hint));
            paths.push((format!("_source.{q}"), hint));
        }
    }
    PathTrie::new(&paths)
}

/// The optional hint fields' paths (`FieldHints`).
pub fn hint_paths(m: &Mapping) -> [&String; 8] {
    [
        &m.queueid,
        &m.queued_as,
        &m.mail_id,
        &m.message_id,
        &m.relay_host,
        &m.relay_ip,
        &m.relay_port,
        &m.smtp_code,
    ]
}

/// The wanted paths, byte by byte. A member with key `k` is wanted when walking `k` from
/// the current node ends on a node that ends a path (the value itself may be read) or has a
/// `.` edge (the walk goes on inside the value from there). Keys may hold dots themselves
/// (`"host.name"`): the walk does not care where the key boundaries fall.
///
/// Every key of every document walks it, so it is a flat transition table over byte
/// classes (the few bytes that occur in some path; all others lead nowhere) rather than
/// nodes with edge lists: one lookup per byte, no pointer chasing.
#[derive(Debug, Clone)]
pub struct PathTrie {
    /// Byte → its class; 0 for bytes in no path.
    class: [u16; 256],
    /// log2 of the width of a row of `next` (classes including 0, rounded up to a power of
    /// two: a shift, not a multiplication, on the walk's critical path).
    shift: u32,
    /// `next[node << shift | class]`: the child node + 1, or 0 for none.
    next: Vec<u32>,
    /// Per node: `ENDS_PATH`, `ENDS_HINT`.
    flags: Vec<u8>,
}

const ENDS_PATH: u8 = 1;
/// Ends the path of a hint field.
const ENDS_HINT: u8 = 2;

impl PathTrie {
    fn new(paths: &[(String, bool)]) -> Self {
        let mut class = [0u16; 256];
        let mut classes = 1usize;
        for (p, _) in paths {
            for &b in p.as_bytes() {
                if class[b as usize] == 0 {
                    class[b as usize] = classes as u16;
                    classes += 1;
                }
            }
        }
        let shift = classes.next_power_of_two().trailing_zeros();
        let width = 1usize << shift;
        let mut trie = PathTrie {
            class,
            shift,
            next: vec![0; width],
            flags: vec![0],
        };
        for (p, hint) in paths {
            let mut at = 0usize;
            for &b in p.as_bytes() {
                at = match trie.step(at, b) {
                    Some(next) => next,
                    None => {
                        let child = trie.flags.len();
                        trie.flags.push(0);
                        trie.next.extend(std::iter::repeat_n(0, width));
                        trie.next[at << shift | trie.class[b as usize] as usize] = child as u32 + 1;
                        child
                    }
                };
            }
            trie.flags[at] |= ENDS_PATH | if *hint { ENDS_HINT } else { 0 };
        }
        trie
    }

    /// Where member `key` of the object at node `at` leads: the node inside its value (or
    /// `LEAF` when its value is read but not entered), and whether a hint field's path ends
    /// there; `None` when no path enters it.
    pub(super) fn member(&self, at: usize, key: &str) -> Option<(usize, bool)> {
        let mut at = at;
        for &b in key.as_bytes() {
            at = self.step(at, b)?;
        }
        let inside = self.step(at, b'.');
        let flags = self.flags[at];
        if flags & ENDS_PATH == 0 && inside.is_none() {
            return None;
        }
        Some((inside.unwrap_or(LEAF), flags & ENDS_HINT != 0))
    }

    /// The node `key` leads to from node `at` (no `.` appended).
    pub(super) fn walk(&self, at: usize, key: &str) -> Option<usize> {
        key.bytes().try_fold(at, |at, b| self.step(at, b))
    }

    /// The node inside the value of a member ending on `node`, if some path goes on.
    pub(super) fn inside(&self, node: usize) -> Option<usize> {
        self.step(node, b'.')
    }

    /// Some hint field's path ends at `node`.
    pub(super) fn ends_hint(&self, node: usize) -> bool {
        self.flags[node] & ENDS_HINT != 0
    }

    pub(super) fn ends_path(&self, node: usize) -> bool {
        self.flags[node] & ENDS_PATH != 0
    }

    pub(super) fn len(&self) -> usize {
        self.flags.len()
    }

    fn step(&self, at: usize, b: u8) -> Option<usize> {
        let class = self.class[b as usize] as usize;
        if class == 0 {
            return None;
        }
        let next = *self.next.get(at << self.shift | class)?;
        (next as usize).checked_sub(1)
    }
}

/// A decoded line.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded<'a> {
    pub doc: SparseDoc<'a>,
    /// Some member sat where a hint field's path ends. When false, every hint lookup is
    /// bound to find nothing, and the caller may skip them (they are most of the lookups,
    /// and most shippers send no hints).
    pub may_have_hints: bool,
}

/// Decode `line` keeping what `paths` reach; `None` when the line is not valid JSON.
pub fn decode<'a>(line: &'a str, paths: &PathTrie) -> Option<Decoded<'a>> {
    let saw_hint = Cell::new(false);
    let want = Want {
        trie: paths,
        at: 0,
        saw_hint: &saw_hint,
    };
    let mut de = serde_json::Deserializer::from_str(line);
    let doc = want.deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(Decoded {
        doc,
        may_have_hints: saw_hint.get(),
    })
}

/// Where the walk stands: paths still to follow below the current node.
#[derive(Clone, Copy)]
struct Want<'p> {
    trie: &'p PathTrie,
    /// Trie node after the `.` that follows the parent's key (0 = the top).
    at: usize,
    saw_hint: &'p Cell<bool>,
}

impl Want<'_> {
    /// The walk inside member `key`; `None` when no path enters it.
    fn member(&self, key: &str) -> Option<Self> {
        let (at, hint) = self.trie.member(self.at, key)?;
        if hint {
            self.saw_hint.set(true);
        }
        Some(Want { at, ..*self })
    }
}

/// Position of a member read only as a value: no path goes on inside it, so its members
/// are skipped (it is never passed to `step`).
pub(super) const LEAF: usize = usize::MAX;

impl<'de> DeserializeSeed<'de> for Want<'_> {
    type Value = SparseDoc<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Want<'_> {
    type Value = SparseDoc<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(SparseDoc::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(SparseDoc::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(SparseDoc::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        // As serde_json's own `Value` does: a non-finite float becomes null.
        Ok(Number::from_f64(v).map_or(SparseDoc::Null, SparseDoc::Number))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(SparseDoc::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(SparseDoc::Str(Cow::Owned(v.to_string())))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(SparseDoc::Str(Cow::Owned(v)))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(SparseDoc::Null)
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(SparseDoc::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(SparseDoc::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::new();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let want = if self.at == LEAF {
                None
            } else {
                self.member(&key.0)
            };
            match want {
                Some(want) => {
                    let value = map.next_value_seed(want)?;
                    members.push((key.0, value));
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(SparseDoc::Object(members))
    }
}

/// An object key, borrowed from the line unless it has escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Mapping, OpenSearchConfig};
    use crate::source::document::DocumentContext;

    fn ctx(mapping: Mapping) -> DocumentContext {
        DocumentContext::new(&OpenSearchConfig {
            mapping,
            ..OpenSearchConfig::default()
        })
        .unwrap()
    }

    /// Lines that probe every way a lookup can go: nested, flat and mixed keys, `.keyword`,
    /// one- and many-element arrays, hits, repeated keys, escapes, numbers, nulls, errors.
    const LINES: &[&str] = &[
        r#"{"@timestamp":"2026-02-04T08:00:01Z","host":{"name":"mx"},"log":{"syslog":{"appname":"postfix/smtp","facility":{"name":"mail"}}},"message":"A1: removed"}"#,
        r#"{"@timestamp":"2026-02-04T08:00:01Z","host.name":"mx","log.syslog.appname":"postfix/smtp","log.syslog.facility.name":"mail","message":"A1: removed"}"#,
        r#"{"@timestamp":"2026-02-04T08:00:01Z","host":{"name":"mx"},"log":{"syslog.appname":"postfix/qmgr","syslog":{"facility.name":"MAIL"}},"message":"A1: removed"}"#,
        r#"{"_id":"d1","_source":{"@timestamp":1770192001123,"host":{"name":["mx"]},"log":{"syslog":{"appname":"postfix/smtp","facility":{"name":["auth","mail"]}}},"message":"x"}}"#,
        r#"{"_id":17,"_source":{"@timestamp":1770192001123.5,"host":[{"name":"mx"}],"log":{"syslog":{"appname":"exim","facility":{"name":"mail"}}},"message":"1xUr1i-0004Rc-0H Completed"}}"#,
        r#"{"_id":"d2","_source":"not an object","@timestamp":"2026-02-04 08:00:01","host":{"name":"mx"},"log":{"syslog":{"appname":"postfix/smtp","facility":{"name":"mail"}}},"message":"m"}"#,
        r#"{"@timestamp":"2026-02-04T08:00:01Z","host":{"name":"first"},"host":{"name":"last"},"log":{"syslog":{"appname":"postfix/smtp","facility":{"name":"mail"}}},"message":"dup"}"#,
        r#"{"@timestamp":"2026-02-04T08:00:01Z","h\u006fst":{"name":"esc\"aped\u00e9"},"log":{"syslog":{"appname":"postfix/smtp","facility":{"name":"mail"}}},"message":"tab\there\n"}"#,
        r#"{"@timestamp":"2026-02-04T08:00:01Z","host":{"name":"mx"},"log":{"syslog":{"appname":"postfix/smtp","facility":{"name":"mail"},"structured_data":{"queueid":"B9DAF99AB54","queued_as":["C3EF499AB57"]}}},"message":"B9DAF99AB54: to=<a@b>, status=sent (250 ok)"}"#,
        r#"{"@timestamp":"2026-02-04T08:00:01Z","host":{"name":"mx"},"log.syslog.structured_data.queueid":"  Q1X2  ","log":{"syslog":{"appname":"postfix/smtp","facility":{"name":"mail"}}},"message":"m"}"#,
        r#"{"@timestamp":"2026-02-04T08:00:01Z","host":{"name":"mx"},"log":{"syslog":{"appname":"postfix/smtp","facility":{"name":"kern"}}},"message":"m"}"#,
        r#"{"@timestamp":"2026-02-04T08:00:01Z","host":{"name":"mx"},"log":{"syslog":{"appname":"postfix/smtp"}},"message":"no facility"}"#,
        r#"{"@timestamp":"yesterday","host":{"name":"mx"},"log":{"syslog":{"appname":"postfix/smtp","facility":{"name":"mail"}}},"message":"m"}"#,
        r#"{"@timestamp":{"date":"2026"},"host":{"name":"mx"},"log":{"syslog":{"appname":"postfix/smtp","facility":{"name":"mail"}}},"message":"m"}"#,
        r#"{"@timestamp":"2026-02-04T08:00:01Z","host":{"name":["a","b"]},"log":{"syslog":{"appname":"postfix/smtp","facility":{"name":"mail"}}},"message":"m"}"#,
        r#"{"@timestamp":"2026-02-04T08:00:01Z","host":{"name":{"x":1}},"log":{"syslog":{"appname":"postfix/smtp","facility":{"name":"mail"}}},"message":"m"}"#,
        r#"{"@timestamp":"2026-02-04T08:00:01Z","host":{"name":null},"host.name":"flat","log":{"syslog":{"appname":"postfix/smtp","facility":{"name":"mail"}}},"message":"m"}"#,
        r#"{"@timestamp":"2026-02-04T08:00:01Z","host":{"name":"  "},"log":{"syslog":{"appname":"postfix/smtp","facility":{"name":"mail"}}},"message":"m"}"#,
        r#"{"@timestamp":"2026-02-04T08:00:01Z","host":{"name":12.50},"log":{"syslog":{"appname":true,"facility":{"name":"mail"}}},"message":1e3}"#,
        r#"{"@timestamp":"2026-02-04T08:00:01Z","host":{"name":"mx"},"log":{"syslog":{"appname":"postfix/smtp","facility":{"name":"mail"}}},"message":"m","deep":[[[[{"a":[1,2,{"b":null}]}]]]]}"#,
        r#"{"@timestamp":"2026-02-04T08:00:01Z","host":{"name":"mx"},"log":{"syslog":{"appname":"postfix/smtp","facility":{"name":"mail"}}},"message":"m"} trailing"#,
        r#"{"@timestamp":"2026-02-04T08:00:01Z","host":{"name":"mx"},"message":"m",}"#,
        r#"{"host":{"name":"mx"},"ignored":"bad \x escape","message":"m"}"#,
        r#"{"host":{"name":"mx"},"ignored":01,"message":"m"}"#,
        r#"["not","an","object"]"#,
        r#""just a string""#,
        "",
        "{",
    ];

    #[test]
    fn sparse_decoding_maps_every_line_like_the_full_tree() {
        for mapping in crate::source::document::scan::tests::mappings() {
            let ctx = ctx(mapping);
            for line in LINES {
                assert_eq!(ctx.map_line(line), ctx.map_line_slowly(line), "{line}");
            }
        }
    }

    #[test]
    fn lines_with_hints_are_seen_as_such() {
        let trie = super::wanted_paths(&Mapping::default());
        let with = super::decode(LINES[8], &trie).unwrap();
        assert!(with.may_have_hints);
        let flat = super::decode(LINES[9], &trie).unwrap();
        assert!(flat.may_have_hints);
        let without = super::decode(LINES[0], &trie).unwrap();
        assert!(!without.may_have_hints);
    }
}
