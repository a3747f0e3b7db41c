//! What a released message leaves behind for late lines, kept small: the daemon remembers
//! every message it released for `recent_rounds` rounds, so at a busy site this is most of
//! what the store holds. Per hop only what a late line needs: its identity and whether it
//! saw a `client=` (to tell a reused queue ID from a late line), and the next-hop queue IDs
//! of its deliveries (so a late downstream hop still links under it). No raw lines, no
//! recipients, no replies: those went out with the spans, and a re-release sends neither
//! the root nor these hops' spans again (`trace::model::visit_spans`).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::message::{Hop, Message, TimedAttempt};
use super::FastMap;
use crate::parse::{Attempt, Mta, Relay};

/// A released hop. Persisted as a JSON array (no field names): the daemon saves thousands
/// of these every round.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GhostHop(
    String, // host
    String, // queue ID
    Mta,
    i64,  // first line, ns
    i64,  // last line, ns
    bool, // saw `client=`
    Vec<GhostLink>,
);

/// A delivery that named the next hop's queue ID: (time, next queue ID, `relay=` host —
/// the tie-break when two hops share a queue ID). One per distinct pair: the deliveries
/// of several recipients to the same next hop link once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct GhostLink(i64, String, Option<String>);

impl GhostHop {
    fn of(hop: &Hop) -> Self {
        let mut links: Vec<GhostLink> = Vec::new();
        for a in &hop.attempts {
            let Some(next) = &a.attempt.next_queue_id else {
                continue;
            };
            let relay = a.attempt.relay.as_ref().map(|r| &r.host);
            if !links.iter().any(|l| &l.1 == next && l.2.as_ref() == relay) {
                links.push(GhostLink(a.timestamp_ns, next.clone(), relay.cloned()));
            }
        }
        GhostHop(
            hop.host.clone(),
            hop.queue_id.clone(),
            hop.mta,
            hop.first_ns,
            hop.last_ns,
            hop.client.is_some(),
            links,
        )
    }

    pub fn is(&self, host: &str, queue_id: &str) -> bool {
        self.1 == queue_id && self.0 == host
    }

    pub fn had_client(&self) -> bool {
        self.5
    }

    /// Back to a hop of a re-opened message: finished, already exported (no span of its
    /// own, its attempts neither), there only so edges and parents form.
    fn revive(self) -> Hop {
        let GhostHop(host, queue_id, mta, first_ns, last_ns, _, links) = self;
        let mut hop = Hop::new(&host, &queue_id, mta, first_ns);
        hop.last_ns = last_ns;
        hop.finished = true;
        hop.exported_before = true;
        hop.span_exported = true;
        hop.attempts = links
            .into_iter()
            .map(|GhostLink(timestamp_ns, next, relay)| TimedAttempt {
                timestamp_ns,
                attempt: Attempt {
                    relay: relay.map(|host| Relay {
                        raw: host.clone(),
                        host,
                        addr: None,
                        port: None,
                    }),
                    next_queue_id: Some(next),
                    ..Default::default()
                },
                exported_before: true,
            })
            .collect();
        hop
    }
}

/// Released messages by Message-ID, with the round of their release, oldest first out.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Released {
    by_message: FastMap<String, (u64, Vec<GhostHop>)>,
    /// Release order, to forget the oldest cheaply (may name entries already gone).
    order: VecDeque<String>,
}

impl Released {
    /// Remember `msg`, released in `round`; forget the oldest beyond `max` messages.
    pub fn remember(&mut self, msg: &Message, round: u64, max: usize) {
        let ghosts = msg.hops.iter().map(GhostHop::of).collect();
        self.by_message
            .insert(msg.message_id.clone(), (round, ghosts));
        self.order.push_back(msg.message_id.clone());
        while self.by_message.len() > max {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.by_message.remove(&oldest);
        }
        // Entries re-opened or expired leave stale names behind; keep the queue in step.
        if self.order.len() > 2 * self.by_message.len() + 16 {
            let live = &self.by_message;
            self.order.retain(|id| live.contains_key(id));
        }
    }

    /// The released hop `(host, queue_id)` of `message_id`, if remembered.
    pub fn hop(&self, message_id: &str, host: &str, queue_id: &str) -> Option<&GhostHop> {
        self.by_message
            .get(message_id)?
            .1
            .iter()
            .find(|g| g.is(host, queue_id))
    }

    /// Re-open `message_id`: its hops come back as exported ghosts (empty if forgotten).
    pub fn take(&mut self, message_id: &str) -> Vec<Hop> {
        self.by_message
            .remove(message_id)
            .map(|(_, g)| g.into_iter().map(GhostHop::revive).collect())
            .unwrap_or_default()
    }

    /// Forget messages released more than `keep` rounds before `round`.
    pub fn expire(&mut self, round: u64, keep: u64) {
        self.by_message.retain(|_, (r, _)| *r + keep >= round);
    }

    pub fn len(&self) -> usize {
        self.by_message.len()
    }

    pub fn order_len(&self) -> usize {
        self.order.len()
    }
}
