//! One module per command.

pub mod common;
pub mod doctor;
pub mod replay;
pub mod run;
pub mod trace_id;
pub mod tracing;
