//! The correlator: hops keyed by (host, queue ID), grouped into messages by Message-ID.

pub mod message;

pub use message::*;
