//! Spans from a `Message`.
