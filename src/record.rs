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
    #[serde(default, skip_serializing_if = "Hints::is_empty")]
    pub hints: Hints,
}

/// A record borrowed: all that parsing and the store read of a line. A reader hands one
/// over straight from the line it decoded, so a line that turns out to be noise, or whose
/// text the store copies into its hop anyway, is never copied into strings of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    pub timestamp_ns: i64,
    pub host: &'a str,
    pub service: &'a str,
    pub message: &'a str,
    pub source_id: Option<&'a str>,
    pub hints: &'a FieldHints,
}

impl RecordRef<'_> {
    /// The record with strings of its own.
    pub fn to_record(self) -> LogRecord {
        LogRecord {
            timestamp_ns: self.timestamp_ns,
            host: self.host.to_string(),
            service: self.service.to_string(),
            message: self.message.to_string(),
            source_id: self.source_id.map(str::to_string),
            hints: self.hints.clone().into(),
        }
    }
}

impl<'a> From<&'a LogRecord> for RecordRef<'a> {
    fn from(r: &'a LogRecord) -> Self {
        RecordRef {
            timestamp_ns: r.timestamp_ns,
            host: &r.host,
            service: &r.service,
            message: &r.message,
            source_id: r.source_id.as_deref(),
            hints: &r.hints,
        }
    }
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

/// A record's `FieldHints`, boxed only when there are any. Most shippers send none, and a
/// record is moved several times on its way to the correlator: inline, the seven empty
/// fields would be 168 of its 272 bytes. Reads see an empty `FieldHints` when there is none
/// (`Deref`); a write makes room for them (`DerefMut`).
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(from = "FieldHints", into = "FieldHints")]
pub struct Hints(Option<Box<FieldHints>>);

static NO_HINTS: FieldHints = FieldHints {
    queue_id: None,
    queued_as: None,
    message_id: None,
    relay_host: None,
    relay_ip: None,
    relay_port: None,
    smtp_code: None,
};

impl Hints {
    pub fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(|h| h.is_empty())
    }
}

impl std::ops::Deref for Hints {
    type Target = FieldHints;

    fn deref(&self) -> &FieldHints {
        self.0.as_deref().unwrap_or(&NO_HINTS)
    }
}

impl std::ops::DerefMut for Hints {
    fn deref_mut(&mut self) -> &mut FieldHints {
        self.0.get_or_insert_with(Box::default)
    }
}

impl From<FieldHints> for Hints {
    fn from(h: FieldHints) -> Self {
        Hints((!h.is_empty()).then(|| Box::new(h)))
    }
}

impl From<Hints> for FieldHints {
    fn from(h: Hints) -> Self {
        h.0.map(|b| *b).unwrap_or_default()
    }
}

impl PartialEq for Hints {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for Hints {}

impl std::fmt::Debug for Hints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Boxed or not, hints read, compare and serialize as the plain `FieldHints` did.
    #[test]
    fn hints_are_field_hints_on_the_outside() {
        let mut rec = LogRecord::default();
        assert!(rec.hints.is_empty());
        assert_eq!(rec.hints.queue_id, None);
        assert_eq!(rec.hints, FieldHints::default().into());
        assert_eq!(
            serde_json::to_string(&rec).unwrap(),
            r#"{"timestamp_ns":0,"host":"","service":"","message":""}"#
        );
        rec.hints.queue_id = Some("A1".into());
        assert!(!rec.hints.is_empty());
        let json = serde_json::to_string(&rec).unwrap();
        assert!(json.ends_with(r#""hints":{"queue_id":"A1"}}"#), "{json}");
        let back: LogRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back, rec);
        assert_eq!(back.hints.queue_id.as_deref(), Some("A1"));
        // Emptied again, they equal none at all.
        rec.hints.queue_id = None;
        assert_eq!(rec.hints, Hints::default());
        assert!(std::mem::size_of::<LogRecord>() <= 112);
    }

    /// A record borrowed and owned again is the record, hints and source ID included.
    #[test]
    fn a_borrowed_record_owns_back_to_itself() {
        let mut rec = LogRecord {
            timestamp_ns: 7,
            host: "mx1".into(),
            service: "postfix/smtp".into(),
            message: "A1: to=<a@b>".into(),
            source_id: None,
            hints: Hints::default(),
        };
        assert_eq!(RecordRef::from(&rec).to_record(), rec);
        rec.source_id = Some("doc-1".into());
        rec.hints.queued_as = Some("B2".into());
        assert_eq!(RecordRef::from(&rec).to_record(), rec);
    }
}
