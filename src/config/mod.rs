//! YAML configuration: the Python tool's schema (same keys, same defaults) plus our additions.
//!
//! Loading is strict: every section denies unknown keys, and any error names the file and the
//! full dotted key path (via `serde_path_to_error`), because a silently ignored typo in a mapping
//! path shows up only as "no traces" hours later. Checks that depend on which source is in use
//! live in [`Config::validate`], and a missing password is only reported where it is needed
//! ([`Config::opensearch_auth`]).

mod secret;

pub use crate::parse::time::Zone;
pub use secret::Secret;

use serde::de::{Error as _, Unexpected};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Environment variables consulted when the config leaves a password empty.
pub const ENV_OPENSEARCH_PASSWORD: &str = "MAILTRACE_OPENSEARCH_PASSWORD";
pub const ENV_SSH_PASSWORD: &str = "MAILTRACE_SSH_PASSWORD";
pub const ENV_SUDO_PASSWORD: &str = "MAILTRACE_SUDO_PASSWORD";
/// Environment variable naming a file that holds the OpenSearch password (systemd
/// `LoadCredential=`, container secrets). Used when neither the config nor
/// `MAILTRACE_OPENSEARCH_PASSWORD` gives one.
pub const ENV_OPENSEARCH_PASSWORD_FILE: &str = "MAILTRACE_OPENSEARCH_PASSWORD_FILE";
/// Environment variable naming the config file when `-c` is not given.
pub const ENV_CONFIG: &str = "MAILTRACE_CONFIG";

/// Everything that can go wrong between a config path and a usable `Config`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read config file: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// YAML syntax error, unknown key or wrong type. `key` is the dotted path (empty for a
    /// syntax error, which has no key).
    #[error("{origin}: {}{message}{}", fmt_key(key), fmt_location(*.line, *.column))]
    Parse {
        origin: String,
        key: String,
        message: String,
        line: Option<usize>,
        column: Option<usize>,
    },
    /// Values that parse but cannot work together (see [`Config::validate`]).
    #[error("{origin}: invalid configuration: {}", .problems.join("; "))]
    Invalid {
        origin: String,
        problems: Vec<String>,
    },
    #[error("{origin}: {section}.username is set but no password: set {section}.password, the environment variable {env}, or {env}_FILE (a file holding it)")]
    MissingPassword {
        origin: String,
        section: &'static str,
        env: &'static str,
    },
}

fn fmt_key(key: &str) -> String {
    if key.is_empty() || key == "." {
        String::new()
    } else {
        format!("{key}: ")
    }
}

fn fmt_location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(" (line {l}, column {c})"),
        (Some(l), None) => format!(" (line {l})"),
        _ => String::new(),
    }
}

/// How log lines are fetched. `file` is our addition and the default (needs no server).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Ssh,
    Opensearch,
    #[default]
    File,
}

/// Python logging level names; any case is accepted, `WARN`/`FATAL` as aliases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogLevel {
    Debug,
    #[default]
    Info,
    Warning,
    Error,
    Critical,
}

impl LogLevel {
    /// The Python name, as written back to YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warning => "WARNING",
            LogLevel::Error => "ERROR",
            LogLevel::Critical => "CRITICAL",
        }
    }

    /// A `tracing_subscriber::EnvFilter` directive; Rust has no level above error.
    pub fn as_filter(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warning => "warn",
            LogLevel::Error | LogLevel::Critical => "error",
        }
    }
}

impl Serialize for LogLevel {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for LogLevel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(match s.to_ascii_uppercase().as_str() {
            "DEBUG" => LogLevel::Debug,
            "INFO" => LogLevel::Info,
            "WARNING" | "WARN" => LogLevel::Warning,
            "ERROR" => LogLevel::Error,
            "CRITICAL" | "FATAL" => LogLevel::Critical,
            _ => {
                return Err(D::Error::invalid_value(
                    Unexpected::Str(&s),
                    &"one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
                ))
            }
        })
    }
}

/// Format of our own log output on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Syslog framing of files read over SSH; the names are the Python tool's class names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum LogParser {
    /// Either framing, detected per line.
    #[default]
    SyslogParser,
    Rfc5424Parser,
    Rfc3164Parser,
}

/// YAML `key:` with no value is null; for our sections and strings that means "default", as
/// the Python tool treated it.
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The root of `config.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub method: Method,
    pub log_level: LogLevel,
    /// Ours: `text` or `json` (stderr logs).
    pub log_format: LogFormat,
    /// Python-compatible; seconds. Accepted for old configs, sections have their own timeouts.
    pub timeout: u64,
    /// Python-compatible; the Rust CLI never prompts to continue.
    pub auto_continue: bool,
    /// Appended to short host names given to one-shot commands.
    #[serde(deserialize_with = "null_default")]
    pub domain: String,
    /// Cluster name → hosts, for `-h CLUSTER` and the MCP `clusters` resource.
    #[serde(deserialize_with = "null_default")]
    pub clusters: BTreeMap<String, Vec<String>>,
    #[serde(deserialize_with = "null_default")]
    pub ssh_config: SshConfig,
    #[serde(deserialize_with = "null_default")]
    pub opensearch_config: OpenSearchConfig,
    /// Ours: settings for `method: file`.
    #[serde(deserialize_with = "null_default")]
    pub file_config: FileConfig,
    #[serde(deserialize_with = "null_default")]
    pub tracing: TracingConfig,
    /// Ours: base URL of the Jaeger UI, for links printed by `trace-id`.
    #[serde(deserialize_with = "null_default")]
    pub jaeger_ui_url: String,
    /// Ours: the MCP server (`mailtrace mcp`).
    #[serde(deserialize_with = "null_default")]
    pub mcp: McpConfig,
    /// Where this config came from (file name), for error messages. Not a YAML key.
    #[serde(skip)]
    pub origin: String,
    /// Problems found while reading the environment (e.g. an unreadable password file),
    /// reported by [`Config::validate`]. Not a YAML key.
    #[serde(skip)]
    pub env_problems: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            method: Method::default(),
            log_level: LogLevel::default(),
            log_format: LogFormat::default(),
            timeout: 30,
            auto_continue: false,
            domain: String::new(),
            clusters: BTreeMap::new(),
            ssh_config: SshConfig::default(),
            opensearch_config: OpenSearchConfig::default(),
            file_config: FileConfig::default(),
            tracing: TracingConfig::default(),
            jaeger_ui_url: String::new(),
            mcp: McpConfig::default(),
            origin: "<defaults>".to_string(),
            env_problems: Vec::new(),
        }
    }
}

/// `ssh_config:` — reading log files on remote hosts through the system `ssh` client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SshConfig {
    #[serde(deserialize_with = "null_default")]
    pub username: String,
    pub password: Secret,
    #[serde(deserialize_with = "null_default")]
    pub private_key: String,
    pub sudo_pass: Secret,
    pub sudo: bool,
    pub timeout: u64,
    #[serde(deserialize_with = "null_default")]
    pub ssh_config_file: String,
    /// Ours: zone of timestamps without an offset in the remote files (RFC 3164, Exim).
    #[serde(deserialize_with = "null_default")]
    pub time_zone: String,
    /// Defaults for every host.
    #[serde(deserialize_with = "null_default")]
    pub host_config: HostConfig,
    /// Per-host overrides; keys left out inherit from `host_config` (see `host_config_for`).
    #[serde(deserialize_with = "hosts_map")]
    pub hosts: BTreeMap<String, HostOverride>,
}

impl Default for SshConfig {
    fn default() -> Self {
        SshConfig {
            username: String::new(),
            password: Secret::default(),
            private_key: String::new(),
            sudo_pass: Secret::default(),
            sudo: true,
            timeout: 10,
            ssh_config_file: String::new(),
            time_zone: "+00:00".to_string(),
            host_config: HostConfig::default(),
            hosts: BTreeMap::new(),
        }
    }
}

/// A host entry may be empty (`mx1.example.com:` → null): it then inherits everything.
fn hosts_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, HostOverride>, D::Error> {
    let raw = Option::<BTreeMap<String, Option<HostOverride>>>::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect())
}

impl SshConfig {
    /// The effective settings for `host`: its `hosts:` entry over `host_config`, key by key
    /// (the Python tool replaced the whole default with a host entry). Exact name first, then
    /// case-insensitive.
    pub fn host_config_for(&self, host: &str) -> HostConfig {
        let entry = self.hosts.get(host).or_else(|| {
            self.hosts
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(host))
                .map(|(_, v)| v)
        });
        let base = &self.host_config;
        match entry {
            None => base.clone(),
            Some(o) => HostConfig {
                log_files: o
                    .log_files
                    .clone()
                    .unwrap_or_else(|| base.log_files.clone()),
                log_parser: o.log_parser.unwrap_or(base.log_parser),
                time_format: o
                    .time_format
                    .clone()
                    .unwrap_or_else(|| base.time_format.clone()),
            },
        }
    }
}

/// Where and how to read logs on one host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostConfig {
    #[serde(deserialize_with = "null_default")]
    pub log_files: Vec<String>,
    pub log_parser: LogParser,
    /// strftime format of timestamps in the files (Python-compatible; framing is auto-detected).
    #[serde(deserialize_with = "null_default")]
    pub time_format: String,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            log_files: Vec::new(),
            log_parser: LogParser::SyslogParser,
            time_format: "%Y-%m-%d %H:%M:%S".to_string(),
        }
    }
}

/// A `hosts:` entry: only the keys it sets.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostOverride {
    pub log_files: Option<Vec<String>>,
    pub log_parser: Option<LogParser>,
    pub time_format: Option<String>,
}

/// `opensearch_config:` — the primary source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpenSearchConfig {
    #[serde(deserialize_with = "null_default")]
    pub host: String,
    pub port: u16,
    #[serde(deserialize_with = "null_default")]
    pub username: String,
    pub password: Secret,
    pub use_ssl: bool,
    pub verify_certs: bool,
    /// Ours: path of a CA bundle (PEM) to verify the server with; empty = system roots.
    #[serde(deserialize_with = "null_default")]
    pub ca_certs: String,
    /// Index name or pattern (`mail-*`).
    #[serde(deserialize_with = "null_default")]
    pub index: String,
    /// Zone of timestamps stored without an offset.
    #[serde(deserialize_with = "null_default")]
    pub time_zone: String,
    pub timeout: u64,
    /// Ours: the facility value to match when `mapping.facility` is set; empty disables.
    #[serde(deserialize_with = "null_default")]
    pub facility_value: String,
    #[serde(deserialize_with = "null_default")]
    pub mapping: Mapping,
}

impl Default for OpenSearchConfig {
    fn default() -> Self {
        OpenSearchConfig {
            host: String::new(),
            port: 9200,
            username: String::new(),
            password: Secret::default(),
            use_ssl: false,
            verify_certs: false,
            ca_certs: String::new(),
            index: String::new(),
            time_zone: "+00:00".to_string(),
            timeout: 10,
            facility_value: "mail".to_string(),
            mapping: Mapping::default(),
        }
    }
}

impl OpenSearchConfig {
    /// The parsed `time_zone` (checked by `validate`, so normally infallible after it).
    pub fn zone(&self) -> Result<Zone, String> {
        self.time_zone.parse()
    }
}

/// Dotted document paths of each field; an empty path means "not mapped".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mapping {
    #[serde(deserialize_with = "null_default")]
    pub facility: String,
    #[serde(deserialize_with = "null_default")]
    pub hostname: String,
    #[serde(deserialize_with = "null_default")]
    pub message: String,
    #[serde(deserialize_with = "null_default")]
    pub timestamp: String,
    #[serde(deserialize_with = "null_default")]
    pub service: String,
    #[serde(deserialize_with = "null_default")]
    pub queueid: String,
    #[serde(deserialize_with = "null_default")]
    pub queued_as: String,
    #[serde(deserialize_with = "null_default")]
    pub mail_id: String,
    /// Ours: a Message-ID field extracted by the shipper.
    #[serde(deserialize_with = "null_default")]
    pub message_id: String,
    #[serde(deserialize_with = "null_default")]
    pub relay_host: String,
    #[serde(deserialize_with = "null_default")]
    pub relay_ip: String,
    #[serde(deserialize_with = "null_default")]
    pub relay_port: String,
    #[serde(deserialize_with = "null_default")]
    pub smtp_code: String,
    /// Ours: when the document reached the index (e.g. `event.ingested`); lets the daemon's
    /// window follow arrival time rather than event time, so late-shipped lines are not missed.
    #[serde(deserialize_with = "null_default")]
    pub ingest_timestamp: String,
}

impl Default for Mapping {
    fn default() -> Self {
        Mapping {
            facility: "log.syslog.facility.name".to_string(),
            hostname: "host.name".to_string(),
            message: "message".to_string(),
            timestamp: "@timestamp".to_string(),
            service: "log.syslog.appname".to_string(),
            queueid: "log.syslog.structured_data.queueid".to_string(),
            queued_as: "log.syslog.structured_data.queued_as".to_string(),
            mail_id: String::new(),
            message_id: String::new(),
            relay_host: String::new(),
            relay_ip: String::new(),
            relay_port: String::new(),
            smtp_code: String::new(),
            ingest_timestamp: String::new(),
        }
    }
}

/// `file_config:` (ours) — syslog text files on this machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    /// Glob patterns (`/var/log/mail/*.log`).
    #[serde(deserialize_with = "null_default")]
    pub paths: Vec<String>,
    /// Zone of timestamps without an offset (RFC 3164, Exim mainlog).
    #[serde(deserialize_with = "null_default")]
    pub time_zone: String,
    /// Host name for lines that carry none (bare Exim mainlog lines).
    #[serde(deserialize_with = "null_default")]
    pub default_host: String,
}

impl Default for FileConfig {
    fn default() -> Self {
        FileConfig {
            paths: Vec::new(),
            time_zone: "+00:00".to_string(),
            default_host: String::new(),
        }
    }
}

impl FileConfig {
    pub fn zone(&self) -> Result<Zone, String> {
        self.time_zone.parse()
    }
}

/// `tracing:` — the daemon loop and the OTLP export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TracingConfig {
    pub sleep_seconds: u64,
    /// Rounds without a new line before a message is exported (0 = at once).
    pub hold_rounds: u32,
    /// Overlap of each query window with the previous one.
    pub go_back_seconds: u64,
    pub max_trace_age_seconds: u64,
    pub scroll_batch_size: u32,
    /// Ours: where the cursor and pending messages persist.
    #[serde(deserialize_with = "null_default")]
    pub state_dir: String,
    pub max_pending_messages: u64,
    /// Raw log lines kept as span events per hop.
    pub max_lines_per_hop: u32,
    /// How long (log time) a delivery's next hop may take to show up in the logs.
    pub next_hop_grace_seconds: u64,
    #[serde(deserialize_with = "null_default")]
    pub otel_endpoint: String,
    /// Extra gRPC metadata / HTTP headers (auth tokens: values are secrets).
    #[serde(deserialize_with = "null_default")]
    pub otel_headers: BTreeMap<String, Secret>,
    pub otel_timeout_seconds: u64,
    pub otel_gzip: bool,
    /// Spans that may wait for an unreachable endpoint before the oldest are dropped (counted).
    pub export_queue_max_spans: u64,
    /// Prometheus `/metrics` listen address; empty disables.
    #[serde(deserialize_with = "null_default")]
    pub metrics_address: String,
}

impl Default for TracingConfig {
    fn default() -> Self {
        TracingConfig {
            sleep_seconds: 60,
            hold_rounds: 2,
            go_back_seconds: 10,
            max_trace_age_seconds: 1800,
            scroll_batch_size: 1000,
            state_dir: "mailtrace-state".to_string(),
            max_pending_messages: 100_000,
            max_lines_per_hop: 200,
            next_hop_grace_seconds: 60,
            otel_endpoint: "http://localhost:4317".to_string(),
            otel_headers: BTreeMap::new(),
            otel_timeout_seconds: 10,
            otel_gzip: true,
            export_queue_max_spans: 1_000_000,
            metrics_address: "127.0.0.1:9464".to_string(),
        }
    }
}

/// `mcp:` — limits of the MCP server's tools, which LLM agents call unattended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct McpConfig {
    /// Largest `time_range` (the half-width of the window) a tool accepts; a longer one is
    /// refused, so one call cannot scan weeks of logs.
    pub max_time_range_hours: u64,
}

impl Default for McpConfig {
    fn default() -> Self {
        McpConfig {
            max_time_range_hours: 24,
        }
    }
}

/// A password kept in a file (a systemd credential, a container secret): the whole content
/// minus one trailing line break. An empty file is an error, not "no password".
fn read_secret_file(path: &Path) -> Result<Secret, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    let value = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    if value.is_empty() {
        return Err("the file is empty".to_string());
    }
    Ok(Secret::new(value))
}

/// `-c` flag, else `$MAILTRACE_CONFIG` (when non-empty), else `config.yaml`.
pub fn resolve_config_path(cli: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(p) = cli {
        return p.to_path_buf();
    }
    match env(ENV_CONFIG) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from("config.yaml"),
    }
}

impl Config {
    /// Read and parse a config file (no env, no validation).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: origin.clone(),
            source,
        })?;
        Config::from_yaml_str(&text, &origin)
    }

    /// Parse YAML text; `origin` names it in errors. An empty document gives all defaults.
    pub fn from_yaml_str(text: &str, origin: &str) -> Result<Config, ConfigError> {
        // First as a plain value: catches syntax errors and the empty/`---`-only file, which
        // deserializing straight into a struct would reject.
        let value: serde_yaml::Value =
            serde_yaml::from_str(text).map_err(|e| parse_error(origin, String::new(), &e))?;
        let mut config = if value.is_null() {
            Config::default()
        } else {
            // Again from the text (not the Value) so errors keep their line and column.
            let de = serde_yaml::Deserializer::from_str(text);
            serde_path_to_error::deserialize(de)
                .map_err(|e| parse_error(origin, e.path().to_string(), e.inner()))?
        };
        config.origin = origin.to_string();
        Ok(config)
    }

    /// Fill empty passwords from `MAILTRACE_OPENSEARCH_PASSWORD`, `MAILTRACE_SSH_PASSWORD`,
    /// `MAILTRACE_SUDO_PASSWORD`. `env` is a lookup so tests need not touch the process env.
    /// An OpenSearch password still empty then is read from the file named by
    /// `MAILTRACE_OPENSEARCH_PASSWORD_FILE` (one trailing line break dropped); a file that
    /// cannot be read is reported by [`Config::validate`].
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) {
        let fill = |slot: &mut Secret, key: &str| {
            if slot.is_empty() {
                if let Some(v) = env(key).filter(|v| !v.is_empty()) {
                    *slot = Secret::new(v);
                }
            }
        };
        fill(
            &mut self.opensearch_config.password,
            ENV_OPENSEARCH_PASSWORD,
        );
        fill(&mut self.ssh_config.password, ENV_SSH_PASSWORD);
        fill(&mut self.ssh_config.sudo_pass, ENV_SUDO_PASSWORD);
        if self.opensearch_config.password.is_empty() {
            if let Some(path) = env(ENV_OPENSEARCH_PASSWORD_FILE).filter(|p| !p.is_empty()) {
                match read_secret_file(Path::new(&path)) {
                    Ok(p) => self.opensearch_config.password = p,
                    Err(e) => self
                        .env_problems
                        .push(format!("{ENV_OPENSEARCH_PASSWORD_FILE}={path}: {e}")),
                }
            }
        }
    }

    /// Checks that need more than one key or knowledge of `method`. Reports all problems at
    /// once. Passwords are not checked here (see `opensearch_auth`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = self.env_problems.clone();
        match self.method {
            Method::Opensearch => {
                if self.opensearch_config.host.trim().is_empty() {
                    problems.push(
                        "opensearch_config.host is empty (required for method: opensearch)"
                            .to_string(),
                    );
                }
                if self.opensearch_config.index.trim().is_empty() {
                    problems.push(
                        "opensearch_config.index is empty (required for method: opensearch)"
                            .to_string(),
                    );
                }
                let m = &self.opensearch_config.mapping;
                for (key, path) in [
                    ("timestamp", &m.timestamp),
                    ("hostname", &m.hostname),
                    ("message", &m.message),
                    ("service", &m.service),
                ] {
                    if path.trim().is_empty() {
                        problems.push(format!(
                            "opensearch_config.mapping.{key} is empty (required for method: opensearch)"
                        ));
                    }
                }
            }
            Method::File => {
                if self.file_config.paths.iter().all(|p| p.trim().is_empty()) {
                    problems
                        .push("file_config.paths is empty (required for method: file)".to_string());
                }
            }
            Method::Ssh => {
                if self.ssh_config.username.trim().is_empty() {
                    problems.push(
                        "ssh_config.username is empty (required for method: ssh)".to_string(),
                    );
                }
            }
        }
        // Zones are checked whatever the method: a typo there is a typo.
        for (key, zone) in [
            (
                "opensearch_config.time_zone",
                &self.opensearch_config.time_zone,
            ),
            ("file_config.time_zone", &self.file_config.time_zone),
            ("ssh_config.time_zone", &self.ssh_config.time_zone),
        ] {
            if let Err(e) = zone.parse::<Zone>() {
                problems.push(format!("{key}: {e}"));
            }
        }
        if self.mcp.max_time_range_hours == 0 {
            problems.push("mcp.max_time_range_hours must be greater than 0".to_string());
        }
        let t = &self.tracing;
        if t.sleep_seconds == 0 {
            problems.push("tracing.sleep_seconds must be greater than 0".to_string());
        }
        if t.hold_rounds > 1000 {
            problems.push(format!(
                "tracing.hold_rounds is {}, at most 1000",
                t.hold_rounds
            ));
        }
        if !(1..=10_000).contains(&t.scroll_batch_size) {
            // OpenSearch's default index.max_result_window caps one page at 10000.
            problems.push(format!(
                "tracing.scroll_batch_size is {}, expected 1 to 10000",
                t.scroll_batch_size
            ));
        }
        if t.max_pending_messages == 0 {
            problems.push("tracing.max_pending_messages must be greater than 0".to_string());
        }
        if t.export_queue_max_spans == 0 {
            problems.push("tracing.export_queue_max_spans must be greater than 0".to_string());
        }
        let scheme_ok = ["http://", "https://"]
            .iter()
            .any(|p| t.otel_endpoint.starts_with(p));
        if !t.otel_endpoint.is_empty() && !scheme_ok {
            problems.push(format!(
                "tracing.otel_endpoint {:?} must start with http:// or https://",
                t.otel_endpoint
            ));
        }
        if !t.metrics_address.is_empty()
            && t.metrics_address.parse::<std::net::SocketAddr>().is_err()
        {
            problems.push(format!(
                "tracing.metrics_address {:?} is not an IP:port address (empty disables metrics)",
                t.metrics_address
            ));
        }
        for (name, hosts) in &self.clusters {
            if hosts.iter().any(|h| h.trim().is_empty()) {
                problems.push(format!("clusters.{name} contains an empty host name"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid {
                origin: self.origin.clone(),
                problems,
            })
        }
    }

    /// Basic-auth credentials for OpenSearch: `None` without a username; an error when a
    /// username is set but no password (config or env) — reported only when connecting.
    pub fn opensearch_auth(&self) -> Result<Option<(&str, &str)>, ConfigError> {
        let os = &self.opensearch_config;
        if os.username.is_empty() {
            return Ok(None);
        }
        if os.password.is_empty() {
            return Err(ConfigError::MissingPassword {
                origin: self.origin.clone(),
                section: "opensearch_config",
                env: ENV_OPENSEARCH_PASSWORD,
            });
        }
        Ok(Some((os.username.as_str(), os.password.expose())))
    }

    /// The hosts of a cluster, if `name` is one.
    pub fn cluster_hosts(&self, name: &str) -> Option<&[String]> {
        self.clusters.get(name).map(Vec::as_slice)
    }

    /// `host` with `domain` appended when it is a short name (no dot) and a domain is set.
    pub fn qualify_host(&self, host: &str) -> String {
        let domain = self.domain.trim().trim_start_matches('.');
        if domain.is_empty() || host.contains('.') {
            host.to_string()
        } else {
            format!("{host}.{domain}")
        }
    }
}

/// serde_yaml's message already carries its own (parent) path prefix and " at line L column C";
/// we report key path and position ourselves, so strip both.
fn parse_error(origin: &str, key: String, e: &serde_yaml::Error) -> ConfigError {
    let mut message = e.to_string();
    let (line, column) = match e.location() {
        Some(loc) => {
            let at = format!(" at line {} column {}", loc.line(), loc.column());
            message = message.replacen(&at, "", 1);
            (Some(loc.line()), Some(loc.column()))
        }
        None => (None, None),
    };
    if let Some((prefix, rest)) = message.split_once(": ") {
        let is_parent = !prefix.is_empty()
            && key.starts_with(prefix)
            && matches!(
                key.as_bytes().get(prefix.len()),
                None | Some(b'.') | Some(b'[')
            );
        if is_parent {
            message = rest.to_string();
        }
    }
    if key.is_empty() {
        message = format!("YAML syntax error: {message}");
    }
    ConfigError::Parse {
        origin: origin.to_string(),
        key,
        message,
        line,
        column,
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Method::Ssh => "ssh",
            Method::Opensearch => "opensearch",
            Method::File => "file",
        })
    }
}

#[cfg(test)]
mod tests;
