//! The MCP tools (`mailtrace mcp`): what LLM agents debugging mail delivery call. Each tool
//! checks its arguments, runs one investigation (`crate::investigate`) and answers with a
//! JSON document built from `investigate::report` (paths, edges, DOT), so the agent sees the
//! same paths as `run` and `graph`. `server` speaks MCP over stdio around these.
//!
//! Times: `time` is local time in the configured source's zone (`YYYY-MM-DD HH:MM:SS`), or
//! UTC/any offset in RFC 3339 (`2026-02-04T08:00:00Z`). `time_range` is the half-width of the
//! window (time ± range); longer than `mcp.max_time_range_hours` is refused, not capped, so an
//! answer never silently covers less than was asked.

pub mod server;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::{Config, Method, Zone};
use crate::correlate::Message;
use crate::investigate::{self, report, Investigation, Query};
use crate::trace::ids::{self, normalize_message_id};

/// The resource listing the configured clusters.
pub const CLUSTERS_URI: &str = "mailtrace://clusters";

const DEFAULT_RANGE: &str = "1h";

/// A tool call that cannot be answered: one line for the agent (an `isError` result).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ToolError(pub String);

impl From<investigate::InvestigateError> for ToolError {
    fn from(e: investigate::InvestigateError) -> Self {
        ToolError(e.to_string())
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryLogsArgs {
    pub host: String,
    pub keywords: Vec<String>,
    pub time: Option<String>,
    pub time_range: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceMailArgs {
    pub host: String,
    pub mail_id: String,
    pub time: Option<String>,
    pub time_range: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceMessageArgs {
    pub message_id: String,
    pub time: Option<String>,
    pub time_range: Option<String>,
}

/// The tools over one loaded config.
pub struct Tools {
    cfg: Config,
    zone: Zone,
    zone_label: String,
}

impl Tools {
    pub fn new(cfg: Config) -> Result<Tools, ToolError> {
        let zone = investigate::zone_for(&cfg)?;
        let text = match cfg.method {
            Method::Opensearch => &cfg.opensearch_config.time_zone,
            Method::File => &cfg.file_config.time_zone,
            Method::Ssh => &cfg.ssh_config.time_zone,
        };
        let zone_label = if text.trim().is_empty() {
            "UTC".to_string()
        } else {
            text.trim().to_string()
        };
        Ok(Tools {
            cfg,
            zone,
            zone_label,
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The zone `time` is read in, as configured (`+00:00`, `Europe/Berlin`).
    pub fn zone_label(&self) -> &str {
        &self.zone_label
    }

    /// `mailtrace://clusters`: cluster → hosts, as configured.
    pub fn clusters(&self) -> Value {
        json!(self.cfg.clusters)
    }

    /// Log lines of the messages matching `keywords` on `host`, one entry per mail ID.
    pub async fn query_logs(&self, args: QueryLogsArgs) -> Result<Value, ToolError> {
        let keywords = crate::investigate::clean_keywords(&args.keywords);
        if keywords.is_empty() {
            return Err(ToolError(
                "keywords is empty: give an address, domain, queue ID, Message-ID or SASL user"
                    .into(),
            ));
        }
        let hosts = self.hosts(&args.host)?;
        let (time_ns, range_ns) = self.window(args.time.as_deref(), args.time_range.as_deref())?;
        let query = Query {
            hosts: hosts.clone(),
            keywords: keywords.clone(),
            time_ns,
            range_ns,
        };
        let found = self.investigate(&query).await?;
        let mut mails = Vec::new();
        for msg in &found.messages {
            let trace_id = ids::hex(&ids::trace_id(&msg.message_id));
            for hop in &msg.hops {
                mails.push(json!({
                    "mail_id": hop.queue_id,
                    "host": hop.host,
                    "message_id": msg.message_id,
                    "trace_id": trace_id,
                    "lines": hop.lines.iter().map(|l| json!({
                        "time": report::rfc3339(l.timestamp_ns),
                        "service": l.service,
                        "line": l.text,
                    })).collect::<Vec<_>>(),
                    "lines_dropped": hop.lines_dropped,
                }));
            }
        }
        let rejects = report::report(&[], &found.rejects).rejects;
        Ok(json!({
            "host": args.host,
            "hosts": hosts,
            "keywords": keywords,
            "window": self.window_json(&query),
            "mail_count": mails.len(),
            "mails": mails,
            "rejects": rejects,
            "truncated": found.truncated,
            "warnings": found.warnings,
        }))
    }

    /// The path of the message that had queue ID `mail_id` on `host`.
    pub async fn trace_mail(&self, args: TraceMailArgs) -> Result<Value, ToolError> {
        let mail_id = args.mail_id.trim();
        if mail_id.is_empty() || mail_id.contains(char::is_whitespace) {
            return Err(ToolError(format!(
                "mail_id {:?} is not a queue ID (e.g. 4Xk9Qp1zYz, 1tQ2aB-000Abc-Cd)",
                args.mail_id
            )));
        }
        let hosts = self.hosts(&args.host)?;
        let (time_ns, range_ns) = self.window(args.time.as_deref(), args.time_range.as_deref())?;
        let query = Query {
            hosts: hosts.clone(),
            keywords: vec![mail_id.to_string()],
            time_ns,
            range_ns,
        };
        let found = self.investigate(&query).await?;
        let holds = |m: &&Message| {
            m.hops.iter().any(|h| {
                h.queue_id.eq_ignore_ascii_case(mail_id) && investigate::host_in(&h.host, &hosts)
            })
        };
        let Some(msg) = closest(found.messages.iter().filter(holds), time_ns) else {
            return Err(ToolError(format!(
                "no message with queue ID {mail_id} on {} within {} of {}",
                args.host,
                args.time_range.as_deref().unwrap_or(DEFAULT_RANGE),
                args.time.as_deref().unwrap_or("now")
            )));
        };
        Ok(self.trace_result(msg, &found, &query))
    }

    /// The path of the message with `message_id`, searched on every host.
    pub async fn trace_message(&self, args: TraceMessageArgs) -> Result<Value, ToolError> {
        let Some(wanted) = normalize_message_id(&args.message_id) else {
            return Err(ToolError(format!(
                "message_id {:?} is not a Message-ID (e.g. <abc@example.org>)",
                args.message_id
            )));
        };
        let hosts = self.all_hosts()?;
        let (time_ns, range_ns) = self.window(args.time.as_deref(), args.time_range.as_deref())?;
        let query = Query {
            hosts,
            keywords: vec![wanted.clone()],
            time_ns,
            range_ns,
        };
        let found = self.investigate(&query).await?;
        let matching = found.messages.iter().filter(|m| m.message_id == wanted);
        let Some(msg) = closest(matching, time_ns) else {
            return Err(ToolError(format!(
                "no message with Message-ID <{wanted}> within {} of {}",
                args.time_range.as_deref().unwrap_or(DEFAULT_RANGE),
                args.time.as_deref().unwrap_or("now")
            )));
        };
        Ok(self.trace_result(msg, &found, &query))
    }

    fn trace_result(&self, msg: &Message, found: &Investigation, query: &Query) -> Value {
        let r = report::message_report(msg);
        let edges = report::edges(msg);
        let mut nodes: Vec<String> = Vec::new();
        for n in msg
            .hops
            .iter()
            .map(|h| &h.host)
            .chain(edges.iter().map(|e| &e.to))
        {
            if !nodes.contains(n) {
                nodes.push(n.clone());
            }
        }
        let deliveries: Vec<Value> = r
            .hops
            .iter()
            .flat_map(|h| {
                h.attempts.iter().flat_map(move |a| {
                    a.recipients.iter().map(move |rcpt| {
                        json!({
                            "recipient": rcpt,
                            "host": h.host,
                            "mail_id": h.queue_id,
                            "status": a.status,
                            "dsn": a.dsn,
                            "reply": a.reply,
                            "relay": a.relay,
                            "delay_seconds": a.delay,
                            "time": a.time,
                        })
                    })
                })
            })
            .collect();
        // Bounce notices of this message, or the original a notice is about.
        let related: Vec<Value> = found
            .messages
            .iter()
            .filter(|m| m.message_id != msg.message_id)
            .filter_map(|m| {
                let relation = match (&m.notice_of, &msg.notice_of) {
                    (Some(n), _) if n.message_id == msg.message_id => "notice",
                    (_, Some(n)) if n.message_id == m.message_id => "original",
                    _ => return None,
                };
                Some(json!({
                    "relation": relation,
                    "message_id": m.message_id,
                    "trace_id": ids::hex(&ids::trace_id(&m.message_id)),
                }))
            })
            .collect();
        let base = self.cfg.jaeger_ui_url.trim_end_matches('/');
        let jaeger = (!base.is_empty()).then(|| format!("{base}/trace/{}", r.trace_id));
        json!({
            "message_id": r.message_id,
            "trace_id": r.trace_id,
            "jaeger_url": jaeger,
            "outcome": r.outcome,
            "incomplete": r.incomplete,
            "nodes": nodes,
            "edges": edges,
            "hop_count": msg.hops.len(),
            "path": r.path,
            "deliveries": deliveries,
            "start": r.start,
            "end": r.end,
            "total_delay_seconds": r.total_seconds,
            "related": related,
            "window": self.window_json(query),
            "truncated": found.truncated,
            "warnings": found.warnings,
            "graph_dot": report::graph_dot(std::slice::from_ref(msg)),
        })
    }

    /// `host` as start hosts: a cluster's members or one host name; anything else is refused
    /// before a query is made (a host without logs is refused by the investigation).
    fn hosts(&self, host: &str) -> Result<Vec<String>, ToolError> {
        let h = host.trim();
        if self.cfg.cluster_hosts(h).is_none() && !plausible_host(h) {
            return Err(ToolError(format!(
                "unknown host or cluster {host:?}: not a cluster in the config{} and not a \
                 host name",
                self.known_clusters()
            )));
        }
        Ok(investigate::resolve_hosts(&self.cfg, h)?)
    }

    /// One investigation; a host without logs is named together with the clusters, since
    /// agents often guess a cluster name.
    async fn investigate(&self, query: &Query) -> Result<Investigation, ToolError> {
        investigate::investigate_full(&self.cfg, query)
            .await
            .map_err(|e| {
                let mut msg = e.to_string();
                if matches!(e, investigate::InvestigateError::UnknownHost { .. }) {
                    msg.push_str(&self.known_clusters());
                }
                ToolError(msg)
            })
    }

    fn known_clusters(&self) -> String {
        if self.cfg.clusters.is_empty() {
            String::new()
        } else {
            let names: Vec<&str> = self.cfg.clusters.keys().map(String::as_str).collect();
            format!(" (clusters: {})", names.join(", "))
        }
    }

    /// Every host a Message-ID may have passed: with a log store, all of them; over SSH, the
    /// union of the configured clusters (there is no list of hosts otherwise).
    fn all_hosts(&self) -> Result<Vec<String>, ToolError> {
        if self.cfg.method != Method::Ssh {
            return Ok(Vec::new());
        }
        let mut hosts: Vec<String> = Vec::new();
        for h in self.cfg.clusters.values().flatten() {
            let q = self.cfg.qualify_host(h.trim());
            if !hosts.contains(&q) {
                hosts.push(q);
            }
        }
        if hosts.is_empty() {
            return Err(ToolError(
                "method: ssh searches only the hosts of the configured clusters, and none is \
                 configured: add clusters to the config, or use mailtrace_trace_mail with a host"
                    .into(),
            ));
        }
        Ok(hosts)
    }

    /// `time` and `time_range` to the window's centre and half-width (UTC nanoseconds).
    fn window(&self, time: Option<&str>, range: Option<&str>) -> Result<(i64, i64), ToolError> {
        let time_ns = match time.map(str::trim) {
            None | Some("") => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as i64),
            Some(t) => self.parse_time(t)?,
        };
        let range_text = range.map(str::trim).filter(|r| !r.is_empty());
        let range_ns = investigate::parse_range(range_text.unwrap_or(DEFAULT_RANGE))?;
        let max_h = self.cfg.mcp.max_time_range_hours;
        if range_ns / 1_000_000_000 > max_h.saturating_mul(3600) as i64 {
            return Err(ToolError(format!(
                "time_range {:?} is longer than the limit of {max_h}h \
                 (mcp.max_time_range_hours): narrow the window around a closer time",
                range_text.unwrap_or_default()
            )));
        }
        Ok((time_ns, range_ns))
    }

    fn parse_time(&self, t: &str) -> Result<i64, ToolError> {
        // An explicit offset or Z wins over the configured zone.
        let iso = t.replacen(' ', "T", 1);
        if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(&iso) {
            return dt
                .timestamp_nanos_opt()
                .ok_or_else(|| ToolError(format!("time {t:?} is out of range")));
        }
        investigate::parse_time(t, &self.zone).map_err(|_| {
            ToolError(format!(
                "malformed time {t:?}: expected \"YYYY-MM-DD HH:MM:SS\" in the server's zone \
                 ({}), or UTC as \"YYYY-MM-DDTHH:MM:SSZ\"",
                self.zone_label
            ))
        })
    }

    fn window_json(&self, q: &Query) -> Value {
        let (from, to) = q.window();
        json!({
            "from": report::rfc3339(from),
            "to": report::rfc3339(to),
            "time_zone": self.zone_label,
        })
    }
}

/// The message whose log starts nearest to `time_ns` (a queue ID may be reused in a window).
fn closest<'a>(msgs: impl Iterator<Item = &'a Message>, time_ns: i64) -> Option<&'a Message> {
    msgs.min_by_key(|m| {
        let start = m.hops.iter().map(|h| h.first_ns).min().unwrap_or(0);
        (start - time_ns).unsigned_abs()
    })
}

/// Looks like a DNS name (letters, digits, `-`, `_`, dots), so it may be a host in the logs.
fn plausible_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && !h.starts_with(['-', '.'])
        && h.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tools(max_h: u64) -> Tools {
        let mut cfg = Config {
            method: Method::Opensearch,
            ..Config::default()
        };
        cfg.mcp.max_time_range_hours = max_h;
        cfg.opensearch_config.time_zone = "+02:00".into();
        cfg.clusters.insert("edge".into(), vec!["mx1".into()]);
        Tools::new(cfg).unwrap()
    }

    #[test]
    fn times_local_or_with_an_offset() {
        let t = tools(24);
        let utc = 1_770_192_000 * 1_000_000_000;
        assert_eq!(t.parse_time("2026-02-04 10:00:00").unwrap(), utc);
        assert_eq!(t.parse_time("2026-02-04T08:00:00Z").unwrap(), utc);
        assert_eq!(t.parse_time("2026-02-04 08:00:00Z").unwrap(), utc);
        assert_eq!(t.parse_time("2026-02-04 09:00:00+01:00").unwrap(), utc);
        let e = t.parse_time("04/02/2026 08:00").unwrap_err().0;
        assert!(e.contains("malformed time") && e.contains("+02:00"), "{e}");
    }

    #[test]
    fn ranges_beyond_the_limit_are_refused() {
        let t = tools(24);
        assert!(t.window(Some("2026-02-04 08:00:00"), Some("24h")).is_ok());
        let e = t.window(None, Some("25h")).unwrap_err().0;
        assert!(e.contains("limit of 24h"), "{e}");
        assert!(t.window(None, Some("2d")).is_err());
        assert!(t.window(None, Some("ten hours")).is_err());
    }

    #[test]
    fn hosts_clusters_and_nonsense() {
        let t = tools(24);
        assert_eq!(t.hosts("edge").unwrap(), ["mx1"]);
        assert_eq!(t.hosts("smtp1").unwrap(), ["smtp1"]);
        for bad in ["", "two words", "a/b", "-x", "mx1;rm"] {
            let e = t.hosts(bad).unwrap_err().0;
            assert!(e.contains("edge") || e.contains("empty"), "{bad}: {e}");
        }
    }
}
