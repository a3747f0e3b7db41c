//! The correlator: hops keyed by (host, queue ID), grouped into messages by Message-ID,
//! linked upstream → downstream by next-hop queue IDs, released when quiet (`store`).

mod dedup;
mod edges;
mod hop_key;
mod hop_lines;
pub mod message;
mod released;
mod store;

pub use dedup::{Dedup, Fingerprint};
pub use edges::same_host;
pub use hop_lines::{HopLines, LineView};
pub use message::*;
pub use store::{
    Correlator, CorrelatorConfig, CorrelatorStats, ParsedRecord, RejectReport, Retained,
};

/// The store's maps are hit several times per line. foldhash is several times cheaper than
/// std's SipHash for short keys and still seeded per process, so log content (Message-IDs,
/// queue IDs) cannot be chosen to collide.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
pub(crate) type FastSet<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;

#[cfg(test)]
mod tests;
