//! Exporters: OTLP gRPC (`otlp`), OTLP-JSON lines (`json`).

pub mod json;
pub mod otlp;
