//! One module per command.

pub mod common;
pub mod doctor;
pub mod gen_load;
pub mod healthcheck;
pub mod mcp;
pub mod otlp_sink;
pub mod replay;
pub mod run;
pub mod trace_id;
pub mod tracing;
