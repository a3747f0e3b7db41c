//! The correlator: hops keyed by (host, queue ID), grouped into messages by Message-ID,
//! linked upstream → downstream by next-hop queue IDs, released when quiet (`store`).

mod dedup;
mod edges;
pub mod message;
mod released;
mod store;

pub use dedup::Dedup;
pub use message::*;
pub use store::{Correlator, CorrelatorConfig, CorrelatorStats, RejectReport, Retained};

#[cfg(test)]
mod tests;
