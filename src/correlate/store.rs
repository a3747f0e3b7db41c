//! The message store: the correlator's state between batches.
//!
//! State kept (all serializable, so the daemon can persist it):
//! - `messages`: pending messages by normalized Message-ID, each with its hops;
//! - `live`: (host, queue ID) → Message-ID for every hop whose `message-id=` line was seen,
//!   so lines that come rounds later (deferred retries, `removed`) find their message;
//! - `orphans`: hops whose Message-ID is not known yet (`client=` comes before
//!   `message-id=`; a late-indexed line may come a batch later) — bounded;
//! - `recent`: hops of messages already released, kept for a while so that a late line
//!   still lands in the right trace instead of becoming a stray one;
//! - `notices`: (host, notice queue ID) → the hop that bounced, to link the DSN's trace;
//! - the duplicate filter.
//!
//! Release: `end_round` hands out messages that saw no line for `hold_rounds` rounds and
//! whose every hop finished (`removed`/`Completed`), and messages forced out by a limit
//! (age, count) marked incomplete. `drain` hands out everything (replay's end of input).

use hashbrown::hash_map::EntryRef;
use serde::{Deserialize, Serialize};

use super::dedup::{Dedup, Fingerprint};
use super::edges::link_hops;
use super::hop_key::{HopKey, HopMap, KeyRef};
use super::message::{Hop, Message, Notice, NoticeOrigin, TimedAttempt};
use super::released::Released;
use super::FastMap;
use crate::parse::{self, MailEvent, MailLine, Mta, Reject};
use crate::record::{LogRecord, RecordRef};
use crate::trace::ids::normalize_message_id;

/// Limits and timing of the store.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CorrelatorConfig {
    /// Quiet rounds before a finished message is released (0 = at the end of its round).
    pub hold_rounds: u32,
    /// A message pending longer than this (log time) is released incomplete.
    pub max_age_ns: i64,
    /// More pending messages than this: the least recently active are released incomplete.
    pub max_pending_messages: usize,
    /// Hops without a known Message-ID kept at most; the oldest are released incomplete.
    pub max_orphans: usize,
    /// Raw lines kept per hop (span events); further lines are only counted.
    pub max_lines_per_hop: usize,
    /// Duplicate detection reaches back this far behind the newest line.
    pub dedup_window_ns: i64,
    /// Released messages are remembered this many rounds for late lines.
    pub recent_rounds: u64,
    /// …and at most this many of them (the oldest are forgotten first).
    pub max_recent_messages: usize,
    /// A delivery that names a next-hop queue ID not seen yet holds its message this long
    /// (log time) for the downstream host's lines, which often arrive later.
    pub next_hop_grace_ns: i64,
    /// Treat a mapped `message_id` field on a line like a `message-id=` line.
    pub trust_message_id_hint: bool,
}

impl Default for CorrelatorConfig {
    fn default() -> Self {
        const SEC: i64 = 1_000_000_000;
        CorrelatorConfig {
            hold_rounds: 2,
            max_age_ns: 1800 * SEC,
            max_pending_messages: 100_000,
            max_orphans: 100_000,
            max_lines_per_hop: 200,
            dedup_window_ns: 3600 * SEC,
            // Ten minutes at the default 60 s rounds: what a released message leaves for
            // late lines is the bulk of a busy daemon's memory and of each saved state.
            recent_rounds: 10,
            max_recent_messages: 50_000,
            next_hop_grace_ns: 60 * SEC,
            trust_message_id_hint: false,
        }
    }
}

/// Counters of what the store did with its input.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorrelatorStats {
    pub lines: u64,
    pub duplicates: u64,
    /// Lines that belong to no queue file (connect/disconnect, daemon notices, other programs).
    pub unmatched: u64,
    pub rejects: u64,
    pub late_lines: u64,
    pub messages_released: u64,
    /// Released because of a limit, before every hop finished.
    pub messages_incomplete: u64,
    /// Released hops whose `message-id=` line never came.
    pub orphans_released: u64,
}

/// Entry counts of the store's maps (see `Correlator::retained`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retained {
    pub messages: usize,
    pub orphans: usize,
    pub live_hops: usize,
    pub recent_hops: usize,
    pub released_messages: usize,
    pub released_order: usize,
    pub notices: usize,
    pub rejects: usize,
    pub dedup_lines: usize,
}

/// A rejection that never became a queue file (`NOQUEUE: reject`), reported on its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RejectReport {
    pub timestamp_ns: i64,
    pub host: String,
    pub reject: Reject,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PendingMessage {
    hops: Vec<Hop>,
    last_round: u64,
    first_ns: i64,
    notice_of: Option<NoticeOrigin>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Orphan {
    hop: Hop,
    last_round: u64,
}

/// A record with its parse and its duplicate-filter fingerprint, ready for the store. Both
/// need nothing of the store, so they can run on another thread; only `parse` makes one, so
/// they always belong to the record.
#[derive(Debug)]
pub struct ParsedRecord {
    pub(super) rec: LogRecord,
    /// `None` for noise, which is neither filed nor deduplicated.
    line: Option<(MailLine, Fingerprint)>,
}

impl ParsedRecord {
    /// The record parsed, and made owned only as far as the store needs it: a noise line,
    /// which the store only counts, keeps nothing but its time.
    pub fn parse<'a>(rec: impl Into<RecordRef<'a>>) -> Self {
        let rec = rec.into();
        let line = parse_for_store(rec);
        let rec = match line {
            Some(_) => rec.to_record(),
            None => LogRecord {
                timestamp_ns: rec.timestamp_ns,
                ..LogRecord::default()
            },
        };
        ParsedRecord { rec, line }
    }

    pub fn timestamp_ns(&self) -> i64 {
        self.rec.timestamp_ns
    }
}

/// What the store needs of a record besides the record: its parse and, for lines it files,
/// the duplicate filter's fingerprint (noise is neither filed nor deduplicated).
fn parse_for_store(rec: RecordRef) -> Option<(MailLine, Fingerprint)> {
    parse::parse_record(rec).map(|l| (l, Dedup::fingerprint(rec)))
}

/// The correlator. Feed it records with `ingest`, call `end_round` after each batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Correlator {
    cfg: CorrelatorConfig,
    round: u64,
    /// Newest log time seen: the clock for age limits (log time, not wall time, so
    /// a replay of old logs behaves like the daemon did).
    watermark_ns: i64,
    dedup: Dedup,
    messages: FastMap<String, PendingMessage>,
    #[serde(with = "pairs")]
    live: HopMap<String>,
    #[serde(with = "pairs")]
    orphans: HopMap<Orphan>,
    #[serde(with = "pairs")]
    recent: HopMap<(String, u64)>,
    /// Released messages' hops, compacted: a late line re-opens the message with these as
    /// `exported_before` hops so edges still form. (A state saved before this compact form
    /// existed stored `released`; that field is ignored: only late-line links of messages
    /// released just before the upgrade are lost.)
    #[serde(default)]
    ghosts: Released,
    #[serde(with = "pairs")]
    notices: HopMap<NoticeOrigin>,
    rejects: Vec<RejectReport>,
    /// Messages forced out mid-batch by the orphan limit, handed out at the next release.
    overflow: Vec<Message>,
    stats: CorrelatorStats,
}

impl Correlator {
    pub fn new(cfg: CorrelatorConfig) -> Self {
        Correlator {
            dedup: Dedup::new(cfg.dedup_window_ns),
            cfg,
            round: 0,
            watermark_ns: i64::MIN,
            messages: FastMap::default(),
            live: HopMap::default(),
            orphans: HopMap::default(),
            recent: HopMap::default(),
            ghosts: Released::default(),
            notices: HopMap::default(),
            rejects: Vec::new(),
            overflow: Vec::new(),
            stats: CorrelatorStats::default(),
        }
    }

    /// Move the store's clock forward without a line (the daemon passes the wall clock less
    /// the read overlap), so age limits and grace periods run on a quiet system too.
    pub fn observe_clock(&mut self, now_ns: i64) {
        self.watermark_ns = self.watermark_ns.max(now_ns);
    }

    /// The lines that follow come from a read of a live source made at `read_ns` (wall
    /// clock); see `Dedup`: duplicates are then remembered per read, not by log time.
    pub fn begin_read(&mut self, read_ns: i64) {
        self.dedup.begin_read(read_ns);
    }

    /// The next read's window starts at `window_start_ns`: forget the duplicate filter's
    /// lines of reads made before it, which that window cannot deliver again.
    pub fn forget_reads_before(&mut self, window_start_ns: i64) {
        self.dedup.forget_reads_before(window_start_ns);
    }

    /// Apply new limits (a restarted daemon keeps its state but takes the current config).
    pub fn set_config(&mut self, cfg: CorrelatorConfig) {
        self.dedup.set_window(cfg.dedup_window_ns);
        self.cfg = cfg;
    }

    pub fn config(&self) -> &CorrelatorConfig {
        &self.cfg
    }

    pub fn stats(&self) -> &CorrelatorStats {
        &self.stats
    }

    pub fn pending_messages(&self) -> usize {
        self.messages.len()
    }

    pub fn pending_orphans(&self) -> usize {
        self.orphans.len()
    }

    /// Sizes of everything the store keeps between rounds (tests and metrics check that
    /// none grows with the input's length).
    pub fn retained(&self) -> Retained {
        Retained {
            messages: self.messages.len(),
            orphans: self.orphans.len(),
            live_hops: self.live.len(),
            recent_hops: self.recent.len(),
            released_messages: self.ghosts.len(),
            released_order: self.ghosts.order_len(),
            notices: self.notices.len(),
            rejects: self.rejects.len(),
            dedup_lines: self.dedup.len(),
        }
    }

    /// Rejections seen since the last call (NOQUEUE rejects are never hops).
    pub fn take_rejects(&mut self) -> Vec<RejectReport> {
        std::mem::take(&mut self.rejects)
    }

    /// Parse and file one record. Duplicates and lines outside any queue file are counted.
    pub fn ingest<'a>(&mut self, rec: impl Into<RecordRef<'a>>) {
        let rec = rec.into();
        if let Some(line) = self.admit(rec, parse_for_store(rec)) {
            self.file(rec, line);
        }
    }

    /// `ingest` for a record parsed elsewhere (`replay` parses on its reading thread).
    pub fn ingest_record(&mut self, parsed: ParsedRecord) {
        let ParsedRecord { rec, line } = parsed;
        let rec = RecordRef::from(&rec);
        if let Some(line) = self.admit(rec, line) {
            self.file(rec, line);
        }
    }

    /// Count the line; its parse back when it is neither noise nor a duplicate.
    fn admit(&mut self, rec: RecordRef, line: Option<(MailLine, Fingerprint)>) -> Option<MailLine> {
        self.stats.lines += 1;
        self.watermark_ns = self.watermark_ns.max(rec.timestamp_ns);
        // Noise is not deduplicated: identical `connect from` lines in one second are
        // normal and carry nothing, so counting them as duplicates would only mislead.
        let Some((line, fingerprint)) = line else {
            self.stats.unmatched += 1;
            return None;
        };
        if !self.dedup.first_sighting_of(fingerprint, rec) {
            self.stats.duplicates += 1;
            return None;
        }
        Some(line)
    }

    /// File an already parsed line (the parse step is separate so benchmarks and tests can
    /// drive the store directly).
    pub fn ingest_parsed(&mut self, rec: &LogRecord, line: MailLine) {
        self.file(rec.into(), line);
    }

    /// File a parsed line (its text is copied into the hop's line buffer).
    fn file(&mut self, rec: RecordRef, mut line: MailLine) {
        let Some(queue_id) = line.queue_id.take() else {
            if let MailEvent::Reject(reject) = line.event {
                self.stats.rejects += 1;
                self.rejects.push(RejectReport {
                    timestamp_ns: rec.timestamp_ns,
                    host: rec.host.to_string(),
                    reject: *reject,
                });
            } else {
                self.stats.unmatched += 1;
            }
            return;
        };
        let key = KeyRef {
            host: rec.host,
            queue_id: &queue_id,
        };

        let hint = if self.cfg.trust_message_id_hint {
            rec.hints
                .message_id
                .as_deref()
                .and_then(normalize_message_id)
        } else {
            None
        };
        let binds_to = match &mut line.event {
            // The hop keeps nothing of a `message-id=` line's event: the ID moves.
            MailEvent::MessageId(Some(m)) => Some(std::mem::take(m)),
            MailEvent::MessageId(None) => Some(missing_id(key)),
            MailEvent::Arrival(a) => Some(a.message_id.clone().unwrap_or_else(|| missing_id(key))),
            _ => hint,
        };

        let round = self.round;
        let is_client = matches!(line.event, MailEvent::Client { .. });
        // The usual line: of a live hop, binding nothing. Its hop is found with one lookup.
        let usual = match (&binds_to, is_client) {
            (None, false) => self.live.get(&key),
            _ => None,
        };
        let hop = 'hop: {
            if let Some(m) = usual {
                break 'hop live_hop(&mut self.messages, m, key, round);
            }
            self.file_unusual(key, rec, &line, binds_to);
            match self.live.get(&key) {
                Some(m) => live_hop(&mut self.messages, m, key, round),
                None => orphan_hop(&mut self.orphans, key, line.mta, rec.timestamp_ns, round),
            }
        };
        apply(hop, rec, line.event, self.cfg.max_lines_per_hop);

        // A bounce notice names a new queue file on this host: remember whose bounce it is.
        if let Some(n) = hop
            .notices
            .last()
            .filter(|n| n.timestamp_ns == rec.timestamp_ns)
        {
            let notice_key = HopKey {
                host: key.host.to_string(),
                queue_id: n.notice_queue_id.clone(),
            };
            let origin = NoticeOrigin {
                kind: n.kind,
                message_id: self.live.get(&key).cloned().unwrap_or_default(),
                host: key.host.to_string(),
                queue_id: key.queue_id.to_string(),
            };
            // The notice's own queue file may have logged already; else it picks the origin up
            // when it binds (and the entry goes then, so the map holds only notices whose
            // queue file has not shown up yet).
            match self.live.get(&notice_key).cloned() {
                Some(notice_msg) => {
                    if let Some(p) = self.messages.get_mut(&notice_msg) {
                        p.notice_of.get_or_insert(origin);
                    }
                }
                None => {
                    self.notices.insert(notice_key, origin);
                }
            }
        }
        if self.orphans.len() > self.cfg.max_orphans {
            self.evict_oldest_orphan();
        }
    }

    /// What a line that binds, or starts a queue file, or has no live hop does before it is
    /// filed: bind its hop, end a reused queue ID's old life, or take a late line back.
    fn file_unusual(
        &mut self,
        key: KeyRef,
        rec: RecordRef,
        line: &MailLine,
        binds_to: Option<String>,
    ) {
        if let Some(message_id) = binds_to {
            self.bind(key, &message_id, line.mta, rec.timestamp_ns);
        } else if let Some(m) = self.live.get(&key) {
            let starts_new_file = matches!(line.event, MailEvent::Client { .. })
                && self
                    .messages
                    .get(m)
                    .and_then(|p| p.hops.iter().find(|h| is_key(h, key)))
                    .is_some_and(|h| h.finished);
            if starts_new_file {
                // Postfix reused the queue ID for a new queue file.
                self.live.remove(&key);
            }
        } else if let Some((m, _)) = self.recent.get(&key).cloned() {
            // A `client=` for a released hop that already had one starts a new queue file
            // under a reused queue ID; any other line is a late line of the released hop.
            let reused = matches!(line.event, MailEvent::Client { .. })
                && self
                    .ghosts
                    .hop(&m, key.host, key.queue_id)
                    .is_some_and(|g| g.had_client());
            if reused {
                self.recent.remove(&key);
            } else {
                // A line for a message already released: it goes to the same trace.
                self.stats.late_lines += 1;
                self.bind(key, &m, line.mta, rec.timestamp_ns);
            }
        }
    }

    /// Attach the hop `key` to `message_id` (moving a waiting orphan in).
    fn bind(&mut self, key: KeyRef, message_id: &str, mta: Mta, ts: i64) {
        if let Some(current) = self.live.get(&key) {
            if current == message_id {
                return;
            }
            // The queue ID now names a different message: a reused ID, new lifetime.
            self.live.remove(&key);
        }
        let notice_of = self.notices.remove(&key);
        // Looked up first: the entry API would copy the Message-ID for every hop it binds.
        if !self.messages.contains_key(message_id) {
            let pending = PendingMessage {
                // Re-opened after release: the exported hops come back for linking only.
                hops: self.ghosts.take(message_id),
                last_round: self.round,
                first_ns: ts,
                notice_of: None,
            };
            self.messages.insert(message_id.to_string(), pending);
        }
        let pending = self
            .messages
            .get_mut(message_id)
            .expect("pending message was just found or made");
        if pending.notice_of.is_none() {
            pending.notice_of = notice_of;
        }
        if let Some(ghost) = pending.hops.iter_mut().find(|h| is_key(h, key)) {
            // A late line for an exported hop: it is live again; its old attempts stay
            // marked as exported, so only what is new becomes spans. It stays finished:
            // its `removed` was already seen and will not come again, so waiting for one
            // would hold the late line until the age limit and export it as incomplete.
            ghost.exported_before = false;
        } else {
            let hop = self
                .orphans
                .remove(&key)
                .map(|o| o.hop)
                .unwrap_or_else(|| new_hop(key, mta, ts));
            pending.first_ns = pending.first_ns.min(hop.first_ns);
            pending.hops.push(hop);
        }
        self.live.insert(key.to_owned(), message_id.to_string());
    }

    /// Close a batch: release what is ready, then start the next round.
    pub fn end_round(&mut self) -> Vec<Message> {
        let mut out = std::mem::take(&mut self.overflow);
        let round = self.round;
        let hold = u64::from(self.cfg.hold_rounds);
        let max_age = self.cfg.max_age_ns;
        let watermark = self.watermark_ns;

        let grace = self.cfg.next_hop_grace_ns;
        let done = |p: &PendingMessage| {
            p.last_round + hold <= round
                && p.hops.iter().all(|h| h.finished)
                && !awaits_next_hop(&p.hops, watermark, grace)
        };
        let too_old = |p: &PendingMessage| watermark.saturating_sub(p.first_ns) > max_age;
        // Taken out as they are found: no copy of each Message-ID, no second lookup.
        let ready: Vec<(String, PendingMessage)> = self
            .messages
            .extract_if(|_, p| done(p) || too_old(p))
            .collect();
        for (id, pending) in ready {
            let incomplete = !done(&pending);
            out.push(self.release_pending(id, pending, incomplete));
        }

        // The count limit: the least recently active go first.
        if self.messages.len() > self.cfg.max_pending_messages {
            let mut by_age: Vec<(u64, i64, String)> = self
                .messages
                .iter()
                .map(|(id, p)| (p.last_round, p.first_ns, id.clone()))
                .collect();
            by_age.sort();
            let excess = self.messages.len() - self.cfg.max_pending_messages;
            for (_, _, id) in by_age.into_iter().take(excess) {
                out.push(self.release(&id, true));
            }
        }

        // Orphans wait for their `message-id=` line however many rounds it takes (a
        // shipper may deliver it late); only the age limit gives up on them.
        let stale: Vec<HopKey> = self
            .orphans
            .iter()
            .filter(|(_, o)| watermark.saturating_sub(o.hop.first_ns) > max_age)
            .map(|(k, _)| k.clone())
            .collect();
        for key in stale {
            out.push(self.release_orphan(&key));
        }

        let keep = self.cfg.recent_rounds;
        self.recent.retain(|_, (_, r)| *r + keep >= round);
        self.ghosts.expire(round, keep);
        self.round += 1;
        sort_messages(&mut out);
        out
    }

    /// Release everything pending, finished or not (end of a replay).
    /// A message whose hops did not all finish is not marked incomplete here: the input
    /// ended, no limit cut it short, and its hop spans say `email.finished = false`.
    pub fn drain(&mut self) -> Vec<Message> {
        let mut out = std::mem::take(&mut self.overflow);
        let ids: Vec<String> = self.messages.keys().cloned().collect();
        for id in ids {
            out.push(self.release(&id, false));
        }
        let keys: Vec<HopKey> = self.orphans.keys().cloned().collect();
        for key in keys {
            out.push(self.release_orphan(&key));
        }
        sort_messages(&mut out);
        out
    }

    fn release(&mut self, message_id: &str, incomplete: bool) -> Message {
        let (message_id, pending) = self
            .messages
            .remove_entry(message_id)
            .expect("released message is pending");
        self.release_pending(message_id, pending, incomplete)
    }

    /// `release` of a message already taken out of `messages`.
    fn release_pending(
        &mut self,
        message_id: String,
        mut pending: PendingMessage,
        incomplete: bool,
    ) -> Message {
        for hop in &pending.hops {
            let key = KeyRef {
                host: &hop.host,
                queue_id: &hop.queue_id,
            };
            // A hop is live until its message goes: its entry's key and Message-ID move on
            // to `recent` rather than being copied there.
            let live = match self.live.entry_ref(&key) {
                EntryRef::Occupied(e) if *e.get() == message_id => Some(e.remove_entry()),
                _ => None,
            };
            let (key, id) = live.unwrap_or_else(|| (key.to_owned(), message_id.clone()));
            self.recent.insert(key, (id, self.round));
        }
        // A notice origin recorded before the bounced hop knew its message: fill it now.
        if let Some(origin) = pending.notice_of.as_mut() {
            if origin.message_id.is_empty() {
                let k = HopKey {
                    host: origin.host.clone(),
                    queue_id: origin.queue_id.clone(),
                };
                if let Some(m) = self.live.get(&k).or(self.recent.get(&k).map(|(m, _)| m)) {
                    origin.message_id = m.clone();
                }
            }
        }
        let notice_of = pending.notice_of.filter(|o| !o.message_id.is_empty());
        self.stats.messages_released += 1;
        if incomplete {
            self.stats.messages_incomplete += 1;
        }
        let msg = finish_message(message_id, &mut pending.hops, incomplete, notice_of);
        // What late lines need of it, kept for `recent_rounds`.
        self.ghosts
            .remember(&msg, self.round, self.cfg.max_recent_messages);
        msg
    }

    fn release_orphan(&mut self, key: &HopKey) -> Message {
        let orphan = self.orphans.remove(key).expect("released orphan exists");
        self.stats.orphans_released += 1;
        self.stats.messages_released += 1;
        self.stats.messages_incomplete += 1;
        let mut hops = vec![orphan.hop];
        finish_message(missing_id(key.as_ref()), &mut hops, true, None)
    }

    fn evict_oldest_orphan(&mut self) {
        if let Some(key) = self
            .orphans
            .iter()
            .min_by_key(|(k, o)| (o.last_round, o.hop.first_ns, (*k).clone()))
            .map(|(k, _)| k.clone())
        {
            let msg = self.release_orphan(&key);
            self.overflow.push(msg);
        }
    }
}

/// Some delivery named a next-hop queue ID that no hop of the message has yet, recently
/// enough (log time) that the downstream host's lines may still be on their way. A next hop
/// outside the logged hosts never shows up: the grace period bounds the wait.
fn awaits_next_hop(hops: &[Hop], watermark: i64, grace_ns: i64) -> bool {
    hops.iter().any(|h| {
        h.attempts.iter().any(|a| {
            a.timestamp_ns.saturating_add(grace_ns) > watermark
                && a.attempt
                    .next_queue_id
                    .as_deref()
                    .is_some_and(|next| !hops.iter().any(|d| d.queue_id == next))
        })
    })
}

fn finish_message(
    message_id: String,
    hops: &mut Vec<Hop>,
    incomplete: bool,
    notice_of: Option<NoticeOrigin>,
) -> Message {
    hops.sort_by(|a, b| {
        (a.first_ns, &a.host, &a.queue_id).cmp(&(b.first_ns, &b.host, &b.queue_id))
    });
    link_hops(hops);
    Message {
        message_id,
        hops: std::mem::take(hops),
        incomplete,
        notice_of,
    }
}

fn sort_messages(out: &mut [Message]) {
    out.sort_by(|a, b| {
        let fa = a.hops.first().map_or(i64::MIN, |h| h.first_ns);
        let fb = b.hops.first().map_or(i64::MIN, |h| h.first_ns);
        (fa, &a.message_id).cmp(&(fb, &b.message_id))
    });
}

/// The synthetic Message-ID of a queue file that logged none.
fn missing_id(key: KeyRef) -> String {
    format!("mailtrace.missing/{}/{}", key.host, key.queue_id)
}

/// The hop `key` of live message `m`, marked active this round.
fn live_hop<'s>(
    messages: &'s mut FastMap<String, PendingMessage>,
    m: &str,
    key: KeyRef,
    round: u64,
) -> &'s mut Hop {
    let pending = messages.get_mut(m).expect("live hop has a pending message");
    pending.last_round = round;
    pending
        .hops
        .iter_mut()
        .find(|h| is_key(h, key))
        .expect("live hop is in its message")
}

/// The orphan hop `key` (made if new), marked active this round.
fn orphan_hop<'s>(
    orphans: &'s mut HopMap<Orphan>,
    key: KeyRef,
    mta: Mta,
    ts: i64,
    round: u64,
) -> &'s mut Hop {
    // Looked up by the borrowed key: an owned one is made only for a new orphan.
    let orphan = match orphans.entry_ref(&key) {
        EntryRef::Occupied(e) => e.into_mut(),
        EntryRef::Vacant(e) => e.insert_with_key(
            key.to_owned(),
            Orphan {
                hop: new_hop(key, mta, ts),
                last_round: round,
            },
        ),
    };
    orphan.last_round = round;
    &mut orphan.hop
}

fn is_key(h: &Hop, key: KeyRef) -> bool {
    h.queue_id == key.queue_id && h.host == key.host
}

fn new_hop(key: KeyRef, mta: Mta, ts: i64) -> Hop {
    Hop::new(key.host, key.queue_id, mta, ts)
}

/// Fold one line into its hop.
fn apply(hop: &mut Hop, rec: RecordRef, event: MailEvent, max_lines: usize) {
    let ts = rec.timestamp_ns;
    hop.first_ns = hop.first_ns.min(ts);
    hop.last_ns = hop.last_ns.max(ts);
    if hop.lines.len() >= max_lines || !hop.lines.push(ts, rec.service, rec.message) {
        hop.lines_dropped += 1;
    }
    match event {
        MailEvent::Client {
            client,
            sasl_username,
        } => {
            hop.client = hop.client.take().or(client);
            hop.sasl_username = hop.sasl_username.take().or(sasl_username);
        }
        MailEvent::MessageId(_) | MailEvent::Other => {}
        MailEvent::Sender {
            sender,
            size,
            nrcpt,
        } => {
            hop.sender = Some(sender);
            hop.size = size.or(hop.size);
            hop.nrcpt = nrcpt.or(hop.nrcpt);
        }
        MailEvent::Arrival(a) => {
            hop.sender = Some(a.sender.clone());
            hop.size = a.size.or(hop.size);
            hop.client = a.client.clone().or(hop.client.take());
            hop.arrival = Some(a);
        }
        MailEvent::Attempt(attempt) => hop.attempts.push(TimedAttempt {
            timestamp_ns: ts,
            attempt: *attempt,
            exported_before: false,
        }),
        MailEvent::Notification {
            kind,
            notice_queue_id,
        } => hop.notices.push(Notice {
            timestamp_ns: ts,
            kind,
            notice_queue_id,
        }),
        MailEvent::Removed => hop.finished = true,
        MailEvent::Completed { queue_time_s } => {
            hop.finished = true;
            hop.completed_queue_time_s = queue_time_s;
        }
        MailEvent::Reject(r) => hop.rejects.push(*r),
    }
}

/// Maps with struct keys serialize as pair lists (JSON object keys must be strings).
mod pairs {
    use hashbrown::HashMap;
    use serde::de::DeserializeOwned;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::hash::{BuildHasher, Hash};

    pub fn serialize<K: Serialize + Ord, V: Serialize, H, S: Serializer>(
        map: &HashMap<K, V, H>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        // Sorted so that a persisted state is byte-stable for the same content.
        let mut v: Vec<(&K, &V)> = map.iter().collect();
        v.sort_by(|a, b| a.0.cmp(b.0));
        v.serialize(s)
    }

    pub fn deserialize<'de, K, V, H, D>(d: D) -> Result<HashMap<K, V, H>, D::Error>
    where
        K: DeserializeOwned + Eq + Hash,
        H: BuildHasher + Default,
        V: DeserializeOwned,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}
