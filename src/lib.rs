//! mailtrace: mail-server logs (Postfix, Exim) to OpenTelemetry traces.
//!
//! Data path: source → `LogRecord` → `parse` → `MailLine` → `correlate` → `Message` →
//! `trace::model` → OTLP → `export`. One-shot searches (`run`, `graph`) go through
//! `investigate`; the MCP server (`mcp`) too.

pub mod config;
pub mod correlate;
pub mod daemon;
pub mod engine;
pub mod export;
pub mod investigate;
pub mod loadgen;
pub mod mcp;
pub mod parse;
pub mod record;
pub mod source;
pub mod trace;

pub use record::{FieldHints, LogRecord};
