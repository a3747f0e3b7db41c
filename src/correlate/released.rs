//! What a released message leaves behind for late lines, kept small: the daemon remembers
//! every message it released for `recent_rounds` rounds, so at a busy site this is most of
//! what the store holds. Per hop only what a late line needs: its identity and whether it
//! saw a `client=` (to tell a reused queue ID from a late line), and the next-hop queue IDs
//! of its deliveries (so a late downstream hop still links under it). No raw lines, no
//! recipients, no replies: those went out with the spans.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::message::{Hop, Message, TimedAttempt};
use crate::parse::{Attempt, Mta, Relay};

/// A released hop.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GhostHop {
    host: String,
    queue_id: String,
    mta: Mta,
    first_ns: i64,
    last_ns: i64,
    had_client: bool,
    /// The hop's sender, so a re-opened message still names it.
    sender: Option<String>,
    links: Vec<GhostLink>,
}

/// A delivery that named the next hop's queue ID.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct GhostLink {
    timestamp_ns: i64,
    next_queue_id: String,
    /// `relay=` host: the tie-break when two hops share a queue ID.
    relay_host: Option<String>,
}

impl GhostHop {
    fn of(hop: &Hop) -> Self {
        GhostHop {
            host: hop.host.clone(),
            queue_id: hop.queue_id.clone(),
            mta: hop.mta,
            first_ns: hop.first_ns,
            last_ns: hop.last_ns,
            had_client: hop.client.is_some(),
            sender: hop.sender.clone(),
            links: hop
                .attempts
                .iter()
                .filter_map(|a| {
                    Some(GhostLink {
                        timestamp_ns: a.timestamp_ns,
                        next_queue_id: a.attempt.next_queue_id.clone()?,
                        relay_host: a.attempt.relay.as_ref().map(|r| r.host.clone()),
                    })
                })
                .collect(),
        }
    }

    pub fn is(&self, host: &str, queue_id: &str) -> bool {
        self.queue_id == queue_id && self.host == host
    }

    pub fn had_client(&self) -> bool {
        self.had_client
    }

    /// Back to a hop of a re-opened message: finished, already exported (no span of its
    /// own, its attempts neither), there only so edges and parents form.
    fn revive(self) -> Hop {
        let mut hop = Hop::new(&self.host, &self.queue_id, self.mta, self.first_ns);
        hop.last_ns = self.last_ns;
        hop.finished = true;
        hop.exported_before = true;
        hop.span_exported = true;
        hop.sender = self.sender;
        hop.attempts = self
            .links
            .into_iter()
            .map(|l| TimedAttempt {
                timestamp_ns: l.timestamp_ns,
                attempt: Attempt {
                    relay: l.relay_host.map(|host| Relay {
                        raw: host.clone(),
                        host,
                        addr: None,
                        port: None,
                    }),
                    next_queue_id: Some(l.next_queue_id),
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
    by_message: HashMap<String, (u64, Vec<GhostHop>)>,
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
