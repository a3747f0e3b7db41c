//! Sources of `LogRecord`s. `document` maps OpenSearch documents (and replayed ndjson) through
//! the configured field mapping; the fetching sources build on it.

pub mod document;
