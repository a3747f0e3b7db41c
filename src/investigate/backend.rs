//! Where an investigation's lines come from: the three sources behind one small interface
//! (`seed`: keyword lines on the start hosts; `follow`: lines carrying given IDs).
//!
//! - OpenSearch: one search per step (IDs OR'ed, chunked under the clause limit), on the
//!   mapped message and hostname fields, with the source's complete pagination.
//! - file: the files are read once (lines inside the window kept), then searched in memory.
//! - ssh: `grep -F` on each host; a host is asked each ID once.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;

use serde_json::{json, Value};

use super::{host_in, same_host, InvestigateError, Term};
use crate::config::{Config, Method};
use crate::engine::now_ns;
use crate::parse::syslog::{self, SyslogContext};
use crate::parse::time::Zone;
use crate::record::LogRecord;
use crate::source::document::{DocumentContext, Shapes};
use crate::source::opensearch::{Hit, OpenSearchSettings, OpenSearchSource};
use crate::source::replay::{read_input, Input, InputFormat, ReadContext, ReadStats};
use crate::source::ssh::{SshReader, SshSettings};

/// IDs per OpenSearch query: each costs up to three clauses, and clusters refuse more than
/// 1024 by default.
const TERMS_PER_QUERY: usize = 250;

pub(super) enum Backend {
    OpenSearch(Box<OsBackend>),
    Records(RecordsBackend),
    Ssh(Box<SshBackend>),
}

pub(super) struct OsBackend {
    client: OpenSearchSource,
    docs: DocumentContext,
    host_field: String,
    message_field: String,
}

pub(super) struct RecordsBackend {
    /// Lines inside the window.
    records: Vec<LogRecord>,
    /// Every host named by any line of the files (inside the window or not).
    hosts: BTreeSet<String>,
}

pub(super) struct SshBackend {
    reader: SshReader,
    cfg: Config,
    zone: Zone,
    now_ns: i64,
    start_hosts: Vec<String>,
    /// What each host was already asked for.
    asked: HashMap<String, HashSet<String>>,
}

impl Backend {
    pub(super) async fn open(
        cfg: &Config,
        window: (i64, i64),
    ) -> Result<Backend, InvestigateError> {
        match cfg.method {
            Method::Opensearch => {
                let settings = OpenSearchSettings::from_config(cfg)
                    .map_err(|e| InvestigateError::Config(e.to_string()))?;
                let client = OpenSearchSource::new(settings)
                    .map_err(|e| InvestigateError::Source(e.to_string()))?;
                let docs = DocumentContext::new(&cfg.opensearch_config)
                    .map_err(InvestigateError::Config)?;
                let m = &cfg.opensearch_config.mapping;
                Ok(Backend::OpenSearch(Box::new(OsBackend {
                    client,
                    docs,
                    host_field: m.hostname.clone(),
                    message_field: m.message.clone(),
                })))
            }
            Method::File => {
                let cfg = cfg.clone();
                tokio::task::spawn_blocking(move || read_files(&cfg, window))
                    .await
                    .map_err(|e| InvestigateError::Source(format!("reading files: {e}")))?
                    .map(Backend::Records)
            }
            Method::Ssh => {
                let s = &cfg.ssh_config;
                let zone = Zone::parse(&s.time_zone)
                    .map_err(|e| InvestigateError::Config(format!("ssh_config.time_zone: {e}")))?;
                if !s.password.is_empty() && s.sudo_pass.is_empty() && !s.sudo {
                    tracing::warn!(
                        "ssh_config.password is not used to log in (ssh runs in batch mode): \
                         use a key or an agent"
                    );
                }
                let reader = SshReader::new(SshSettings::from_config(s));
                Ok(Backend::Ssh(Box::new(SshBackend {
                    reader,
                    cfg: cfg.clone(),
                    zone,
                    now_ns: now_ns(),
                    start_hosts: Vec::new(),
                    asked: HashMap::new(),
                })))
            }
        }
    }

    /// Lines of the start hosts that may contain a keyword (the caller checks exactly).
    pub(super) async fn seed(
        &mut self,
        hosts: &[String],
        keywords: &[String],
        window: (i64, i64),
        warnings: &mut Vec<String>,
    ) -> Result<Vec<LogRecord>, InvestigateError> {
        match self {
            Backend::OpenSearch(os) => {
                let kw: Vec<Value> = keywords
                    .iter()
                    .flat_map(|k| os.keyword_clauses(k))
                    .collect();
                let mut filter = vec![any_of(kw)];
                if !hosts.is_empty() {
                    filter.push(os.hosts_clause(hosts));
                }
                os.search(json!({ "bool": { "filter": filter } }), window, warnings)
                    .await
            }
            Backend::Records(r) => {
                let lowered: Vec<String> = keywords.iter().map(|k| k.to_lowercase()).collect();
                Ok(r.records
                    .iter()
                    .filter(|rec| host_in(&rec.host, hosts))
                    .filter(|rec| {
                        let m = rec.message.to_lowercase();
                        lowered.iter().any(|k| m.contains(k.as_str()))
                    })
                    .cloned()
                    .collect())
            }
            Backend::Ssh(s) => {
                s.start_hosts = hosts.to_vec();
                let asks: Vec<(String, Vec<String>)> = hosts
                    .iter()
                    .map(|h| (h.clone(), keywords.to_vec()))
                    .collect();
                s.grep_hosts(asks, true, window, warnings, |_| true).await
            }
        }
    }

    /// Lines that carry one of `terms`. `relays` are the hosts deliveries went to so far
    /// (only the SSH source needs them: it can only read hosts it knows).
    pub(super) async fn follow(
        &mut self,
        terms: &[Term],
        relays: &[String],
        window: (i64, i64),
        warnings: &mut Vec<String>,
    ) -> Result<Vec<LogRecord>, InvestigateError> {
        match self {
            Backend::OpenSearch(os) => {
                let mut out = Vec::new();
                for chunk in terms.chunks(TERMS_PER_QUERY) {
                    let clauses: Vec<Value> = chunk.iter().map(|t| os.term_clause(t)).collect();
                    out.extend(os.search(any_of(clauses), window, warnings).await?);
                }
                Ok(out)
            }
            Backend::Records(r) => Ok(r
                .records
                .iter()
                .filter(|rec| terms.iter().any(|t| carries(rec, t)))
                .cloned()
                .collect()),
            Backend::Ssh(s) => {
                let hosts = s.follow_hosts(relays);
                let asks: Vec<(String, Vec<String>)> = hosts
                    .into_iter()
                    .filter_map(|h| {
                        let done = s.asked.entry(h.clone()).or_default();
                        let todo: Vec<String> = terms
                            .iter()
                            .map(|t| t.text().to_string())
                            .filter(|t| !done.contains(t))
                            .collect();
                        done.extend(todo.iter().cloned());
                        (!todo.is_empty()).then_some((h, todo))
                    })
                    .collect();
                let start = s.start_hosts.clone();
                s.grep_hosts(asks, false, window, warnings, |h| host_in(h, &start))
                    .await
            }
        }
    }

    /// Called when the seed found nothing: is each start host known at all? An unknown host
    /// (a typo) is an error, not an empty answer.
    pub(super) async fn check_hosts_exist(&self, hosts: &[String]) -> Result<(), InvestigateError> {
        match self {
            Backend::OpenSearch(os) => {
                for h in hosts {
                    let n = os
                        .client
                        .count_query(&os.hosts_clause(std::slice::from_ref(h)))
                        .await
                        .map_err(|e| InvestigateError::Source(e.to_string()))?;
                    if n == 0 {
                        return Err(InvestigateError::UnknownHost {
                            name: h.clone(),
                            detail: format!(
                                "not a cluster in the config, and no document of index {} has \
                                 {} = {h}",
                                os.client.settings().index,
                                os.host_field
                            ),
                        });
                    }
                }
                Ok(())
            }
            Backend::Records(r) => {
                for h in hosts {
                    if !r.hosts.iter().any(|x| same_host(x, h)) {
                        return Err(InvestigateError::UnknownHost {
                            name: h.clone(),
                            detail: "not a cluster in the config, and no line of the files in \
                                     file_config.paths comes from it"
                                .into(),
                        });
                    }
                }
                Ok(())
            }
            // A start host that cannot be read already failed the seed.
            Backend::Ssh(_) => Ok(()),
        }
    }
}

impl OsBackend {
    fn hosts_clause(&self, hosts: &[String]) -> Value {
        // Logs often carry short names while `-h` got the domain appended: try both.
        let mut names = BTreeSet::new();
        for h in hosts {
            names.insert(h.clone());
            if let Some((short, _)) = h.split_once('.') {
                names.insert(short.to_string());
            }
        }
        any_of(
            names
                .into_iter()
                .map(|n| json!({ "match_phrase": { &self.host_field: n } }))
                .collect(),
        )
    }

    /// A phrase (whole addresses, Message-IDs); for a bare word also a wildcard, so that a
    /// domain (`example.org`) finds the token `alice@mail.example.org` was split into.
    fn keyword_clauses(&self, kw: &str) -> Vec<Value> {
        let mut out = vec![json!({ "match_phrase": { &self.message_field: kw } })];
        let plain = kw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if plain {
            out.push(json!({ "wildcard": { &self.message_field: {
                "value": format!("*{}*", kw.to_lowercase()),
                "case_insensitive": true,
            } } }));
        }
        out
    }

    fn term_clause(&self, t: &Term) -> Value {
        let phrase = json!({ "match_phrase": { &self.message_field: t.text() } });
        match t {
            Term::QueueId { host: Some(h), .. } => json!({ "bool": { "filter": [
                self.hosts_clause(std::slice::from_ref(h)),
                phrase,
            ] } }),
            _ => phrase,
        }
    }

    async fn search(
        &self,
        clause: Value,
        window: (i64, i64),
        warnings: &mut Vec<String>,
    ) -> Result<Vec<LogRecord>, InvestigateError> {
        let hits = self
            .client
            .search_query(&clause, window.0, window.1)
            .await
            .map_err(|e| InvestigateError::Source(e.to_string()))?;
        Ok(self.map_hits(hits, warnings))
    }

    fn map_hits(&self, hits: Vec<Hit>, warnings: &mut Vec<String>) -> Vec<LogRecord> {
        let mut out = Vec::with_capacity(hits.len());
        let mut bad = 0usize;
        let mut first = None;
        let mut shapes = Shapes::default();
        for h in hits {
            match self.docs.map_hit_shaped(&h.id, &h.source, &mut shapes) {
                Ok(r) => out.push(r),
                Err(e) => {
                    bad += 1;
                    first.get_or_insert_with(|| format!("{} ({})", e.reason(), h.id));
                }
            }
        }
        if let Some(first) = first {
            warnings.push(format!(
                "{bad} documents could not be read through the mapping, e.g. {first}"
            ));
        }
        out
    }
}

impl SshBackend {
    /// Start hosts, then the relays deliveries went to, when they are ours: configured
    /// (clusters, `ssh_config.hosts`), short names, or names in the config's `domain`.
    /// External MX hosts are never logged into.
    fn follow_hosts(&self, relays: &[String]) -> Vec<String> {
        let mut out: Vec<String> = self.start_hosts.clone();
        let configured: Vec<&String> = self
            .cfg
            .clusters
            .values()
            .flatten()
            .chain(self.cfg.ssh_config.hosts.keys())
            .collect();
        let domain = self
            .cfg
            .domain
            .trim()
            .trim_start_matches('.')
            .to_lowercase();
        for r in relays {
            let is_ip = r.parse::<std::net::IpAddr>().is_ok();
            let ours = configured.iter().any(|c| same_host(c, r))
                || (!is_ip && !r.contains('.'))
                || (!domain.is_empty() && r.to_lowercase().ends_with(&format!(".{domain}")));
            if !ours {
                tracing::debug!(relay = %r, "not following a relay outside the configured hosts");
                continue;
            }
            let host = self.cfg.qualify_host(r);
            if !out.iter().any(|h| same_host(h, &host)) {
                out.push(host);
            }
        }
        out
    }

    fn log_files(&self, host: &str) -> Vec<String> {
        let s = &self.cfg.ssh_config;
        let has = |n: &str| s.hosts.keys().any(|k| k.eq_ignore_ascii_case(n));
        let short = host.split('.').next().unwrap_or(host);
        let key = if has(host) || !has(short) {
            host
        } else {
            short
        };
        s.host_config_for(key).log_files
    }

    /// grep each `(host, patterns)` in parallel; lines inside the window, framed. A failure
    /// on a host for which `fatal(host)` holds is an error, elsewhere a warning.
    async fn grep_hosts(
        &self,
        asks: Vec<(String, Vec<String>)>,
        ignore_case: bool,
        window: (i64, i64),
        warnings: &mut Vec<String>,
        fatal: impl Fn(&str) -> bool,
    ) -> Result<Vec<LogRecord>, InvestigateError> {
        let jobs: Vec<(String, Vec<String>, Vec<String>)> = asks
            .into_iter()
            .map(|(h, p)| {
                let files = self.log_files(&h);
                (h, files, p)
            })
            .collect();
        let reader = self.reader.clone();
        let results = tokio::task::spawn_blocking(move || {
            std::thread::scope(|scope| {
                let handles: Vec<_> = jobs
                    .iter()
                    .map(|(h, files, pats)| {
                        let reader = &reader;
                        scope.spawn(move || (h.clone(), reader.grep(h, files, pats, ignore_case)))
                    })
                    .collect();
                handles
                    .into_iter()
                    .filter_map(|j| j.join().ok())
                    .collect::<Vec<_>>()
            })
        })
        .await
        .map_err(|e| InvestigateError::Source(format!("ssh: {e}")))?;

        let mut out = Vec::new();
        for (host, result) in results {
            let grep = match result {
                Ok(g) => g,
                Err(e) if fatal(&host) => return Err(InvestigateError::Source(e.to_string())),
                Err(e) => {
                    warnings.push(e.to_string());
                    continue;
                }
            };
            warnings.extend(grep.warnings.iter().map(|w| format!("ssh {host}: {w}")));
            let ctx = SyslogContext {
                zone: self.zone,
                now_ns: self.now_ns,
                year: None,
                default_host: Some(host.clone()),
            };
            let mut unframed = 0usize;
            for line in &grep.lines {
                match syslog::parse_line(line, &ctx) {
                    Ok(rec) if (window.0..window.1).contains(&rec.timestamp_ns) => out.push(rec),
                    Ok(_) => {}
                    Err(_) => unframed += 1,
                }
            }
            if unframed > 0 {
                warnings.push(format!(
                    "ssh {host}: {unframed} lines are not syslog lines and were skipped"
                ));
            }
        }
        Ok(out)
    }
}

/// `bool.should` with at least one match.
fn any_of(clauses: Vec<Value>) -> Value {
    json!({ "bool": { "should": clauses, "minimum_should_match": 1 } })
}

fn carries(rec: &LogRecord, t: &Term) -> bool {
    match t {
        Term::QueueId { host: Some(h), id } => same_host(&rec.host, h) && rec.message.contains(id),
        _ => rec.message.contains(t.text()),
    }
}

fn read_files(cfg: &Config, window: (i64, i64)) -> Result<RecordsBackend, InvestigateError> {
    let f = &cfg.file_config;
    let zone = Zone::parse(&f.time_zone)
        .map_err(|e| InvestigateError::Config(format!("file_config.time_zone: {e}")))?;
    let ctx = ReadContext {
        syslog: SyslogContext {
            zone,
            now_ns: now_ns(),
            year: None,
            default_host: (!f.default_host.is_empty()).then(|| f.default_host.clone()),
        },
        documents: DocumentContext::new(&cfg.opensearch_config)
            .map_err(InvestigateError::Config)?,
    };
    let mut paths: Vec<PathBuf> = Vec::new();
    for pattern in f.paths.iter().filter(|p| !p.trim().is_empty()) {
        let matches = glob::glob(pattern).map_err(|e| {
            InvestigateError::Config(format!("file_config.paths: bad pattern {pattern:?}: {e}"))
        })?;
        paths.extend(matches.flatten().filter(|p| p.is_file()));
    }
    paths.sort();
    paths.dedup();
    if paths.is_empty() {
        return Err(InvestigateError::Source(format!(
            "file_config.paths ({}) match no file",
            f.paths.join(", ")
        )));
    }
    let mut stats = ReadStats::default();
    let mut records = Vec::new();
    let mut hosts = BTreeSet::new();
    for path in paths {
        read_input(
            &Input { path },
            InputFormat::Auto,
            &ctx,
            &mut stats,
            |rec| {
                if !hosts.contains(&rec.host) {
                    hosts.insert(rec.host.clone());
                }
                if (window.0..window.1).contains(&rec.timestamp_ns) {
                    records.push(rec);
                }
            },
        )
        .map_err(|e| InvestigateError::Source(e.to_string()))?;
    }
    Ok(RecordsBackend { records, hosts })
}
