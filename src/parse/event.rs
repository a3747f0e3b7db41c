//! What the Postfix and Exim parsers extract from one line: a `MailLine`.
//!
//! These are plain data; the correlator consumes them. Times are seconds as `f64` because
//! that is how both MTAs log them (`delay=0.05`, `QT=1m2s`).

use serde::{Deserialize, Serialize};

/// Which MTA wrote a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mta {
    Postfix,
    Exim,
}

impl Mta {
    pub fn as_str(self) -> &'static str {
        match self {
            Mta::Postfix => "postfix",
            Mta::Exim => "exim",
        }
    }
}

/// One parsed mail log line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MailLine {
    pub mta: Mta,
    /// Postfix queue ID or Exim message ID; `None` for lines outside any queue file
    /// (`connect from`, `NOQUEUE: reject`, daemon notices).
    pub queue_id: Option<String>,
    pub event: MailEvent,
}

/// What a line says about its queue file.
///
/// The large variants are boxed: every parsed line is moved several times on its way to
/// its hop, and unboxed, a delivery attempt made every line 328 bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MailEvent {
    /// Postfix smtpd/pickup: `QID: client=host[ip]` (with `sasl_username=` when present),
    /// or `QID: uid=0 from=<root>` from pickup (client = None).
    Client {
        client: Option<String>,
        sasl_username: Option<String>,
    },
    /// Postfix cleanup: `QID: message-id=<…>`; `None` for `message-id=<>` or an empty value.
    /// The value is normalized: angle brackets stripped, surrounding whitespace trimmed.
    MessageId(Option<String>),
    /// Postfix qmgr: `QID: from=<sender>, size=N, nrcpt=N (queue active)`. `<>` gives "".
    Sender {
        sender: String,
        size: Option<u64>,
        nrcpt: Option<u32>,
    },
    /// Exim `<=` arrival: sender, `H=` client, `S=` size, `id=` Message-ID, `for` recipients,
    /// `RT=` receive time when logged.
    Arrival(Box<Arrival>),
    /// A delivery attempt: Postfix `to=… status=…`, Exim `=>`, `->`, `*>`, `**`, `==`.
    Attempt(Box<Attempt>),
    /// Postfix bounce/defer/trace: `QID: sender non-delivery notification: NEWQID`
    /// (also delay and success notifications). NEWQID is a new message on the same host.
    Notification {
        kind: NoticeKind,
        notice_queue_id: String,
    },
    /// Postfix qmgr `QID: removed`: the queue file is gone, this hop is over.
    Removed,
    /// Exim `Completed` (with `QT=` when logged): this hop is over.
    Completed { queue_time_s: Option<f64> },
    /// A rejection: `NOQUEUE: reject: RCPT from …` (queue_id None), or a queue-ID'd
    /// `reject:` / `milter-reject:` line, or Exim `rejected RCPT`.
    Reject(Box<Reject>),
    /// A line of a queue file that carries nothing modelled (warnings, `discard`, `hold`,
    /// `expired, returned to sender` …). Kept as a span event on its hop.
    Other,
}

/// Exim arrival (`<=`) details.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Arrival {
    /// Envelope sender; `<>` gives "".
    pub sender: String,
    /// `H=` host part, e.g. `(mx-a.example.test) [127.0.0.2]`.
    pub client: Option<String>,
    pub size: Option<u64>,
    /// Normalized Message-ID from `id=`.
    pub message_id: Option<String>,
    pub recipients: Vec<String>,
    /// `RT=` (log_selector +receive_time).
    pub receive_time_s: Option<f64>,
}

/// Outcome of one delivery attempt line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttemptStatus {
    Sent,
    Deferred,
    Bounced,
    Expired,
    /// Any other Postfix `status=` word (e.g. `undeliverable`, `deliverable` from verify).
    Other,
}

impl AttemptStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptStatus::Sent => "sent",
            AttemptStatus::Deferred => "deferred",
            AttemptStatus::Bounced => "bounced",
            AttemptStatus::Expired => "expired",
            AttemptStatus::Other => "other",
        }
    }
}

/// `relay=` value taken apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Relay {
    /// The value as logged: `127.0.0.3[127.0.0.3]:25`, `local`, `virtual`, `none`,
    /// `mail.example.com[private/dovecot-lmtp]`.
    pub raw: String,
    /// `127.0.0.3`, `local`, `mail.example.com`.
    pub host: String,
    /// Bracketed part when it is an address (or a socket path for LMTP over unix).
    pub addr: Option<String>,
    pub port: Option<u16>,
}

/// One delivery attempt line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Attempt {
    pub recipients: Vec<String>,
    pub orig_to: Option<String>,
    pub relay: Option<Relay>,
    /// Postfix `delay=` (total seconds in queue at this attempt).
    pub delay_s: Option<f64>,
    /// Postfix `delays=a/b/c/d`: before qmgr, in qmgr, conn setup, transmission.
    pub delays: Option<[f64; 4]>,
    pub dsn: Option<String>,
    pub status: Option<AttemptStatus>,
    /// The text in parentheses after `status=` (Postfix), or the `C="…"` / error text (Exim).
    pub reply: Option<String>,
    /// Next-hop queue ID from the 250 reply: `queued as X`, `id=X`.
    pub next_queue_id: Option<String>,
    /// Exim `QT=` (log_selector +queue_time).
    pub queue_time_s: Option<f64>,
    /// Exim `DT=` (log_selector +deliver_time).
    pub deliver_time_s: Option<f64>,
}

/// Kind of notice Postfix bounce/defer/trace daemons send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// `sender non-delivery notification` (a bounce: the DSN message).
    NonDelivery,
    /// `sender delay notification`.
    Delay,
    /// `sender delivery status notification` (success DSN).
    Success,
    /// `postmaster non-delivery notification` and other variants.
    Other,
}

/// A rejected transaction or recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Reject {
    /// `RCPT`, `MAIL`, `DATA`, `END-OF-MESSAGE`, `CONNECT`…
    pub stage: Option<String>,
    /// `unknown[127.0.0.3]`.
    pub client: Option<String>,
    /// SMTP reply code, `550`.
    pub code: Option<String>,
    /// Enhanced status, `5.1.1`.
    pub dsn: Option<String>,
    /// The reply text.
    pub reason: String,
    pub sender: Option<String>,
    pub recipient: Option<String>,
}
