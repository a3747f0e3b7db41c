//! Exit codes a service manager can act on: 78 (EX_CONFIG) for a config that cannot work —
//! restarting will not help — and 2 for a failure worth retrying.

use std::process::Command;

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mailtrace"))
        .args(args)
        .env_remove("MAILTRACE_CONFIG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn config_errors_exit_78_other_failures_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "tracing:\n  sleep_secnds: 5\n").unwrap();
    let (code, err) = run(&["-c", bad.to_str().unwrap(), "tracing", "--once"]);
    assert_eq!(code, 78, "{err}");
    assert!(err.contains("tracing.sleep_secnds"), "{err}");

    let (code, err) = run(&[
        "-c",
        dir.path().join("missing.yaml").to_str().unwrap(),
        "tracing",
    ]);
    assert_eq!(code, 78, "{err}");

    let invalid = dir.path().join("invalid.yaml");
    std::fs::write(&invalid, "method: opensearch\n").unwrap();
    let (code, err) = run(&["-c", invalid.to_str().unwrap(), "tracing", "--once"]);
    assert_eq!(code, 78, "{err}");
    assert!(err.contains("opensearch_config"), "{err}");

    // A reachable-config, unreachable-server round: retrying later can help.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ok = dir.path().join("ok.yaml");
    std::fs::write(
        &ok,
        format!("method: opensearch\nopensearch_config:\n  host: 127.0.0.1\n  port: {port}\n  index: m\n  timeout: 1\ntracing:\n  metrics_address: \"\"\n"),
    )
    .unwrap();
    let state = dir.path().join("state");
    let (code, err) = run(&[
        "-c",
        ok.to_str().unwrap(),
        "tracing",
        "--once",
        "--state-dir",
        state.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
}
