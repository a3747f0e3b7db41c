//! A real OpenSearch REST peer for tests: `osmem-server` (PyPI `osmem-server==0.1.6`), an
//! in-memory OpenSearch 3.8 emulator. Each `Osmem` is its own server process on a free port,
//! killed on drop. No silent skip: without the binary the test fails and says how to get it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

const INSTALL_HINT: &str = "osmem-server not found. Install it with\n  \
     python3 -m venv .venv && .venv/bin/pip install osmem-server==0.1.6\n\
     (in the repository root) or set OSMEM_SERVER_BIN to the binary \
     (…/site-packages/osmem_server/bin/osmem-server)";

pub struct Osmem {
    child: Child,
    pub url: String,
    pub port: u16,
}

/// `OSMEM_SERVER_BIN`, else a venv under the repository (`.venv*`), else `/tmp/osv*`.
pub fn find_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("OSMEM_SERVER_BIN") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "OSMEM_SERVER_BIN={} is not a file",
            p.display()
        );
        return Some(p);
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    venv_binaries(repo, ".venv")
        .into_iter()
        .chain(venv_binaries(Path::new("/tmp"), "osv"))
        .next()
}

/// `<dir>/<prefix>*/lib/python3*/site-packages/osmem_server/bin/osmem-server`, sorted.
fn venv_binaries(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for venv in matching(dir, prefix) {
        for py in matching(&venv.join("lib"), "python3") {
            let bin = py.join("site-packages/osmem_server/bin/osmem-server");
            if bin.is_file() {
                found.push(bin);
            }
        }
    }
    found.sort();
    found
}

fn matching(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.path())
        .collect()
}

impl Osmem {
    pub fn start() -> Osmem {
        let bin = find_binary().unwrap_or_else(|| panic!("{INSTALL_HINT}"));
        let mut child = Command::new(&bin)
            .args(["-addr", "127.0.0.1:0", "-no-stdin-watch", "-parent-pid"])
            .arg(std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        // The first stdout line is `{"url":"http://127.0.0.1:PORT","pid":…}`.
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .expect("read osmem-server's first line");
        let info: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("osmem-server printed {line:?}: {e}"));
        let url = info["url"].as_str().expect("url in first line").to_string();
        let port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port in url");
        Osmem { child, url, port }
    }

    /// Indexes `docs` into `index` through `_bulk` (refresh=true), in chunks. Each doc may
    /// carry an `_id` key, which is used as the document id and removed from the source.
    pub fn bulk_index(&self, index: &str, docs: &[Value]) {
        for chunk in docs.chunks(5000) {
            let mut body = String::new();
            for doc in chunk {
                let mut doc = doc.clone();
                let id = doc.as_object_mut().and_then(|o| o.remove("_id"));
                let mut action = serde_json::json!({ "index": { "_index": index } });
                if let Some(id) = id {
                    action["index"]["_id"] = id;
                }
                body.push_str(&action.to_string());
                body.push('\n');
                body.push_str(&doc.to_string());
                body.push('\n');
            }
            let reply: Value = self.post("/_bulk?refresh=true", "application/x-ndjson", &body);
            assert_eq!(reply["errors"], false, "bulk errors: {reply}");
        }
    }

    /// POST with a body, returns the JSON reply (panics on HTTP errors).
    pub fn post(&self, path: &str, content_type: &str, body: &str) -> Value {
        let text = ureq::post(&format!("{}{path}", self.url))
            .header("Content-Type", content_type)
            .send(body)
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_string()
            .expect("read reply");
        serde_json::from_str(&text).expect("JSON reply")
    }
}

impl Osmem {
    /// DELETE `path` (e.g. an index), panics on HTTP errors.
    pub fn delete(&self, path: &str) {
        ureq::delete(&format!("{}{path}", self.url))
            .call()
            .unwrap_or_else(|e| panic!("DELETE {path}: {e}"));
    }
}

impl Drop for Osmem {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A pass-through HTTP/1.1 proxy in front of an osmem-server that answers every
/// point-in-time request with 405, as clusters without PIT support do. Lets tests exercise
/// the scroll fallback against the real server. Returns the proxy's port and a counter of
/// refused PIT requests.
pub fn pit_refusing_proxy(upstream: &str) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    use std::sync::atomic::Ordering;

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let refused = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = refused.clone();
    let upstream = upstream.to_string();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            // Request head, then Content-Length bytes of body.
            let mut raw = Vec::new();
            let mut buf = [0u8; 65536];
            let head_end = loop {
                let n = stream.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    break None;
                }
                raw.extend_from_slice(&buf[..n]);
                if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                    break Some(i + 4);
                }
            };
            let Some(head_end) = head_end else { continue };
            let head = String::from_utf8_lossy(&raw[..head_end]).to_string();
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            while raw.len() < head_end + len {
                let n = stream.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    break;
                }
                raw.extend_from_slice(&buf[..n]);
            }
            let body = raw[head_end..].to_vec();
            let mut request_line = head.lines().next().unwrap_or("").split(' ');
            let method = request_line.next().unwrap_or("GET").to_string();
            let path = request_line.next().unwrap_or("/").to_string();
            let (status, text) = if path.contains("point_in_time") {
                counter.fetch_add(1, Ordering::SeqCst);
                (
                    405,
                    format!(
                        "{{\"error\":\"Incorrect HTTP method for uri [{path}] and method \
                         [{method}], allowed: [GET]\",\"status\":405}}"
                    ),
                )
            } else {
                let url = format!("{upstream}{path}");
                let req = http_request(&method, &url, body);
                match agent.run(req) {
                    Ok(mut r) => (
                        r.status().as_u16(),
                        r.body_mut()
                            .with_config()
                            .limit(1 << 30)
                            .read_to_string()
                            .unwrap_or_default(),
                    ),
                    Err(e) => (502, format!("{{\"error\":\"proxy: {e}\"}}")),
                }
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    (port, refused)
}

fn http_request(method: &str, url: &str, body: Vec<u8>) -> ureq::http::Request<Vec<u8>> {
    ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .header("Content-Type", "application/json")
        .body(body)
        .unwrap()
}
