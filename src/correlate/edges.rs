//! Parent links between the hops of one message.
//!
//! An upstream delivery that logged a next-hop ID X ("queued as X", "id=X") is the parent
//! of the hop of the same message whose queue ID is X. Relay names are only a tie-breaker:
//! logs carry short host names while `relay=` shows IPs or FQDNs.

use super::message::Hop;

/// Fill `hop.parent` for every hop that some other hop of the message delivered to.
/// `hops` must already be in their final order.
pub fn link_hops(hops: &mut [Hop]) {
    let mut parent: Vec<Option<usize>> = vec![None; hops.len()];
    for (up, hop) in hops.iter().enumerate() {
        for timed in &hop.attempts {
            let Some(next) = timed.attempt.next_queue_id.as_deref() else {
                continue;
            };
            let relay_host = timed.attempt.relay.as_ref().map(|r| r.host.as_str());
            let target = best_downstream(hops, up, next, relay_host, timed.timestamp_ns);
            if let Some(down) = target {
                if parent[down].is_none() && !creates_cycle(&parent, up, down) {
                    parent[down] = Some(up);
                }
            }
        }
    }
    for (hop, p) in hops.iter_mut().zip(parent) {
        hop.parent = p;
    }
}

fn best_downstream(
    hops: &[Hop],
    up: usize,
    next_queue_id: &str,
    relay_host: Option<&str>,
    at_ns: i64,
) -> Option<usize> {
    let mut best: Option<(u8, i64, usize)> = None;
    for (i, h) in hops.iter().enumerate() {
        if i == up || h.queue_id != next_queue_id {
            continue;
        }
        // Lower rank wins: a relay name that matches the log host, then time proximity.
        let name_rank = match relay_host {
            Some(r) if same_host(r, &h.host) => 0,
            _ => 1,
        };
        let distance = (h.first_ns - at_ns).abs();
        let cand = (name_rank, distance, i);
        if best.is_none_or(|b| cand < b) {
            best = Some(cand);
        }
    }
    best.map(|(_, _, i)| i)
}

/// `mx-b` matches `mx-b.example.test` and vice versa; case-insensitive. (No lowercased
/// copies: this runs for every candidate link of every released message.)
pub fn same_host(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b) || short_name(a).eq_ignore_ascii_case(short_name(b))
}

/// The first label of a host name.
fn short_name(host: &str) -> &str {
    host.split('.').next().unwrap_or(host)
}

fn creates_cycle(parent: &[Option<usize>], up: usize, down: usize) -> bool {
    // Walking up from `up` must not reach `down`.
    let mut cur = Some(up);
    let mut steps = 0;
    while let Some(c) = cur {
        if c == down || steps > parent.len() {
            return true;
        }
        cur = parent[c];
        steps += 1;
    }
    false
}
