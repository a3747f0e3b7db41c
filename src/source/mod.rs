//! Log sources that produce raw lines or `LogRecord`s.

pub mod file;
