//! Runs the real `mailtrace tracing` binary as a child process for the daemon tests: a config
//! YAML in a tempdir, `--state-dir`, stderr captured to a file, `/metrics` read over HTTP.
//! The child is killed on drop. `Receiver` is the in-process OTLP receiver on its own tokio
//! runtime, so the tests themselves stay synchronous (blocking HTTP, sleeps, child waits).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::otlp_receiver::{OtlpReceiver, ReceivedSpan};

/// Generous bound for anything the daemon should do within a few rounds; hitting it fails
/// the test (it is never a timing assertion that passes or fails on speed alone).
pub const PATIENCE: Duration = Duration::from_secs(90);

/// A config file for the OpenSearch source with the seed fixture's mapping.
/// `tracing` holds extra `tracing:` keys as YAML lines (`"hold_rounds: 1"`).
pub fn opensearch_config(port: u16, index: &str, tracing: &[&str]) -> String {
    format!(
        "method: opensearch\n\
         log_level: INFO\n\
         opensearch_config:\n  host: 127.0.0.1\n  port: {port}\n  index: \"{index}\"\n  \
         timeout: 10\n  \
         mapping:\n    facility: data_stream.namespace\n    hostname: host.name\n    \
         message: message\n    timestamp: \"@timestamp\"\n    service: appname\n    \
         queueid: postfix.queueid.keyword\n    queued_as: postfix.queued_as.keyword\n\
         {}",
        tracing_section(tracing)
    )
}

/// A config file for the file source following `paths`.
pub fn file_config(paths: &[&Path], tracing: &[&str]) -> String {
    let list: Vec<String> = paths
        .iter()
        .map(|p| format!("\"{}\"", p.display()))
        .collect();
    format!(
        "method: file\nlog_level: INFO\nfile_config:\n  paths: [{}]\n{}",
        list.join(", "),
        tracing_section(tracing)
    )
}

fn tracing_section(extra: &[&str]) -> String {
    let mut keys: BTreeMap<&str, String> = BTreeMap::new();
    // Test defaults: fast rounds, an ephemeral metrics port, no wait for next hops that
    // are outside the logs.
    for line in [
        "sleep_seconds: 1",
        "hold_rounds: 1",
        "go_back_seconds: 5",
        "next_hop_grace_seconds: 0",
        "metrics_address: \"127.0.0.1:0\"",
        "otel_timeout_seconds: 2",
    ]
    .iter()
    .chain(extra)
    {
        let (k, _) = line.split_once(':').expect("key: value");
        keys.insert(k.trim(), line.to_string());
    }
    let mut out = String::from("tracing:\n");
    for line in keys.values() {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// One test's working directory: config, state dir, stderr logs.
pub struct Workdir {
    pub dir: tempfile::TempDir,
}

impl Workdir {
    pub fn new() -> Self {
        Workdir {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Write `config.yaml` (replacing any earlier one) and return its path.
    pub fn config(&self, yaml: &str) -> PathBuf {
        let p = self.path("config.yaml");
        std::fs::write(&p, yaml).unwrap();
        p
    }

    pub fn state_dir(&self) -> PathBuf {
        self.path("state")
    }

    /// The saved state's `cursor_ns` (None before the first round or without a state file).
    pub fn saved_cursor(&self) -> Option<i64> {
        let text = std::fs::read_to_string(self.state_dir().join("state.json")).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).expect("state.json is JSON");
        v["cursor_ns"].as_i64()
    }
}

/// A running `mailtrace tracing`.
pub struct Daemon {
    child: Child,
    pub stderr_path: PathBuf,
    metrics: Option<SocketAddr>,
}

impl Daemon {
    /// Start the daemon with `config`, `--state-dir state_dir`, exporting to `endpoint`.
    /// Every start appends to its own numbered stderr file in the workdir.
    pub fn start(wd: &Workdir, config: &Path, endpoint: &str) -> Daemon {
        Self::start_args(wd, config, &["--otel-endpoint", endpoint])
    }

    pub fn start_args(wd: &Workdir, config: &Path, extra: &[&str]) -> Daemon {
        let mut n = 0;
        let stderr_path = loop {
            let p = wd.path(&format!("daemon-{n}.stderr"));
            if !p.exists() {
                break p;
            }
            n += 1;
        };
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_mailtrace"))
            .arg("-c")
            .arg(config)
            .arg("tracing")
            .arg("--state-dir")
            .arg(wd.state_dir())
            .args(extra)
            .env_remove("MAILTRACE_CONFIG")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start mailtrace");
        Daemon {
            child,
            stderr_path,
            metrics: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// The metrics address the daemon logged (`metrics on http://ADDR/metrics`).
    pub fn metrics_addr(&mut self) -> SocketAddr {
        if let Some(a) = self.metrics {
            return a;
        }
        let deadline = Instant::now() + PATIENCE;
        loop {
            let text = self.stderr();
            if let Some(rest) = text.split("metrics on http://").nth(1) {
                if let Some(addr) = rest.split("/metrics").next() {
                    let a: SocketAddr = addr.parse().expect("metrics address");
                    self.metrics = Some(a);
                    return a;
                }
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("daemon exited ({st}) before serving metrics:\n{text}");
            }
            assert!(Instant::now() < deadline, "no metrics address in:\n{text}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// GET a path of the metrics server: (status, body).
    pub fn http_get(&mut self, path: &str) -> (u16, String) {
        let url = format!("http://{}{path}", self.metrics_addr());
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut resp = agent.get(&url).call().expect("metrics server answers");
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_to_string().unwrap())
    }

    /// All `mailtrace_*` samples of `/metrics`.
    pub fn metrics(&mut self) -> BTreeMap<String, f64> {
        let (status, body) = self.http_get("/metrics");
        assert_eq!(status, 200, "{body}");
        body.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .filter_map(|l| {
                let (k, v) = l.split_once(' ')?;
                Some((k.to_string(), v.trim().parse().ok()?))
            })
            .collect()
    }

    pub fn metric(&mut self, name: &str) -> f64 {
        *self
            .metrics()
            .get(name)
            .unwrap_or_else(|| panic!("no metric {name}"))
    }

    /// Wait until `name` satisfies `ok`; returns its value.
    pub fn wait_metric(&mut self, name: &str, ok: impl Fn(f64) -> bool) -> f64 {
        self.poll(name, |d| {
            let v = d.metric(name);
            if ok(v) {
                Ok(v)
            } else {
                Err(format!("{name} stuck at {v}"))
            }
        })
    }

    /// Wait until the daemon has logged `text`.
    pub fn wait_stderr(&mut self, text: &str) {
        self.poll(&format!("{text:?}"), |d| {
            if d.stderr().contains(text) {
                Ok(())
            } else {
                Err(format!("no {text:?} in stderr"))
            }
        })
    }

    /// Call `check` every 50 ms until it gives a value; fails when the daemon exits first or
    /// `PATIENCE` runs out (with `check`'s last word and the daemon's stderr).
    fn poll<T>(
        &mut self,
        waiting_for: &str,
        mut check: impl FnMut(&mut Self) -> Result<T, String>,
    ) -> T {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let why = match check(self) {
                Ok(v) => return v,
                Err(why) => why,
            };
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!(
                    "daemon exited ({st}) waiting for {waiting_for}:\n{}",
                    self.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{why}; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait until `n` more rounds completed their read.
    pub fn wait_rounds(&mut self, n: u32) {
        let now = self.metric("mailtrace_rounds_total");
        self.wait_metric("mailtrace_rounds_total", |v| v >= now + f64::from(n));
    }

    /// Send SIGTERM (through the shell's builtin `kill`: no procps needed).
    pub fn sigterm(&self) {
        let st = Command::new("sh")
            .args(["-c", &format!("kill -TERM {}", self.pid())])
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The exit status, if the daemon ends within `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return Some(st);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The in-process OTLP receiver on a runtime of its own.
pub struct Receiver {
    pub rx: OtlpReceiver,
    rt: tokio::runtime::Runtime,
}

impl Receiver {
    pub fn start() -> Self {
        Self::start_at("127.0.0.1:0")
    }

    pub fn start_at(addr: &str) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let rx = rt.block_on(OtlpReceiver::start_at(addr));
        Receiver { rx, rt }
    }

    pub fn endpoint(&self) -> String {
        self.rx.endpoint()
    }

    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.rx.spans()
    }

    /// Wait until at least `n` spans arrived; panics with `daemon`'s stderr otherwise.
    pub fn wait_spans(&self, n: usize, daemon: &Daemon) -> Vec<ReceivedSpan> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let spans = self.spans();
            if spans.len() >= n {
                return spans;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {n} spans arrived; daemon stderr:\n{}",
                spans.len(),
                daemon.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stop serving (the port is released); the spans received so far are returned.
    pub fn stop(self) -> Vec<ReceivedSpan> {
        let spans = self.spans();
        drop(self.rx);
        self.rt.shutdown_timeout(Duration::from_secs(5));
        spans
    }
}

/// A port nothing listens on right now (bound then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A TCP proxy in front of a server that can be switched off: while down it closes every
/// new connection at once and cuts the open ones (the daemon's HTTP client keeps pooled
/// connections, so refusing new ones alone would not make the server unreachable).
pub struct SwitchProxy {
    pub port: u16,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl SwitchProxy {
    pub fn start(upstream_port: u16) -> SwitchProxy {
        use std::sync::atomic::Ordering::SeqCst;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let proxy = SwitchProxy {
            port,
            up: Default::default(),
            conns: Default::default(),
        };
        proxy.up.store(true, SeqCst);
        let (up, conns) = (proxy.up.clone(), proxy.conns.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { break };
                if !up.load(SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", upstream_port)) else {
                    continue;
                };
                {
                    let mut c = conns.lock().unwrap();
                    c.push(client.try_clone().unwrap());
                    c.push(server.try_clone().unwrap());
                }
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        proxy
    }

    pub fn set_up(&self, up: bool) {
        self.up.store(up, std::sync::atomic::Ordering::SeqCst);
        if !up {
            for c in self.conns.lock().unwrap().drain(..) {
                let _ = c.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}
