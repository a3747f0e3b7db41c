//! Drops lines already seen: overlapping query windows (`go_back_seconds`) and overlapping
//! replay inputs deliver the same line twice.
//!
//! State: 128-bit line fingerprints, with what is needed to forget them, so memory stays
//! bounded by the overlap rather than by the run's length. Two ways to forget:
//! - by log time (replay): fingerprints older than `window_ns` behind the newest line;
//! - by read (the daemon): each fingerprint is stamped with the read that brought it, and
//!   once the next read's window starts after that read, the line cannot come again
//!   (`forget_reads_before`). This holds whatever time field the query windows on, and
//!   keeps only about one round of lines instead of minutes of them.
//!
//! A repeat carries its original's timestamp (it is in the fingerprint). So a replay's
//! lines that come in log-time order are kept as a run sorted by time, and a line is looked
//! for among the run's entries of its own time: for a line in order those are the newest
//! few, in cache. A hash set of an hour of lines is megabytes, and one lookup and one
//! removal in it per line cost two cache misses: 9 % of a replay's time. Lines out of order,
//! and all lines of a live read, go to the hash set as before.
//!
//! Persisted compactly: fingerprints of one stamp as one hex string (the set is rebuilt on
//! load).
//!
//! Fingerprints are XXH3-128. States saved before it hold SipHash-1-3 ones: those are kept
//! and lines are looked up by both until the last of them is forgotten (about one round), so
//! an upgraded daemon drops its first read's overlap as before.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use siphasher::sip128::{Hasher128, SipHasher13};
use xxhash_rust::xxh3::{xxh3_128, Xxh3Default};

use super::FastSet;
use crate::record::{LogRecord, RecordRef};

/// A line's identity for `Dedup`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    value: u128,
    /// Taken from the line's content, time included: a repeat has the same time. (A
    /// source's ID is not: the run, which finds repeats by time, never holds those.)
    timed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(from = "repr::DedupRepr", into = "repr::DedupRepr")]
pub struct Dedup {
    window_ns: i64,
    /// (time, fingerprint) of lines that came in log-time order, oldest first (log-time
    /// mode only).
    run: VecDeque<(i64, u128)>,
    /// Every other line's fingerprint.
    seen: FastSet<u128>,
    /// (stamp, fingerprint) of `seen`, in arrival order: the line's time, or the read's
    /// (`read_stamp`).
    order: VecDeque<(i64, u128)>,
    /// No line in `seen` is newer than this (`i64::MAX` when not known: a loaded state), so
    /// a newer line need not look there.
    seen_newest_ns: i64,
    newest_ns: i64,
    /// Set by the daemon for each read: forgetting follows reads, not log time.
    read_stamp: Option<i64>,
    /// Entries at the front of `order` that are SipHash fingerprints, loaded from a state
    /// saved before XXH3; while there are any, a line is looked up by that hash too.
    siphash_left: usize,
}

impl Default for Dedup {
    fn default() -> Self {
        Dedup {
            window_ns: 0,
            run: VecDeque::new(),
            seen: FastSet::default(),
            order: VecDeque::new(),
            seen_newest_ns: i64::MIN,
            newest_ns: 0,
            read_stamp: None,
            siphash_left: 0,
        }
    }
}

impl Dedup {
    pub fn new(window_ns: i64) -> Self {
        Dedup {
            window_ns,
            ..Default::default()
        }
    }

    /// The line's identity: the source's own ID when it has one (an OpenSearch `_id` is
    /// unique even for two identical lines), else the line's content.
    pub fn fingerprint<'a>(rec: impl Into<RecordRef<'a>>) -> Fingerprint {
        let rec = rec.into();
        Fingerprint {
            value: Self::hash(rec),
            timed: rec.source_id.is_none(),
        }
    }

    /// XXH3-128 of the line: a tag, its time and its parts' lengths, then the parts (or
    /// a tag and the source ID). Lengths first, so no two lines give the same bytes.
    fn hash(rec: RecordRef) -> u128 {
        match rec.source_id {
            Some(id) => xxh3_of(&[1], [id.as_bytes(), &[], &[]]),
            None => {
                let mut head = [0u8; 33];
                head[1..9].copy_from_slice(&rec.timestamp_ns.to_le_bytes());
                let parts = [rec.host, rec.service, rec.message].map(str::as_bytes);
                for (i, part) in parts.iter().enumerate() {
                    let at = 9 + 8 * i;
                    head[at..at + 8].copy_from_slice(&(part.len() as u64).to_le_bytes());
                }
                xxh3_of(&head, parts)
            }
        }
    }

    pub fn set_window(&mut self, window_ns: i64) {
        self.window_ns = window_ns;
    }

    /// The lines that follow come from a read made at `read_ns` (wall clock): from now on
    /// fingerprints are forgotten by `forget_reads_before`, not by log time.
    pub fn begin_read(&mut self, read_ns: i64) {
        self.read_stamp = Some(read_ns);
        // Lines kept by log time are kept on as lines of this read.
        while let Some((ts, fp)) = self.run.pop_front() {
            self.remember(fp, ts, read_ns);
        }
    }

    /// Forget the lines of reads made before `ns`: the next read's window starts after
    /// them, so they cannot be delivered again.
    pub fn forget_reads_before(&mut self, ns: i64) {
        while let Some(&(stamp, fp)) = self.order.front() {
            if stamp >= ns {
                break;
            }
            self.order.pop_front();
            self.seen.remove(&fp);
            self.siphash_left = self.siphash_left.saturating_sub(1);
        }
    }

    /// True when the line is new (and remembers it); false for a duplicate.
    pub fn first_sighting(&mut self, rec: &LogRecord) -> bool {
        self.first_sighting_of(Self::fingerprint(rec), rec.into())
    }

    /// `first_sighting` of a line whose `fingerprint` was taken already (on the thread that
    /// parsed it).
    pub fn first_sighting_of(&mut self, fp: Fingerprint, rec: RecordRef) -> bool {
        let Fingerprint { value: fp, timed } = fp;
        let timestamp_ns = rec.timestamp_ns;
        if self.siphash_left > 0 && self.seen.contains(&siphash(rec)) {
            return false;
        }
        let repeat = if timed {
            self.in_run(fp, timestamp_ns)
                || (timestamp_ns <= self.seen_newest_ns && self.seen.contains(&fp))
        } else {
            self.seen.contains(&fp)
        };
        if repeat {
            return false;
        }
        match self.read_stamp {
            Some(stamp) => self.remember(fp, timestamp_ns, stamp),
            None => {
                let in_order = self
                    .run
                    .back()
                    .is_none_or(|&(last, _)| timestamp_ns >= last);
                if timed && in_order {
                    self.run.push_back((timestamp_ns, fp));
                } else {
                    self.remember(fp, timestamp_ns, timestamp_ns);
                }
                if timestamp_ns > self.newest_ns {
                    self.newest_ns = timestamp_ns;
                    self.forget_old();
                }
            }
        }
        true
    }

    /// Whether the run holds the line: among its entries of the line's time, which for a
    /// line in order are the last few.
    fn in_run(&self, fp: u128, timestamp_ns: i64) -> bool {
        let same_time = |&&(ts, _): &&(i64, u128)| ts == timestamp_ns;
        match self.run.back() {
            None => false,
            Some(&(last, _)) if timestamp_ns >= last => self
                .run
                .iter()
                .rev()
                .take_while(same_time)
                .any(|e| e.1 == fp),
            Some(_) => {
                let from = self.run.partition_point(|&(ts, _)| ts < timestamp_ns);
                self.run
                    .range(from..)
                    .take_while(same_time)
                    .any(|e| e.1 == fp)
            }
        }
    }

    /// Keep a fingerprint in the set, to be forgotten by `stamp`.
    fn remember(&mut self, fp: u128, timestamp_ns: i64, stamp: i64) {
        if self.seen.insert(fp) {
            self.order.push_back((stamp, fp));
            self.seen_newest_ns = self.seen_newest_ns.max(timestamp_ns);
        }
    }

    fn forget_old(&mut self) {
        let horizon = self.newest_ns.saturating_sub(self.window_ns);
        while self.run.front().is_some_and(|&(ts, _)| ts < horizon) {
            self.run.pop_front();
        }
        while let Some(&(ts, fp)) = self.order.front() {
            // Lines out of order are forgotten in arrival order: an old line at the front
            // is forgotten once it is behind the horizon, later ones wait their turn.
            if ts >= horizon {
                break;
            }
            self.order.pop_front();
            self.seen.remove(&fp);
            self.siphash_left = self.siphash_left.saturating_sub(1);
        }
    }

    pub fn len(&self) -> usize {
        self.run.len() + self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The fingerprint of states saved before XXH3 (SipHash-1-3 of the same parts, written one
/// by one).
fn siphash(rec: RecordRef) -> u128 {
    use std::hash::Hasher;
    let mut h = SipHasher13::new_with_keys(0x6d61_696c, 0x7472_6163);
    match rec.source_id {
        Some(id) => {
            h.write_u8(1);
            h.write(id.as_bytes());
        }
        None => {
            h.write_u8(0);
            h.write_i64(rec.timestamp_ns);
            for part in [rec.host, rec.service, rec.message] {
                h.write_usize(part.len());
                h.write(part.as_bytes());
            }
        }
    }
    h.finish128().as_u128()
}

/// XXH3-128 of `head` and `parts` one after another: gathered on the stack and hashed in
/// one pass while they fit (a mail line does), streamed when they do not, which XXH3
/// defines to give the same value.
fn xxh3_of(head: &[u8], parts: [&[u8]; 3]) -> u128 {
    const ROOM: usize = 256;
    let len = head.len() + parts.iter().map(|p| p.len()).sum::<usize>();
    if len > ROOM {
        let mut stream = Box::new(Xxh3Default::new());
        stream.update(head);
        for part in parts {
            stream.update(part);
        }
        return stream.digest128();
    }
    let mut buf = [0u8; ROOM];
    let mut at = head.len();
    buf[..at].copy_from_slice(head);
    for part in parts {
        buf[at..at + part.len()].copy_from_slice(part);
        at += part.len();
    }
    xxh3_128(&buf[..len])
}

/// The persisted shape. Reads the earlier layout too (`order` as pairs, plus a `seen` set
/// that is ignored and rebuilt), so an upgraded daemon keeps its overlap filter.
mod repr {
    use super::Dedup;
    use serde::{Deserialize, Serialize};
    use std::fmt::Write as _;

    #[derive(Serialize, Deserialize)]
    pub struct DedupRepr {
        window_ns: i64,
        newest_ns: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        read_stamp: Option<i64>,
        /// Runs of one stamp: (stamp, fingerprints as 32 hex digits each).
        #[serde(default)]
        runs: Vec<(i64, String)>,
        /// Earlier layout.
        #[serde(default, skip_serializing)]
        order: Vec<(i64, u128)>,
        /// The fingerprints' hash; states saved before XXH3 have none (SipHash-1-3).
        #[serde(default)]
        hash: Option<String>,
        /// Runs at the front of `runs` that still hold SipHash fingerprints.
        #[serde(default, skip_serializing_if = "is_zero")]
        siphash_runs: usize,
    }

    const XXH3: &str = "xxh3-128";

    fn is_zero(n: &usize) -> bool {
        *n == 0
    }

    impl From<Dedup> for DedupRepr {
        fn from(d: Dedup) -> Self {
            let mut runs: Vec<(i64, String)> = Vec::new();
            let mut siphash_runs = 0;
            // A run saved in log-time mode is stamped with its lines' times.
            for (i, (stamp, fp)) in d.order.into_iter().chain(d.run).enumerate() {
                match runs.last_mut() {
                    // SipHash fingerprints and the others are never in one run.
                    Some((s, hex)) if *s == stamp && i != d.siphash_left => {
                        let _ = write!(hex, "{fp:032x}");
                    }
                    _ => {
                        runs.push((stamp, format!("{fp:032x}")));
                        if i < d.siphash_left {
                            siphash_runs += 1;
                        }
                    }
                }
            }
            DedupRepr {
                window_ns: d.window_ns,
                newest_ns: d.newest_ns,
                read_stamp: d.read_stamp,
                runs,
                order: Vec::new(),
                hash: Some(XXH3.to_string()),
                siphash_runs,
            }
        }
    }

    impl From<DedupRepr> for Dedup {
        fn from(r: DedupRepr) -> Self {
            let mut d = Dedup {
                window_ns: r.window_ns,
                newest_ns: r.newest_ns,
                read_stamp: r.read_stamp,
                // The lines' times are not saved.
                seen_newest_ns: i64::MAX,
                ..Default::default()
            };
            let siphash_runs = match r.hash.as_deref() {
                None => usize::MAX,
                Some(XXH3) => r.siphash_runs,
                Some(other) => {
                    // Not a hash this version takes: its fingerprints match no line.
                    tracing::warn!(
                        hash = other,
                        "duplicate filter: saved fingerprints of an unknown hash dropped; \
                         lines of the next read's overlap may be read twice"
                    );
                    return d;
                }
            };
            // Runs that hold SipHash fingerprints come first (the earlier layout's `order`
            // too), so the SipHash ones are the first `siphash_left` entries of `order`.
            let old = r.order.into_iter().map(|e| (true, e));
            let runs = r.runs.iter().enumerate().flat_map(|(i, (stamp, hex))| {
                // A damaged run (not whole 32-digit groups of hex) loses only its own
                // fingerprints: at worst a line of the overlap is read twice.
                hex.as_bytes()
                    .chunks_exact(32)
                    .filter_map(|c| std::str::from_utf8(c).ok())
                    .filter_map(|c| u128::from_str_radix(c, 16).ok())
                    .map(move |fp| (i < siphash_runs, (*stamp, fp)))
            });
            for (siphash, (stamp, fp)) in old.chain(runs) {
                if d.seen.insert(fp) {
                    d.order.push_back((stamp, fp));
                    d.siphash_left += usize::from(siphash);
                }
            }
            d
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ts: i64, msg: &str, id: Option<&str>) -> LogRecord {
        LogRecord {
            timestamp_ns: ts,
            host: "h".into(),
            service: "postfix/smtp".into(),
            message: msg.into(),
            source_id: id.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn drops_repeats_by_content_and_by_source_id() {
        let mut d = Dedup::new(1_000);
        assert!(d.first_sighting(&rec(1, "a", None)));
        assert!(!d.first_sighting(&rec(1, "a", None)));
        assert!(d.first_sighting(&rec(1, "b", None)));
        assert!(d.first_sighting(&rec(1, "a", Some("x"))));
        assert!(!d.first_sighting(&rec(2, "other text", Some("x"))));
    }

    #[test]
    fn by_reads_forgets_only_reads_the_next_window_cannot_reach() {
        let mut d = Dedup::new(10);
        d.begin_read(1_000);
        assert!(d.first_sighting(&rec(0, "a", None)));
        // Log time far ahead does not forget in read mode.
        assert!(d.first_sighting(&rec(1_000_000, "b", None)));
        d.begin_read(2_000);
        assert!(!d.first_sighting(&rec(0, "a", None)));
        assert!(d.first_sighting(&rec(5, "c", None)));
        d.forget_reads_before(1_500);
        assert_eq!(d.len(), 1);
        assert!(!d.first_sighting(&rec(5, "c", None)));
        assert!(d.first_sighting(&rec(0, "a", None)));
    }

    #[test]
    fn persists_compactly_and_reads_the_earlier_layout() {
        let mut d = Dedup::new(10);
        d.begin_read(7);
        for m in ["a", "b", "c"] {
            assert!(d.first_sighting(&rec(1, m, None)));
        }
        let json = serde_json::to_string(&d).unwrap();
        assert!(!json.contains("seen"), "{json}");
        assert_eq!(json.matches("[7,").count(), 1, "one run per read: {json}");
        let mut back: Dedup = serde_json::from_str(&json).unwrap();
        assert_eq!(back.len(), 3);
        assert!(!back.first_sighting(&rec(1, "b", None)));

        // The earlier layout holds SipHash fingerprints (value pinned: rec(1, "a")).
        let fp = SIPHASH_A;
        let old = format!(r#"{{"window_ns":10,"seen":[{fp}],"order":[[1,{fp}]],"newest_ns":1}}"#);
        let mut old: Dedup = serde_json::from_str(&old).unwrap();
        assert!(!old.first_sighting(&rec(1, "a", None)));
        assert!(old.first_sighting(&rec(1, "z", None)));
    }

    /// SipHash-1-3 fingerprints of `rec(1, "a", None)` and `rec(1, "a", Some("doc-1"))`, as
    /// states saved before XXH3 hold them.
    const SIPHASH_A: u128 = 0x30fe25cee097f1713bf6e2a57274eedd;
    const SIPHASH_DOC: u128 = 0xb71495e1a5ae75ce9848aab760f81b60;

    #[test]
    fn fingerprints_are_pinned() {
        // Saved states hold these: a change of the bytes hashed loses an upgrade's overlap.
        let a = Dedup::fingerprint(&rec(1, "a", None));
        assert_eq!(
            a.value, 0x70587eeb49bec5d2b6ed4d6663f6fdad,
            "{:#x}",
            a.value
        );
        let doc = Dedup::fingerprint(&rec(1, "a", Some("doc-1")));
        assert_eq!(
            doc.value, 0x523369460cffc2090e51e4d348926ef1,
            "{:#x}",
            doc.value
        );
        assert_eq!(siphash((&rec(1, "a", None)).into()), SIPHASH_A);
        assert_eq!(siphash((&rec(1, "a", Some("doc-1"))).into()), SIPHASH_DOC);
    }

    #[test]
    fn a_long_line_streams_to_the_same_fingerprint() {
        for len in [200, 222, 223, 224, 300, 5_000] {
            let msg = "x".repeat(len);
            let r = rec(1, &msg, None);
            let mut bytes = vec![0u8];
            bytes.extend(1i64.to_le_bytes());
            for part in ["h", "postfix/smtp", &msg] {
                bytes.extend((part.len() as u64).to_le_bytes());
            }
            for part in ["h", "postfix/smtp", &msg] {
                bytes.extend(part.as_bytes());
            }
            assert_eq!(Dedup::fingerprint(&r).value, xxh3_128(&bytes), "{len}");
        }
    }

    /// A state saved before XXH3: its lines are still known after an upgrade, by either
    /// layout, until they are forgotten.
    #[test]
    fn siphash_fingerprints_of_an_earlier_state_still_drop_repeats() {
        let saved = format!(
            r#"{{"window_ns":10,"newest_ns":1,"read_stamp":7,"runs":[[7,"{SIPHASH_A:032x}{SIPHASH_DOC:032x}"]]}}"#
        );
        let mut d: Dedup = serde_json::from_str(&saved).unwrap();
        assert!(!d.first_sighting(&rec(1, "a", None)));
        assert!(!d.first_sighting(&rec(5, "other", Some("doc-1"))));
        assert!(d.first_sighting(&rec(1, "b", None)));

        // Saved again, with the new read's lines behind them in the same stamp: both kinds
        // are still known after a reload.
        d.begin_read(7);
        assert!(d.first_sighting(&rec(2, "c", None)));
        let json = serde_json::to_string(&d).unwrap();
        assert!(json.contains(r#""siphash_runs":1"#), "{json}");
        let mut back: Dedup = serde_json::from_str(&json).unwrap();
        assert_eq!(back.siphash_left, 2);
        for line in [rec(1, "a", None), rec(1, "b", None), rec(2, "c", None)] {
            assert!(!back.first_sighting(&line), "{}", line.message);
        }

        // Forgotten with their read, and no longer looked up by SipHash.
        back.begin_read(20);
        back.forget_reads_before(10);
        assert_eq!(back.siphash_left, 0);
        assert!(back.first_sighting(&rec(1, "a", None)));
        let json = serde_json::to_string(&back).unwrap();
        assert!(!json.contains("siphash_runs"), "{json}");
    }

    #[test]
    fn fingerprints_of_an_unknown_hash_are_dropped() {
        let fp = Dedup::fingerprint(&rec(1, "a", None)).value;
        let saved =
            format!(r#"{{"window_ns":10,"newest_ns":1,"runs":[[7,"{fp:032x}"]],"hash":"other"}}"#);
        let mut d: Dedup = serde_json::from_str(&saved).unwrap();
        assert!(d.is_empty());
        assert!(d.first_sighting(&rec(1, "a", None)));
    }

    #[test]
    fn forgets_lines_behind_the_window() {
        let mut d = Dedup::new(10);
        assert!(d.first_sighting(&rec(0, "a", None)));
        assert!(d.first_sighting(&rec(100, "b", None)));
        assert_eq!(d.len(), 1);
    }

    /// What any order of lines must get: a line never seen before is kept, and a repeat
    /// whose original is within the window behind the newest line is dropped (a repeat of
    /// an older line may go either way). Inputs are mostly in order, with steps back (a
    /// second overlapping file, a late host) and runs of equal times.
    mod by_log_time {
        use super::*;
        use proptest::prelude::*;
        use std::collections::HashMap;

        const WINDOW: i64 = 50;

        /// (time, which of a few texts): texts 0..4 are told apart by content, 4..6 by a
        /// source ID (whatever their time).
        fn lines() -> impl Strategy<Value = Vec<(i64, u8)>> {
            // (time step: mostly 0..3 forward, sometimes far back; text)
            proptest::collection::vec((prop_oneof![6 => 0i64..3, 1 => -120i64..0], 0u8..6), 0..300)
                .prop_map(|steps| {
                    let mut ts = 1_000;
                    steps
                        .into_iter()
                        .map(|(step, text)| {
                            ts += step;
                            (ts, text)
                        })
                        .collect()
                })
        }

        fn line(ts: i64, text: u8) -> LogRecord {
            let id = format!("doc-{text}");
            rec(
                ts,
                &format!("line {text}"),
                (text >= 4).then_some(id.as_str()),
            )
        }

        fn identity(ts: i64, text: u8) -> (Option<i64>, u8) {
            ((text < 4).then_some(ts), text)
        }

        /// Feeds `lines` to `d`, which has been fed `before` already.
        fn check(
            before: &[(i64, u8)],
            lines: &[(i64, u8)],
            mut d: Dedup,
            reads: bool,
        ) -> Result<(), TestCaseError> {
            // Each identity's original time.
            let mut first_seen: HashMap<(Option<i64>, u8), i64> = HashMap::new();
            for &(ts, text) in before {
                first_seen.entry(identity(ts, text)).or_insert(ts);
            }
            let mut newest = before.iter().map(|l| l.0).max().unwrap_or(i64::MIN);
            // Reads (when `reads`) begin a third of the way in; from then on nothing is
            // forgotten by log time.
            let mut horizon_at_first_read = None;
            for (i, &(ts, text)) in lines.iter().enumerate() {
                if reads && i >= lines.len() / 3 && i % 7 == 0 {
                    horizon_at_first_read.get_or_insert(newest.saturating_sub(WINDOW));
                    d.begin_read(i as i64);
                }
                let horizon = horizon_at_first_read.unwrap_or(newest.saturating_sub(WINDOW));
                let kept = d.first_sighting(&line(ts, text));
                match first_seen.get(&identity(ts, text)) {
                    None => prop_assert!(kept, "new line {i} ({ts}, {text}) dropped"),
                    Some(&original) if original >= horizon => {
                        prop_assert!(!kept, "repeat {i} ({ts}, {text}) kept")
                    }
                    Some(_) => {}
                }
                if kept {
                    first_seen.insert(identity(ts, text), ts);
                    newest = newest.max(ts);
                }
            }
            Ok(())
        }

        proptest! {
            #[test]
            fn new_lines_are_kept_and_repeats_in_the_window_dropped(lines in lines()) {
                check(&[], &lines, Dedup::new(WINDOW), false)?;
            }

            /// The same through a save and load halfway, and with reads begun along the
            /// way (a line's run entry then moves to the set).
            #[test]
            fn so_after_a_reload_and_across_a_switch_to_reads(lines in lines()) {
                let (a, b) = lines.split_at(lines.len() / 2);
                let mut d = Dedup::new(WINDOW);
                for &(ts, text) in a {
                    d.first_sighting(&line(ts, text));
                }
                let json = serde_json::to_string(&d).unwrap();
                let back: Dedup = serde_json::from_str(&json).unwrap();
                for &(ts, text) in a {
                    let kept = back.clone().first_sighting(&line(ts, text));
                    prop_assert!(!kept || ts < d.newest_ns - WINDOW, "({ts}, {text}) kept after a reload");
                }
                check(a, b, back, false)?;
                check(&[], &lines, Dedup::new(WINDOW), true)?;
            }
        }

        /// Lines in order are kept without the set, and forgotten by time.
        #[test]
        fn lines_in_order_stay_out_of_the_set() {
            let mut d = Dedup::new(WINDOW);
            for ts in 0..200 {
                assert!(d.first_sighting(&rec(ts, "a", None)));
                assert!(d.first_sighting(&rec(ts, "b", None)));
                assert!(!d.first_sighting(&rec(ts, "a", None)));
            }
            assert!(d.seen.is_empty());
            assert_eq!(d.len(), 2 * (WINDOW as usize + 1));
            // A line out of order goes to the set, and is still found there.
            assert!(d.first_sighting(&rec(180, "c", None)));
            assert_eq!(d.seen.len(), 1);
            assert!(!d.first_sighting(&rec(180, "c", None)));
            assert!(!d.first_sighting(&rec(180, "b", None)));
            // Reads begun, the run's lines are forgotten with the read that took them on.
            d.begin_read(1_000);
            assert!(!d.first_sighting(&rec(199, "a", None)));
            d.forget_reads_before(1_001);
            assert!(d.is_empty());
        }
    }
}
