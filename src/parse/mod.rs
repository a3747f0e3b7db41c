//! Pure parsers: syslog framing (`syslog`), time zones and timestamps (`time`), and the
//! message contents of Postfix (`postfix`) and Exim (`exim`). No I/O anywhere below here.

pub mod event;
pub mod exim;
pub mod postfix;
pub mod syslog;
pub mod time;

pub use event::*;

use crate::record::LogRecord;

/// Parse a record's message according to its service (`postfix/*` → Postfix, `exim*` → Exim).
/// `None`: the line is not part of any queue file and not a rejection (connect/disconnect,
/// daemon notices, other programs) — the caller counts it as noise.
pub fn parse_record(rec: &LogRecord) -> Option<MailLine> {
    let _ = rec;
    todo!("parse helper")
}
