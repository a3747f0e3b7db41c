//! SIGHUP reloads the daemon: it saves its state and re-executes itself in place (same PID),
//! so a changed config applies without a restart visible to systemd or docker, and nothing
//! is read or exported twice.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::daemon::{file_config, free_port, Daemon, Receiver, Workdir};

fn healthz(port: u16) -> Option<u16> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    agent
        .get(&format!("http://127.0.0.1:{port}/healthz"))
        .call()
        .ok()
        .map(|r| r.status().as_u16())
}

#[test]
fn sighup_reloads_the_config_in_place_without_losing_or_repeating_anything() {
    let wd = Workdir::new();
    let log = wd.path("mail.log");
    let demo = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo/mail.log"),
    )
    .unwrap();
    let lines: Vec<&str> = demo.lines().collect();
    let half = lines.len() / 2;
    std::fs::write(&log, lines[..half].join("\n") + "\n").unwrap();

    let rx = Receiver::start();
    let first_port = free_port();
    let cfg = wd.config(&file_config(
        &[log.as_path()],
        &[
            "hold_rounds: 0",
            &format!("metrics_address: \"127.0.0.1:{first_port}\""),
        ],
    ));
    let mut d = Daemon::start(&wd, &cfg, &rx.endpoint());
    d.wait_rounds(1);
    let before = rx.spans().len();
    assert!(before > 0);

    // A new config: another metrics port. Then SIGHUP.
    let second_port = free_port();
    std::fs::write(
        &cfg,
        file_config(
            &[log.as_path()],
            &[
                "hold_rounds: 0",
                &format!("metrics_address: \"127.0.0.1:{second_port}\""),
            ],
        ),
    )
    .unwrap();
    let pid = d.pid();
    assert!(Command::new("sh")
        .args(["-c", &format!("kill -HUP {pid}")])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while healthz(second_port) != Some(200) {
        assert!(Instant::now() < deadline, "no reload:\n{}", d.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(d.is_running(), "the same process keeps running");
    assert_eq!(d.pid(), pid);
    assert!(d.stderr().contains("SIGHUP: reloading"), "{}", d.stderr());
    assert_eq!(healthz(first_port), None, "the old config is gone");

    // The rest of the log arrives after the reload: read from the saved offset, once.
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    std::io::Write::write_all(&mut f, (lines[half..].join("\n") + "\n").as_bytes()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let roots = rx
            .spans()
            .iter()
            .filter(|s| s.span.name == "email.delivery")
            .count();
        if roots >= 7 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {roots} messages:\n{}",
            d.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut seen: HashMap<Vec<u8>, usize> = HashMap::new();
    for s in rx.spans() {
        *seen.entry(s.span.span_id).or_default() += 1;
    }
    assert!(
        seen.values().all(|&n| n == 1),
        "a span exported twice across the reload"
    );
    d.sigterm();
    assert!(d
        .wait_exit(Duration::from_secs(10))
        .is_some_and(|s| s.success()));
}
