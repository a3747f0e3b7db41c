//! Time zones from config (`"+08:00"`, `"UTC"`, `"Europe/Berlin"`) and fast timestamp parsing.

/// A configured time zone: a fixed offset or an IANA zone (DST-aware).
#[derive(Debug, Clone, PartialEq)]
pub enum Zone {
    Fixed(i32),
    Named(chrono_tz::Tz),
}
