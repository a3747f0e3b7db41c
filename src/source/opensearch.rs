//! OpenSearch source: reads every syslog document of one time window from an index (pattern).
//!
//! Its one job is to return the *complete* window or an error: the daemon advances its cursor
//! only on success, so a silent cap (the old tool's `size=10000`) or an error turned into an
//! empty result would lose mail lines for good. Pages are walked with a point-in-time (PIT) and
//! `search_after`, falling back to scroll on clusters that refuse PITs. Turning a document into
//! a `LogRecord` is the mapper's job, not this module's: it hands out raw `Hit`s.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use opensearch::auth::Credentials;
use opensearch::cert::{Certificate, CertificateValidation};
use opensearch::http::headers::{HeaderMap, RETRY_AFTER};
use opensearch::http::request::JsonBody;
use opensearch::http::transport::{SingleNodeConnectionPool, TransportBuilder};
use opensearch::http::{Method, Url};
use opensearch::OpenSearch;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

/// How long OpenSearch keeps a PIT or scroll context alive between two pages.
const KEEP_ALIVE: &str = "2m";
/// Upper bound for one wait between retries, whatever `Retry-After` asks for.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(30);

/// Connection and query settings, filled from `opensearch_config` by the caller.
#[derive(Debug, Clone)]
pub struct OpenSearchSettings {
    pub host: String,
    pub port: u16,
    pub use_ssl: bool,
    pub verify_certs: bool,
    pub ca_certs: Option<PathBuf>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Index name or pattern, e.g. `mail-*`.
    pub index: String,
    /// Per-request timeout (each page is one request).
    pub timeout: Duration,
    /// Documents per page (`scroll_batch_size`).
    pub page_size: usize,
    /// Event time field (dotted path as mapped), used for sorting and, by default, the window.
    pub timestamp_field: String,
    /// Facility field; an empty string disables the facility filter.
    pub facility_field: String,
    pub facility_value: String,
    /// When set, the window applies to this field (ingest time) instead of the event time, so
    /// lines from late shippers are not missed once the cursor has passed their event time.
    pub ingest_timestamp_field: Option<String>,
    /// Passed as the range query's `time_zone`; empty omits it.
    pub time_zone: String,
    /// How to page through results; `Auto` is PIT with a scroll fallback.
    pub pagination: Pagination,
    /// Attempts per request on 429/502/503/504 before giving up (at least 1).
    pub max_attempts: u32,
    /// First backoff between attempts (doubled each time) when there is no `Retry-After`.
    pub retry_backoff: Duration,
}

impl Default for OpenSearchSettings {
    fn default() -> Self {
        Self {
            host: "localhost".into(),
            port: 9200,
            use_ssl: false,
            verify_certs: true,
            ca_certs: None,
            username: None,
            password: None,
            index: "logs-*".into(),
            timeout: Duration::from_secs(30),
            page_size: 1000,
            timestamp_field: "@timestamp".into(),
            facility_field: "log.syslog.facility.name".into(),
            facility_value: "mail".into(),
            ingest_timestamp_field: None,
            time_zone: "+00:00".into(),
            pagination: Pagination::Auto,
            max_attempts: 3,
            retry_backoff: Duration::from_millis(500),
        }
    }
}

impl OpenSearchSettings {
    /// Settings from `opensearch_config` (and `tracing.scroll_batch_size`), with the
    /// password check of `Config::opensearch_auth`.
    pub fn from_config(cfg: &crate::config::Config) -> Result<Self, crate::config::ConfigError> {
        let o = &cfg.opensearch_config;
        let auth = cfg
            .opensearch_auth()?
            .map(|(u, p)| (u.to_string(), p.to_string()));
        Ok(OpenSearchSettings {
            host: o.host.clone(),
            port: o.port,
            use_ssl: o.use_ssl,
            verify_certs: o.verify_certs,
            ca_certs: (!o.ca_certs.is_empty()).then(|| PathBuf::from(&o.ca_certs)),
            username: auth.as_ref().map(|(u, _)| u.clone()),
            password: auth.map(|(_, p)| p),
            index: o.index.clone(),
            timeout: Duration::from_secs(o.timeout.max(1)),
            page_size: cfg.tracing.scroll_batch_size.max(1) as usize,
            timestamp_field: o.mapping.timestamp.clone(),
            facility_field: o.mapping.facility.clone(),
            facility_value: o.facility_value.clone(),
            ingest_timestamp_field: (!o.mapping.ingest_timestamp.is_empty())
                .then(|| o.mapping.ingest_timestamp.clone()),
            time_zone: o.time_zone.clone(),
            ..OpenSearchSettings::default()
        })
    }
}

/// Paging strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pagination {
    /// PIT + `search_after`; scroll if the cluster refuses PITs (remembered afterwards).
    #[default]
    Auto,
    /// Always PIT (an error if refused).
    Pit,
    /// Always scroll.
    Scroll,
}

/// One search hit, unmapped: its `_source` as the JSON text the cluster sent, which the
/// mapping reads without building a tree (`DocumentContext::map_hit`).
#[derive(Debug, Clone)]
pub struct Hit {
    pub id: String,
    pub index: String,
    pub source: Box<RawValue>,
}

impl PartialEq for Hit {
    /// The same document as the same text: clusters do not reformat what they store.
    fn eq(&self, other: &Self) -> bool {
        (&self.id, &self.index, self.source.get()) == (&other.id, &other.index, other.source.get())
    }
}

/// Every way reading a window can fail. Display is one line naming `host:port` and the index,
/// never the password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    #[error("opensearch {endpoint}: invalid settings: {reason}")]
    Config { endpoint: String, reason: String },
    #[error("opensearch {endpoint} (index {index}): cannot connect: {reason}")]
    Connect {
        endpoint: String,
        index: String,
        reason: String,
    },
    #[error("opensearch {endpoint} (index {index}): {what} timed out after {timeout:?}")]
    Timeout {
        endpoint: String,
        index: String,
        what: &'static str,
        timeout: Duration,
    },
    #[error("opensearch {endpoint}: index {index} not found")]
    IndexNotFound { endpoint: String, index: String },
    #[error("opensearch {endpoint} (index {index}): {what} failed with HTTP {status}: {reason}")]
    Http {
        endpoint: String,
        index: String,
        what: &'static str,
        status: u16,
        reason: String,
    },
    #[error("opensearch {endpoint} (index {index}): malformed response to {what}: {reason}")]
    Malformed {
        endpoint: String,
        index: String,
        what: &'static str,
        reason: String,
    },
    #[error("opensearch {endpoint} (index {index}): incomplete result from {what}: {reason}")]
    Incomplete {
        endpoint: String,
        index: String,
        what: &'static str,
        reason: String,
    },
}

impl SourceError {
    /// True when trying the same window again later may succeed (server busy, network).
    pub fn is_transient(&self) -> bool {
        match self {
            SourceError::Connect { .. }
            | SourceError::Timeout { .. }
            | SourceError::Incomplete { .. } => true,
            SourceError::Http { status, .. } => matches!(status, 429 | 502 | 503 | 504),
            _ => false,
        }
    }
}

// Remembered pagination choice for `Pagination::Auto`.
const MODE_UNKNOWN: u8 = 0;
const MODE_PIT: u8 = 1;
const MODE_SCROLL: u8 = 2;

/// Reads windows of documents from one OpenSearch index (pattern).
pub struct OpenSearchSource {
    client: OpenSearch,
    settings: OpenSearchSettings,
    endpoint: String,
    mode: AtomicU8,
}

/// What a successful response is read as: its JSON tree (`Value::Null` when the body was
/// empty), or its text (search pages, read without a tree by `read_page`).
trait ReplyBody: Sized {
    fn from_text(text: String) -> Result<Self, serde_json::Error>;
}

impl ReplyBody for Value {
    fn from_text(text: String) -> Result<Self, serde_json::Error> {
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text)
    }
}

impl ReplyBody for String {
    fn from_text(text: String) -> Result<Self, serde_json::Error> {
        Ok(text)
    }
}

/// One page of a search, checked by `page_hits`.
struct Page {
    hits: Vec<Hit>,
    last_sort: Option<Value>,
}

/// A search reply as sent: the few small members as values, each hit's document as its JSON
/// text (borrowed from the reply, copied once into its `Hit`).
#[derive(Deserialize)]
struct RawPage<'a> {
    #[serde(default)]
    timed_out: Value,
    #[serde(default)]
    _shards: Value,
    #[serde(default, borrow)]
    hits: Option<RawHits<'a>>,
    #[serde(default)]
    pit_id: Value,
    #[serde(default)]
    _scroll_id: Value,
}

#[derive(Deserialize)]
struct RawHits<'a> {
    #[serde(default, borrow)]
    hits: Option<Vec<RawHit<'a>>>,
}

#[derive(Deserialize)]
struct RawHit<'a> {
    #[serde(default)]
    _id: Value,
    #[serde(default)]
    _index: Value,
    #[serde(default, borrow)]
    _source: Option<&'a RawValue>,
    #[serde(default, borrow)]
    sort: Option<&'a RawValue>,
}

impl OpenSearchSource {
    pub fn new(settings: OpenSearchSettings) -> Result<Self, SourceError> {
        // A host may be written with a scheme (`https://os1`); `use_ssl` still decides.
        let host = settings
            .host
            .trim()
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let host_part = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]") // IPv6 literal
        } else {
            host.clone()
        };
        let endpoint = format!("{host_part}:{}", settings.port);
        let config_err = |reason: String| SourceError::Config {
            endpoint: endpoint.clone(),
            reason,
        };
        if host.is_empty() || host.contains(['/', '@', '?', '#']) {
            return Err(config_err(format!("bad host {host:?}")));
        }
        if settings.index.trim().is_empty() || settings.index.contains(['/', '?', '#', ' ']) {
            return Err(config_err(format!("bad index {:?}", settings.index)));
        }
        if settings.page_size == 0 {
            return Err(config_err("page size must be at least 1".into()));
        }
        if settings.timestamp_field.is_empty() {
            return Err(config_err("timestamp field is empty".into()));
        }
        let scheme = if settings.use_ssl { "https" } else { "http" };
        let url = Url::parse(&format!("{scheme}://{endpoint}/"))
            .map_err(|e| config_err(format!("bad URL: {e}")))?;

        let mut builder = TransportBuilder::new(SingleNodeConnectionPool::new(url))
            .timeout(settings.timeout)
            // Loghosts talk to OpenSearch directly; a proxy from the environment would only
            // surprise (and `localhost` tests would go through it).
            .disable_proxy();
        if let Some(user) = settings.username.as_deref().filter(|u| !u.is_empty()) {
            builder = builder.auth(Credentials::Basic(
                user.to_string(),
                settings.password.clone().unwrap_or_default(),
            ));
        }
        if settings.use_ssl {
            if !settings.verify_certs {
                tracing::warn!(
                    endpoint = %endpoint,
                    "TLS certificate verification is OFF for OpenSearch (verify_certs: false)"
                );
                builder = builder.cert_validation(CertificateValidation::None);
            } else if let Some(path) = &settings.ca_certs {
                let pem = std::fs::read(path).map_err(|e| {
                    config_err(format!("cannot read ca_certs {}: {e}", path.display()))
                })?;
                let cert = Certificate::from_pem(&pem).map_err(|e| {
                    config_err(format!("bad PEM in ca_certs {}: {e}", path.display()))
                })?;
                builder = builder.cert_validation(CertificateValidation::Full(cert));
            }
        }
        let transport = builder
            .build()
            .map_err(|e| config_err(format!("cannot build HTTP client: {e}")))?;
        let mode = match settings.pagination {
            Pagination::Auto => MODE_UNKNOWN,
            Pagination::Pit => MODE_PIT,
            Pagination::Scroll => MODE_SCROLL,
        };
        Ok(Self {
            client: OpenSearch::new(transport),
            settings,
            endpoint,
            mode: AtomicU8::new(mode),
        })
    }

    /// `host:port` as shown in errors and logs.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn settings(&self) -> &OpenSearchSettings {
        &self.settings
    }

    /// The paging method in use: `Pit` or `Scroll`, `None` before the first `Auto` fetch.
    pub fn pagination_in_use(&self) -> Option<Pagination> {
        match self.mode.load(Ordering::Relaxed) {
            MODE_PIT => Some(Pagination::Pit),
            MODE_SCROLL => Some(Pagination::Scroll),
            _ => None,
        }
    }

    /// Every document with window field in `[from_ns, to_ns)`, sorted by the time field, then a
    /// unique tiebreaker.
    pub async fn fetch_window(&self, from_ns: i64, to_ns: i64) -> Result<Vec<Hit>, SourceError> {
        let mut all = Vec::new();
        self.fetch_window_pages(from_ns, to_ns, |page| all.extend(page))
            .await?;
        Ok(all)
    }

    /// Streaming variant of [`fetch_window`](Self::fetch_window): `on_page` gets each page in
    /// order, so the caller bounds memory. Returns the number of hits delivered. On error some
    /// pages may already have been delivered: the caller must treat the window as unread.
    pub async fn fetch_window_pages(
        &self,
        from_ns: i64,
        to_ns: i64,
        mut on_page: impl FnMut(Vec<Hit>),
    ) -> Result<u64, SourceError> {
        if to_ns <= from_ns {
            return Ok(0);
        }
        let query = self.window_query(from_ns, to_ns);
        let learned_scroll = self.mode.load(Ordering::Relaxed) == MODE_SCROLL;
        match self.settings.pagination {
            Pagination::Scroll => self.scroll_pages(&query, &mut on_page).await,
            Pagination::Auto if learned_scroll => self.scroll_pages(&query, &mut on_page).await,
            Pagination::Pit => match self.open_pit().await? {
                Ok(pit) => self.pit_pages(pit, &query, &mut on_page).await,
                Err(refusal) => Err(refusal.error),
            },
            // Auto tries a PIT every time until the cluster shows it has none: a refusal of
            // one request (a pattern matching no index yet) must not switch modes for good.
            Pagination::Auto => match self.open_pit().await? {
                Ok(pit) => {
                    self.mode.store(MODE_PIT, Ordering::Relaxed);
                    self.pit_pages(pit, &query, &mut on_page).await
                }
                Err(refusal) => {
                    if refusal.unsupported {
                        tracing::info!(
                            endpoint = %self.endpoint,
                            reason = %refusal.error,
                            "OpenSearch refuses point-in-time searches; paging with scroll"
                        );
                        self.mode.store(MODE_SCROLL, Ordering::Relaxed);
                    }
                    self.scroll_pages(&query, &mut on_page).await
                }
            },
        }
    }

    /// The server's version number (for `doctor`).
    pub async fn ping(&self) -> Result<String, SourceError> {
        let body: Value = self.request(Method::Get, "/", &[], None, "ping").await?;
        body["version"]["number"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| self.malformed("ping", "no version.number in the reply"))
    }

    /// Every document matching the query clause `clause` whose *event* time (the timestamp
    /// field, never the ingest field: an investigation asks when mail moved) is in
    /// `[from_ns, to_ns)`, with the facility filter, paged like `fetch_window`. For one-shot
    /// searches (`run`, `graph`), which narrow the index by keywords and queue IDs.
    pub async fn search_query(
        &self,
        clause: &Value,
        from_ns: i64,
        to_ns: i64,
    ) -> Result<Vec<Hit>, SourceError> {
        if to_ns <= from_ns {
            return Ok(Vec::new());
        }
        let mut query = self.event_window_query(from_ns, to_ns);
        if let Some(filter) = query["bool"]["filter"].as_array_mut() {
            filter.push(clause.clone());
        }
        let mut all = Vec::new();
        self.query_pages(&query, &mut |page| all.extend(page))
            .await?;
        Ok(all)
    }

    /// How many documents of the index (pattern) match `query` (a whole query clause), at
    /// any time.
    pub async fn count_query(&self, query: &Value) -> Result<u64, SourceError> {
        let path = format!("/{}/_count", self.settings.index);
        let body: Value = self
            .request(
                Method::Post,
                &path,
                &[],
                Some(json!({ "query": query })),
                "count",
            )
            .await?;
        body["count"]
            .as_u64()
            .ok_or_else(|| self.malformed("count", "no count in the reply"))
    }

    /// The field mappings of every index the pattern matches (`GET /<index>/_mapping`): an
    /// object index name → `{ "mappings": … }`, empty when the pattern matches no index.
    pub async fn get_mapping(&self) -> Result<Value, SourceError> {
        let path = format!("/{}/_mapping", self.settings.index);
        let body: Value = self
            .request(Method::Get, &path, &[], None, "get mapping")
            .await?;
        if body.is_object() {
            Ok(body)
        } else {
            Err(self.malformed("get mapping", "the reply is not an object"))
        }
    }

    /// The `size` newest documents (facility filter applied), newest first.
    pub async fn latest(&self, size: usize) -> Result<Vec<Hit>, SourceError> {
        let s = &self.settings;
        let query = if s.facility_field.is_empty() {
            json!({ "match_all": {} })
        } else {
            json!({ "match": { &s.facility_field: s.facility_value } })
        };
        let body = json!({
            "size": size,
            "query": query,
            "sort": [{ &s.timestamp_field: { "order": "desc", "unmapped_type": "date" } }],
        });
        let path = format!("/{}/_search", s.index);
        let text = self
            .request::<String>(Method::Post, &path, &[], Some(body), "sample search")
            .await?;
        let raw = self.read_page(&text, "sample search")?;
        Ok(self.page_hits(raw, "sample search")?.hits)
    }

    /// Pages of `query` with the configured pagination (shared by the one-shot searches).
    async fn query_pages(
        &self,
        query: &Value,
        on_page: &mut impl FnMut(Vec<Hit>),
    ) -> Result<u64, SourceError> {
        let learned_scroll = self.mode.load(Ordering::Relaxed) == MODE_SCROLL;
        match self.settings.pagination {
            Pagination::Scroll => self.scroll_pages(query, on_page).await,
            Pagination::Auto if learned_scroll => self.scroll_pages(query, on_page).await,
            Pagination::Pit => match self.open_pit().await? {
                Ok(pit) => self.pit_pages(pit, query, on_page).await,
                Err(refusal) => Err(refusal.error),
            },
            Pagination::Auto => match self.open_pit().await? {
                Ok(pit) => {
                    self.mode.store(MODE_PIT, Ordering::Relaxed);
                    self.pit_pages(pit, query, on_page).await
                }
                Err(refusal) => {
                    if refusal.unsupported {
                        self.mode.store(MODE_SCROLL, Ordering::Relaxed);
                    }
                    self.scroll_pages(query, on_page).await
                }
            },
        }
    }

    /// Like `window_query`, but always on the event time field.
    fn event_window_query(&self, from_ns: i64, to_ns: i64) -> Value {
        let s = &self.settings;
        let mut range = json!({
            "gte": ceil_ms(from_ns).to_string(),
            "lt": ceil_ms(to_ns).to_string(),
            "format": "epoch_millis",
        });
        if !s.time_zone.is_empty() {
            range["time_zone"] = json!(s.time_zone);
        }
        let mut filter = vec![json!({ "range": { &s.timestamp_field: range } })];
        if !s.facility_field.is_empty() {
            filter.push(json!({ "match": { &s.facility_field: s.facility_value } }));
        }
        json!({ "bool": { "filter": filter } })
    }

    /// The search body without paging: range on the window field, optional facility match,
    /// sort by time then `tiebreak`.
    fn window_query(&self, from_ns: i64, to_ns: i64) -> Value {
        let s = &self.settings;
        let window_field = s
            .ingest_timestamp_field
            .as_deref()
            .filter(|f| !f.is_empty())
            .unwrap_or(&s.timestamp_field);
        // Dates are millisecond precision in OpenSearch: a document at t ms is in [from, to)
        // iff t >= ceil(from) and t < ceil(to). Rounding both ends the same way keeps
        // consecutive windows gap-free and overlap-free.
        let mut range = json!({
            "gte": ceil_ms(from_ns).to_string(),
            "lt": ceil_ms(to_ns).to_string(),
            "format": "epoch_millis",
        });
        if !s.time_zone.is_empty() {
            range["time_zone"] = json!(s.time_zone);
        }
        let mut filter = vec![json!({ "range": { window_field: range } })];
        if !s.facility_field.is_empty() {
            filter.push(json!({ "match": { &s.facility_field: s.facility_value } }));
        }
        json!({ "bool": { "filter": filter } })
    }

    fn time_sort(&self) -> Value {
        // `unmapped_type` keeps an index of the pattern that lacks the field from failing shards.
        json!({ &self.settings.timestamp_field: { "order": "asc", "unmapped_type": "date" } })
    }

    /// Opens a PIT. Outer error: the request failed in a way scroll would not fix (network,
    /// missing concrete index, auth). Inner error: the cluster refused the PIT.
    async fn open_pit(&self) -> Result<Result<String, PitRefusal>, SourceError> {
        let path = format!("/{}/_search/point_in_time", self.settings.index);
        let result: Result<Value, _> = self
            .request(
                Method::Post,
                &path,
                &[("keep_alive", KEEP_ALIVE)],
                None,
                "open point-in-time",
            )
            .await;
        match result {
            Ok(body) => match body["pit_id"].as_str() {
                Some(id) => Ok(Ok(id.to_string())),
                None => Err(self.malformed("open point-in-time", "no pit_id in the reply")),
            },
            Err(SourceError::Http {
                endpoint,
                index,
                what,
                status,
                reason,
            }) if (400..500).contains(&status) && !matches!(status, 401 | 403 | 429) => {
                let r = reason.to_ascii_lowercase();
                if r.contains("index_not_found") || r.contains("no such index") {
                    // A missing index, not a cluster without PITs: say so, and keep PITs.
                    return Err(SourceError::IndexNotFound { endpoint, index });
                }
                let unsupported = matches!(status, 404 | 405)
                    || r.contains("no handler")
                    || r.contains("unrecognized")
                    || r.contains("unsupported");
                Ok(Err(PitRefusal {
                    error: SourceError::Http {
                        endpoint,
                        index,
                        what,
                        status,
                        reason,
                    },
                    unsupported,
                }))
            }
            Err(e) => Err(e),
        }
    }

    async fn pit_pages(
        &self,
        mut pit_id: String,
        query: &Value,
        on_page: &mut impl FnMut(Vec<Hit>),
    ) -> Result<u64, SourceError> {
        let result = async {
            let size = self.settings.page_size;
            let mut search_after: Option<Value> = None;
            let mut total = 0u64;
            loop {
                let mut body = json!({
                    "size": size,
                    "query": query,
                    "sort": [self.time_sort(), { "_shard_doc": "asc" }],
                    "pit": { "id": pit_id, "keep_alive": KEEP_ALIVE },
                    "track_total_hits": false,
                });
                if let Some(after) = &search_after {
                    body["search_after"] = after.clone();
                }
                let text = self
                    .request::<String>(Method::Post, "/_search", &[], Some(body), "search page")
                    .await?;
                let raw = self.read_page(&text, "search page")?;
                // The PIT id may change between pages; always continue with (and, after a
                // failed page too, delete) the newest one.
                if let Some(id) = raw.pit_id.as_str() {
                    pit_id = id.to_string();
                }
                let Page { hits, last_sort } = self.page_hits(raw, "search page")?;
                let n = hits.len();
                total += n as u64;
                if n > 0 {
                    on_page(hits);
                }
                if n < size {
                    return Ok(total);
                }
                search_after = Some(last_sort.ok_or_else(|| {
                    self.malformed("search page", "full page without sort values")
                })?);
            }
        }
        .await;
        // Free the server-side context even after an error; failure here loses nothing.
        let _ = self
            .request::<Value>(
                Method::Delete,
                "/_search/point_in_time",
                &[],
                Some(json!({ "pit_id": [pit_id] })),
                "delete point-in-time",
            )
            .await;
        result
    }

    async fn scroll_pages(
        &self,
        query: &Value,
        on_page: &mut impl FnMut(Vec<Hit>),
    ) -> Result<u64, SourceError> {
        let size = self.settings.page_size;
        let body = json!({
            "size": size,
            "query": query,
            "sort": [self.time_sort(), "_doc"],
        });
        let path = format!("/{}/_search", self.settings.index);
        let first = self
            .request::<String>(
                Method::Post,
                &path,
                &[("scroll", KEEP_ALIVE)],
                Some(body),
                "scroll search",
            )
            .await?;
        let mut scroll_id = None;
        let mut text = first;
        let result = async {
            let mut total = 0u64;
            loop {
                let raw = self.read_page(&text, "scroll page")?;
                // Taken before the page is checked: a page that failed still has a scroll
                // context to clear.
                if let Some(id) = raw._scroll_id.as_str() {
                    scroll_id = Some(id.to_string());
                }
                let hits = self.page_hits(raw, "scroll page")?.hits;
                let n = hits.len();
                total += n as u64;
                if n > 0 {
                    on_page(hits);
                }
                // Scroll pages are full until the last; an empty page also ends it.
                if n < size {
                    return Ok(total);
                }
                let id = scroll_id
                    .clone()
                    .ok_or_else(|| self.malformed("scroll page", "no _scroll_id in the reply"))?;
                text = self
                    .request::<String>(
                        Method::Post,
                        "/_search/scroll",
                        &[],
                        Some(json!({ "scroll": KEEP_ALIVE, "scroll_id": id })),
                        "scroll page",
                    )
                    .await?;
            }
        }
        .await;
        if let Some(id) = scroll_id {
            let _ = self
                .request::<Value>(
                    Method::Delete,
                    "/_search/scroll",
                    &[],
                    Some(json!({ "scroll_id": [id] })),
                    "clear scroll",
                )
                .await;
        }
        result
    }

    /// A reply's JSON, before `page_hits` checks it (paging IDs are read in between). The
    /// documents stay JSON text: no tree is built for a page.
    fn read_page<'t>(&self, text: &'t str, what: &'static str) -> Result<RawPage<'t>, SourceError> {
        serde_json::from_str(text).map_err(|e| self.invalid_json(what, e))
    }

    /// Hits of one page and the last hit's sort values. A page that timed out or lost shards
    /// is an error: its missing documents would otherwise vanish.
    fn page_hits(&self, raw: RawPage, what: &'static str) -> Result<Page, SourceError> {
        if raw.timed_out.as_bool() == Some(true) {
            return Err(self.incomplete(what, "timed_out: true".into()));
        }
        let failed = raw._shards["failed"].as_u64().unwrap_or(0);
        if failed > 0 {
            let reason = raw._shards["failures"][0]["reason"]["reason"]
                .as_str()
                .unwrap_or("no reason given");
            return Err(self.incomplete(what, format!("{failed} shard(s) failed: {reason}")));
        }
        let raw_hits = raw
            .hits
            .and_then(|h| h.hits)
            .ok_or_else(|| self.malformed(what, "no hits.hits array"))?;
        let last_sort = match raw_hits.last().and_then(|h| h.sort) {
            Some(sort) => {
                Some(serde_json::from_str(sort.get()).map_err(|e| self.invalid_json(what, e))?)
            }
            None => None,
        };
        let mut hits = Vec::with_capacity(raw_hits.len());
        for h in raw_hits {
            let id = h
                ._id
                .as_str()
                .ok_or_else(|| self.malformed(what, "hit without _id"))?
                .to_string();
            let source = match h._source {
                Some(s) if s.get().trim_start().starts_with('{') => s.to_owned(),
                _ => return Err(self.malformed(what, "hit without _source (is _source disabled?)")),
            };
            hits.push(Hit {
                id,
                index: h._index.as_str().unwrap_or_default().to_string(),
                source,
            });
        }
        Ok(Page { hits, last_sort })
    }

    /// Sends one request, retrying 429/502/503/504 with bounded backoff. Any non-2xx status,
    /// transport failure or body that is not a `B` is an error.
    async fn request<B: ReplyBody>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
        what: &'static str,
    ) -> Result<B, SourceError> {
        let attempts = self.settings.max_attempts.max(1);
        let mut backoff = self.settings.retry_backoff;
        for attempt in 1..=attempts {
            let sent = self
                .client
                .send(
                    method,
                    path,
                    HeaderMap::new(),
                    (!query.is_empty()).then_some(query),
                    body.clone().map(JsonBody::new),
                    None,
                )
                .await;
            let response = match sent {
                Ok(r) => r,
                Err(e) if e.is_timeout() => {
                    return Err(SourceError::Timeout {
                        endpoint: self.endpoint.clone(),
                        index: self.settings.index.clone(),
                        what,
                        timeout: self.settings.timeout,
                    })
                }
                Err(e) => {
                    return Err(SourceError::Connect {
                        endpoint: self.endpoint.clone(),
                        index: self.settings.index.clone(),
                        reason: self.redact(&error_chain(&e)),
                    })
                }
            };
            let status = response.status_code().as_u16();
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let text = match response.text().await {
                Ok(t) => t,
                Err(e) if e.is_timeout() => {
                    return Err(SourceError::Timeout {
                        endpoint: self.endpoint.clone(),
                        index: self.settings.index.clone(),
                        what,
                        timeout: self.settings.timeout,
                    })
                }
                Err(e) => return Err(self.malformed(what, &error_chain(&e))),
            };
            if matches!(status, 429 | 502 | 503 | 504) && attempt < attempts {
                let wait = retry_after.unwrap_or(backoff).min(MAX_RETRY_WAIT);
                tracing::warn!(
                    endpoint = %self.endpoint, status, attempt, ?wait,
                    "OpenSearch {what} busy; retrying"
                );
                tokio::time::sleep(wait).await;
                backoff = backoff.saturating_mul(2);
                continue;
            }
            if !(200..300).contains(&status) {
                let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                let err_type = body["error"]["type"].as_str().unwrap_or_default();
                if err_type == "index_not_found_exception" {
                    return Err(SourceError::IndexNotFound {
                        endpoint: self.endpoint.clone(),
                        index: self.settings.index.clone(),
                    });
                }
                let reason = match body["error"]["reason"].as_str() {
                    Some(r) if !err_type.is_empty() => format!("{err_type}: {r}"),
                    _ => truncate(&text, 300),
                };
                return Err(SourceError::Http {
                    endpoint: self.endpoint.clone(),
                    index: self.settings.index.clone(),
                    what,
                    status,
                    reason: self.redact(&reason),
                });
            }
            return B::from_text(text).map_err(|e| self.invalid_json(what, e));
        }
        unreachable!("the last attempt always returns")
    }

    fn invalid_json(&self, what: &'static str, e: serde_json::Error) -> SourceError {
        self.malformed(what, &format!("invalid JSON: {e}"))
    }

    fn malformed(&self, what: &'static str, reason: &str) -> SourceError {
        SourceError::Malformed {
            endpoint: self.endpoint.clone(),
            index: self.settings.index.clone(),
            what,
            reason: self.redact(reason),
        }
    }

    fn incomplete(&self, what: &'static str, reason: String) -> SourceError {
        SourceError::Incomplete {
            endpoint: self.endpoint.clone(),
            index: self.settings.index.clone(),
            what,
            reason: self.redact(&reason),
        }
    }

    /// Belt and braces: a server may echo request details; the password never leaves here.
    fn redact(&self, s: &str) -> String {
        match self.settings.password.as_deref() {
            Some(p) if p.len() >= 3 => s.replace(p, "***"),
            _ => s.to_string(),
        }
    }
}

impl std::fmt::Debug for OpenSearchSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenSearchSource")
            .field("endpoint", &self.endpoint)
            .field("index", &self.settings.index)
            .finish_non_exhaustive()
    }
}

struct PitRefusal {
    error: SourceError,
    /// The cluster does not offer PITs at all (remember scroll), as opposed to refusing this
    /// one request (e.g. a pattern matching no index).
    unsupported: bool,
}

/// Nanoseconds to milliseconds, rounded up (toward +∞, also for negative times).
fn ceil_ms(ns: i64) -> i64 {
    let ms = ns.div_euclid(1_000_000);
    if ns.rem_euclid(1_000_000) == 0 {
        ms
    } else {
        ms + 1
    }
}

/// The error and its causes on one line (reqwest hides "connection refused" in a source).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let s = c.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = c.source();
    }
    out.replace('\n', " ")
}

fn truncate(s: &str, max: usize) -> String {
    let s = s.trim().replace('\n', " ");
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceil_ms_rounds_up_consistently() {
        assert_eq!(ceil_ms(0), 0);
        assert_eq!(ceil_ms(1), 1);
        assert_eq!(ceil_ms(1_000_000), 1);
        assert_eq!(ceil_ms(1_000_001), 2);
        assert_eq!(ceil_ms(-1), 0);
        assert_eq!(ceil_ms(-1_000_000), -1);
        assert_eq!(ceil_ms(-1_000_001), -1);
    }

    #[test]
    fn display_never_shows_the_password() {
        let src = OpenSearchSource::new(OpenSearchSettings {
            host: "os1".into(),
            port: 9200,
            username: Some("u".into()),
            password: Some("s3cret-pw".into()),
            ..Default::default()
        })
        .unwrap();
        let e = src.malformed("search page", "echo s3cret-pw back");
        let shown = e.to_string();
        assert!(!shown.contains("s3cret-pw"), "{shown}");
        assert!(shown.contains("os1:9200"), "{shown}");
        assert!(shown.contains("logs-*"), "{shown}");
    }

    #[test]
    fn query_shape() {
        let src = OpenSearchSource::new(OpenSearchSettings {
            facility_field: String::new(),
            ..Default::default()
        })
        .unwrap();
        let q = src.window_query(1_500_000, 3_000_000);
        let filter = q["bool"]["filter"].as_array().unwrap();
        assert_eq!(filter.len(), 1, "empty facility field disables the filter");
        assert_eq!(filter[0]["range"]["@timestamp"]["gte"], "2");
        assert_eq!(filter[0]["range"]["@timestamp"]["lt"], "3");
    }
}
