//! Sources of `LogRecord`s: followed files (`file`), OpenSearch (`opensearch`), whole-file
//! input for replay (`replay`), remote files over SSH for one-shot commands (`ssh`), and the
//! OpenSearch document mapper (`document`).

pub mod document;
pub mod file;
pub mod opensearch;
pub mod replay;
pub mod ssh;
