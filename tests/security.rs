//! Secrets stay secret (never in logs, errors or `--help`), and the daemon warns about an
//! unsafe setup: TLS verification off, a world-readable config file holding a password.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

const SECRET: &str = "pw-Zq9-very-secret";

fn closed_port() -> u16 {
    // Bound then dropped: nothing listens there for the test's short life.
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn mailtrace(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailtrace"));
    cmd.args(args).env_remove("MAILTRACE_CONFIG");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn config(dir: &std::path::Path, body: &str, mode: u32) -> String {
    let path = dir.join("config.yaml");
    std::fs::write(&path, body).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path.display().to_string()
}

fn opensearch_config(port: u16, password: &str, extra: &str) -> String {
    format!(
        "method: opensearch\nlog_level: DEBUG\nopensearch_config:\n  host: 127.0.0.1\n  port: {port}\n  \
         username: admin\n  password: \"{password}\"\n  index: mail-*\n  timeout: 2\n{extra}\
         tracing:\n  metrics_address: \"\"\n"
    )
}

fn all_output(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn a_password_never_appears_in_logs_or_errors() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let state = state.to_str().unwrap();
    let port = closed_port();
    // From the config file, from the environment, from the command line.
    type Env<'a> = Vec<(&'a str, &'a str)>;
    let cases: Vec<(String, Env, Vec<&str>)> = vec![
        (opensearch_config(port, SECRET, ""), vec![], vec![]),
        (
            opensearch_config(port, "", ""),
            vec![("MAILTRACE_OPENSEARCH_PASSWORD", SECRET)],
            vec![],
        ),
        (
            opensearch_config(port, "", ""),
            vec![],
            vec!["--opensearch-pass", SECRET],
        ),
    ];
    for (body, envs, extra) in cases {
        let cfg = config(dir.path(), &body, 0o600);
        let mut args = vec![
            "-c",
            cfg.as_str(),
            "tracing",
            "--once",
            "--state-dir",
            state,
        ];
        args.extend(extra);
        let out = mailtrace(&args, &envs);
        let text = all_output(&out);
        assert!(
            !out.status.success(),
            "an unreachable server fails the round: {text}"
        );
        assert!(
            text.contains(&format!("127.0.0.1:{port}")),
            "the error names the server: {text}"
        );
        assert!(!text.contains(SECRET), "password leaked: {text}");
    }
    // A config error next to a password does not echo it.
    let cfg = config(
        dir.path(),
        &format!("opensearch_config:\n  password: \"{SECRET}\"\n  hots: x\n"),
        0o600,
    );
    let out = mailtrace(&["-c", &cfg, "tracing", "--once"], &[]);
    let text = all_output(&out);
    assert!(text.contains("opensearch_config.hots"), "{text}");
    assert!(!text.contains(SECRET), "{text}");
}

#[test]
fn help_never_shows_a_password() {
    for sub in [
        vec!["--help"],
        vec!["tracing", "--help"],
        vec!["replay", "--help"],
    ] {
        let out = mailtrace(
            &sub,
            &[
                ("MAILTRACE_OPENSEARCH_PASSWORD", SECRET),
                ("MAILTRACE_SSH_PASSWORD", SECRET),
                ("MAILTRACE_SUDO_PASSWORD", SECRET),
            ],
        );
        assert!(out.status.success());
        assert!(!all_output(&out).contains(SECRET));
    }
}

#[test]
fn warns_when_tls_verification_is_off() {
    let dir = tempfile::tempdir().unwrap();
    let port = closed_port();
    let state = dir.path().join("state");
    let body = opensearch_config(port, SECRET, "  use_ssl: true\n  verify_certs: false\n");
    let cfg = config(dir.path(), &body, 0o600);
    let out = mailtrace(
        &[
            "-c",
            &cfg,
            "tracing",
            "--once",
            "--state-dir",
            state.to_str().unwrap(),
        ],
        &[],
    );
    let text = all_output(&out);
    assert!(text.contains("verification is OFF"), "{text}");
    assert!(!text.contains(SECRET));
}

#[test]
fn warns_when_a_config_with_a_password_is_world_readable() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let port = closed_port();
    let readable = config(dir.path(), &opensearch_config(port, SECRET, ""), 0o644);
    let out = mailtrace(
        &[
            "-c",
            &readable,
            "tracing",
            "--once",
            "--state-dir",
            state.to_str().unwrap(),
        ],
        &[],
    );
    let text = all_output(&out);
    assert!(text.contains("readable by every user"), "{text}");
    assert!(text.contains("chmod o-r"), "{text}");
    assert!(!text.contains(SECRET));

    let private = config(dir.path(), &opensearch_config(port, SECRET, ""), 0o640);
    let out = mailtrace(
        &[
            "-c",
            &private,
            "tracing",
            "--once",
            "--state-dir",
            state.to_str().unwrap(),
        ],
        &[],
    );
    assert!(!all_output(&out).contains("readable by every user"));

    // No password in the file (it comes from the environment): nothing to warn about.
    let no_secret = config(dir.path(), &opensearch_config(port, "", ""), 0o644);
    let out = mailtrace(
        &[
            "-c",
            &no_secret,
            "tracing",
            "--once",
            "--state-dir",
            state.to_str().unwrap(),
        ],
        &[("MAILTRACE_OPENSEARCH_PASSWORD", SECRET)],
    );
    assert!(!all_output(&out).contains("readable by every user"));
}

#[test]
fn the_metrics_endpoint_is_local_by_default() {
    let cfg = mailtrace::config::Config::default();
    let addr: std::net::SocketAddr = cfg.tracing.metrics_address.parse().unwrap();
    assert!(addr.ip().is_loopback());
}
