//! `mailtrace run` / `graph` with `method: ssh` against a real sshd on loopback: key login as
//! an unprivileged user, log files readable only by root and read through `sudo -S` with the
//! password on stdin, per-host log files, hops followed from host to host, host keys
//! verified, and hostile keywords and file names that stay data.

mod common;

use std::path::{Path, PathBuf};

use common::seed::{
    assert_dot_renders, assert_one_line_error, mailtrace, stderr, stdout, syslog_by_host,
};
use common::sshd::{chmod, sudo_password, Sshd, TEST_USER};
use serde_json::Value;

const AT: &str = "2026-02-04 08:00:00";
const HOSTS: [&str; 6] = ["smtp1", "smtp2", "relay1", "list1", "mx1", "mx2"];
/// relay1's log file: a name made to break out of careless shell quoting.
const HOSTILE_NAME: &str = "relay1 '$(touch pwned-name)';`touch pwned-tick`.log";

struct Env {
    sshd: Sshd,
    logs: PathBuf,
}

/// sshd plus one root-only (0600) log file per seed host.
fn env() -> Env {
    let sshd = Sshd::start(&HOSTS);
    let logs = sshd.dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    chmod(&logs, 0o755);
    for (host, lines) in syslog_by_host() {
        let path = logs.join(log_name(&host));
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        chmod(&path, 0o600);
    }
    Env { sshd, logs }
}

fn log_name(host: &str) -> String {
    if host == "relay1" {
        HOSTILE_NAME.to_string()
    } else {
        format!("{host}.log")
    }
}

/// A config for the test server. `sudo_pass: None` leaves it unset.
fn config(e: &Env, sudo: bool, sudo_pass: Option<&str>) -> PathBuf {
    let q = |s: &str| serde_json::to_string(s).unwrap();
    let mut hosts = String::new();
    for h in HOSTS {
        let file = e.logs.join(log_name(h));
        hosts.push_str(&format!(
            "    {h}:\n      log_files: [{}]\n",
            q(&file.display().to_string())
        ));
    }
    let text = format!(
        "method: ssh\nssh_config:\n  username: {TEST_USER}\n  sudo: {sudo}\n  sudo_pass: {}\n  \
         ssh_config_file: {}\n  timeout: 10\n  host_config:\n    log_files: [/nonexistent.log]\n  \
         hosts:\n{hosts}",
        q(sudo_pass.unwrap_or("")),
        q(&e.sshd.client_config.display().to_string()),
    );
    let path = e
        .sshd
        .dir
        .path()
        .join(format!("config-{sudo}-{}.yaml", sudo_pass.is_some()));
    std::fs::write(&path, text).unwrap();
    path
}

fn hop_hosts(msg: &Value) -> Vec<&str> {
    msg["hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["host"].as_str().unwrap())
        .collect()
}

fn json_run(cfg: &Path, host: &str, keyword: &str) -> Value {
    let o = mailtrace(
        cfg,
        &[
            "run",
            "-h",
            host,
            "-k",
            keyword,
            "--time",
            AT,
            "--time-range",
            "1h",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_str(&stdout(&o)).unwrap()
}

#[test]
fn run_reads_root_only_logs_through_sudo_and_follows_every_hop() {
    let e = env();
    let cfg = config(&e, true, Some(&sudo_password()));
    let home = PathBuf::from(format!("/home/{TEST_USER}"));
    for marker in ["pwned-name", "pwned-tick"] {
        let _ = std::fs::remove_file(home.join(marker));
    }

    let doc = json_run(&cfg, "smtp1", "alice@internal.example.org");
    let msgs = doc["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 1, "{doc:#}");
    assert_eq!(msgs[0]["message_id"], "msg-s1-001@internal.example.org");
    // relay1 was found from smtp1's `relay=relay1` and read from its hostile-named file.
    assert_eq!(hop_hosts(&msgs[0]), ["smtp1", "relay1"]);
    assert_eq!(
        msgs[0]["path"],
        serde_json::json!([["smtp1", "relay1", "mx.external.example.com"]])
    );
    for marker in ["pwned-name", "pwned-tick"] {
        assert!(
            !home.join(marker).exists(),
            "the file name was executed by the remote shell ({marker})"
        );
    }

    // Four hosts deep, and the bounce notice back: smtp1 → relay1 → list1, NDN list1 →
    // relay1 → smtp1.
    let doc = json_run(&cfg, "smtp1", "spammer@internal.example.org");
    let ids: Vec<&str> = doc["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "msg-spam-007@internal.example.org",
            "bounce-msg-spam-007@list1"
        ],
        "{doc:#}"
    );
    assert_eq!(hop_hosts(&doc["messages"][0]), ["smtp1", "relay1", "list1"]);
    assert_eq!(hop_hosts(&doc["messages"][1]), ["list1", "relay1", "smtp1"]);
    assert_eq!(doc["messages"][0]["hops"][2]["attempts"][0]["dsn"], "5.1.1");

    let o = mailtrace(
        &cfg,
        &[
            "graph",
            "-h",
            "smtp1",
            "-k",
            "spammer@internal.example.org",
            "--time",
            AT,
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let dot = stdout(&o);
    assert!(dot.contains(r#""relay1" -> "list1""#), "{dot}");
    assert_dot_renders(&dot);
}

#[test]
fn the_logs_need_sudo_and_sudo_needs_the_password() {
    let e = env();
    // Without sudo the user cannot read the 0600 files.
    let o = mailtrace(
        &config(&e, false, None),
        &[
            "run",
            "-h",
            "smtp1",
            "-k",
            "alice@internal.example.org",
            "--time",
            AT,
        ],
    );
    assert_one_line_error(&o, "Permission denied");
    // sudo without a password fails (sudo -n) instead of hanging on a prompt.
    let o = mailtrace(
        &config(&e, true, None),
        &[
            "run",
            "-h",
            "smtp1",
            "-k",
            "alice@internal.example.org",
            "--time",
            AT,
        ],
    );
    assert_one_line_error(&o, "sudo failed");
    // A wrong password is refused by sudo.
    let o = mailtrace(
        &config(&e, true, Some("not-the-password")),
        &[
            "run",
            "-h",
            "smtp1",
            "-k",
            "alice@internal.example.org",
            "--time",
            AT,
        ],
    );
    assert_one_line_error(&o, "sudo failed");
}

#[test]
fn the_sudo_password_never_appears_on_a_command_line() {
    // The password goes to ssh's stdin; ssh's arguments (visible in ps) never hold it.
    let e = env();
    let real_ssh = std::process::Command::new("sh")
        .args(["-c", "command -v ssh"])
        .output()
        .unwrap();
    let real_ssh = String::from_utf8(real_ssh.stdout)
        .unwrap()
        .trim()
        .to_string();
    assert!(real_ssh.starts_with('/'), "no ssh client in PATH");
    let fake_ssh = e.sshd.dir.path().join("ssh-args");
    std::fs::write(
        &fake_ssh,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" >> {}.log\nexec {real_ssh} \"$@\"\n",
            fake_ssh.display()
        ),
    )
    .unwrap();
    chmod(&fake_ssh, 0o755);
    let bin = e.sshd.dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(&fake_ssh, bin.join("ssh")).unwrap();
    let password = sudo_password();
    let cfg = config(&e, true, Some(&password));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mailtrace"))
        .arg("-c")
        .arg(&cfg)
        .args([
            "run",
            "-h",
            "smtp1",
            "-k",
            "alice@internal.example.org",
            "--time",
            AT,
        ])
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let args = std::fs::read_to_string(format!("{}.log", fake_ssh.display())).unwrap();
    assert!(args.contains("sudo -S -p ''"), "{args}");
    assert!(
        !args.contains(&password),
        "password on the command line: {args}"
    );
}

#[test]
fn hostile_keywords_reach_grep_as_data() {
    let e = env();
    let cfg = config(&e, true, Some(&sudo_password()));
    let marker = format!("/tmp/mailtrace-pwned-{}", std::process::id());
    let _ = std::fs::remove_file(&marker);
    for kw in [
        format!("alice'; touch {marker}; echo '"),
        format!("$(touch {marker})"),
        format!("`touch {marker}`"),
        format!("alice\" ; touch {marker} ; \""),
    ] {
        let o = mailtrace(&cfg, &["run", "-h", "smtp1", "-k", &kw, "--time", AT]);
        assert_one_line_error(&o, "no message found");
        assert!(!Path::new(&marker).exists(), "keyword {kw:?} ran a command");
    }
    // A keyword with a quote that does occur in the logs is found as written.
    let doc = json_run(&cfg, "smtp1", "webmail.internal.example.org[10.0.0.5]");
    assert!(!doc["messages"].as_array().unwrap().is_empty());
}

#[test]
fn an_unknown_host_key_is_refused() {
    let e = env();
    std::fs::write(&e.sshd.known_hosts, "").unwrap();
    let o = mailtrace(
        &config(&e, true, Some(&sudo_password())),
        &[
            "run",
            "-h",
            "smtp1",
            "-k",
            "alice@internal.example.org",
            "--time",
            AT,
        ],
    );
    assert_one_line_error(&o, "Host key verification failed");
}

#[test]
fn an_unreachable_host_is_one_line() {
    let e = env();
    let o = mailtrace(
        &config(&e, true, Some(&sudo_password())),
        &[
            "run",
            "-h",
            "no-such-host.invalid",
            "-k",
            "alice",
            "--time",
            AT,
        ],
    );
    assert_one_line_error(&o, "ssh no-such-host.invalid: cannot connect");
}

#[test]
fn doctor_logs_in_and_reads_the_files_through_sudo() {
    let e = env();
    let o = mailtrace(
        &config(&e, true, Some(&sudo_password())),
        &[
            "doctor",
            "-h",
            "smtp1",
            "--otel-endpoint",
            "http://127.0.0.1:1",
        ],
    );
    let out = stdout(&o);
    assert!(
        out.contains("✔ ssh smtp1 — logged in; 1 log file(s) readable"),
        "{out}"
    );
    let o = mailtrace(
        &config(&e, true, Some("not-the-password")),
        &[
            "doctor",
            "-h",
            "smtp1",
            "--otel-endpoint",
            "http://127.0.0.1:1",
        ],
    );
    let out = stdout(&o);
    assert!(
        out.contains("✘ ssh smtp1") && out.contains("sudo failed"),
        "{out}"
    );
    assert_eq!(o.status.code(), Some(1));
}
