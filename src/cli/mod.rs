//! One module per command.

pub mod common;
pub mod gen_load;
pub mod replay;
pub mod trace_id;
pub mod tracing;
