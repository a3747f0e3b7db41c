//! One module per command.

pub mod common;
pub mod healthcheck;
pub mod replay;
pub mod trace_id;
pub mod tracing;
