//! One OpenSearch document → one `LogRecord`, through `opensearch_config.mapping`.
//!
//! Runs per document at up to a million documents a second, so it walks the borrowed tree
//! without cloning it, resolves dotted paths without allocating, and parses the common
//! timestamp shapes by hand. It must never panic, whatever a shipper sent.
//!
//! The tree is either a `serde_json::Value` (search hits) or a `SparseDoc` (`sparse`): an
//! ndjson line decoded with only the subtrees a mapped path can reach, strings borrowed from
//! the line. Both go through the same lookup code (`Node`), so they cannot disagree.

use crate::config::{Mapping, OpenSearchConfig, Zone};
use crate::record::{FieldHints, LogRecord, RecordRef};
use serde_json::value::RawValue;
use serde_json::Value;
use std::borrow::Cow;

/// Why a document could not become a `LogRecord`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("document is not a JSON object")]
    NotAnObject,
    /// (mapping field name, configured path; empty when the field is not mapped)
    #[error("missing field `{0}` ({desc})", desc = describe_path(.1))]
    MissingField(&'static str, String),
    #[error(
        "field `{field}` at `{path}` is {reason}, expected a string, number or one-element array"
    )]
    BadValue {
        field: &'static str,
        path: String,
        reason: String,
    },
    #[error("field `timestamp` at `{path}`: cannot parse {value:?} as a time")]
    BadTimestamp { path: String, value: String },
}

impl DocumentError {
    /// The error without the offending value, for counting skips by reason: a million
    /// different bad timestamps are one reason, not a million.
    pub fn reason(&self) -> String {
        match self {
            DocumentError::BadValue { field, path, .. } => {
                format!("field `{field}` at `{path}` has an unusable value")
            }
            DocumentError::BadTimestamp { path, .. } => {
                format!("field `timestamp` at `{path}` is not a time")
            }
            other => other.to_string(),
        }
    }
}

fn describe_path(path: &str) -> String {
    if path.is_empty() {
        "not mapped in opensearch_config.mapping".to_string()
    } else {
        format!("looked up at `{path}`")
    }
}

/// The mapping, zone and facility value a reader of documents needs, bundled.
#[derive(Debug, Clone)]
pub struct DocumentContext {
    pub mapping: Mapping,
    pub zone: Zone,
    pub facility_value: String,
    /// What `map_line` needs besides the mapping (boxed: contexts live in other structs).
    sparse: Box<SparsePlan>,
}

#[derive(Debug, Clone)]
struct SparsePlan {
    /// Every path a lookup may follow from the top of a line (`sparse::wanted_paths`).
    wanted: sparse::PathTrie,
    /// `mapping` without the hint fields, for documents that cannot have any.
    without_hints: Mapping,
    /// Where the mapped fields sit, for reading plain documents without a tree (`fields`).
    fields: Option<fields::FieldPlan>,
}

/// What an ndjson line gave.
#[derive(Debug, Clone, PartialEq, Eq)]
// Boxing the record would cost an allocation per line for an enum that is matched at once.
#[allow(clippy::large_enum_variant)]
pub enum LineOutcome<R = LogRecord> {
    Record(R),
    NotJson,
    NotAnObject,
    /// Another facility (the filter is on).
    Filtered,
    Unusable(DocumentError),
}

impl LineOutcome {
    /// The outcome with its record borrowed.
    pub fn borrowed(&self) -> LineOutcome<RecordRef<'_>> {
        match self {
            LineOutcome::Record(r) => LineOutcome::Record(r.into()),
            LineOutcome::NotJson => LineOutcome::NotJson,
            LineOutcome::NotAnObject => LineOutcome::NotAnObject,
            LineOutcome::Filtered => LineOutcome::Filtered,
            LineOutcome::Unusable(e) => LineOutcome::Unusable(e.clone()),
        }
    }
}

impl<R> LineOutcome<R> {
    /// The outcome with `f` applied to its record.
    pub fn map_record<S>(self, f: impl FnOnce(R) -> S) -> LineOutcome<S> {
        match self {
            LineOutcome::Record(r) => LineOutcome::Record(f(r)),
            LineOutcome::NotJson => LineOutcome::NotJson,
            LineOutcome::NotAnObject => LineOutcome::NotAnObject,
            LineOutcome::Filtered => LineOutcome::Filtered,
            LineOutcome::Unusable(e) => LineOutcome::Unusable(e),
        }
    }
}

impl DocumentContext {
    pub fn new(os: &OpenSearchConfig) -> Result<Self, String> {
        let mut without_hints = os.mapping.clone();
        for p in [
            &mut without_hints.queueid,
            &mut without_hints.queued_as,
            &mut without_hints.mail_id,
            &mut without_hints.message_id,
            &mut without_hints.relay_host,
            &mut without_hints.relay_ip,
            &mut without_hints.relay_port,
            &mut without_hints.smtp_code,
        ] {
            p.clear();
        }
        let wanted = sparse::wanted_paths(&os.mapping);
        Ok(DocumentContext {
            sparse: Box::new(SparsePlan {
                fields: fields::FieldPlan::new(&os.mapping, &wanted),
                wanted,
                without_hints,
            }),
            mapping: os.mapping.clone(),
            zone: os
                .zone()
                .map_err(|e| format!("opensearch_config.time_zone: {e}"))?,
            facility_value: os.facility_value.clone(),
        })
    }

    /// One ndjson line (a document or a search hit) to a record, decoding only what the
    /// mapping reaches. Same result as `serde_json::from_str` + `facility_matches` + `map`.
    pub fn map_line(&self, line: &str) -> LineOutcome {
        let mut own = |o: LineOutcome<RecordRef>| o.map_record(RecordRef::to_record);
        self.without_tree(line, None, &mut own)
            .unwrap_or_else(|| self.map_line_tree(line))
    }

    /// `map_line` for one reader of a stream of lines: `shapes` holds the document shapes
    /// it has met (`fields::shape`), and a line of a known shape is read by its shape. The
    /// outcome is the same as `map_line`'s. (`read_line_shaped`, with the record owned.)
    pub fn map_line_shaped(&self, line: &str, shapes: &mut Shapes) -> LineOutcome {
        self.read_line_shaped(line, shapes, |o| o.map_record(RecordRef::to_record))
    }

    /// `map_line_shaped` handing its outcome to `f` with the record borrowed from the line,
    /// where it can be: a reader that files the record at once then copies no text.
    pub fn read_line_shaped<T>(
        &self,
        line: &str,
        shapes: &mut Shapes,
        mut f: impl FnMut(LineOutcome<RecordRef<'_>>) -> T,
    ) -> T {
        if let Some(t) = self.without_tree(line, Some(shapes), &mut f) {
            return t;
        }
        f(self.map_line_tree(line).borrowed())
    }

    /// The tree-less way (`fields`), where the mapping allows it and the line is plain;
    /// `None`: the tree way decides.
    fn without_tree<T>(
        &self,
        text: &str,
        shapes: Option<&mut Shapes>,
        f: &mut impl FnMut(LineOutcome<RecordRef<'_>>) -> T,
    ) -> Option<T> {
        fields::map_line(self, self.sparse.fields.as_ref()?, text, shapes, f)
    }

    /// `map_line` through a `SparseDoc` (the scanner's, or serde_json's when the scanner
    /// declines): any document shape, and the reference the tree-less way is tested against.
    pub fn map_line_tree(&self, line: &str) -> LineOutcome {
        let decoded = scan::decode(line, &self.sparse.wanted)
            .or_else(|| sparse::decode(line, &self.sparse.wanted));
        let Some(decoded) = decoded else {
            return self.map_line_slowly(line);
        };
        let doc = decoded.doc;
        if !doc.is_object() {
            return LineOutcome::NotAnObject;
        }
        if !facility_matches(&doc, &self.mapping, &self.facility_value) {
            return LineOutcome::Filtered;
        }
        let mapping = if decoded.may_have_hints {
            &self.mapping
        } else {
            &self.sparse.without_hints
        };
        match map_document(&doc, mapping, &self.zone) {
            Ok(rec) => LineOutcome::Record(rec),
            // Errors quote the offending value as JSON, which only the full tree has.
            Err(_) => self.map_line_slowly(line),
        }
    }

    /// The full `serde_json::Value` path: errors, invalid JSON, and the reference the sparse
    /// decoder is tested against.
    pub fn map_line_slowly(&self, line: &str) -> LineOutcome {
        let Ok(doc) = serde_json::from_str::<Value>(line) else {
            return LineOutcome::NotJson;
        };
        if !doc.is_object() {
            return LineOutcome::NotAnObject;
        }
        if !self.facility_matches(&doc) {
            return LineOutcome::Filtered;
        }
        match self.map(&doc) {
            Ok(rec) => LineOutcome::Record(rec),
            Err(e) => LineOutcome::Unusable(e),
        }
    }

    /// A document, bare or as a search hit with `_id` and `_source`.
    pub fn map(&self, doc: &Value) -> Result<LogRecord, DocumentError> {
        map_document(doc, &self.mapping, &self.zone)
    }

    /// A search hit's `_source` (as the JSON text the cluster sent) with its `_id`, as the
    /// OpenSearch source hands them over. Plain documents are read straight off the text;
    /// any other shape, and every error, goes through the `Value` tree as `map` reads it.
    /// There is no facility filter here (the search asked for the facility): a document the
    /// text way would filter goes the tree way too.
    pub fn map_hit(&self, id: &str, source: &RawValue) -> Result<LogRecord, DocumentError> {
        self.map_hit_in(id, source, None)
    }

    /// `map_hit` for one reader of many hits: `shapes` holds the document shapes it has met,
    /// as for `map_line_shaped`. Same outcome as `map_hit`.
    pub fn map_hit_shaped(
        &self,
        id: &str,
        source: &RawValue,
        shapes: &mut Shapes,
    ) -> Result<LogRecord, DocumentError> {
        self.map_hit_in(id, source, Some(shapes))
    }

    fn map_hit_in(
        &self,
        id: &str,
        source: &RawValue,
        shapes: Option<&mut Shapes>,
    ) -> Result<LogRecord, DocumentError> {
        let text = source.get();
        let mut record = |o: LineOutcome<RecordRef>| match o {
            LineOutcome::Record(rec) => Some(rec.to_record()),
            _ => None,
        };
        let fast = self.without_tree(text, shapes, &mut record).flatten();
        let mut rec = match fast {
            Some(rec) => rec,
            None => {
                let doc: Value =
                    serde_json::from_str(text).map_err(|_| DocumentError::NotAnObject)?;
                self.map(&doc)?
            }
        };
        rec.source_id = Some(id.to_string());
        Ok(rec)
    }

    pub fn facility_matches(&self, doc: &Value) -> bool {
        facility_matches(doc, &self.mapping, &self.facility_value)
    }
}

/// `str::trim`, answering at once for the usual value, which has no space at either end
/// (the general one decodes chars from both ends, on three fields of every line). Inlined:
/// the call cost as much as the answer.
#[inline]
pub(crate) fn trim(s: &str) -> &str {
    match s.as_bytes() {
        [first, .., last] if first.is_ascii_graphic() && last.is_ascii_graphic() => s,
        [only] if only.is_ascii_graphic() => s,
        _ => s.trim(),
    }
}

/// A JSON tree as the mapping sees it: `serde_json::Value`, or the sparse tree of an
/// ndjson line.
pub trait Node: Sized {
    fn kind(&self) -> Kind<'_, Self>;
    /// An object's member (the last one, when a key repeats, as `serde_json` keeps it).
    fn get(&self, key: &str) -> Option<&Self>;
    /// The value as JSON text (error messages).
    fn to_json(&self) -> String;
}

/// What a node is, with its scalar content.
pub enum Kind<'a, N> {
    Null,
    Bool(bool),
    Number(&'a serde_json::Number),
    Str(&'a str),
    Array(&'a [N]),
    Object,
}

impl Node for Value {
    fn kind(&self) -> Kind<'_, Self> {
        match self {
            Value::Null => Kind::Null,
            Value::Bool(b) => Kind::Bool(*b),
            Value::Number(n) => Kind::Number(n),
            Value::String(s) => Kind::Str(s),
            Value::Array(a) => Kind::Array(a),
            Value::Object(_) => Kind::Object,
        }
    }

    fn get(&self, key: &str) -> Option<&Self> {
        self.as_object()?.get(key)
    }

    fn to_json(&self) -> String {
        self.to_string()
    }
}

/// Map one document (a search hit `{"_id", "_source": {...}}` or a bare source object).
pub fn map_document<N: Node>(
    doc: &N,
    mapping: &Mapping,
    zone: &Zone,
) -> Result<LogRecord, DocumentError> {
    let (src, source_id) = split_hit(doc)?;
    let timestamp_ns = timestamp(src, &mapping.timestamp, zone)?;
    let host = required(src, "hostname", &mapping.hostname)?;
    if host.trim().is_empty() {
        return Err(DocumentError::MissingField(
            "hostname",
            mapping.hostname.clone(),
        ));
    }
    // No guessing the service from the message: a wrong tag would misparse silently.
    let service = required(src, "service", &mapping.service)?;
    if service.trim().is_empty() {
        return Err(DocumentError::MissingField(
            "service",
            mapping.service.clone(),
        ));
    }
    // An empty message is odd but present; downstream simply finds nothing in it.
    let message = required(src, "message", &mapping.message)?;
    let message = message.trim_end_matches(['\n', '\r']);

    let hints = FieldHints {
        queue_id: optional(src, &mapping.queueid).or_else(|| optional(src, &mapping.mail_id)),
        queued_as: optional(src, &mapping.queued_as),
        message_id: optional(src, &mapping.message_id),
        relay_host: optional(src, &mapping.relay_host),
        relay_ip: optional(src, &mapping.relay_ip),
        relay_port: optional(src, &mapping.relay_port),
        smtp_code: optional(src, &mapping.smtp_code),
    };
    Ok(LogRecord {
        timestamp_ns,
        host: host.trim().to_string(),
        service: service.trim().to_string(),
        message: message.to_string(),
        source_id,
        hints: hints.into(),
    })
}

/// Whether the document passes the facility filter: true when `mapping.facility` or
/// `facility_value` is empty (filter disabled); otherwise the field must equal the value
/// (ignoring ASCII case, like a `match` on an analyzed field). Missing field → false.
pub fn facility_matches<N: Node>(doc: &N, mapping: &Mapping, facility_value: &str) -> bool {
    if mapping.facility.is_empty() || facility_value.is_empty() {
        return true;
    }
    let Ok((src, _)) = split_hit(doc) else {
        return false;
    };
    let eq = |v: &N| match v.kind() {
        Kind::Str(s) => s.trim().eq_ignore_ascii_case(facility_value),
        _ => false,
    };
    let Some(v) = lookup(src, &mapping.facility) else {
        return false;
    };
    match v.kind() {
        Kind::Array(items) => items.iter().any(eq),
        _ => eq(v),
    }
}

/// Resolve a dotted path: nested objects (`{"host":{"name":…}}`), flat dotted keys
/// (`{"host.name":…}`) and mixes (`{"host":{"os.name":…}}`). A trailing `.keyword` (the
/// OpenSearch multi-field, never in `_source`) is dropped as a fallback. Null counts as absent.
pub fn lookup<'a, N: Node>(doc: &'a N, path: &str) -> Option<&'a N> {
    if path.is_empty() {
        return None;
    }
    resolve(doc, path).or_else(|| {
        path.strip_suffix(".keyword")
            .filter(|p| !p.is_empty())
            .and_then(|p| resolve(doc, p))
    })
}

/// Nested interpretation first (the common shape), shortest prefix first, then the whole
/// remaining path as one key. Recursion depth is bounded by the number of dots in `path`.
fn resolve<'a, N: Node>(v: &'a N, path: &str) -> Option<&'a N> {
    match v.kind() {
        Kind::Object => {}
        // Some shippers wrap an object in a one-element array.
        Kind::Array(items) if items.len() == 1 => return resolve(&items[0], path),
        _ => return None,
    }
    // Bytes, not `match_indices`: this runs for every mapped field of every document.
    let dots = path.bytes().enumerate().filter(|&(_, b)| b == b'.');
    for (i, _) in dots {
        if let Some(child) = v.get(&path[..i]) {
            if let Some(found) = resolve(child, &path[i + 1..]) {
                return Some(found);
            }
        }
    }
    v.get(path).filter(|c| !matches!(c.kind(), Kind::Null))
}

/// The `_source` of a search hit (with its `_id`), or the document itself.
fn split_hit<N: Node>(doc: &N) -> Result<(&N, Option<String>), DocumentError> {
    if !matches!(doc.kind(), Kind::Object) {
        return Err(DocumentError::NotAnObject);
    }
    match doc.get("_source") {
        Some(src) if matches!(src.kind(), Kind::Object) => {
            let id = match doc.get("_id").map(Node::kind) {
                Some(Kind::Str(s)) if !s.is_empty() => Some(s.to_string()),
                Some(Kind::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            Ok((src, id))
        }
        _ => Ok((doc, None)),
    }
}

/// A scalar as text; `Ok(None)` for null/empty array, `Err(reason)` for objects and arrays of
/// several values.
fn scalar<N: Node>(v: &N) -> Result<Option<Cow<'_, str>>, String> {
    match v.kind() {
        Kind::Str(s) => Ok(Some(Cow::Borrowed(s))),
        Kind::Number(n) => Ok(Some(Cow::Owned(n.to_string()))),
        Kind::Bool(b) => Ok(Some(Cow::Borrowed(if b { "true" } else { "false" }))),
        Kind::Null => Ok(None),
        Kind::Array(items) => match items {
            [] => Ok(None),
            [one] if !matches!(one.kind(), Kind::Array(_)) => scalar(one),
            _ => Err(format!("an array of {} values", items.len())),
        },
        Kind::Object => Err("an object".to_string()),
    }
}

fn required<'a, N: Node>(
    src: &'a N,
    field: &'static str,
    path: &str,
) -> Result<Cow<'a, str>, DocumentError> {
    let v =
        lookup(src, path).ok_or_else(|| DocumentError::MissingField(field, path.to_string()))?;
    match scalar(v) {
        Ok(Some(s)) => Ok(s),
        Ok(None) => Err(DocumentError::MissingField(field, path.to_string())),
        Err(reason) => Err(DocumentError::BadValue {
            field,
            path: path.to_string(),
            reason,
        }),
    }
}

/// Optional hint fields: absent, empty or unusable values are simply no hint.
fn optional<N: Node>(src: &N, path: &str) -> Option<String> {
    let v = lookup(src, path)?;
    match scalar(v) {
        Ok(Some(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    }
}

fn timestamp<N: Node>(src: &N, path: &str, zone: &Zone) -> Result<i64, DocumentError> {
    let v = lookup(src, path)
        .ok_or_else(|| DocumentError::MissingField("timestamp", path.to_string()))?;
    let v = match v.kind() {
        Kind::Array([one]) => one,
        _ => v,
    };
    let parsed = match v.kind() {
        Kind::Number(n) => epoch_millis_number(n),
        Kind::Str(s) => parse_timestamp(s, zone),
        _ => None,
    };
    parsed.ok_or_else(|| DocumentError::BadTimestamp {
        path: path.to_string(),
        value: truncate(&v.to_json(), 80),
    })
}

/// OpenSearch `epoch_millis`: numbers are milliseconds since the epoch.
fn epoch_millis_number(n: &serde_json::Number) -> Option<i64> {
    if let Some(ms) = n.as_i64() {
        return ms.checked_mul(1_000_000);
    }
    // Fractional millis: split before scaling, or f64 rounding smears the sub-ms part.
    let f = n.as_f64()?;
    if !f.is_finite() || f.abs() >= 9.2e12 {
        return None;
    }
    let whole = f.trunc();
    (whole as i64)
        .checked_mul(1_000_000)?
        .checked_add(((f - whole) * 1e6).round() as i64)
}

/// A timestamp string to UTC nanoseconds: all digits = epoch millis; otherwise
/// `YYYY-MM-DD[T ]HH:MM:SS[.frac][Z|±HH:MM|±HHMM|±HH]`, with `zone` applied when there is no
/// offset.
pub fn parse_timestamp(s: &str, zone: &Zone) -> Option<i64> {
    parse_timestamp_in(s, zone, None)
}

/// The minute of the last timestamp a reader of a stream parsed: lines come in time order,
/// most in the same minute as the line before, and the date and time up to the minute are
/// most of the work. Kept: the first sixteen bytes (`YYYY-MM-DDTHH:MM`) of a timestamp that
/// passed every check on them, and the seconds since the epoch they make read as UTC.
/// Seconds, fraction, offset and zone are read and applied per timestamp after it, as
/// without it, so a named zone's DST rules see every timestamp.
#[derive(Debug, Default, Clone)]
pub(crate) struct LastMinute(Option<([u8; 16], i64)>);

impl LastMinute {
    /// `minute_start(b)`, from the last timestamp when it began with the same sixteen bytes.
    fn minute_start(&mut self, b: &[u8]) -> Option<i64> {
        let key = *b.first_chunk::<16>()?;
        if let Some((last, secs)) = self.0 {
            if last == key {
                return Some(secs);
            }
        }
        let secs = minute_start(b)?;
        self.0 = Some((key, secs));
        Some(secs)
    }
}

/// `parse_timestamp` for a reader of many timestamps, which keeps the last one's minute in
/// `last`. Same result as without.
pub(crate) fn parse_timestamp_in(
    s: &str,
    zone: &Zone,
    last: Option<&mut LastMinute>,
) -> Option<i64> {
    let s = trim(s);
    let b = s.as_bytes();
    if !b.is_empty() && b.len() <= 18 && b.iter().all(u8::is_ascii_digit) {
        return s.parse::<i64>().ok()?.checked_mul(1_000_000);
    }
    if b.len() < 19 {
        return None;
    }
    let minute = match last {
        Some(last) => last.minute_start(b)?,
        None => minute_start(b)?,
    };
    // 60 is a leap second; it lands on the next minute's :00, which is close enough.
    let sec = digits(b, 17, 19)?;
    if b[16] != b':' || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos = 0i64;
    if i < b.len() && (b[i] == b'.' || b[i] == b',') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 9 {
                nanos = nanos * 10 + (b[i] - b'0') as i64;
            }
            i += 1;
        }
        let digits = i - start;
        if digits == 0 {
            return None;
        }
        for _ in digits..9 {
            nanos *= 10;
        }
    }
    // One optional space before the offset (`2026-02-04 08:00:01 +0000`).
    if i + 1 < b.len() && b[i] == b' ' {
        i += 1;
    }
    let offset = match b.get(i) {
        None => None,
        Some(b'Z' | b'z') if i + 1 == b.len() => Some(0),
        Some(&sign @ (b'+' | b'-')) => {
            let rest = &b[i + 1..];
            let digit2 = |j: usize| -> Option<i64> {
                let (x, y) = (*rest.get(j)?, *rest.get(j + 1)?);
                (x.is_ascii_digit() && y.is_ascii_digit())
                    .then(|| ((x - b'0') * 10 + (y - b'0')) as i64)
            };
            let (h, m) = match rest.len() {
                2 => (digit2(0)?, 0),
                4 => (digit2(0)?, digit2(2)?),
                5 if rest[2] == b':' => (digit2(0)?, digit2(3)?),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let secs = h * 3600 + m * 60;
            Some(if sign == b'-' { -secs } else { secs })
        }
        _ => return None,
    };
    let local = minute + sec;
    let utc = match offset {
        Some(off) => local - off,
        None => zone.local_epoch_to_utc(local),
    };
    utc.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// The first sixteen bytes of a timestamp (`YYYY-MM-DD[T ]HH:MM`, at least that many there)
/// as seconds since the epoch, read as UTC; `None` where they are not a date and time.
fn minute_start(b: &[u8]) -> Option<i64> {
    if b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't' | b' '))
        || b.get(13) != Some(&b':')
    {
        return None;
    }
    let (year, month, day) = (digits(b, 0, 4)?, digits(b, 5, 7)?, digits(b, 8, 10)?);
    let (hour, min) = (digits(b, 11, 13)?, digits(b, 14, 16)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || min > 59 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60)
}

/// The decimal number `b[from..to]`; `None` unless all of it is digits.
fn digits(b: &[u8], from: usize, to: usize) -> Option<i64> {
    let mut n = 0i64;
    for &c in b.get(from..to)? {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + (c - b'0') as i64;
    }
    Some(n)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_string(),
    }
}

mod fields;
pub use fields::Shapes;
pub mod scan;
pub mod sparse;

#[cfg(test)]
mod tests;
