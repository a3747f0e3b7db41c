//! SSH source for the one-shot commands: log files on remote hosts, read through the system
//! `ssh` client so that `~/.ssh/config` (or `ssh_config.ssh_config_file`), ProxyJump, keys,
//! agents and known_hosts all work as they do for the operator.
//!
//! Only lines containing one of the given fixed strings are transferred (`grep -F` runs on
//! the remote host). The remote command line is built from single-quoted words, so nothing a
//! keyword or a file name holds reaches the remote shell as syntax. Host keys are verified
//! by ssh (`BatchMode=yes` makes an unknown key an error instead of a prompt). The sudo
//! password travels on ssh's stdin (`sudo -S -p ''`), never on a command line.
//!
//! Stateless: each call is one `ssh` process.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// How to reach the hosts, filled from `ssh_config` by the caller.
#[derive(Clone, Default)]
pub struct SshSettings {
    /// Remote user (`-l`); empty leaves it to ssh's config.
    pub username: String,
    /// `-i` key file.
    pub private_key: Option<PathBuf>,
    /// `-F` config file; `None` = ssh's defaults (`~/.ssh/config`).
    pub ssh_config_file: Option<PathBuf>,
    pub connect_timeout: Duration,
    /// Read the files through `sudo`.
    pub sudo: bool,
    /// Sent on stdin to `sudo -S`; without one sudo runs with `-n` (fails instead of asking).
    pub sudo_password: Option<String>,
    /// The ssh client to run (default `ssh` from `PATH`).
    pub ssh_program: Option<PathBuf>,
}

impl SshSettings {
    /// From `ssh_config`: `~/` in key and config paths is expanded; the sudo password is
    /// `sudo_pass`, else the login `password` (ssh itself runs in batch mode and never uses it).
    pub fn from_config(s: &crate::config::SshConfig) -> Self {
        let path = |v: &str| (!v.trim().is_empty()).then(|| expand_home(v));
        SshSettings {
            username: s.username.clone(),
            private_key: path(&s.private_key),
            ssh_config_file: path(&s.ssh_config_file),
            connect_timeout: Duration::from_secs(s.timeout.max(1)),
            sudo: s.sudo,
            sudo_password: [&s.sudo_pass, &s.password]
                .into_iter()
                .find(|p| !p.is_empty())
                .map(|p| p.expose().to_string()),
            ssh_program: None,
        }
    }
}

fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

impl std::fmt::Debug for SshSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshSettings")
            .field("username", &self.username)
            .field("private_key", &self.private_key)
            .field("ssh_config_file", &self.ssh_config_file)
            .field("sudo", &self.sudo)
            .field("sudo_password", &self.sudo_password.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

/// Why reading from a host failed; one line naming the host.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SshError {
    #[error("ssh {host}: {reason}")]
    Invalid { host: String, reason: String },
    #[error("ssh {host}: cannot run the ssh client: {reason}")]
    Spawn { host: String, reason: String },
    #[error("ssh {host}: cannot connect: {reason}")]
    Connect { host: String, reason: String },
    #[error("ssh {host}: sudo failed: {reason}")]
    Sudo { host: String, reason: String },
    #[error("ssh {host}: reading the log files failed: {reason}")]
    Remote { host: String, reason: String },
}

/// Lines read from one host, and what went wrong with some of its files while others were
/// read (a rotated file that does not exist, say).
#[derive(Debug, Default)]
pub struct GrepResult {
    pub lines: Vec<String>,
    pub warnings: Vec<String>,
}

/// Runs `grep` over log files on remote hosts.
#[derive(Debug, Clone)]
pub struct SshReader {
    settings: SshSettings,
}

impl SshReader {
    pub fn new(settings: SshSettings) -> Self {
        SshReader { settings }
    }

    pub fn settings(&self) -> &SshSettings {
        &self.settings
    }

    /// Every line of `files` on `host` that contains one of `patterns` (fixed strings).
    /// File names may hold shell globs (`/var/log/mail.log*`), expanded remotely.
    pub fn grep(
        &self,
        host: &str,
        files: &[String],
        patterns: &[String],
        ignore_case: bool,
    ) -> Result<GrepResult, SshError> {
        if files.is_empty() {
            return Err(SshError::Invalid {
                host: host.into(),
                reason: "no log files configured (ssh_config.host_config.log_files or \
                         ssh_config.hosts.<host>.log_files)"
                    .into(),
            });
        }
        if patterns.is_empty() {
            return Ok(GrepResult::default());
        }
        let remote = self.remote_command(&grep_command(files, patterns, ignore_case))?;
        let out = self.run(host, &remote)?;
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect();
        match out.status.code() {
            Some(0) => Ok(GrepResult {
                lines,
                warnings: nonempty_lines(&stderr),
            }),
            // grep: no line matched. sudo also exits 1, but never silently.
            Some(1) if stderr.is_empty() => Ok(GrepResult::default()),
            Some(1) if self.settings.sudo && looks_like_sudo_failure(&stderr) => {
                Err(SshError::Sudo {
                    host: host.into(),
                    reason: sudo_hint(&stderr, self.settings.sudo_password.is_some()),
                })
            }
            Some(1) => Ok(GrepResult {
                lines: Vec::new(),
                warnings: nonempty_lines(&stderr),
            }),
            // grep: an error (unreadable/missing file) — fatal only when nothing was read.
            Some(2) if !lines.is_empty() => Ok(GrepResult {
                lines,
                warnings: nonempty_lines(&stderr),
            }),
            Some(255) => Err(SshError::Connect {
                host: host.into(),
                reason: last_line(&stderr),
            }),
            code => Err(SshError::Remote {
                host: host.into(),
                reason: if stderr.is_empty() {
                    match code {
                        Some(c) => format!("exit status {c}"),
                        None => "killed by a signal".to_string(),
                    }
                } else {
                    last_line(&stderr)
                },
            }),
        }
    }

    /// `ssh host true` (through sudo when configured): can we log in (and become root)?
    pub fn check(&self, host: &str) -> Result<(), SshError> {
        let remote = self.remote_command(&["true".to_string()])?;
        let out = self.run(host, &remote)?;
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        match out.status.code() {
            Some(0) => Ok(()),
            Some(255) => Err(SshError::Connect {
                host: host.into(),
                reason: last_line(&stderr),
            }),
            _ if self.settings.sudo => Err(SshError::Sudo {
                host: host.into(),
                reason: sudo_hint(&stderr, self.settings.sudo_password.is_some()),
            }),
            _ => Err(SshError::Remote {
                host: host.into(),
                reason: format!("`true` failed: {}", last_line(&stderr)),
            }),
        }
    }

    /// The command line the remote shell runs: every word single-quoted, prefixed with
    /// sudo when configured. `words` are already quoted (see `grep_command`).
    pub fn remote_command(&self, words: &[String]) -> Result<String, SshError> {
        let mut cmd = Vec::new();
        if self.settings.sudo {
            if self.settings.sudo_password.is_some() {
                // -S: password from stdin; -p '': no prompt text mixed into stderr.
                cmd.extend(["sudo", "-S", "-p", "''", "--"].map(String::from));
            } else {
                cmd.extend(["sudo", "-n", "--"].map(String::from));
            }
        }
        cmd.extend(words.iter().cloned());
        Ok(cmd.join(" "))
    }

    /// The arguments given to the local `ssh` (no local shell is involved).
    pub fn ssh_args(&self, host: &str, remote: &str) -> Vec<String> {
        let s = &self.settings;
        let mut args = vec![
            "-T".to_string(),
            "-o".into(),
            "BatchMode=yes".into(),
            "-o".into(),
            format!("ConnectTimeout={}", s.connect_timeout.as_secs().max(1)),
            "-o".into(),
            "LogLevel=ERROR".into(),
        ];
        if let Some(f) = &s.ssh_config_file {
            args.push("-F".into());
            args.push(f.display().to_string());
        }
        if let Some(k) = &s.private_key {
            args.push("-i".into());
            args.push(k.display().to_string());
        }
        if !s.username.is_empty() {
            args.push("-l".into());
            args.push(s.username.clone());
        }
        // `--` ends ssh's options: a host can never be read as one.
        args.push("--".into());
        args.push(host.to_string());
        args.push(remote.to_string());
        args
    }

    fn run(&self, host: &str, remote: &str) -> Result<std::process::Output, SshError> {
        if host.is_empty() || host.starts_with('-') || host.contains(char::is_whitespace) {
            return Err(SshError::Invalid {
                host: host.into(),
                reason: "not a usable host name".into(),
            });
        }
        let program = self
            .settings
            .ssh_program
            .clone()
            .unwrap_or_else(|| PathBuf::from("ssh"));
        let password = self
            .settings
            .sudo_password
            .as_ref()
            .filter(|_| self.settings.sudo);
        let mut child = Command::new(&program)
            .args(self.ssh_args(host, remote))
            .stdin(if password.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| SshError::Spawn {
                host: host.into(),
                reason: format!("{}: {e}", program.display()),
            })?;
        if let Some(p) = password {
            if let Some(mut stdin) = child.stdin.take() {
                // A failed write means ssh already exited; its status says why.
                let _ = stdin.write_all(format!("{p}\n").as_bytes());
            }
        }
        child.wait_with_output().map_err(|e| SshError::Spawn {
            host: host.into(),
            reason: e.to_string(),
        })
    }
}

/// `grep -h -F [-i] -e P… -- FILE…`, each word quoted for the remote shell.
pub fn grep_command(files: &[String], patterns: &[String], ignore_case: bool) -> Vec<String> {
    let mut words = vec!["grep".to_string(), "-h".into(), "-F".into()];
    if ignore_case {
        words.push("-i".into());
    }
    for p in patterns {
        words.push("-e".into());
        words.push(shell_quote(p));
    }
    words.push("--".into());
    words.extend(files.iter().map(|f| shell_quote_glob(f)));
    words
}

/// One word for a POSIX shell: single-quoted, `'` written as `'\''`.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Like `shell_quote`, but `*`, `?` and `[…]` stay outside the quotes so the remote shell
/// expands them as globs (and only as globs: everything else is quoted).
pub fn shell_quote_glob(s: &str) -> String {
    let mut out = String::new();
    let mut literal = String::new();
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']') {
            if !literal.is_empty() {
                out.push_str(&shell_quote(&literal));
                literal.clear();
            }
            out.push(c);
        } else {
            literal.push(c);
        }
    }
    if !literal.is_empty() || out.is_empty() {
        out.push_str(&shell_quote(&literal));
    }
    out
}

fn nonempty_lines(s: &str) -> Vec<String> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn last_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("no error message")
        .to_string()
}

/// sudo's own complaints (wrong or missing password, not in sudoers) as opposed to a
/// lecture or other chatter next to a grep that simply matched nothing.
fn looks_like_sudo_failure(stderr: &str) -> bool {
    let s = stderr.to_ascii_lowercase();
    ["sudo:", "sorry", "password", "sudoers"]
        .iter()
        .any(|w| s.contains(w))
}

fn sudo_hint(stderr: &str, had_password: bool) -> String {
    let msg = last_line(stderr);
    if had_password {
        format!("{msg} (check ssh_config.sudo_pass / MAILTRACE_SUDO_PASSWORD)")
    } else {
        format!(
            "{msg} (sudo needs a password: set ssh_config.sudo_pass or MAILTRACE_SUDO_PASSWORD, \
             or sudo: false when the user can read the files)"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_every_byte_literal() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("$(id);`x`"), "'$(id);`x`'");
    }

    #[test]
    fn globs_stay_expandable_and_nothing_else() {
        assert_eq!(
            shell_quote_glob("/var/log/mail.log*"),
            "'/var/log/mail.log'*"
        );
        assert_eq!(
            shell_quote_glob("/x/$(rm -rf)/m?.log"),
            "'/x/$(rm -rf)/m'?'.log'"
        );
        assert_eq!(shell_quote_glob("*"), "*");
    }

    #[test]
    fn sudo_prefix_reads_the_password_from_stdin() {
        let r = SshReader::new(SshSettings {
            sudo: true,
            sudo_password: Some("pw".into()),
            ..Default::default()
        });
        let cmd = r.remote_command(&["true".into()]).unwrap();
        assert_eq!(cmd, "sudo -S -p '' -- true");
        assert!(!cmd.contains("pw"));
        let args = r.ssh_args("h", &cmd);
        assert!(!args.iter().any(|a| a.contains("pw")));
        assert!(args.contains(&"BatchMode=yes".to_string()));
        assert!(!args.iter().any(|a| a.contains("StrictHostKeyChecking")));
    }

    #[test]
    fn hostile_host_names_are_refused() {
        let r = SshReader::new(SshSettings::default());
        for bad in ["-oProxyCommand=touch /tmp/x", "", "a b"] {
            assert!(
                matches!(r.check(bad), Err(SshError::Invalid { .. })),
                "{bad}"
            );
        }
    }
}
