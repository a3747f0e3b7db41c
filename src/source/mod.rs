//! Log sources: each turns some store of mail logs into `LogRecord`s.

pub mod opensearch;
