//! `mailtrace doctor`: checks everything a deployment depends on and prints a checklist,
//! `✔`/`⚠`/`✘ check — detail`, with a fix hint under each problem. Exit status 0 only when
//! nothing failed (warnings do not fail).

use std::io::Write;
use std::net::ToSocketAddrs;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::{ArgAction, Args};
use serde_json::Value;

use mailtrace::config::{Config, Mapping, Method};
use mailtrace::investigate;
use mailtrace::parse::syslog::{self, SyslogContext};
use mailtrace::parse::time::Zone;
use mailtrace::source::document::DocumentContext;
use mailtrace::source::opensearch::{OpenSearchSettings, OpenSearchSource};
use mailtrace::source::ssh::{SshReader, SshSettings};

/// Documents (or lines) read to check that real data parses.
const SAMPLE: usize = 50;

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print help.
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,

    /// With method ssh: the host or cluster to check [default: every host named in
    /// `clusters` and `ssh_config.hosts`].
    #[arg(short = 'h', long = "host", value_name = "HOST|CLUSTER")]
    host: Option<String>,

    /// OTLP endpoint to check [default: the config's tracing.otel_endpoint].
    #[arg(long, value_name = "URL")]
    otel_endpoint: Option<String>,

    #[command(flatten)]
    passwords: super::run::PasswordArgs,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    Pass,
    Warn,
    Fail,
}

/// The checklist, printed as it grows (a slow check shows where it is).
struct Checklist {
    failed: bool,
}

impl Checklist {
    fn add(&mut self, mark: Mark, name: &str, detail: impl AsRef<str>, fix: &str) {
        let symbol = match mark {
            Mark::Pass => "✔",
            Mark::Warn => "⚠",
            Mark::Fail => "✘",
        };
        self.failed |= mark == Mark::Fail;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{symbol} {name} — {}", detail.as_ref());
        if mark != Mark::Pass && !fix.is_empty() {
            let _ = writeln!(out, "    fix: {fix}");
        }
        let _ = out.flush();
    }
    fn pass(&mut self, name: &str, detail: impl AsRef<str>) {
        self.add(Mark::Pass, name, detail, "");
    }
    fn warn(&mut self, name: &str, detail: impl AsRef<str>, fix: &str) {
        self.add(Mark::Warn, name, detail, fix);
    }
    fn fail(&mut self, name: &str, detail: impl AsRef<str>, fix: &str) {
        self.add(Mark::Fail, name, detail, fix);
    }
}

pub fn run(config: Option<&Path>, log_level: Option<String>, args: DoctorArgs) -> Result<ExitCode> {
    let mut list = Checklist { failed: false };
    let loaded = super::common::load_config_if_present(config);
    super::common::init_logging(
        Some(log_level.as_deref().unwrap_or("error")),
        loaded.as_ref().ok().and_then(|c| c.as_ref()),
    );
    let mut cfg = match loaded {
        Ok(Some(cfg)) => cfg,
        Ok(None) => {
            list.fail(
                "config",
                "no config file (./config.yaml does not exist)",
                "give -c FILE or set MAILTRACE_CONFIG; config.yaml.sample documents every key",
            );
            return Ok(ExitCode::from(1));
        }
        Err(e) => {
            list.fail(
                "config",
                format!("{e:#}"),
                "fix the named key; config.yaml.sample documents every key",
            );
            return Ok(ExitCode::from(1));
        }
    };
    args.passwords.apply(&mut cfg)?;
    match cfg.validate() {
        Ok(()) => list.pass(
            "config",
            format!("{} loaded and valid (method: {})", cfg.origin, cfg.method),
        ),
        Err(e) => {
            list.fail(
                "config",
                e.to_string(),
                "fix the named keys; config.yaml.sample documents every key",
            );
            return Ok(ExitCode::from(1));
        }
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    match cfg.method {
        Method::Opensearch => rt.block_on(check_opensearch(&cfg, &mut list)),
        Method::File => check_files(&cfg, &mut list),
        Method::Ssh => check_ssh(&cfg, args.host.as_deref(), &mut list),
    }
    let endpoint = args
        .otel_endpoint
        .clone()
        .unwrap_or_else(|| cfg.tracing.otel_endpoint.clone());
    check_otlp(&endpoint, &mut list);
    Ok(if list.failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

async fn check_opensearch(cfg: &Config, list: &mut Checklist) {
    let o = &cfg.opensearch_config;
    let settings = match OpenSearchSettings::from_config(cfg) {
        Ok(s) => {
            let detail = match &s.username {
                Some(u) => format!("user {u}, password set"),
                None => "no username: no authentication".to_string(),
            };
            list.pass("credentials", detail);
            s
        }
        Err(e) => {
            list.fail(
                "credentials",
                e.to_string(),
                "set opensearch_config.password, MAILTRACE_OPENSEARCH_PASSWORD or \
                 --ask-opensearch-pass",
            );
            return;
        }
    };
    let client = match OpenSearchSource::new(settings) {
        Ok(c) => c,
        Err(e) => {
            list.fail(
                "opensearch reachable",
                e.to_string(),
                "check opensearch_config",
            );
            return;
        }
    };
    match client.ping().await {
        Ok(v) => list.pass(
            "opensearch reachable",
            format!("{} answers, version {v}", client.endpoint()),
        ),
        Err(e) => {
            list.fail(
                "opensearch reachable",
                e.to_string(),
                "check opensearch_config.host, port and use_ssl, and that the server runs",
            );
            return;
        }
    }
    let mapping = match client.get_mapping().await {
        Ok(m) if m.as_object().is_some_and(|m| !m.is_empty()) => {
            let n = m.as_object().map_or(0, |m| m.len());
            list.pass("index", format!("{} matches {n} index(es)", o.index));
            m
        }
        Ok(_) => {
            list.fail(
                "index",
                format!("{} matches no index", o.index),
                "check opensearch_config.index (a name or pattern such as mail-*)",
            );
            return;
        }
        Err(e) => {
            list.fail("index", e.to_string(), "check opensearch_config.index");
            return;
        }
    };
    for (mark, name, detail, fix) in field_checks(&o.mapping, &mapping) {
        list.add(mark, &name, detail, &fix);
    }
    check_sample(cfg, &client, list).await;
}

/// One check per mapped field: present in every index, with a type its use needs.
fn field_checks(m: &Mapping, mapping: &Value) -> Vec<(Mark, String, String, String)> {
    let indices: Vec<(&String, &Value)> = mapping
        .as_object()
        .map(|o| o.iter().collect())
        .unwrap_or_default();
    let roles: [(&str, &str, bool); 14] = [
        ("timestamp", &m.timestamp, true),
        ("hostname", &m.hostname, true),
        ("message", &m.message, true),
        ("service", &m.service, true),
        ("facility", &m.facility, false),
        ("queueid", &m.queueid, false),
        ("queued_as", &m.queued_as, false),
        ("mail_id", &m.mail_id, false),
        ("message_id", &m.message_id, false),
        ("relay_host", &m.relay_host, false),
        ("relay_ip", &m.relay_ip, false),
        ("relay_port", &m.relay_port, false),
        ("smtp_code", &m.smtp_code, false),
        ("ingest_timestamp", &m.ingest_timestamp, false),
    ];
    let mut out = Vec::new();
    for (role, path, required) in roles {
        if path.trim().is_empty() {
            continue;
        }
        let name = format!("field {role}");
        let found: Vec<&Value> = indices
            .iter()
            .filter_map(|(_, idx)| field_in(&idx["mappings"], path))
            .collect();
        if found.len() < indices.len() {
            let detail = format!(
                "{path} is not mapped in {} of {} index(es)",
                indices.len() - found.len(),
                indices.len()
            );
            let fix = format!(
                "set opensearch_config.mapping.{role} to the field your shipper writes \
                 (GET /{{index}}/_mapping lists them)"
            );
            let mark = if required && found.is_empty() {
                Mark::Fail
            } else {
                Mark::Warn
            };
            out.push((mark, name, detail, fix));
            continue;
        }
        let Some(field) = found.first() else { continue };
        let ty = field["type"].as_str().unwrap_or("object");
        let has_keyword = field["fields"]
            .as_object()
            .is_some_and(|f| f.values().any(|s| s["type"] == "keyword"));
        let (mark, detail, fix) = match role {
            "timestamp" | "ingest_timestamp" => match ty {
                "date" | "date_nanos" => (Mark::Pass, format!("{path}: {ty}"), String::new()),
                _ => (
                    Mark::Fail,
                    format!("{path} is {ty}, not a date: time windows cannot be searched"),
                    "map the field as date in the index template".into(),
                ),
            },
            "message" => match ty {
                "text" | "match_only_text" => (Mark::Pass, format!("{path}: {ty}"), String::new()),
                _ => (
                    Mark::Warn,
                    format!("{path} is {ty}: keyword search works on whole values only"),
                    "map the message field as text".into(),
                ),
            },
            _ => match ty {
                "keyword" | "constant_keyword" => {
                    (Mark::Pass, format!("{path}: {ty}"), String::new())
                }
                "text" if has_keyword => (
                    Mark::Pass,
                    format!("{path}: text with a keyword subfield"),
                    String::new(),
                ),
                "text" => (
                    Mark::Warn,
                    format!(
                        "{path} is text without a .keyword subfield: exact matches are unreliable"
                    ),
                    "map it as keyword (or add a keyword subfield) in the index template".into(),
                ),
                "object" | "nested" => (
                    Mark::Fail,
                    format!("{path} is an object, not a value"),
                    format!("point opensearch_config.mapping.{role} at a field inside it"),
                ),
                other => (Mark::Pass, format!("{path}: {other}"), String::new()),
            },
        };
        out.push((mark, name, detail, fix));
    }
    out
}

/// The mapping of the field at dotted `path` inside `mappings` (`properties` objects,
/// multi-field `fields`, and dotted keys all count).
fn field_in<'a>(mappings: &'a Value, path: &str) -> Option<&'a Value> {
    let segs: Vec<&str> = path.split('.').collect();
    resolve(mappings, &segs)
}

fn resolve<'a>(node: &'a Value, segs: &[&str]) -> Option<&'a Value> {
    if segs.is_empty() {
        return Some(node);
    }
    for container in ["properties", "fields"] {
        let Some(children) = node[container].as_object() else {
            continue;
        };
        for i in 1..=segs.len() {
            if let Some(child) = children.get(&segs[..i].join(".")) {
                if let Some(found) = resolve(child, &segs[i..]) {
                    return Some(found);
                }
            }
        }
    }
    None
}

async fn check_sample(cfg: &Config, client: &OpenSearchSource, list: &mut Checklist) {
    let docs = match DocumentContext::new(&cfg.opensearch_config) {
        Ok(d) => d,
        Err(e) => {
            list.fail("sample documents", e, "fix opensearch_config.time_zone");
            return;
        }
    };
    let hits = match client.latest(SAMPLE).await {
        Ok(h) => h,
        Err(e) => {
            list.fail("sample documents", e.to_string(), "see the errors above");
            return;
        }
    };
    if hits.is_empty() {
        list.warn(
            "sample documents",
            "no document with the facility filter applied",
            "check opensearch_config.mapping.facility and facility_value (empty disables)",
        );
        return;
    }
    let mut bad = 0;
    let mut mail = 0;
    let mut first_error = None;
    for h in &hits {
        match docs.map_hit(&h.id, &h.source) {
            Ok(rec) => {
                if mailtrace::parse::parse_record(&rec).is_some() {
                    mail += 1;
                }
            }
            Err(e) => {
                bad += 1;
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    let detail = format!(
        "{} newest: {} mapped ({mail} mail lines), {bad} failed{}",
        hits.len(),
        hits.len() - bad,
        first_error
            .map(|e| format!(", e.g. {e}"))
            .unwrap_or_default()
    );
    let fix = "point opensearch_config.mapping at the fields the documents carry";
    if bad * 2 > hits.len() {
        list.fail("sample documents", detail, fix);
    } else if bad > 0 || mail == 0 {
        list.warn("sample documents", detail, fix);
    } else {
        list.pass("sample documents", detail);
    }
}

fn check_files(cfg: &Config, list: &mut Checklist) {
    let f = &cfg.file_config;
    let zone = match Zone::parse(&f.time_zone) {
        Ok(z) => z,
        Err(e) => {
            list.fail(
                "file_config.time_zone",
                e,
                "use +HH:MM, UTC or an IANA name",
            );
            return;
        }
    };
    let ctx = SyslogContext {
        zone,
        now_ns: 0,
        year: Some(2000),
        default_host: Some("localhost".into()),
    };
    for pattern in f.paths.iter().filter(|p| !p.trim().is_empty()) {
        let name = format!("files {pattern}");
        let paths: Vec<_> = match glob::glob(pattern) {
            Ok(m) => m.flatten().filter(|p| p.is_file()).collect(),
            Err(e) => {
                list.fail(&name, format!("bad pattern: {e}"), "fix file_config.paths");
                continue;
            }
        };
        if paths.is_empty() {
            list.fail(
                &name,
                "matches no file",
                "fix file_config.paths (glob patterns such as /var/log/mail.log*)",
            );
            continue;
        }
        let mut problems = Vec::new();
        let (mut lines, mut framed) = (0usize, 0usize);
        for p in &paths {
            match std::fs::read(p) {
                Ok(bytes) => {
                    for l in String::from_utf8_lossy(&bytes)
                        .lines()
                        .filter(|l| !l.trim().is_empty())
                        .take(SAMPLE)
                    {
                        lines += 1;
                        framed += usize::from(syslog::parse_line(l, &ctx).is_ok());
                    }
                }
                Err(e) => problems.push(format!("{}: {e}", p.display())),
            }
        }
        if !problems.is_empty() {
            list.fail(
                &name,
                problems.join("; "),
                "let the user mailtrace runs as read the files (e.g. group adm)",
            );
        } else if lines > 0 && framed * 2 < lines {
            list.warn(
                &name,
                format!(
                    "{} file(s) readable, but only {framed} of {lines} sample lines are syslog",
                    paths.len()
                ),
                "point file_config.paths at mail logs",
            );
        } else {
            list.pass(
                &name,
                format!(
                    "{} file(s) readable, {framed} of {lines} sample lines framed",
                    paths.len()
                ),
            );
        }
    }
}

fn check_ssh(cfg: &Config, host: Option<&str>, list: &mut Checklist) {
    let s = &cfg.ssh_config;
    let settings = SshSettings::from_config(s);
    if s.sudo && settings.sudo_password.is_none() {
        list.warn(
            "credentials",
            "sudo is on but no sudo password is set: works only with NOPASSWD rules",
            "set ssh_config.sudo_pass, MAILTRACE_SUDO_PASSWORD or --ask-sudo-pass",
        );
    } else {
        list.pass("credentials", format!("ssh user {}", s.username));
    }
    let hosts: Vec<String> = match host {
        Some(h) => match investigate::resolve_hosts(cfg, h) {
            Ok(h) => h,
            Err(e) => {
                list.fail("ssh hosts", e.to_string(), "");
                return;
            }
        },
        None => {
            let mut all: Vec<String> = cfg
                .clusters
                .values()
                .flatten()
                .map(|h| cfg.qualify_host(h))
                .chain(s.hosts.keys().cloned())
                .collect();
            all.sort();
            all.dedup();
            all
        }
    };
    if hosts.is_empty() {
        list.fail(
            "ssh hosts",
            "no host to check",
            "give -h HOST, or name hosts in clusters or ssh_config.hosts",
        );
        return;
    }
    let reader = SshReader::new(settings);
    for h in hosts {
        let name = format!("ssh {h}");
        if let Err(e) = reader.check(&h) {
            list.fail(
                &name,
                e.to_string(),
                "check that `ssh HOST true` works non-interactively (keys or agent, \
                 known_hosts, ssh_config.ssh_config_file) and the sudo rights",
            );
            continue;
        }
        let short = h.split('.').next().unwrap_or(&h);
        let key = if s.hosts.contains_key(&h) {
            &h[..]
        } else {
            short
        };
        let files = s.host_config_for(key).log_files;
        // A probe nobody logs: exit 1 means every file was read, 2 that one was not.
        match reader.grep(&h, &files, &["mailtrace-doctor-probe-0".to_string()], false) {
            Ok(r) if r.warnings.is_empty() => list.pass(
                &name,
                format!("logged in; {} log file(s) readable", files.len()),
            ),
            Ok(r) => list.warn(
                &name,
                r.warnings.join("; "),
                "fix the log_files of this host",
            ),
            Err(e) => list.fail(
                &name,
                e.to_string(),
                "fix ssh_config.host_config.log_files / ssh_config.hosts.<host>.log_files",
            ),
        }
    }
}

fn check_otlp(endpoint: &str, list: &mut Checklist) {
    if endpoint.is_empty() {
        list.warn(
            "otlp endpoint",
            "tracing.otel_endpoint is empty",
            "set tracing.otel_endpoint",
        );
        return;
    }
    let (scheme, rest) = endpoint.split_once("://").unwrap_or(("http", endpoint));
    let authority = rest.split('/').next().unwrap_or(rest);
    let default_port = if scheme == "https" { 443 } else { 4317 };
    let target = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_string()
    } else {
        format!("{authority}:{default_port}")
    };
    let fix = "start the collector/Jaeger (OTLP gRPC on 4317) or fix tracing.otel_endpoint";
    let addrs = match target.to_socket_addrs() {
        Ok(a) => a.collect::<Vec<_>>(),
        Err(e) => {
            list.fail("otlp endpoint", format!("{endpoint}: {e}"), fix);
            return;
        }
    };
    let mut last = String::from("no address");
    for a in addrs {
        match std::net::TcpStream::connect_timeout(&a, Duration::from_secs(3)) {
            Ok(_) => {
                list.pass("otlp endpoint", format!("{endpoint} accepts connections"));
                return;
            }
            Err(e) => last = e.to_string(),
        }
    }
    list.fail("otlp endpoint", format!("{endpoint}: {last}"), fix);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_are_found_through_objects_multifields_and_dotted_keys() {
        let m = json!({ "properties": {
            "host": { "properties": { "name": { "type": "text",
                "fields": { "keyword": { "type": "keyword" } } } } },
            "log.syslog.appname": { "type": "keyword" },
        } });
        assert_eq!(field_in(&m, "host.name").unwrap()["type"], "text");
        assert_eq!(
            field_in(&m, "host.name.keyword").unwrap()["type"],
            "keyword"
        );
        assert_eq!(
            field_in(&m, "log.syslog.appname").unwrap()["type"],
            "keyword"
        );
        assert!(field_in(&m, "host.nope").is_none());
    }
}
