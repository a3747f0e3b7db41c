//! A hand-written JSON scanner for ndjson lines: the fast way to a `SparseDoc`.
//!
//! `sparse::decode` drives serde_json, whose per-member visitor calls and generic number
//! handling cost more than the documents are worth. This walks the line once, byte by byte,
//! keeps the members the wanted paths reach (exactly as `sparse::decode` does: same trie,
//! same tree), borrows strings without escapes, and skips everything else with a word-at-a-
//! time search for the next quote, backslash or control byte.
//!
//! It only ever answers for lines it fully understands. Anything unusual — invalid JSON,
//! a top level that is not an object, exponents or huge numbers, lone surrogates, deep
//! nesting — gives `None`, and the caller goes the serde way, which then decides (errors,
//! limits, edge cases) exactly as before. So the scanner must never accept a line serde_json
//! rejects, and never build a different tree: `tests` checks both against `sparse::decode`.

use std::borrow::Cow;

use serde_json::Number;

use super::sparse::{Decoded, PathTrie, SparseDoc, LEAF};

/// Kept (tree-building) nesting deeper than this goes the serde way, which has its own limit
/// (128) for it; the scanner's recursion stays shallow.
const MAX_KEPT_DEPTH: u32 = 32;

/// Skipped nesting is tracked in one `u128`, one bit per level.
const MAX_SKIPPED_DEPTH: u32 = 128;

/// Numbers longer than this (and any with an exponent) go the serde way: only it knows when
/// a number is out of range.
const MAX_NUMBER_LEN: usize = 40;

/// Decode `line` keeping what `paths` reach, as `sparse::decode` would; `None` when the line
/// is not of the plain shape this scanner handles (the caller then uses `sparse::decode`).
pub fn decode<'a>(line: &'a str, paths: &PathTrie) -> Option<Decoded<'a>> {
    let mut s = Scanner::new(line, paths);
    s.ws();
    if s.peek()? != b'{' {
        return None;
    }
    let doc = s.value(0)?;
    s.ws();
    if s.pos != s.b.len() {
        return None;
    }
    Some(Decoded {
        doc,
        may_have_hints: s.saw_hint,
    })
}

/// The walk over one line; its primitives also serve `fields`.
pub(super) struct Scanner<'a, 'p> {
    line: &'a str,
    b: &'a [u8],
    pub(super) pos: usize,
    trie: &'p PathTrie,
    saw_hint: bool,
    /// Kept objects and arrays open around `pos`.
    depth: u32,
}

impl<'a, 'p> Scanner<'a, 'p> {
    pub(super) fn new(line: &'a str, trie: &'p PathTrie) -> Self {
        Scanner {
            line,
            b: line.as_bytes(),
            pos: 0,
            trie,
            saw_hint: false,
            depth: 0,
        }
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    /// JSON whitespace, as serde_json accepts it.
    pub(super) fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.b.get(self.pos) {
            self.pos += 1;
        }
    }

    pub(super) fn expect(&mut self, c: u8) -> Option<()> {
        self.ws();
        (self.peek()? == c).then(|| self.pos += 1)
    }

    /// Right after `{` or `[`: true (and consumed) when `close` follows at once, an empty
    /// container; `None` at the end of the line.
    pub(super) fn closes_at_once(&mut self, close: u8) -> Option<bool> {
        self.ws();
        let empty = self.peek()? == close;
        if empty {
            self.pos += 1;
        }
        Some(empty)
    }

    /// After a member of an object or array: `,` (false: another follows) or `close` (true:
    /// the container ended); anything else is not JSON.
    pub(super) fn comma_or(&mut self, close: u8) -> Option<bool> {
        self.ws();
        let c = self.peek()?;
        self.pos += 1;
        match c {
            b',' => Some(false),
            c if c == close => Some(true),
            _ => None,
        }
    }

    /// The line's bytes from `from` up to the current position.
    pub(super) fn since(&self, from: usize) -> &'a [u8] {
        &self.b[from..self.pos]
    }

    pub(super) fn literal(&mut self, word: &[u8]) -> Option<()> {
        let here = self.b.get(self.pos..self.pos + word.len())?;
        same_bytes(here, word).then(|| self.pos += word.len())
    }

    /// A value to keep, at trie node `at` (`LEAF`: kept whole, members of objects dropped).
    pub(super) fn value(&mut self, at: usize) -> Option<SparseDoc<'a>> {
        self.ws();
        Some(match self.peek()? {
            b'{' => {
                self.enter()?;
                let members = self.object(at)?;
                self.depth -= 1;
                SparseDoc::Object(members)
            }
            b'[' => {
                self.enter()?;
                let items = self.array(at)?;
                self.depth -= 1;
                SparseDoc::Array(items)
            }
            b'"' => {
                self.pos += 1;
                SparseDoc::Str(self.string()?)
            }
            b't' => {
                self.literal(b"true")?;
                SparseDoc::Bool(true)
            }
            b'f' => {
                self.literal(b"false")?;
                SparseDoc::Bool(false)
            }
            b'n' => {
                self.literal(b"null")?;
                SparseDoc::Null
            }
            b'-' | b'0'..=b'9' => {
                let start = self.pos;
                self.number()?;
                // serde_json's own conversion, so the value is the one it would produce.
                let n = serde_json::from_str::<Number>(&self.line[start..self.pos]).ok()?;
                SparseDoc::Number(n)
            }
            _ => return None,
        })
    }

    /// Opening `{` or `[` of a kept value.
    fn enter(&mut self) -> Option<()> {
        if self.depth >= MAX_KEPT_DEPTH {
            return None;
        }
        self.depth += 1;
        self.pos += 1;
        Some(())
    }

    /// Members of a kept object, `{` consumed. Keys are always decoded (serde_json checks
    /// them even where every member is dropped), values only when a path enters them.
    fn object(&mut self, at: usize) -> Option<Vec<(Cow<'a, str>, SparseDoc<'a>)>> {
        let mut members = Vec::new();
        if self.closes_at_once(b'}')? {
            return Some(members);
        }
        loop {
            self.expect(b'"')?;
            let key = self.string()?;
            self.expect(b':')?;
            let wanted = if at == LEAF {
                None
            } else {
                self.trie.member(at, &key)
            };
            match wanted {
                Some((inside, hint)) => {
                    self.saw_hint |= hint;
                    let v = self.value(inside)?;
                    members.push((key, v));
                }
                None => self.skip_value()?,
            }
            if self.comma_or(b'}')? {
                return Some(members);
            }
        }
    }

    /// Items of a kept array, `[` consumed: each at the same trie node, since lookups see
    /// through one-element arrays.
    fn array(&mut self, at: usize) -> Option<Vec<SparseDoc<'a>>> {
        let mut items = Vec::new();
        if self.closes_at_once(b']')? {
            return Some(items);
        }
        loop {
            items.push(self.value(at)?);
            if self.comma_or(b']')? {
                return Some(items);
            }
        }
    }

    /// Skip one value, validating it as serde_json's `IgnoredAny` does. A loop with a bit
    /// stack of open containers (1 = object), not recursion: skipped nesting is the sender's.
    pub(super) fn skip_value(&mut self) -> Option<()> {
        let mut stack: u128 = 0;
        let mut depth = 0u32;
        loop {
            self.ws();
            match self.peek()? {
                open @ (b'{' | b'[') => {
                    if depth >= MAX_SKIPPED_DEPTH {
                        return None;
                    }
                    self.pos += 1;
                    let is_object = open == b'{';
                    self.ws();
                    let close = if is_object { b'}' } else { b']' };
                    if self.peek()? != close {
                        stack = (stack << 1) | u128::from(is_object);
                        depth += 1;
                        if is_object {
                            self.skip_key()?;
                        }
                        continue;
                    }
                    self.pos += 1;
                }
                b'"' => {
                    self.pos += 1;
                    self.skip_string()?;
                }
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                b'-' | b'0'..=b'9' => self.number()?,
                _ => return None,
            }
            // A value is complete: close containers until one takes another element.
            loop {
                if depth == 0 {
                    return Some(());
                }
                let is_object = stack & 1 == 1;
                self.ws();
                match self.peek()? {
                    b',' => {
                        self.pos += 1;
                        if is_object {
                            self.skip_key()?;
                        }
                        break;
                    }
                    b'}' if is_object => {}
                    b']' if !is_object => {}
                    _ => return None,
                }
                self.pos += 1;
                stack >>= 1;
                depth -= 1;
            }
        }
    }

    /// `"key":` of a skipped object.
    fn skip_key(&mut self) -> Option<()> {
        self.expect(b'"')?;
        self.skip_string()?;
        self.expect(b':')
    }

    /// A number as serde_json's grammar has it (`-?(0|[1-9][0-9]*)(\.[0-9]+)?`); exponents
    /// and very long numbers are left to serde_json (range errors).
    pub(super) fn number(&mut self) -> Option<()> {
        let start = self.pos;
        if self.peek()? == b'-' {
            self.pos += 1;
        }
        match self.peek()? {
            b'0' => self.pos += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            let at = self.pos;
            self.digits();
            if self.pos == at {
                return None;
            }
        }
        match self.peek() {
            Some(b'e' | b'E' | b'0'..=b'9') => None,
            _ => (self.pos - start <= MAX_NUMBER_LEN).then_some(()),
        }
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.b.get(self.pos) {
            self.pos += 1;
        }
    }

    /// A string whose `"` is consumed, unescaped; borrowed from the line when it has no
    /// escapes. Inlined: a line has several strings, most without escapes, and the call
    /// cost more than the usual string (escapes are out of line, to keep this small).
    #[inline]
    pub(super) fn string(&mut self) -> Option<Cow<'a, str>> {
        let start = self.pos;
        let end = find_special(self.b, start);
        match self.b.get(end)? {
            b'"' => {
                self.pos = end + 1;
                Some(Cow::Borrowed(&self.line[start..end]))
            }
            b'\\' => self.escaped_string(start, end).map(Cow::Owned),
            _ => None,
        }
    }

    /// `string` from its first `\` at `end`, the text before it starting at `start`. Never
    /// inlined: it would make `string` too large to inline.
    #[inline(never)]
    fn escaped_string(&mut self, start: usize, end: usize) -> Option<String> {
        let mut out = String::with_capacity(end - start + 16);
        out.push_str(&self.line[start..end]);
        self.pos = end;
        self.unescape_rest(&mut out)?;
        Some(out)
    }

    /// From a `\` inside a string to its closing `"`, appending the text to `out`.
    fn unescape_rest(&mut self, out: &mut String) -> Option<()> {
        loop {
            // At a backslash.
            self.pos += 1;
            let c = self.peek()?;
            self.pos += 1;
            match c {
                b'"' => out.push('"'),
                b'\\' => out.push('\\'),
                b'/' => out.push('/'),
                b'b' => out.push('\u{8}'),
                b'f' => out.push('\u{c}'),
                b'n' => out.push('\n'),
                b'r' => out.push('\r'),
                b't' => out.push('\t'),
                b'u' => out.push(self.unicode_escape()?),
                _ => return None,
            }
            let start = self.pos;
            let end = find_special(self.b, start);
            out.push_str(&self.line[start..end]);
            self.pos = end;
            match self.peek()? {
                b'"' => {
                    self.pos += 1;
                    return Some(());
                }
                b'\\' => {}
                _ => return None,
            }
        }
    }

    /// Skip a string whose `"` is consumed, checking escapes as serde_json's `ignore_str`
    /// does (any four hex digits after `\u`). Inlined as `string` is: most strings end at
    /// the first special byte; the rest is out of line.
    #[inline]
    pub(super) fn skip_string(&mut self) -> Option<()> {
        self.pos = find_special(self.b, self.pos);
        if self.peek()? == b'"' {
            self.pos += 1;
            return Some(());
        }
        self.skip_string_rest()
    }

    /// `skip_string` from its first special byte on.
    #[inline(never)]
    fn skip_string_rest(&mut self) -> Option<()> {
        loop {
            match self.peek()? {
                b'"' => {
                    self.pos += 1;
                    return Some(());
                }
                b'\\' => {
                    self.pos += 1;
                    let c = self.peek()?;
                    self.pos += 1;
                    match c {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                        b'u' => {
                            self.hex4()?;
                        }
                        _ => return None,
                    }
                }
                _ => return None,
            }
            self.pos = find_special(self.b, self.pos);
        }
    }

    /// The character of a `\uXXXX` escape (`\u` consumed), joining a surrogate pair. A lone
    /// surrogate is an error to serde_json in a kept string: left to it.
    fn unicode_escape(&mut self) -> Option<char> {
        let n = u32::from(self.hex4()?);
        if !(0xD800..0xDC00).contains(&n) {
            // `None` for a lone trailing surrogate.
            return char::from_u32(n);
        }
        if self.b.get(self.pos..self.pos + 2)? != b"\\u" {
            return None;
        }
        self.pos += 2;
        let low = u32::from(self.hex4()?);
        if !(0xDC00..0xE000).contains(&low) {
            return None;
        }
        char::from_u32(0x1_0000 + ((n - 0xD800) << 10 | (low - 0xDC00)))
    }

    fn hex4(&mut self) -> Option<u16> {
        let digits = self.b.get(self.pos..self.pos + 4)?;
        let mut n = 0u16;
        for &d in digits {
            n = n * 16 + (d as char).to_digit(16)? as u16;
        }
        self.pos += 4;
        Some(n)
    }
}

/// Index of the first `"`, `\` or control byte (< 0x20) at or after `from`, or `b.len()`.
/// Strings are most of a line, so this looks at sixteen bytes per step (one SSE2 register).
fn find_special(b: &[u8], from: usize) -> usize {
    let Some(rest) = b.get(from..) else {
        return from;
    };
    // Most strings are short (a host name, a level, a process id): the first eight bytes
    // are looked at as one word, for less than a vector step and its hit cost.
    let (from, rest) = match rest.split_first_chunk::<8>() {
        Some((first, rest)) => match special_in_word(first) {
            Some(at) => return from + at,
            None => (from + first.len(), rest),
        },
        None => (from, rest),
    };
    let (chunks, tail) = rest.as_chunks::<LANES>();
    for (k, chunk) in chunks.iter().enumerate() {
        if has_special(chunk) {
            return from + k * LANES + first_flagged(specials(chunk));
        }
    }
    if tail.is_empty() {
        return b.len();
    }
    // Fewer than `LANES` bytes are left (a line's last string ends here): look at the
    // line's last `LANES` bytes, without the flags of the bytes before the tail.
    let before = b.len() - tail.len();
    match b.last_chunk::<LANES>() {
        Some(last) => {
            let skip = 8 * (LANES - tail.len()) as u32;
            match specials(last).checked_shr(skip) {
                Some(flags) if flags != 0 => before + first_flagged(flags),
                _ => b.len(),
            }
        }
        None => tail
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
            .map_or(b.len(), |at| before + at),
    }
}

/// Bytes `find_special` looks at per step.
const LANES: usize = 16;

/// Whether `chunk` holds a special byte: three OR reductions of one comparison each, which
/// LLVM compiles to three vector compares and `pmovmskb`s (no `unsafe`, no intrinsics).
/// Written as one reduction of the three comparisons, or as a test of `specials`, the code
/// LLVM makes (after the crate's local ThinLTO) tests the bytes in pieces, several times
/// slower; `scan::tests` cannot see that, instruction counts do.
#[inline(always)]
fn has_special(chunk: &[u8; LANES]) -> bool {
    let quote = chunk.iter().fold(0u8, |acc, &c| acc | u8::from(c == b'"'));
    let backslash = chunk.iter().fold(0u8, |acc, &c| acc | u8::from(c == b'\\'));
    let control = chunk.iter().fold(0u8, |acc, &c| acc | u8::from(c < 0x20));
    quote | backslash | control != 0
}

/// Per byte of `chunk`, 0xff where it is special and 0 elsewhere, as a little-endian number
/// (byte `j` is bits `8j..8j + 8`): three vector compares, once per string.
#[inline(always)]
fn specials(chunk: &[u8; LANES]) -> u128 {
    let mut flags = [0u8; LANES];
    for (f, &c) in flags.iter_mut().zip(chunk) {
        let quote = if c == b'"' { 0xff } else { 0 };
        let backslash = if c == b'\\' { 0xff } else { 0 };
        let control = if c < 0x20 { 0xff } else { 0 };
        *f = quote | backslash | control;
    }
    u128::from_le_bytes(flags)
}

/// Index of the first special byte of eight, all at once (SWAR).
fn special_in_word(word: &[u8; 8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let x = u64::from_le_bytes(*word);
    let quote = x ^ (ONES * u64::from(b'"'));
    let backslash = x ^ (ONES * u64::from(b'\\'));
    // Per byte: high bit set where the byte is zero (quote/backslash) or below 0x20. The
    // lowest flagged byte is exact (borrows only run upwards).
    let found = (quote.wrapping_sub(ONES) & !quote
        | backslash.wrapping_sub(ONES) & !backslash
        | x.wrapping_sub(ONES * 0x20) & !x)
        & HIGH;
    (found != 0).then(|| (found.trailing_zeros() / 8) as usize)
}

/// The index of the lowest flagged byte of non-zero `specials`.
fn first_flagged(flags: u128) -> usize {
    (flags.trailing_zeros() / 8) as usize
}

/// `a == b` for two slices of one length, eight bytes a step. A learned shape's literals
/// (keys and punctuation, 10 to 40 bytes, several per line) are compared on every line, and
/// a call of `memcmp` for each cost more than the compare.
#[inline]
pub(super) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| u64::from_ne_bytes(s[at..at + 8].try_into().unwrap());
    if n < 8 {
        return a == b;
    }
    // Whole words, then the last eight bytes (overlapping what came before).
    let mut at = 0;
    while at + 8 < n {
        if word(a, at) != word(b, at) {
            return false;
        }
        at += 8;
    }
    word(a, n - 8) == word(b, n - 8)
}

#[cfg(test)]
pub(super) mod tests;
