//! One-shot investigations ("where did this mail go?"): find the messages whose log lines on
//! the start host(s) contain a keyword within a time window, follow every hop across hosts,
//! and hand back the correlated messages. Serves `run`/`trace`, `graph` and (later) MCP.
//!
//! The search narrows step by step, with a bounded number of source queries:
//! 1. *seed*: lines on the start hosts containing a keyword (address, domain, queue ID,
//!    Message-ID, SASL user …) — their hops `(host, queue ID)` are the matches;
//! 2. *follow*: lines carrying any queue ID or Message-ID learned so far (all hosts), which
//!    name further queue IDs (next hops, bounce notices) and Message-IDs — repeated until
//!    nothing new turns up, at most `MAX_FOLLOW_ROUNDS` times;
//! 3. everything found goes through the same `Correlator` as the daemon (`drain`), and only
//!    the messages holding a seed hop (or named by a keyword Message-ID) are kept, together
//!    with their bounce notices.
//!
//! No state outlives a call.

mod backend;
pub mod report;
pub mod window;

use std::collections::{BTreeSet, HashSet};

use crate::config::{Config, Method};
pub use crate::correlate::same_host;
use crate::correlate::{Correlator, CorrelatorConfig, Message, RejectReport};
use crate::parse::{self, MailEvent};
use crate::record::LogRecord;
use crate::trace::ids::normalize_message_id;

pub use window::{parse_range, parse_time, zone_for};

/// Follow rounds after the seed search; a path longer than this many hops is cut (and said).
pub const MAX_FOLLOW_ROUNDS: u32 = 8;

/// What to look for.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Start hosts (already expanded from a cluster and qualified, see `resolve_hosts`).
    /// Empty = every host (not possible with `method: ssh`).
    pub hosts: Vec<String>,
    /// Fixed strings, matched case-insensitively against whole log lines.
    pub keywords: Vec<String>,
    /// Centre of the window, UTC nanoseconds.
    pub time_ns: i64,
    /// Half-width of the window: lines in `[time − range, time + range)` are searched.
    pub range_ns: i64,
}

impl Query {
    pub fn window(&self) -> (i64, i64) {
        (
            self.time_ns.saturating_sub(self.range_ns),
            self.time_ns.saturating_add(self.range_ns),
        )
    }
}

/// The outcome of an investigation.
#[derive(Debug, Clone, Default)]
pub struct Investigation {
    /// Matching messages (and their bounce notices), ordered by first log time.
    pub messages: Vec<Message>,
    /// Rejections on the start hosts that mention a keyword (`NOQUEUE: reject`): these mails
    /// never got a queue ID, so they are no message, but they answer "where did it go".
    pub rejects: Vec<RejectReport>,
    /// Log lines fetched in all.
    pub lines_read: usize,
    /// Source queries made (seed + follow rounds).
    pub follow_rounds: u32,
    /// The follow rounds stopped at `MAX_FOLLOW_ROUNDS` with IDs still unexplored.
    pub truncated: bool,
    /// Problems that did not stop the search (a relay host that could not be read, lines
    /// that could not be framed), one line each.
    pub warnings: Vec<String>,
}

/// Every way an investigation can fail; each displays as one line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InvestigateError {
    #[error("no keyword given: name an address, domain, queue ID, Message-ID or SASL user (-k)")]
    NoKeywords,
    #[error("{0}")]
    BadInput(String),
    #[error("unknown host or cluster {name:?}: {detail}")]
    UnknownHost { name: String, detail: String },
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Source(String),
}

/// `-h` value → start hosts: a cluster's members, else the name itself; each with the
/// config's `domain` appended when short.
pub fn resolve_hosts(cfg: &Config, spec: &str) -> Result<Vec<String>, InvestigateError> {
    let spec = spec.trim();
    if spec.is_empty() {
        return Err(InvestigateError::BadInput(
            "empty host: give a host or cluster name (-h)".into(),
        ));
    }
    if spec.starts_with('-') || spec.contains(char::is_whitespace) || spec.contains('/') {
        return Err(InvestigateError::BadInput(format!(
            "{spec:?} is not a host or cluster name"
        )));
    }
    let hosts: Vec<String> = match cfg.cluster_hosts(spec) {
        Some(members) => members.iter().map(|h| cfg.qualify_host(h.trim())).collect(),
        None => vec![cfg.qualify_host(spec)],
    };
    if hosts.is_empty() {
        return Err(InvestigateError::Config(format!(
            "cluster {spec:?} has no hosts (clusters.{spec} in the config)"
        )));
    }
    Ok(hosts)
}

/// Keywords as searched: trimmed, empty ones dropped.
pub fn clean_keywords(keywords: &[String]) -> Vec<String> {
    keywords
        .iter()
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .collect()
}

/// The messages of `query`, as `run`/`graph` print them.
pub async fn investigate(cfg: &Config, query: &Query) -> Result<Vec<Message>, InvestigateError> {
    Ok(investigate_full(cfg, query).await?.messages)
}

/// `investigate` with everything else that was learned on the way.
pub async fn investigate_full(
    cfg: &Config,
    query: &Query,
) -> Result<Investigation, InvestigateError> {
    let keywords = clean_keywords(&query.keywords);
    if keywords.is_empty() {
        return Err(InvestigateError::NoKeywords);
    }
    if query.range_ns <= 0 {
        return Err(InvestigateError::BadInput(
            "the time range must be positive".into(),
        ));
    }
    if cfg.method == Method::Ssh && query.hosts.is_empty() {
        return Err(InvestigateError::BadInput(
            "method: ssh needs start hosts (-h)".into(),
        ));
    }
    cfg.validate()
        .map_err(|e| InvestigateError::Config(e.to_string()))?;
    let window = query.window();
    let mut backend = backend::Backend::open(cfg, window).await?;
    let mut inv = Investigation::default();

    // 1. Seed: keyword lines on the start hosts.
    let lowered: Vec<String> = keywords.iter().map(|k| k.to_lowercase()).collect();
    let seed_lines: Vec<LogRecord> = backend
        .seed(&query.hosts, &keywords, window, &mut inv.warnings)
        .await?
        .into_iter()
        .filter(|r| {
            let line = r.message.to_lowercase();
            lowered.iter().any(|k| line.contains(k.as_str()))
        })
        .collect();
    inv.follow_rounds = 1;
    if seed_lines.is_empty() {
        backend.check_hosts_exist(&query.hosts).await?;
    }
    let mut seeds: HashSet<(String, String)> = HashSet::new();
    let mut collected = Collected::default();
    for rec in &seed_lines {
        if let Some(qid) = parse::parse_record(rec).and_then(|l| l.queue_id) {
            seeds.insert((rec.host.clone(), qid));
        }
    }
    collected.add(seed_lines);

    // 2. Follow queue IDs and Message-IDs until nothing new turns up.
    let mut asked: HashSet<Term> = HashSet::new();
    let mut asked_anywhere: HashSet<String> = HashSet::new();
    loop {
        let fresh: Vec<Term> = collected
            .terms
            .iter()
            .filter(|t| !asked.contains(*t))
            .filter(|t| match t {
                Term::QueueId { host: Some(_), id } => !asked_anywhere.contains(id),
                _ => true,
            })
            .cloned()
            .collect();
        if fresh.is_empty() {
            break;
        }
        if inv.follow_rounds > MAX_FOLLOW_ROUNDS {
            inv.truncated = true;
            inv.warnings.push(format!(
                "stopped following after {MAX_FOLLOW_ROUNDS} rounds with {} IDs unexplored",
                fresh.len()
            ));
            break;
        }
        for t in &fresh {
            asked.insert(t.clone());
            match t {
                Term::QueueId { host: None, id } | Term::MessageId(id) => {
                    asked_anywhere.insert(id.clone());
                }
                _ => {}
            }
        }
        let relays: Vec<String> = collected.relays.iter().cloned().collect();
        let lines = backend
            .follow(&fresh, &relays, window, &mut inv.warnings)
            .await?;
        inv.follow_rounds += 1;
        collected.add(lines);
    }

    // 3. Correlate and keep what matches.
    inv.lines_read = collected.records.len();
    let mut records = collected.records;
    records.sort_by(|a, b| {
        (a.timestamp_ns, &a.host, &a.message).cmp(&(b.timestamp_ns, &b.host, &b.message))
    });
    let mut correlator = Correlator::new(correlator_config(cfg));
    for rec in &records {
        correlator.ingest(rec);
    }
    let all = correlator.drain();
    let rejects = correlator.take_rejects();
    inv.messages = select(all, &seeds, &keywords);
    inv.rejects = rejects
        .into_iter()
        .filter(|r| {
            host_in(&r.host, &query.hosts) && {
                let x = &r.reject;
                let text = [&x.sender, &x.recipient, &x.client]
                    .iter()
                    .filter_map(|o| o.as_deref())
                    .chain([x.reason.as_str()])
                    .collect::<Vec<_>>()
                    .join(" ")
                    .to_lowercase();
                lowered.iter().any(|k| text.contains(k.as_str()))
            }
        })
        .collect();
    Ok(inv)
}

fn correlator_config(cfg: &Config) -> CorrelatorConfig {
    CorrelatorConfig {
        // One batch, released at once by `drain`.
        hold_rounds: 0,
        max_lines_per_hop: cfg.tracing.max_lines_per_hop as usize,
        trust_message_id_hint: cfg.method == Method::Opensearch
            && !cfg.opensearch_config.mapping.message_id.is_empty(),
        ..CorrelatorConfig::default()
    }
}

/// The messages holding a seed hop or named by a keyword, plus the bounce notices of those
/// and the originals of matched notices.
fn select(
    all: Vec<Message>,
    seeds: &HashSet<(String, String)>,
    keywords: &[String],
) -> Vec<Message> {
    let wanted_ids: HashSet<String> = keywords
        .iter()
        .filter_map(|k| normalize_message_id(k))
        .collect();
    let mut matched: BTreeSet<String> = all
        .iter()
        .filter(|m| {
            wanted_ids.contains(&m.message_id)
                || m.hops
                    .iter()
                    .any(|h| seeds.contains(&(h.host.clone(), h.queue_id.clone())))
        })
        .map(|m| m.message_id.clone())
        .collect();
    let related: Vec<String> = all
        .iter()
        .filter_map(|m| {
            let origin = m.notice_of.as_ref()?;
            if matched.contains(&m.message_id) {
                Some(origin.message_id.clone())
            } else if matched.contains(&origin.message_id) {
                Some(m.message_id.clone())
            } else {
                None
            }
        })
        .collect();
    matched.extend(related);
    all.into_iter()
        .filter(|m| matched.contains(&m.message_id))
        .collect()
}

/// True when `hosts` is empty (any host) or names `host`.
pub fn host_in(host: &str, hosts: &[String]) -> bool {
    hosts.is_empty() || hosts.iter().any(|h| same_host(h, host))
}

/// An ID to follow.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Term {
    /// A queue ID, on a known host (its own lines), or anywhere (a next hop named by an
    /// upstream delivery, whose host the logs do not reliably say).
    QueueId {
        host: Option<String>,
        id: String,
    },
    MessageId(String),
}

impl Term {
    pub(crate) fn text(&self) -> &str {
        match self {
            Term::QueueId { id, .. } | Term::MessageId(id) => id,
        }
    }
}

/// Lines gathered so far, the IDs they name and the relay hosts they delivered to.
#[derive(Default)]
struct Collected {
    records: Vec<LogRecord>,
    seen: HashSet<(Option<String>, i64, String, String, String)>,
    terms: BTreeSet<Term>,
    relays: BTreeSet<String>,
}

impl Collected {
    fn add(&mut self, lines: Vec<LogRecord>) {
        for rec in lines {
            let key = match &rec.source_id {
                Some(id) => (
                    Some(id.clone()),
                    0,
                    String::new(),
                    String::new(),
                    String::new(),
                ),
                None => (
                    None,
                    rec.timestamp_ns,
                    rec.host.clone(),
                    rec.service.clone(),
                    rec.message.clone(),
                ),
            };
            if !self.seen.insert(key) {
                continue;
            }
            self.learn(&rec);
            self.records.push(rec);
        }
    }

    fn learn(&mut self, rec: &LogRecord) {
        let Some(line) = parse::parse_record(rec) else {
            return;
        };
        if let Some(qid) = &line.queue_id {
            self.terms.insert(Term::QueueId {
                host: Some(rec.host.clone()),
                id: qid.clone(),
            });
        }
        match line.event {
            MailEvent::MessageId(Some(id)) => {
                self.terms.insert(Term::MessageId(id));
            }
            MailEvent::Arrival(a) => {
                if let Some(id) = a.message_id {
                    self.terms.insert(Term::MessageId(id));
                }
            }
            MailEvent::Attempt(a) => {
                if let Some(next) = a.next_queue_id {
                    self.terms.insert(Term::QueueId {
                        host: None,
                        id: next,
                    });
                    if let Some(r) = a.relay {
                        if !matches!(r.host.as_str(), "" | "local" | "virtual" | "none") {
                            self.relays.insert(r.host);
                        }
                    }
                }
            }
            MailEvent::Notification {
                notice_queue_id, ..
            } => {
                self.terms.insert(Term::QueueId {
                    host: Some(rec.host.clone()),
                    id: notice_queue_id,
                });
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clusters_expand_and_short_names_get_the_domain() {
        let mut cfg = Config {
            domain: "example.org".into(),
            ..Config::default()
        };
        cfg.clusters
            .insert("edge".into(), vec!["mx1".into(), "mx2.other.net".into()]);
        assert_eq!(
            resolve_hosts(&cfg, "edge").unwrap(),
            ["mx1.example.org", "mx2.other.net"]
        );
        assert_eq!(resolve_hosts(&cfg, "smtp1").unwrap(), ["smtp1.example.org"]);
        assert!(resolve_hosts(&cfg, "").is_err());
        assert!(resolve_hosts(&cfg, "-oProxyCommand=x").is_err());
    }

    #[test]
    fn short_and_long_host_names_match() {
        assert!(same_host("smtp1", "SMTP1.example.org"));
        assert!(!same_host("smtp1", "smtp10"));
        assert!(host_in("x", &[]));
    }
}
