//! The trace model: deterministic IDs (`ids`) and spans built from a correlated message
//! (`model`, as borrowed `view`s), rendered as prost structs (`model::build_spans`) or
//! encoded straight to OTLP protobuf (`wire`, batched into requests by `request`).

pub mod ids;
pub mod model;
pub mod request;
pub mod view;
pub mod wire;
