//! `config.yaml.sample` documents every key: it must parse to exactly the defaults, and its key
//! set must equal the code's, so the two cannot drift apart.

use mailtrace::config::Config;
use serde_yaml::Value;
use std::collections::BTreeSet;
use std::path::Path;

/// Maps whose keys are user-chosen names, compared as one opaque key.
const OPAQUE: &[&str] = &["clusters", "ssh_config.hosts", "tracing.otel_headers"];

fn keys(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Mapping(m) if !OPAQUE.contains(&prefix) => {
            for (k, child) in m {
                let k = k.as_str().expect("string keys");
                let path = if prefix.is_empty() {
                    k.to_string()
                } else {
                    format!("{prefix}.{k}")
                };
                keys(child, &path, out);
            }
        }
        _ => {
            out.insert(prefix.to_string());
        }
    }
}

fn sample_text() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.yaml.sample");
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn sample_parses_to_the_defaults() {
    let c = Config::from_yaml_str(&sample_text(), "config.yaml.sample").unwrap();
    let want = Config {
        origin: c.origin.clone(),
        ..Config::default()
    };
    assert_eq!(
        c, want,
        "a default in config.yaml.sample differs from the code"
    );
}

#[test]
fn sample_keys_equal_code_keys() {
    let sample: Value = serde_yaml::from_str(&sample_text()).unwrap();
    let code = serde_yaml::to_value(Config::default()).unwrap();
    let (mut s, mut c) = (BTreeSet::new(), BTreeSet::new());
    keys(&sample, "", &mut s);
    keys(&code, "", &mut c);
    let only_sample: Vec<_> = s.difference(&c).collect();
    let only_code: Vec<_> = c.difference(&s).collect();
    assert!(
        only_sample.is_empty() && only_code.is_empty(),
        "only in sample: {only_sample:?}; only in code: {only_code:?}"
    );
    assert!(c.len() > 60, "suspiciously few keys: {}", c.len());
}
