//! State faults: a corrupt state file, one from a newer version, a full disk, a state
//! directory that cannot be created. Each is a loud, clear failure; none loses data silently
//! (the previous state stays intact).

use std::path::Path;
use std::process::Command;

fn demo_config(dir: &Path) -> String {
    let log = dir.join("mail.log");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo/mail.log"),
        &log,
    )
    .unwrap();
    let cfg = dir.join("config.yaml");
    std::fs::write(
        &cfg,
        format!(
            "method: file\nfile_config:\n  paths: [\"{}\"]\ntracing:\n  hold_rounds: 0\n  metrics_address: \"\"\n",
            log.display()
        ),
    )
    .unwrap();
    cfg.display().to_string()
}

fn once(cfg: &str, state: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mailtrace"))
        .args(["-c", cfg, "tracing", "--once", "--console", "--state-dir"])
        .arg(state)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_corrupt_or_newer_state_file_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_config(dir.path());
    let state = dir.path().join("state");
    assert!(once(&cfg, &state).0);
    let good = std::fs::read(state.join("state.json")).unwrap();

    std::fs::write(state.join("state.json"), &good[..good.len() / 2]).unwrap();
    let (ok, err) = once(&cfg, &state);
    assert!(!ok);
    assert!(
        err.contains("is corrupt") && err.contains("move it aside"),
        "{err}"
    );
    // Refusing must not have touched it.
    assert_eq!(
        std::fs::read(state.join("state.json")).unwrap(),
        &good[..good.len() / 2]
    );

    std::fs::write(state.join("state.json"), br#"{"version": 999}"#).unwrap();
    let (ok, err) = once(&cfg, &state);
    assert!(!ok);
    assert!(
        err.contains("newer mailtrace") && err.contains("999"),
        "{err}"
    );
}

#[test]
fn a_full_disk_fails_loudly_and_keeps_the_previous_state() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_config(dir.path());
    let state = dir.path().join("state");
    assert!(once(&cfg, &state).0);
    let before = std::fs::read(state.join("state.json")).unwrap();
    // The temporary file the next save writes lands on /dev/full: every write is ENOSPC,
    // exactly as on a full disk.
    std::os::unix::fs::symlink("/dev/full", state.join("state.json.tmp")).unwrap();
    let (ok, err) = once(&cfg, &state);
    assert!(!ok, "a state that cannot be saved stops the daemon");
    assert!(err.contains("cannot write state"), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert_eq!(
        std::fs::read(state.join("state.json")).unwrap(),
        before,
        "previous state intact"
    );
}

#[test]
fn a_state_directory_that_cannot_be_created_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_config(dir.path());
    // /proc refuses new directories, even to root.
    let (ok, err) = once(&cfg, Path::new("/proc/mailtrace-state-test"));
    assert!(!ok);
    assert!(
        err.contains("state directory /proc/mailtrace-state-test"),
        "{err}"
    );
}
