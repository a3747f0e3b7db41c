//! The shared seed scenarios (`tests/fixtures/seed-cross-cluster.ndjson`, 2026-02-04) in the
//! shapes the one-shot tests need: OpenSearch documents, per-host syslog text, and configs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The seed documents as they are in the fixture.
pub fn documents() -> Vec<Value> {
    std::fs::read_to_string(fixture("seed-cross-cluster.ndjson"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The seed as rsyslog would write it (ISO 8601 with offset), one file's lines per host.
pub fn syslog_by_host() -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (i, d) in documents().iter().enumerate() {
        let host = d["host"]["name"].as_str().unwrap().to_string();
        let ts = d["@timestamp"].as_str().unwrap().replace('Z', "+00:00");
        let line = format!(
            "{ts} {host} {}[{}]: {}",
            d["appname"].as_str().unwrap(),
            1000 + i,
            d["message"].as_str().unwrap()
        );
        out.entry(host).or_default().push(line);
    }
    out
}

/// `tests/fixtures/seed-config.yaml` pointed at a test server, plus `extra` YAML appended.
pub fn opensearch_config(dir: &Path, port: u16, extra: &str) -> PathBuf {
    let text = std::fs::read_to_string(fixture("seed-config.yaml"))
        .unwrap()
        .replace("host: localhost", "host: 127.0.0.1")
        .replace("port: 9200", &format!("port: {port}"));
    let path = dir.join("config.yaml");
    std::fs::write(&path, format!("{text}\n{extra}")).unwrap();
    path
}

/// Runs the real binary.
pub fn mailtrace(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailtrace"))
        .arg("-c")
        .arg(config)
        .args(args)
        .env_remove("MAILTRACE_CONFIG")
        .output()
        .expect("run mailtrace")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// A failure as operators should see it: a non-zero exit, nothing on stdout, and exactly
/// one line on stderr, starting with `mailtrace: ` — no panic, no backtrace.
pub fn assert_one_line_error(o: &Output, want: &str) {
    let err = stderr(o);
    assert!(!o.status.success(), "expected a failure; stderr: {err}");
    assert!(o.stdout.is_empty(), "stdout must stay empty: {}", stdout(o));
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line on stderr, got: {err}");
    assert!(lines[0].starts_with("mailtrace: "), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("Backtrace"),
        "{err}"
    );
    assert!(err.contains(want), "stderr should mention {want:?}: {err}");
}

/// Graphviz accepts the DOT text (renders it to SVG).
pub fn assert_dot_renders(dot: &str) {
    use std::io::Write;
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("graphviz `dot` not found: run .ci/install-test-peers (Debian graphviz)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(dot.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "dot rejected the graph: {}\n{dot}",
        String::from_utf8_lossy(&out.stderr)
    );
    let svg = String::from_utf8_lossy(&out.stdout);
    assert!(svg.contains("<svg"), "no SVG from dot");
}
