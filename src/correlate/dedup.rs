//! Drops lines already seen: overlapping query windows (`go_back_seconds`) and overlapping
//! replay inputs deliver the same line twice.
//!
//! State: a set of 128-bit line fingerprints plus a queue in arrival order used to forget
//! them, so memory stays bounded by the overlap rather than by the run's length. Two ways to
//! forget:
//! - by log time (replay): fingerprints older than `window_ns` behind the newest line;
//! - by read (the daemon): each fingerprint is stamped with the read that brought it, and
//!   once the next read's window starts after that read, the line cannot come again
//!   (`forget_reads_before`). This holds whatever time field the query windows on, and
//!   keeps only about one round of lines instead of minutes of them.
//!
//! Persisted compactly: the queue only (the set is rebuilt on load), fingerprints of one
//! stamp as one hex string.

use std::collections::VecDeque;
use std::hash::Hasher;

use serde::{Deserialize, Serialize};
use siphasher::sip128::{Hasher128, SipHasher13};

use super::FastSet;
use crate::record::LogRecord;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(from = "repr::DedupRepr", into = "repr::DedupRepr")]
pub struct Dedup {
    window_ns: i64,
    seen: FastSet<u128>,
    /// (stamp, fingerprint) in arrival order: the line's time, or the read's (`read_stamp`).
    order: VecDeque<(i64, u128)>,
    newest_ns: i64,
    /// Set by the daemon for each read: forgetting follows reads, not log time.
    read_stamp: Option<i64>,
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
    pub fn fingerprint(rec: &LogRecord) -> u128 {
        let mut h = SipHasher13::new_with_keys(0x6d61_696c, 0x7472_6163);
        match &rec.source_id {
            Some(id) => {
                h.write_u8(1);
                h.write(id.as_bytes());
            }
            None => {
                h.write_u8(0);
                h.write_i64(rec.timestamp_ns);
                for part in [&rec.host, &rec.service, &rec.message] {
                    h.write_usize(part.len());
                    h.write(part.as_bytes());
                }
            }
        }
        h.finish128().as_u128()
    }

    pub fn set_window(&mut self, window_ns: i64) {
        self.window_ns = window_ns;
    }

    /// The lines that follow come from a read made at `read_ns` (wall clock): from now on
    /// fingerprints are forgotten by `forget_reads_before`, not by log time.
    pub fn begin_read(&mut self, read_ns: i64) {
        self.read_stamp = Some(read_ns);
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
        }
    }

    /// True when the line is new (and remembers it); false for a duplicate.
    pub fn first_sighting(&mut self, rec: &LogRecord) -> bool {
        self.first_sighting_of(Self::fingerprint(rec), rec.timestamp_ns)
    }

    /// `first_sighting` of a line whose `fingerprint` was taken already (on the thread that
    /// parsed it).
    pub fn first_sighting_of(&mut self, fp: u128, timestamp_ns: i64) -> bool {
        if !self.seen.insert(fp) {
            return false;
        }
        if let Some(stamp) = self.read_stamp {
            self.order.push_back((stamp, fp));
            return true;
        }
        self.order.push_back((timestamp_ns, fp));
        if timestamp_ns > self.newest_ns {
            self.newest_ns = timestamp_ns;
            self.forget_old();
        }
        true
    }

    fn forget_old(&mut self) {
        let horizon = self.newest_ns.saturating_sub(self.window_ns);
        while let Some(&(ts, fp)) = self.order.front() {
            // Lines arrive roughly in time order; an out-of-order old line at the front
            // is forgotten once it is behind the horizon, later ones wait their turn.
            if ts >= horizon {
                break;
            }
            self.order.pop_front();
            self.seen.remove(&fp);
        }
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
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
    }

    impl From<Dedup> for DedupRepr {
        fn from(d: Dedup) -> Self {
            let mut runs: Vec<(i64, String)> = Vec::new();
            for (stamp, fp) in d.order {
                match runs.last_mut() {
                    Some((s, hex)) if *s == stamp => {
                        let _ = write!(hex, "{fp:032x}");
                    }
                    _ => runs.push((stamp, format!("{fp:032x}"))),
                }
            }
            DedupRepr {
                window_ns: d.window_ns,
                newest_ns: d.newest_ns,
                read_stamp: d.read_stamp,
                runs,
                order: Vec::new(),
            }
        }
    }

    impl From<DedupRepr> for Dedup {
        fn from(r: DedupRepr) -> Self {
            let mut d = Dedup {
                window_ns: r.window_ns,
                newest_ns: r.newest_ns,
                read_stamp: r.read_stamp,
                ..Default::default()
            };
            let runs = r.runs.iter().flat_map(|(stamp, hex)| {
                // A damaged run (not whole 32-digit groups of hex) loses only its own
                // fingerprints: at worst a line of the overlap is read twice.
                hex.as_bytes()
                    .chunks_exact(32)
                    .filter_map(|c| std::str::from_utf8(c).ok())
                    .filter_map(|c| u128::from_str_radix(c, 16).ok())
                    .map(move |fp| (*stamp, fp))
            });
            for (stamp, fp) in r.order.into_iter().chain(runs) {
                if d.seen.insert(fp) {
                    d.order.push_back((stamp, fp));
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

        let fp = Dedup::fingerprint(&rec(1, "a", None));
        let old = format!(r#"{{"window_ns":10,"seen":[{fp}],"order":[[1,{fp}]],"newest_ns":1}}"#);
        let mut old: Dedup = serde_json::from_str(&old).unwrap();
        assert!(!old.first_sighting(&rec(1, "a", None)));
        assert!(old.first_sighting(&rec(1, "z", None)));
    }

    #[test]
    fn forgets_lines_behind_the_window() {
        let mut d = Dedup::new(10);
        assert!(d.first_sighting(&rec(0, "a", None)));
        assert!(d.first_sighting(&rec(100, "b", None)));
        assert_eq!(d.len(), 1);
    }
}
