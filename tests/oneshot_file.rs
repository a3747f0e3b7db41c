//! `mailtrace run` / `graph` with `method: file`: the seed scenarios as one rsyslog-style
//! file, read once and searched in memory; unknown hosts and missing files are one line.

mod common;

use std::path::{Path, PathBuf};

use common::seed::{
    assert_dot_renders, assert_one_line_error, mailtrace, stderr, stdout, syslog_by_host,
};

const AT: &str = "2026-02-04 08:00:00";

fn setup(dir: &Path, extra_lines: &[&str]) -> PathBuf {
    let mut lines: Vec<String> = syslog_by_host().into_values().flatten().collect();
    lines.sort(); // by timestamp: one loghost file
    lines.extend(extra_lines.iter().map(|l| l.to_string()));
    let log = dir.join("mail.log");
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let cfg = dir.join("config.yaml");
    std::fs::write(
        &cfg,
        format!(
            "method: file\nfile_config:\n  paths: [{:?}]\n",
            log.display().to_string()
        ),
    )
    .unwrap();
    cfg
}

#[test]
fn the_path_is_found_in_a_loghost_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), &[]);
    let o = mailtrace(
        &cfg,
        &[
            "run",
            "-h",
            "smtp1",
            "-k",
            "alice@internal.example.org",
            "--time",
            AT,
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(doc["messages"].as_array().unwrap().len(), 1);
    assert_eq!(
        doc["messages"][0]["path"],
        serde_json::json!([["smtp1", "relay1", "mx.external.example.com"]])
    );

    // Outside the window nothing is found.
    let o = mailtrace(
        &cfg,
        &[
            "run",
            "-h",
            "smtp1",
            "-k",
            "alice@internal.example.org",
            "--time",
            "2026-02-05 08:00:00",
            "--time-range",
            "1h",
        ],
    );
    assert_one_line_error(&o, "no message found");
}

#[test]
fn host_names_from_logs_cannot_break_the_dot_graph() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(
        dir.path(),
        &[
            "2026-02-04T08:50:00+00:00 evil\"host{ postfix/smtpd[9]: ABCDEF12345: client=x[10.0.0.9]",
            "2026-02-04T08:50:00+00:00 evil\"host{ postfix/cleanup[9]: ABCDEF12345: message-id=<evil@x>",
            "2026-02-04T08:50:01+00:00 evil\"host{ postfix/qmgr[9]: ABCDEF12345: from=<mallory@x>, size=1, nrcpt=1 (queue active)",
            "2026-02-04T08:50:02+00:00 evil\"host{ postfix/smtp[9]: ABCDEF12345: to=<v@y>, relay=a\\\"b[10.0.0.1]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)",
        ],
    );
    let o = mailtrace(
        &cfg,
        &[
            "graph",
            "-h",
            "evil\"host{",
            "-k",
            "mallory@x",
            "--time",
            AT,
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let dot = stdout(&o);
    assert!(dot.contains(r#""evil\"host{""#), "{dot}");
    assert_dot_renders(&dot);
}

#[test]
fn unknown_hosts_and_missing_files_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), &[]);
    let o = mailtrace(&cfg, &["run", "-h", "smtp9", "-k", "alice", "--time", AT]);
    assert_one_line_error(&o, "unknown host or cluster \"smtp9\"");

    std::fs::write(
        &cfg,
        format!(
            "method: file\nfile_config:\n  paths: [{:?}]\n",
            dir.path().join("gone-*.log").display().to_string()
        ),
    )
    .unwrap();
    let o = mailtrace(&cfg, &["run", "-h", "smtp1", "-k", "alice", "--time", AT]);
    assert_one_line_error(&o, "match no file");
}
