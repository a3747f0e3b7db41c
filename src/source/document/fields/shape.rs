//! Learned document shapes: a shipper writes every document of a stream with the same keys
//! in the same order, so most lines differ from the one before only in their values. A
//! shape is a line's text with its string and number values cut out: the literal text
//! between values (keys, punctuation, whitespace, `true`/`false`/`null`), and what each
//! value is. A line of a known shape is read by comparing that text and finding where each
//! value ends; no key is decoded or looked up.
//!
//! Reading a line by its shape gives the members `fields::object` would find: the walk's
//! every decision depends on the keys, the punctuation and the first byte of each value,
//! and those are the shape's literal text, compared exactly. The values are checked by
//! the walk's own primitives (`string`, `skip_string`, `number`), so a value the walk
//! refuses, the shape refuses too. Shapes are learned only from lines the walk took, and
//! only where the walk reads strings and objects at wanted paths (no arrays, no numbers or
//! objects at path ends): there a shape needs no other kind of value. Any line that does
//! not fit a known shape byte for byte goes the walk's way.
//!
//! So the members are at the same nodes, of the same kinds, in every line a shape reads,
//! and each field's lookup (`fields::Walked`) lands on the same one: a shape works the
//! lookups out once, on the line it is learned from (`Pick`), and a read only records the
//! strings, in slot order.

use super::{Found, Line, Members, Pick, Scanner, Walked, FIELDS};
use crate::source::document::sparse::PathTrie;
use crate::source::document::LastMinute;

/// Picks of no shape: every field missing.
const NO_PICKS: [Pick; FIELDS] = [Pick::Nothing; FIELDS];

/// Shapes kept per reader. Streams mix a few (lines with and without a `procid`, two
/// shipper versions); a known shape that fails costs one short comparison.
const MAX_SHAPES: usize = 4;

/// Learn from the first line no shape fits, then from every this-many-th: a stream of
/// ever-new shapes costs a learning walk on a few lines only.
const LEARN_EVERY: u32 = 16;

/// Nesting a shape may have; deeper lines are left to the walk.
const MAX_DEPTH: u32 = 32;

/// What sits between two pieces of literal text.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    /// A string at a wanted node, read as the walk reads it (`Scanner::string`); recorded
    /// at that node when `Some` (the walk records path ends and `_source`).
    Read(Option<usize>),
    /// A string off the wanted paths, checked as the walk skips it.
    Skip,
    /// A number off the wanted paths.
    Number,
}

#[derive(Debug, Clone)]
struct Shape {
    /// Every piece of literal text, one after the other.
    text: Vec<u8>,
    /// Each slot with the end (in `text`) of the literal text before it; the text after
    /// the last slot is the line's tail.
    slots: Vec<(usize, Slot)>,
    /// Some recorded node ends a hint field's path (`Line::hints`).
    hints: bool,
    /// Where each field's lookup lands, worked out once on the line the shape was learned
    /// from (`Walked`), instead of per line.
    picks: [Pick; FIELDS],
}

/// The shapes one reader has learned, most recently fitting first; and the minute of the
/// last timestamp it read (`LastMinute`), which is per reader as well.
#[derive(Debug, Default)]
pub struct Shapes {
    known: Vec<Shape>,
    misses: u32,
    pub(super) last_minute: LastMinute,
}

impl Shapes {
    /// The members of `line` into `found`, by a known shape; false when none fits.
    pub(super) fn read<'a>(
        &mut self,
        line: &'a str,
        trie: &PathTrie,
        found: &mut Line<'a>,
    ) -> bool {
        let Some(i) = self
            .known
            .iter()
            .position(|shape| shape.read(line, trie, found).is_some())
        else {
            return false;
        };
        if i > 0 {
            self.known[..=i].rotate_right(1);
        }
        true
    }

    /// The shape that read the last line (`read` puts it first), with the reader's
    /// `LastMinute`.
    pub(super) fn newest(&mut self) -> (&[Pick; FIELDS], bool, &mut LastMinute) {
        let picks = self.known.first().map_or(&NO_PICKS, |shape| &shape.picks);
        let hints = self.known.first().is_some_and(|shape| shape.hints);
        (picks, hints, &mut self.last_minute)
    }

    /// `line`, which the walk read (`walked`), fit no shape: learn its shape now and then.
    pub(super) fn missed(&mut self, line: &str, trie: &PathTrie, walked: &Walked) {
        self.misses = self.misses.wrapping_add(1);
        if self.misses % LEARN_EVERY != 1 {
            return;
        }
        if let Some(shape) = Shape::learn(line, trie, walked) {
            self.known.truncate(MAX_SHAPES - 1);
            self.known.insert(0, shape);
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.known.len()
    }

    /// The most recent shape written out with other values: `value(is_string)` gives the
    /// text after each literal piece (for a string, what follows its opening `"`).
    #[cfg(test)]
    pub(super) fn write_newest(&self, mut value: impl FnMut(bool) -> String) -> Option<String> {
        let shape = self.known.first()?;
        let mut out = Vec::new();
        let mut from = 0;
        for &(end, slot) in &shape.slots {
            out.extend_from_slice(&shape.text[from..end]);
            from = end;
            out.extend_from_slice(value(slot != Slot::Number).as_bytes());
        }
        out.extend_from_slice(&shape.text[from..]);
        String::from_utf8(out).ok()
    }
}

impl Shape {
    fn read<'a>(&self, line: &'a str, trie: &PathTrie, found: &mut Line<'a>) -> Option<()> {
        let mut s = Scanner::new(line, trie);
        found.clear();
        let mut from = 0;
        for &(end, slot) in &self.slots {
            s.literal(&self.text[from..end])?;
            from = end;
            match slot {
                Slot::Read(node) => {
                    let value = s.string()?;
                    if let Some(node) = node {
                        let value = found.string(value);
                        found.push(node, value, false)?;
                    }
                }
                Slot::Skip => s.skip_string()?,
                Slot::Number => s.number()?,
            }
        }
        s.literal(&self.text[from..])?;
        if s.peek().is_some() {
            return None;
        }
        Some(())
    }

    /// The shape of `line` as `fields::object` walks it; `None` where the line has something
    /// a shape does not cover (then it is never learned, and such lines always walk).
    fn learn(line: &str, trie: &PathTrie, walked: &Walked) -> Option<Shape> {
        let mut l = Learner {
            trie,
            source: walked.plan.source,
            shape: Shape {
                text: Vec::new(),
                slots: Vec::new(),
                hints: false,
                picks: NO_PICKS,
            },
            from: 0,
            depth: 0,
        };
        let mut s = Scanner::new(line, trie);
        s.expect(b'{')?;
        l.object(&mut s, Some(0))?;
        s.ws();
        if s.peek().is_some() {
            return None;
        }
        l.shape.text.extend_from_slice(s.since(l.from));
        let mut shape = l.shape;
        // The `k`th recorded string slot's member is `Line::found[k]` after a `read`.
        let recorded: Vec<usize> = (shape.slots.iter())
            .filter_map(|&(_, slot)| match slot {
                Slot::Read(node) => node,
                Slot::Skip | Slot::Number => None,
            })
            .collect();
        for (field, pick) in shape.picks.iter_mut().enumerate() {
            *pick = match walked.member(field) {
                None => Pick::Nothing,
                Some((node, Found::Str(_) | Found::Escaped(_))) => {
                    Pick::Slot(recorded.iter().position(|&n| n == node)?)
                }
                Some((_, Found::Object | Found::Other)) => Pick::NotString,
            };
        }
        // The walk's hint flag, which `read` no longer derives from what it records.
        if shape.hints != walked.hints() {
            return None;
        }
        Some(shape)
    }
}

struct Learner<'t> {
    trie: &'t PathTrie,
    source: Option<usize>,
    shape: Shape,
    /// Where the literal text not yet taken into the shape starts.
    from: usize,
    depth: u32,
}

impl Learner<'_> {
    /// A value starts here (after its `"` for strings): the text before it is literal.
    fn slot(&mut self, s: &Scanner, slot: Slot) {
        self.shape.text.extend_from_slice(s.since(self.from));
        self.shape.slots.push((self.shape.text.len(), slot));
    }

    /// Members of an object (`{` consumed) at trie node `at`, or off the wanted paths
    /// (`None`): `fields::object`'s walk, step for step.
    fn object(&mut self, s: &mut Scanner, at: Option<usize>) -> Option<()> {
        self.enter()?;
        if !s.closes_at_once(b'}')? {
            loop {
                s.expect(b'"')?;
                let key = s.string()?;
                s.expect(b':')?;
                s.ws();
                let node = at
                    .and_then(|at| self.trie.walk(at, &key))
                    .filter(|&n| self.trie.ends_path(n) || self.trie.inside(n).is_some());
                match node {
                    Some(node) => self.wanted(s, node)?,
                    None => self.skipped(s)?,
                }
                if s.comma_or(b'}')? {
                    break;
                }
            }
        }
        self.depth -= 1;
        Some(())
    }

    /// The value of a member at a wanted node: a string or an object the paths enter.
    fn wanted(&mut self, s: &mut Scanner, node: usize) -> Option<()> {
        let recorded = self.trie.ends_path(node) || Some(node) == self.source;
        self.shape.hints |= recorded && self.trie.ends_hint(node);
        match s.peek()? {
            b'"' => {
                s.pos += 1;
                self.slot(s, Slot::Read(recorded.then_some(node)));
                s.string()?;
                self.from = s.pos;
            }
            b'{' => {
                s.pos += 1;
                self.object(s, Some(self.trie.inside(node)?))?;
            }
            _ => return None,
        }
        Some(())
    }

    /// A value no wanted path enters, as `Scanner::skip_value` checks it.
    fn skipped(&mut self, s: &mut Scanner) -> Option<()> {
        s.ws();
        match s.peek()? {
            b'{' => {
                s.pos += 1;
                self.object(s, None)?;
            }
            b'[' => {
                s.pos += 1;
                self.enter()?;
                if !s.closes_at_once(b']')? {
                    loop {
                        self.skipped(s)?;
                        if s.comma_or(b']')? {
                            break;
                        }
                    }
                }
                self.depth -= 1;
            }
            b'"' => {
                s.pos += 1;
                self.slot(s, Slot::Skip);
                s.skip_string()?;
                self.from = s.pos;
            }
            b't' => s.literal(b"true")?,
            b'f' => s.literal(b"false")?,
            b'n' => s.literal(b"null")?,
            b'-' | b'0'..=b'9' => {
                self.slot(s, Slot::Number);
                s.number()?;
                self.from = s.pos;
            }
            _ => return None,
        }
        Some(())
    }

    fn enter(&mut self) -> Option<()> {
        if self.depth >= MAX_DEPTH {
            return None;
        }
        self.depth += 1;
        Some(())
    }
}
