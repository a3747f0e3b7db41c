//! The trace model: deterministic IDs (`ids`) and spans built from a correlated message
//! (`model`).

pub mod ids;
pub mod model;
pub mod view;
