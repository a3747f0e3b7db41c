//! Postfix message contents.
