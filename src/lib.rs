//! mailtrace: mail-server logs (Postfix, Exim) to OpenTelemetry traces.
//!
//! Data path: source → `LogRecord` → `parse` → `MailLine` → `correlate` → `Message` →
//! `trace::model` → OTLP → `export`.

pub mod config;
pub mod correlate;
pub mod daemon;
pub mod engine;
pub mod export;
pub mod loadgen;
pub mod parse;
pub mod record;
pub mod source;
pub mod trace;

pub use record::{FieldHints, LogRecord};
