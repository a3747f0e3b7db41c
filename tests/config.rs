//! Loading real config files: the Python tool's sample, the seed config, and the seed data.

use mailtrace::config::{Config, LogParser, Method};
use mailtrace::source::document::{facility_matches, map_document};
use std::path::Path;

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn python_sample_config_loads_unchanged() {
    let c = Config::load(&fixture("python-config.yaml")).unwrap();
    c.validate().unwrap();
    assert_eq!(c.method, Method::Ssh);
    assert_eq!(c.timeout, 30);
    assert_eq!(c.ssh_config.username, "username");
    assert!(c.ssh_config.sudo);
    assert_eq!(c.ssh_config.ssh_config_file, "demo/docker/ssh_config");
    // Both host entries are empty: they inherit host_config entirely.
    for host in ["mx1.mydomain.com", "backup-mail.mydomain.com"] {
        let h = c.ssh_config.host_config_for(host);
        assert_eq!(h.log_files.len(), 3, "{host}");
        assert_eq!(h.log_parser, LogParser::SyslogParser);
        assert_eq!(h.time_format, "%Y-%m-%dT%H:%M:%S");
    }
    let os = &c.opensearch_config;
    assert!(os.use_ssl);
    assert_eq!(os.index, "mailtrace-logs-*");
    assert_eq!(os.mapping.mail_id, "postfix.mail_id.keyword");
    assert_eq!(os.facility_value, "mail");
    assert_eq!(c.cluster_hosts("mx-cluster").unwrap().len(), 2);
    assert_eq!(c.tracing.scroll_batch_size, 1000);
    assert!(c.origin.ends_with("python-config.yaml"));
    // username "admin" without a password: only an error when OpenSearch is used.
    assert!(c.opensearch_auth().is_err());
}

#[test]
fn opensearch_only_config_needs_no_ssh_section() {
    let c = Config::from_yaml_str(
        "method: opensearch\nopensearch_config:\n  host: os.internal\n  index: 'logs-*'\n",
        "os.yaml",
    )
    .unwrap();
    c.validate().unwrap();
    assert_eq!(c.opensearch_config.port, 9200);
    assert_eq!(c.opensearch_config.mapping.hostname, "host.name");
}

#[test]
fn missing_file_names_the_path() {
    let e = Config::load(Path::new("/nonexistent/mailtrace.yaml")).unwrap_err();
    assert!(e
        .to_string()
        .starts_with("/nonexistent/mailtrace.yaml: cannot read config file"));
}

#[test]
fn seed_config_maps_every_seed_document() {
    let c = Config::load(&fixture("seed-config.yaml")).unwrap();
    c.validate().unwrap();
    let os = &c.opensearch_config;
    let zone = os.zone().unwrap();
    let text = std::fs::read_to_string(fixture("seed-cross-cluster.ndjson")).unwrap();
    let mut n = 0;
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let doc: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(
            facility_matches(&doc, &os.mapping, &os.facility_value),
            "line {}",
            i + 1
        );
        let r = map_document(&doc, &os.mapping, &zone)
            .unwrap_or_else(|e| panic!("line {}: {e}", i + 1));
        assert!(!r.host.is_empty() && !r.service.is_empty());
        assert!(r.timestamp_ns > 1_700_000_000_000_000_000);
        if r.service.starts_with("postfix/")
            && r.message.starts_with(|c: char| c.is_ascii_uppercase())
        {
            assert!(
                r.hints.queue_id.is_some(),
                "line {}: no queue id hint",
                i + 1
            );
        }
        n += 1;
    }
    assert!(n >= 100, "only {n} documents");
}
