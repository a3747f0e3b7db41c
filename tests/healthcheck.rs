//! `mailtrace healthcheck` against real sockets: the daemon's own metrics server, a server
//! that answers 503, a closed port; through the library probe and the binary.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use mailtrace::daemon::healthcheck::{connect_addrs, probe};
use mailtrace::daemon::metrics::{serve, Metrics};

const T: Duration = Duration::from_secs(3);

fn mailtrace(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mailtrace"))
        .args(args)
        .env_remove("MAILTRACE_CONFIG")
        .current_dir(env!("CARGO_TARGET_TMPDIR"))
        .output()
        .unwrap()
}

/// A port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn probes_the_daemons_metrics_server() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    // Bound on the wildcard address, as in a container: probed on loopback.
    let (addr, _task) = rt
        .block_on(serve("0.0.0.0:0", Arc::new(Metrics::default())))
        .unwrap();
    let wildcard = format!("0.0.0.0:{}", addr.port());
    assert_eq!(
        connect_addrs(&wildcard).unwrap()[0].to_string(),
        format!("127.0.0.1:{}", addr.port())
    );
    probe(&wildcard, T).unwrap();

    let out = mailtrace(&["healthcheck", "--address", &wildcard]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");

    // The address comes from the config's tracing.metrics_address when not given.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.yaml");
    std::fs::write(
        &cfg,
        format!(
            "tracing:\n  metrics_address: \"127.0.0.1:{}\"\n",
            addr.port()
        ),
    )
    .unwrap();
    let out = mailtrace(&["healthcheck", "-c", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // ... also through MAILTRACE_CONFIG, as the container image sets it.
    let out = Command::new(env!("CARGO_BIN_EXE_mailtrace"))
        .arg("healthcheck")
        .env("MAILTRACE_CONFIG", &cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn closed_port_is_unhealthy_with_exit_1() {
    let addr = format!("127.0.0.1:{}", closed_port());
    assert!(probe(&addr, T).is_err());
    let out = mailtrace(&["healthcheck", "--address", &addr]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("mailtrace healthcheck: 127.0.0.1:"),
        "{err}"
    );
}

#[test]
fn non_200_reply_is_unhealthy() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        for _ in 0..2 {
            let (mut s, _) = listener.accept().unwrap();
            let mut req = [0u8; 1024];
            let n = s.read(&mut req).unwrap();
            assert!(String::from_utf8_lossy(&req[..n]).starts_with("GET /healthz HTTP/1."));
            s.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n")
                .unwrap();
        }
    });
    let e = probe(&addr, T).unwrap_err();
    assert!(e.contains("503 Service Unavailable"), "{e}");
    let out = mailtrace(&["healthcheck", "--address", &addr]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    server.join().unwrap();
}

#[test]
fn disabled_metrics_address_or_bad_config_is_exit_1_never_2() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.yaml");
    std::fs::write(&cfg, "tracing:\n  metrics_address: \"\"\n").unwrap();
    let out = mailtrace(&["healthcheck", "-c", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("metrics_address is empty"));
    std::fs::write(&cfg, "tracing:\n  metrics_adress: x\n").unwrap();
    let out = mailtrace(&["healthcheck", "-c", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

#[test]
fn healthcheck_is_hidden_from_help() {
    let out = mailtrace(&["--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("tracing") && !help.contains("healthcheck"),
        "{help}"
    );
}
