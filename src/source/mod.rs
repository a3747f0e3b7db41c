//! Sources of `LogRecord`s: followed files (`file`), OpenSearch (`opensearch`), whole-file
//! input for replay (`replay`), and the OpenSearch document mapper (`document`).

pub mod document;
pub mod file;
pub mod opensearch;
pub mod replay;
