//! Drops lines already seen: overlapping query windows (`go_back_seconds`) and overlapping
//! replay inputs deliver the same line twice.
//!
//! State: a set of 128-bit line fingerprints plus a time-ordered queue used to forget
//! fingerprints older than `window_ns` behind the newest line, so memory stays bounded by
//! the overlap window rather than by the run's length.

use std::collections::{HashSet, VecDeque};
use std::hash::Hasher;

use serde::{Deserialize, Serialize};
use siphasher::sip128::{Hasher128, SipHasher13};

use crate::record::LogRecord;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Dedup {
    window_ns: i64,
    seen: HashSet<u128>,
    order: VecDeque<(i64, u128)>,
    newest_ns: i64,
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
    fn fingerprint(rec: &LogRecord) -> u128 {
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

    /// True when the line is new (and remembers it); false for a duplicate.
    pub fn first_sighting(&mut self, rec: &LogRecord) -> bool {
        let fp = Self::fingerprint(rec);
        if !self.seen.insert(fp) {
            return false;
        }
        self.order.push_back((rec.timestamp_ns, fp));
        if rec.timestamp_ns > self.newest_ns {
            self.newest_ns = rec.timestamp_ns;
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
    fn forgets_lines_behind_the_window() {
        let mut d = Dedup::new(10);
        assert!(d.first_sighting(&rec(0, "a", None)));
        assert!(d.first_sighting(&rec(100, "b", None)));
        assert_eq!(d.len(), 1);
    }
}
