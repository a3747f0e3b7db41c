//! Sources of `LogRecord`s.

pub mod replay;
