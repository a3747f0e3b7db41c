//! Exim message contents.
