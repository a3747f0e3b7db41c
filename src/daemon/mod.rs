//! `mailtrace tracing`: the daemon. Each round reads `[cursor − go_back_seconds, now)` (or
//! the new bytes of the followed files), correlates, releases quiet messages, persists the
//! state, then drains the export queue.
//!
//! Order matters for "lose nothing, export nothing twice with different content": the state
//! (cursor, pending messages, queue, exported span IDs) is saved *before* exporting, so a
//! crash between the two re-sends at most the same bytes, and a failed read never moves the
//! cursor nor ends a round (a message's next line may be in the unread data).

pub mod healthcheck;
pub mod metrics;
pub mod queue;
pub mod rounds;
pub mod state;

pub use rounds::{run, DaemonError, DaemonOptions, Sink};
