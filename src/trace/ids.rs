//! Deterministic trace and span IDs (the ID scheme is part of the product: see README).
//!
//! Anyone can compute a trace ID from a Message-ID, and a re-export of the same message
//! yields the same IDs, so collectors and Jaeger see one trace however often we send it.
//!
//! Scheme (frozen by golden tests — changing it splits every trace users already have):
//! - key: the 16 ASCII bytes `mailtrace-ids-v1`, used as SipHash key bytes;
//! - trace ID: SipHash-2-4 128-bit over the UTF-8 bytes of the normalized Message-ID,
//!   written big-endian (`Hash128::as_u128().to_be_bytes()`);
//! - span ID: SipHash-2-4 64-bit over the span's identity, big-endian. An identity is a kind
//!   tag and fields joined by the byte 0x1F (ASCII unit separator):
//!   `root␟<message-id>`, `hop␟<message-id>␟<host>␟<queue-id>`,
//!   `attempt␟<message-id>␟<host>␟<queue-id>␟<attempt unix ns>␟<recipients joined by ",">`,
//!   `stage␟<attempt identity fields>␟<stage name>`;
//! - an all-zero result (invalid in OTLP) becomes `…0001`.

use siphasher::sip::SipHasher24;
use siphasher::sip128::{Hasher128, SipHasher24 as SipHasher128};
use std::hash::Hasher;

/// The documented SipHash key.
pub const ID_KEY: &[u8; 16] = b"mailtrace-ids-v1";

const SEP: u8 = 0x1f;

pub type TraceId = [u8; 16];
pub type SpanId = [u8; 8];

/// 128-bit trace ID of a normalized Message-ID.
pub fn trace_id(message_id: &str) -> TraceId {
    let mut h = SipHasher128::new_with_key(ID_KEY);
    h.write(message_id.as_bytes());
    let v = h.finish128().as_u128();
    if v == 0 { 1u128 } else { v }.to_be_bytes()
}

fn span_id(parts: &[&[u8]]) -> SpanId {
    let mut h = Joined::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h.push(&[SEP]);
        }
        h.push(p);
    }
    finish(h.into_inner())
}

/// Bytes for a SipHash, gathered and written at once: identities are a few short fields
/// and one-byte separators, and SipHash's per-write bookkeeping costs more than hashing such
/// fields (measured: ~1 % of a replay's instructions). SipHash is streaming, so where the
/// writes split does not change the hash.
struct Joined {
    buf: [u8; 128],
    len: usize,
    h: SipHasher24,
}

impl Joined {
    fn new() -> Self {
        Self::resume(SipHasher24::new_with_key(ID_KEY))
    }

    /// Go on from a hash of earlier bytes.
    fn resume(h: SipHasher24) -> Self {
        Joined {
            buf: [0; 128],
            len: 0,
            h,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.len + bytes.len() > self.buf.len() {
            self.h.write(&self.buf[..self.len]);
            self.len = 0;
            if bytes.len() > self.buf.len() {
                self.h.write(bytes);
                return;
            }
        }
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    fn into_inner(mut self) -> SipHasher24 {
        self.h.write(&self.buf[..self.len]);
        self.h
    }
}

/// Root span `email.delivery` of a message.
pub fn root_span_id(message_id: &str) -> SpanId {
    span_id(&[b"root", message_id.as_bytes()])
}

/// Span of one hop `(host, queue_id)` of a message.
pub fn hop_span_id(message_id: &str, host: &str, queue_id: &str) -> SpanId {
    span_id(&[
        b"hop",
        message_id.as_bytes(),
        host.as_bytes(),
        queue_id.as_bytes(),
    ])
}

/// Identity of a delivery attempt; also the prefix of its stages' identities. Recipients
/// are owned or borrowed strings (`R`), whichever the caller holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptIdentity<'a, R: AsRef<str> = String> {
    pub message_id: &'a str,
    pub host: &'a str,
    pub queue_id: &'a str,
    pub timestamp_ns: i64,
    pub recipients: &'a [R],
}

impl<R: AsRef<str>> AttemptIdentity<'_, R> {
    /// The attempt's span ID and its stages' IDs, as `HopIds` gives them to the model.
    fn ids(&self) -> (SpanId, StageIds) {
        HopIds::new(self.message_id, self.host, self.queue_id)
            .attempt(self.timestamp_ns, self.recipients)
    }

    /// Span ID of the attempt itself.
    pub fn span_id(&self) -> SpanId {
        self.ids().0
    }

    /// Span ID of one delay stage (`before_qmgr`, `queue_time`, …) of this attempt.
    pub fn stage_span_id(&self, stage: &str) -> SpanId {
        self.stage_ids().span_id(stage)
    }

    /// The stage span IDs of this attempt, hashing the identity once for all of them.
    pub fn stage_ids(&self) -> StageIds {
        self.ids().1
    }
}

/// Attempt and stage span IDs of one hop. Their identities start with the hop's fields
/// (`attempt␟<message-id>␟<host>␟<queue-id>␟…`), which are hashed once per hop, not once
/// per attempt: SipHash is streaming, so a copy of the state after them goes on with each
/// attempt's own fields.
#[derive(Debug, Clone)]
pub struct HopIds {
    attempt: SipHasher24,
    stage: SipHasher24,
}

impl HopIds {
    pub fn new(message_id: &str, host: &str, queue_id: &str) -> Self {
        let prefix = |tag: &[u8]| {
            let mut h = Joined::new();
            h.push(tag);
            for part in [message_id, host, queue_id] {
                h.push(&[SEP]);
                h.push(part.as_bytes());
            }
            h.push(&[SEP]);
            h.into_inner()
        };
        HopIds {
            attempt: prefix(b"attempt"),
            stage: prefix(b"stage"),
        }
    }

    /// The span ID of the attempt logged at `timestamp_ns` for `recipients`, and its
    /// stages' IDs.
    pub fn attempt(&self, timestamp_ns: i64, recipients: &[impl AsRef<str>]) -> (SpanId, StageIds) {
        let mut digits = [0u8; 20];
        let time = decimal(timestamp_ns, &mut digits);
        let rest = |h: SipHasher24| {
            let mut h = Joined::resume(h);
            h.push(time);
            h.push(&[SEP]);
            for (i, r) in recipients.iter().enumerate() {
                if i > 0 {
                    h.push(b",");
                }
                h.push(r.as_ref().as_bytes());
            }
            h.into_inner()
        };
        (finish(rest(self.attempt)), StageIds(rest(self.stage)))
    }
}

/// Stage span IDs of one attempt (`AttemptIdentity::stage_ids`).
#[derive(Debug, Clone)]
pub struct StageIds(SipHasher24);

impl StageIds {
    pub fn span_id(&self, stage: &str) -> SpanId {
        let mut h = self.0;
        h.write(&[SEP]);
        h.write(stage.as_bytes());
        finish(h)
    }
}

fn finish(h: SipHasher24) -> SpanId {
    let v = h.finish();
    if v == 0 { 1u64 } else { v }.to_be_bytes()
}

/// `n` in decimal, as `i64::to_string` writes it, in `buf`.
fn decimal(n: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut v = n.unsigned_abs();
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if n < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    &buf[at..]
}

/// Lower-case hex, as OTLP-JSON and Jaeger URLs write IDs.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Normalize a Message-ID as the correlator keys messages: trim, strip one pair of angle
/// brackets. `None` when nothing is left (`<>`).
pub fn normalize_message_id(raw: &str) -> Option<String> {
    let t = raw.trim();
    let t = t.strip_prefix('<').unwrap_or(t);
    let t = t.strip_suffix('>').unwrap_or(t).trim();
    (!t.is_empty()).then(|| t.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn decimal_matches_to_string() {
        for n in [0, 7, -7, 10, 1_740_787_200_123_456_789, i64::MIN, i64::MAX] {
            let mut buf = [0u8; 20];
            assert_eq!(super::decimal(n, &mut buf), n.to_string().as_bytes());
        }
    }

    use super::*;

    #[test]
    fn ids_are_never_zero_and_differ_by_kind() {
        let m = "a@b";
        assert_ne!(root_span_id(m), hop_span_id(m, "", ""));
        assert_ne!(trace_id(m), [0; 16]);
    }

    /// However the bytes are split into pushes, the hash is that of one write of them all.
    #[test]
    fn joined_writes_hash_as_one() {
        for len in [0usize, 1, 7, 8, 127, 128, 129, 255, 256, 257, 600] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 256) as u8).collect();
            let mut one = SipHasher24::new_with_key(ID_KEY);
            one.write(&bytes);
            for piece in [1, 3, 100, 300] {
                let mut h = Joined::new();
                for chunk in bytes.chunks(piece) {
                    h.push(chunk);
                }
                assert_eq!(
                    h.into_inner().finish(),
                    one.finish(),
                    "{len} bytes in {piece}s"
                );
            }
        }
    }

    #[test]
    fn field_boundaries_matter() {
        assert_ne!(hop_span_id("m", "ab", "c"), hop_span_id("m", "a", "bc"));
    }

    #[test]
    fn normalizes_message_ids() {
        assert_eq!(normalize_message_id(" <x@y> ").as_deref(), Some("x@y"));
        assert_eq!(normalize_message_id("x@y").as_deref(), Some("x@y"));
        assert_eq!(normalize_message_id("<>"), None);
        assert_eq!(normalize_message_id(""), None);
    }
}
