//! The deployment files agree with the binary: the demo config loads and validates, and the
//! command lines of the systemd unit and the container image are accepted and run (one
//! round on the bundled demo log, with their config and state paths swapped for temp ones).

use std::path::Path;
use std::process::Command;

use mailtrace::config::Config;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(rel)).unwrap()
}

#[test]
fn demo_config_loads_validates_and_listens_on_all_interfaces() {
    let c = Config::load(&Path::new(ROOT).join("deploy/demo/config.yaml")).unwrap();
    c.validate().unwrap();
    assert_eq!(c.tracing.metrics_address, "0.0.0.0:9464");
    assert_eq!(c.tracing.otel_endpoint, "http://jaeger:4317");
    assert_eq!(c.opensearch_config.mapping.hostname, "host.name");
    // The loghost template writes exactly the mapped fields.
    let tpl = read("deploy/demo/rsyslog-loghost.conf");
    let m = &c.opensearch_config.mapping;
    for field in [
        &m.timestamp,
        &m.hostname,
        &m.service,
        &m.facility,
        &m.message,
    ] {
        assert!(
            tpl.contains(&format!("outname=\"{field}\"")),
            "{field} not written"
        );
    }
}

/// Runs `mailtrace ARGS` with /etc/mailtrace/config.yaml and /var/lib/mailtrace replaced,
/// plus `--once --console` so it does one round and prints instead of exporting.
fn run_deployed_command_line(args: &[String]) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.yaml");
    let log = Path::new(ROOT).join("examples/demo/mail.log");
    std::fs::write(
        &cfg,
        format!(
            "method: file\nfile_config:\n  paths: [\"{}\"]\ntracing:\n  metrics_address: \"\"\n  hold_rounds: 0\n",
            log.display()
        ),
    )
    .unwrap();
    let state = dir.path().join("state");
    let args: Vec<String> = args
        .iter()
        .map(|a| match a.as_str() {
            "/etc/mailtrace/config.yaml" => cfg.display().to_string(),
            "/var/lib/mailtrace" => state.display().to_string(),
            _ => a.clone(),
        })
        .collect();
    let out = Command::new(env!("CARGO_BIN_EXE_mailtrace"))
        .args(&args)
        .args(["--once", "--console"])
        .env_remove("MAILTRACE_CONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{args:?}: {out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("message <"));
    assert!(
        state.join("state.json").exists(),
        "state not saved in --state-dir"
    );
}

#[test]
fn systemd_unit_command_line_runs() {
    let unit = read("deploy/systemd/mailtrace.service");
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap();
    let mut words = exec.split_whitespace().map(str::to_string);
    assert_eq!(words.next().as_deref(), Some("/usr/bin/mailtrace"));
    run_deployed_command_line(&words.collect::<Vec<_>>());
}

#[test]
fn container_command_line_runs() {
    let df = read("deploy/docker/Dockerfile");
    let cmd = df.lines().find_map(|l| l.strip_prefix("CMD ")).unwrap();
    let args: Vec<String> = serde_json::from_str(cmd).unwrap();
    assert_eq!(args[0], "tracing");
    run_deployed_command_line(&args);
}
