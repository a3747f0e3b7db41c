//! An HTTP/1.1 proxy in front of a real osmem-server that injects the faults production
//! OpenSearch clusters produce: 429 with Retry-After, 5xx, malformed JSON, a connection cut
//! in the middle of a page, an expired point-in-time, a hang past the client's timeout, an
//! index that disappears. Everything else is forwarded as it is.
//!
//! Faults are queued: each rule names a fault, which requests it hits (a substring of the
//! request line or body) and how many times. One thread per connection; each response closes
//! its connection so every request passes through the rules.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub enum Fault {
    /// 429 Too Many Requests with `Retry-After: secs`.
    TooMany { retry_after_secs: u64 },
    /// An HTTP status with an OpenSearch-shaped error body.
    Status(u16),
    /// 200 with a body that is not JSON.
    Malformed,
    /// Headers and half of the real body, then the connection is closed (the client sees a
    /// body shorter than its content-length: a connection lost mid-page).
    CutMidBody,
    /// No answer for this long (beyond the client's timeout).
    Hang(Duration),
    /// 404 `search_context_missing_exception`, as for an expired PIT or scroll.
    ExpiredContext,
    /// 404 `index_not_found_exception`, as when the index was deleted.
    IndexGone,
}

struct Rule {
    fault: Fault,
    matches: String,
    remaining: usize,
}

pub struct FaultProxy {
    pub port: u16,
    rules: Arc<Mutex<VecDeque<Rule>>>,
    injected: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl FaultProxy {
    pub fn start(upstream_port: u16) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let rules: Arc<Mutex<VecDeque<Rule>>> = Arc::default();
        let injected = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, i, s) = (rules.clone(), injected.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (r, i) = (r.clone(), i.clone());
                std::thread::spawn(move || {
                    let _ = handle(conn, upstream_port, &r, &i);
                });
            }
        });
        FaultProxy {
            port,
            rules,
            injected,
            stop,
        }
    }

    /// Inject `fault` into the next `times` requests whose request line or body contains
    /// `matches` (empty matches everything).
    pub fn inject(&self, fault: Fault, matches: &str, times: usize) {
        self.rules.lock().unwrap().push_back(Rule {
            fault,
            matches: matches.to_string(),
            remaining: times,
        });
    }

    pub fn clear(&self) {
        self.rules.lock().unwrap().clear();
    }

    /// How many faults were served so far.
    pub fn injected(&self) -> usize {
        self.injected.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

struct Request {
    head: String,
    body: Vec<u8>,
}

fn read_request(conn: &mut BufReader<TcpStream>) -> std::io::Result<Option<Request>> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if conn.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let end = line == "\r\n";
        head.push_str(&line);
        if end {
            break;
        }
    }
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())
                .flatten()
        })
        .unwrap_or(0);
    let mut body = vec![0; len];
    conn.read_exact(&mut body)?;
    Ok(Some(Request { head, body }))
}

fn take_fault(rules: &Mutex<VecDeque<Rule>>, req: &Request) -> Option<Fault> {
    let mut rules = rules.lock().unwrap();
    let line = req.head.lines().next().unwrap_or("");
    let body = String::from_utf8_lossy(&req.body);
    let pos = rules.iter().position(|r| {
        r.matches.is_empty() || line.contains(&r.matches) || body.contains(&r.matches)
    })?;
    let rule = &mut rules[pos];
    let fault = rule.fault.clone();
    rule.remaining -= 1;
    if rule.remaining == 0 {
        rules.remove(pos);
    }
    Some(fault)
}

fn respond(conn: &mut TcpStream, status: u16, extra: &str, body: &str) -> std::io::Result<()> {
    write!(
        conn,
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{extra}connection: close\r\n\r\n{body}",
        body.len()
    )
}

fn forward(req: &Request, upstream_port: u16) -> std::io::Result<Vec<u8>> {
    let mut up = TcpStream::connect(("127.0.0.1", upstream_port))?;
    let mut head = String::new();
    for (i, line) in req.head.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let lower = line.to_ascii_lowercase();
        if i > 0 && (lower.starts_with("connection:") || lower.starts_with("keep-alive:")) {
            continue;
        }
        head.push_str(line);
        head.push_str("\r\n");
    }
    head.push_str("connection: close\r\n\r\n");
    up.write_all(head.as_bytes())?;
    up.write_all(&req.body)?;
    let mut resp = Vec::new();
    up.read_to_end(&mut resp)?;
    Ok(resp)
}

fn handle(
    conn: TcpStream,
    upstream_port: u16,
    rules: &Mutex<VecDeque<Rule>>,
    injected: &AtomicUsize,
) -> std::io::Result<()> {
    let mut out = conn.try_clone()?;
    let mut reader = BufReader::new(conn);
    let Some(req) = read_request(&mut reader)? else {
        return Ok(());
    };
    let fault = take_fault(rules, &req);
    if fault.is_some() {
        injected.fetch_add(1, Ordering::SeqCst);
    }
    match fault {
        None => {
            let resp = forward(&req, upstream_port)?;
            out.write_all(&resp)?;
        }
        Some(Fault::TooMany { retry_after_secs }) => respond(
            &mut out,
            429,
            &format!("retry-after: {retry_after_secs}\r\n"),
            r#"{"error":{"type":"es_rejected_execution_exception","reason":"rejected execution"},"status":429}"#,
        )?,
        Some(Fault::Status(code)) => respond(
            &mut out,
            code,
            "",
            &format!(
                r#"{{"error":{{"type":"injected","reason":"injected {code}"}},"status":{code}}}"#
            ),
        )?,
        Some(Fault::Malformed) => respond(
            &mut out,
            200,
            "",
            r#"{"took": 3, "hits": {"hits": [{"_id": "#,
        )?,
        Some(Fault::CutMidBody) => {
            let resp = forward(&req, upstream_port)?;
            let split = resp
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map_or(resp.len() / 2, |h| h + 4 + (resp.len() - h - 4) / 2);
            out.write_all(&resp[..split])?;
            out.flush()?;
        }
        Some(Fault::Hang(d)) => {
            std::thread::sleep(d);
        }
        Some(Fault::ExpiredContext) => respond(
            &mut out,
            404,
            "",
            r#"{"error":{"root_cause":[{"type":"search_context_missing_exception","reason":"No search context found for id [1]"}],"type":"search_phase_execution_exception","reason":"all shards failed"},"status":404}"#,
        )?,
        Some(Fault::IndexGone) => respond(
            &mut out,
            404,
            "",
            r#"{"error":{"root_cause":[{"type":"index_not_found_exception","reason":"no such index [mail-x]"}],"type":"index_not_found_exception","reason":"no such index [mail-x]"},"status":404}"#,
        )?,
    }
    let _ = out.shutdown(Shutdown::Both);
    Ok(())
}
