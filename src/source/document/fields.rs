//! The fastest way from an ndjson line to a `LogRecord`: for documents of the plain shape
//! (mapped fields as strings inside plain objects, each reachable one way only), read the
//! mapped strings straight off the line, with no tree at all.
//!
//! `document::lookup` searches a tree: nested objects first, flat dotted keys next, the last
//! of repeated keys, through one-element arrays, `null` as absent, `.keyword` as fallback.
//! On a document where no member is reached twice along the wanted paths (trie node), no
//! array sits on them and every value read is a string, that search has exactly one answer:
//! the single member whose key chain spells the path. So the scanner records the strings at
//! path ends and refuses (`None`) everything else — repeats, arrays, numbers, `null`s,
//! objects where a value is read, any error — for the tree-based path to decide as before.

use std::borrow::Cow;

use super::scan::Scanner;
use super::sparse::{PathTrie, LEAF};
use super::{parse_timestamp_in, trim, DocumentContext, LastMinute, LineOutcome};
use crate::config::Mapping;
use crate::record::{FieldHints, Hints, RecordRef};
pub use shape::Shapes;

/// Wanted-path nodes tracked for repeats: beyond this many the plan is not used.
const MAX_NODES: usize = 512;

/// Strings found at path ends per line; more than this and the line goes the tree way.
const MAX_FOUND: usize = 16;

/// Where each mapped field may sit, as trie nodes (the path, then its `.keyword`-less form),
/// for a bare document and for a search hit's `_source`.
#[derive(Debug, Clone)]
pub(super) struct FieldPlan {
    timestamp: Candidates,
    hostname: Candidates,
    service: Candidates,
    message: Candidates,
    facility: Candidates,
    /// `FieldHints` in field order, `mail_id` last (it stands in for `queueid`).
    hints: [Candidates; 8],
    /// The `_source` node and the `_id` node.
    source: Option<usize>,
    id: Option<usize>,
}

#[derive(Debug, Clone, Default)]
struct Candidates {
    bare: [Option<usize>; 2],
    hit: [Option<usize>; 2],
}

impl FieldPlan {
    /// `None` when the trie is too large for the repeat tracking.
    pub(super) fn new(m: &Mapping, trie: &PathTrie) -> Option<Self> {
        if trie.len() > MAX_NODES {
            return None;
        }
        let candidates = |p: &String| {
            let mut c = Candidates::default();
            if p.is_empty() {
                return c;
            }
            let base = p.strip_suffix(".keyword").filter(|b| !b.is_empty());
            for (i, q) in std::iter::once(p.as_str()).chain(base).enumerate() {
                c.bare[i] = trie.walk(0, q);
                c.hit[i] = trie.walk(0, &format!("_source.{q}"));
            }
            c
        };
        Some(FieldPlan {
            timestamp: candidates(&m.timestamp),
            hostname: candidates(&m.hostname),
            service: candidates(&m.service),
            message: candidates(&m.message),
            facility: candidates(&m.facility),
            hints: [
                &m.queueid,
                &m.queued_as,
                &m.message_id,
                &m.relay_host,
                &m.relay_ip,
                &m.relay_port,
                &m.smtp_code,
                &m.mail_id,
            ]
            .map(candidates),
            source: trie.walk(0, "_source"),
            id: trie.walk(0, "_id"),
        })
    }
}

/// What a member at a path end held. `Copy`, with no string of its own: a `Line` of them
/// is dropped without looking at each.
#[derive(Debug, Clone, Copy)]
enum Found<'a> {
    /// A string without escapes, as the line has it.
    Str(&'a str),
    /// A string with escapes, unescaped into `Line::escaped` at this index.
    Escaped(usize),
    Object,
    /// Number, bool, null: the tree way knows how these map.
    Other,
}

/// The members of one line at wanted-path nodes.
struct Line<'a> {
    found: [(usize, Found<'a>); MAX_FOUND],
    count: usize,
    /// Some member sits where a hint field's path ends. Without one, every hint lookup
    /// finds nothing (most shippers send no hints), and none is made.
    hints: bool,
    /// Nodes a member was reached at, to refuse repeats.
    seen: [u64; MAX_NODES / 64],
    /// The strings with escapes (few lines have any), for `Found::Escaped`.
    escaped: Vec<String>,
}

impl<'a> Line<'a> {
    fn new() -> Self {
        Line {
            found: [(usize::MAX, Found::Other); MAX_FOUND],
            count: 0,
            hints: false,
            seen: [0; MAX_NODES / 64],
            escaped: Vec::new(),
        }
    }

    /// Forget the members a shape read recorded (one that did not fit may have recorded
    /// some). A shape read marks no node `seen`, so the line is then as new for a walk.
    fn clear(&mut self) {
        self.count = 0;
        self.hints = false;
        self.escaped.clear();
    }

    /// A string member's value as `Found`: borrowed from the line, or kept in `escaped`.
    fn string(&mut self, s: Cow<'a, str>) -> Found<'a> {
        match s {
            Cow::Borrowed(s) => Found::Str(s),
            Cow::Owned(s) => {
                self.escaped.push(s);
                Found::Escaped(self.escaped.len() - 1)
            }
        }
    }

    /// Record what the member at `node` (where a hint's path ends: `hint`) held; `None`
    /// past `MAX_FOUND`. Inlined: called for every member recorded.
    #[inline]
    fn push(&mut self, node: usize, value: Found<'a>, hint: bool) -> Option<()> {
        let slot = self.found.get_mut(self.count)?;
        *slot = (node, value);
        self.count += 1;
        self.hints |= hint;
        Some(())
    }

    fn get(&self, node: usize) -> Option<Found<'a>> {
        self.found[..self.count]
            .iter()
            .find(|(n, _)| *n == node)
            .map(|&(_, f)| f)
    }

    /// The text of a string member; `None` for other members.
    fn text(&self, found: Found<'a>) -> Option<&str> {
        match found {
            Found::Str(s) => Some(s),
            Found::Escaped(i) => self.escaped.get(i).map(String::as_str),
            Found::Object | Found::Other => None,
        }
    }
}

/// The fields `outcome` looks up, by index: these, then the hints in `FieldPlan::hints`
/// order from `HINTS` on.
const FACILITY: usize = 0;
const ID: usize = 1;
const TIMESTAMP: usize = 2;
const HOSTNAME: usize = 3;
const SERVICE: usize = 4;
const MESSAGE: usize = 5;
const HINTS: usize = 6;
const FIELDS: usize = HINTS + 8;

/// A line's members as `outcome` reads them.
trait Members {
    /// The string the lookup of field `field` finds: `Ok(None)` when it finds nothing, `Err`
    /// when it would find something other than a string.
    fn field(&self, field: usize) -> Result<Option<&str>, ()>;

    /// Some member sits where a hint field's path ends (`Line::hints`).
    fn hints(&self) -> bool;
}

/// A walked line's members, looked up as the plan says.
struct Walked<'l, 'a> {
    plan: &'l FieldPlan,
    line: &'l Line<'a>,
    /// The line is a search hit (its `_source` is an object).
    hit: bool,
}

impl<'l, 'a> Walked<'l, 'a> {
    fn new(plan: &'l FieldPlan, line: &'l Line<'a>) -> Self {
        let hit = plan
            .source
            .is_some_and(|n| matches!(line.get(n), Some(Found::Object)));
        Walked { plan, line, hit }
    }

    /// The member the lookup of field `field` finds, with its node: the first candidate
    /// node there is a member at.
    fn member(&self, field: usize) -> Option<(usize, Found<'a>)> {
        let plan = self.plan;
        let candidates = match field {
            FACILITY => &plan.facility,
            ID => {
                let node = plan.id.filter(|_| self.hit)?;
                return Some((node, self.line.get(node)?));
            }
            TIMESTAMP => &plan.timestamp,
            HOSTNAME => &plan.hostname,
            SERVICE => &plan.service,
            MESSAGE => &plan.message,
            hint => plan.hints.get(hint.checked_sub(HINTS)?)?,
        };
        let nodes = if self.hit {
            &candidates.hit
        } else {
            &candidates.bare
        };
        nodes
            .iter()
            .flatten()
            .find_map(|&node| Some((node, self.line.get(node)?)))
    }
}

impl Members for Walked<'_, '_> {
    fn field(&self, field: usize) -> Result<Option<&str>, ()> {
        match self.member(field) {
            None => Ok(None),
            Some((_, found)) => self.line.text(found).map(Some).ok_or(()),
        }
    }

    fn hints(&self) -> bool {
        self.line.hints
    }
}

/// Where the lookup of a field lands in every line of a shape (`Shape::picks`): the lines a
/// shape reads have members at the same nodes, of the same kinds, as the line it was
/// learned from; only the strings differ.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Pick {
    Nothing,
    NotString,
    /// The string of the shape's `k`th recorded string slot (`Line::found[k]`).
    Slot(usize),
}

/// A line read by a shape: its strings in slot order (`Shape::read`), with the shape's
/// picks and hint flag.
struct Shaped<'l, 'a> {
    picks: &'l [Pick; FIELDS],
    hints: bool,
    line: &'l Line<'a>,
}

impl Members for Shaped<'_, '_> {
    fn field(&self, field: usize) -> Result<Option<&str>, ()> {
        match self.picks.get(field) {
            None | Some(Pick::Nothing) => Ok(None),
            Some(Pick::NotString) => Err(()),
            Some(&Pick::Slot(k)) => match self.line.found[..self.line.count].get(k) {
                Some(&(_, found)) => self.line.text(found).map(Some).ok_or(()),
                None => Err(()),
            },
        }
    }

    fn hints(&self) -> bool {
        self.hints
    }
}

/// `map_line` for plain documents; `None`: let the tree way decide. With `shapes`, the
/// shapes learned from earlier lines are tried first, and this line's shape is learned when
/// none fits.
///
/// The record goes to `f` borrowed from the line (and from the unescaped copies of its
/// escaped strings), so reading a line copies no text.
pub(super) fn map_line<T>(
    ctx: &DocumentContext,
    plan: &FieldPlan,
    line: &str,
    mut shapes: Option<&mut Shapes>,
    f: &mut impl FnMut(LineOutcome<RecordRef<'_>>) -> T,
) -> Option<T> {
    let trie = &ctx.sparse.wanted;
    let mut found = Line::new();
    let mut hint_store = Hints::default();
    if let Some(shapes) = shapes.as_deref_mut() {
        if shapes.read(line, trie, &mut found) {
            let (picks, hints, last_minute) = shapes.newest();
            let shaped = Shaped {
                picks,
                hints,
                line: &found,
            };
            return outcome(ctx, &shaped, Some(last_minute), &mut hint_store).map(f);
        }
        found.clear();
    }
    members(trie, plan.source, line, &mut found)?;
    let walked = Walked::new(plan, &found);
    if let Some(shapes) = shapes.as_deref_mut() {
        shapes.missed(line, trie, &walked);
    }
    outcome(
        ctx,
        &walked,
        shapes.map(|shapes| &mut shapes.last_minute),
        &mut hint_store,
    )
    .map(f)
}

/// The members of `line` at wanted-path nodes, into an empty `found`; `None` when the line
/// is not of the plain shape.
fn members<'a>(
    trie: &PathTrie,
    source: Option<usize>,
    line: &'a str,
    found: &mut Line<'a>,
) -> Option<()> {
    let mut s = Scanner::new(line, trie);
    s.expect(b'{')?;
    object(&mut s, trie, source, 0, found)?;
    s.ws();
    s.peek().is_none().then_some(())
}

/// The record (or filter verdict) the members found make; `None`: let the tree way decide.
/// `last_minute`: the reader's, when there is one. The record borrows `found`, and its hints
/// (seldom any) are kept in `hints`.
fn outcome<'f>(
    ctx: &DocumentContext,
    found: &'f impl Members,
    last_minute: Option<&mut LastMinute>,
    hints: &'f mut Hints,
) -> Option<LineOutcome<RecordRef<'f>>> {
    let m = &ctx.mapping;
    if !m.facility.is_empty() && !ctx.facility_value.is_empty() {
        match found.field(FACILITY).ok()? {
            Some(f) if trim(f).eq_ignore_ascii_case(&ctx.facility_value) => {}
            _ => return Some(LineOutcome::Filtered),
        }
    }
    let source_id = match found.field(ID).ok()? {
        None => None,
        Some(id) => (!id.is_empty()).then_some(id),
    };
    // Anything missing or unusable is an error, whose text the tree way writes.
    let ts = found.field(TIMESTAMP).ok()??;
    let timestamp_ns = parse_timestamp_in(ts, &ctx.zone, last_minute)?;
    let host = trim(found.field(HOSTNAME).ok()??);
    let service = trim(found.field(SERVICE).ok()??);
    if host.is_empty() || service.is_empty() {
        return None;
    }
    let message = found.field(MESSAGE).ok()??;
    if found.hints() {
        let hint = |i: usize| -> Result<Option<String>, ()> {
            let v = found.field(HINTS + i)?;
            Ok(v.map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string))
        };
        let queue_id = match hint(0).ok()? {
            Some(q) => Some(q),
            None => hint(7).ok()?,
        };
        *hints = FieldHints {
            queue_id,
            queued_as: hint(1).ok()?,
            message_id: hint(2).ok()?,
            relay_host: hint(3).ok()?,
            relay_ip: hint(4).ok()?,
            relay_port: hint(5).ok()?,
            smtp_code: hint(6).ok()?,
        }
        .into();
    }
    Some(LineOutcome::Record(RecordRef {
        timestamp_ns,
        host,
        service,
        message: trim_line_end(message),
        source_id,
        hints,
    }))
}

/// `s.trim_end_matches(['\n', '\r'])`, answering at once for the usual message, which has
/// neither at its end (the general one sets up a char search).
fn trim_line_end(s: &str) -> &str {
    match s.as_bytes().last() {
        Some(b'\n' | b'\r') => s.trim_end_matches(['\n', '\r']),
        _ => s,
    }
}

/// Members of an object at trie node `at` (`{` consumed), recording path ends and what
/// `_source` is. Recursion follows wanted paths only, so its depth is bounded by the mapping,
/// not the document.
fn object<'a>(
    s: &mut Scanner<'a, '_>,
    trie: &PathTrie,
    source: Option<usize>,
    at: usize,
    line: &mut Line<'a>,
) -> Option<()> {
    if s.closes_at_once(b'}')? {
        return Some(());
    }
    loop {
        s.expect(b'"')?;
        let key = s.string()?;
        s.expect(b':')?;
        s.ws();
        match trie.walk(at, &key) {
            Some(node) if trie.ends_path(node) || trie.inside(node).is_some() => {
                let (word, bit) = (node / 64, 1u64 << (node % 64));
                if line.seen[word] & bit != 0 {
                    return None;
                }
                line.seen[word] |= bit;
                let value = match s.peek()? {
                    b'{' => {
                        s.pos += 1;
                        match trie.inside(node) {
                            Some(inside) => object(s, trie, source, inside, line)?,
                            // Read as a value: its keys are checked as serde_json checks them.
                            None => {
                                s.pos -= 1;
                                s.value(LEAF)?;
                            }
                        }
                        Found::Object
                    }
                    b'"' => {
                        s.pos += 1;
                        line.string(s.string()?)
                    }
                    // Lookups see through one-element arrays: the tree way.
                    b'[' => return None,
                    _ => {
                        s.value(LEAF)?;
                        Found::Other
                    }
                };
                if trie.ends_path(node) || Some(node) == source {
                    line.push(node, value, trie.ends_hint(node))?;
                }
            }
            _ => s.skip_value()?,
        }
        if s.comma_or(b'}')? {
            return Some(());
        }
    }
}

mod shape;
#[cfg(test)]
mod tests;
