//! `LogRecord`: one log line as a source delivers it, before any mail parsing.
//!
//! Every source (OpenSearch, files, SSH, replay input) produces these; everything downstream
//! works on them alone, so a new source only has to fill this struct.

use serde::{Deserialize, Serialize};

/// One mail-server log line with its syslog framing already taken apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LogRecord {
    /// Event time, UTC nanoseconds since the Unix epoch.
    pub timestamp_ns: i64,
    /// The host that wrote the line, as the log names it (short names are common).
    pub host: String,
    /// Syslog tag without the pid: `postfix/smtp`, `postfix/cleanup`, `exim`.
    pub service: String,
    /// The message part of the line (after `tag[pid]: `).
    pub message: String,
    /// The source's own unique ID (OpenSearch `_id`), used to drop duplicates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    /// Structured fields a shipper already extracted; when present they win over parsing.
    #[serde(default, skip_serializing_if = "FieldHints::is_empty")]
    pub hints: FieldHints,
}

/// Optional structured fields from the OpenSearch mapping (`queueid`, `queued_as`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct FieldHints {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued_as: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_port: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_code: Option<String>,
}

impl FieldHints {
    pub fn is_empty(&self) -> bool {
        self == &FieldHints::default()
    }
}
