//! Exporters: OTLP gRPC (`otlp`), OTLP-JSON lines (`json`), readable text (`console`).

pub mod console;
pub mod json;
pub mod otlp;
