//! Self-observability: counters and gauges of the daemon, served as Prometheus text on
//! `/metrics`, plus `/healthz`, by a minimal HTTP/1.1 responder on `tracing.metrics_address`.
//!
//! One struct of atomics shared by the round loop and the server; no metrics framework,
//! because the set is small and fixed and the text format is simple.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Every number the daemon reports about itself.
#[derive(Debug, Default)]
pub struct Metrics {
    pub rounds: AtomicU64,
    pub round_failures: AtomicU64,
    pub lines_read: AtomicU64,
    pub lines_unmatched: AtomicU64,
    pub lines_duplicate: AtomicU64,
    pub lines_skipped: AtomicU64,
    pub rejects: AtomicU64,
    pub late_lines: AtomicU64,
    pub messages_exported: AtomicU64,
    pub messages_incomplete: AtomicU64,
    pub spans_exported: AtomicU64,
    pub export_failures: AtomicU64,
    pub spans_evicted: AtomicU64,
    pub pending_messages: AtomicI64,
    pub export_queue_spans: AtomicI64,
    /// Seconds between now and the cursor (how far behind the logs the daemon is).
    pub lag_seconds: AtomicI64,
    /// Unix time of the last round that completed its read.
    pub last_round_unix: AtomicI64,
    /// Unix time the daemon started (`/healthz` gives a new daemon time for its first round).
    pub started_unix: AtomicI64,
    /// `/healthz` fails when no read succeeded for this many seconds (0: never).
    pub stale_after_secs: AtomicI64,
}

impl Metrics {
    /// Healthy while reads keep succeeding: a daemon stuck in its loop or cut off from its
    /// logs answers 503 with the reason, so health checks and orchestrators see it.
    pub fn health(&self, now_unix: i64) -> Result<(), String> {
        let stale_after = self.stale_after_secs.load(Relaxed);
        if stale_after <= 0 {
            return Ok(());
        }
        let last = self.last_round_unix.load(Relaxed);
        let since = if last > 0 {
            last
        } else {
            self.started_unix.load(Relaxed)
        };
        let quiet = now_unix - since;
        if quiet > stale_after {
            Err(format!(
                "no successful read for {quiet} s (limit {stale_after} s); see the daemon's log"
            ))
        } else {
            Ok(())
        }
    }
}

impl Metrics {
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        let counters: [(&str, &str, &AtomicU64); 13] = [
            ("rounds_total", "Rounds completed.", &self.rounds),
            (
                "round_failures_total",
                "Rounds whose read failed (cursor held).",
                &self.round_failures,
            ),
            (
                "lines_read_total",
                "Log lines read from the source.",
                &self.lines_read,
            ),
            (
                "lines_unmatched_total",
                "Lines outside any queue file (noise).",
                &self.lines_unmatched,
            ),
            (
                "lines_duplicate_total",
                "Duplicate lines dropped (window overlap).",
                &self.lines_duplicate,
            ),
            (
                "lines_skipped_total",
                "Lines or documents that could not be read (malformed).",
                &self.lines_skipped,
            ),
            (
                "rejects_total",
                "Rejections before queueing (NOQUEUE).",
                &self.rejects,
            ),
            (
                "late_lines_total",
                "Lines for messages already exported.",
                &self.late_lines,
            ),
            (
                "messages_exported_total",
                "Messages released to export.",
                &self.messages_exported,
            ),
            (
                "messages_incomplete_total",
                "Messages released by a limit before they finished.",
                &self.messages_incomplete,
            ),
            (
                "spans_exported_total",
                "Spans accepted by the OTLP endpoint.",
                &self.spans_exported,
            ),
            (
                "export_failures_total",
                "Failed OTLP export attempts.",
                &self.export_failures,
            ),
            (
                "spans_evicted_total",
                "Spans dropped because the export queue was full.",
                &self.spans_evicted,
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(
                out,
                "# HELP mailtrace_{name} {help}\n# TYPE mailtrace_{name} counter\nmailtrace_{name} {}",
                v.load(Relaxed)
            );
        }
        let gauges: [(&str, &str, &AtomicI64); 4] = [
            (
                "pending_messages",
                "Messages waiting for their hold window.",
                &self.pending_messages,
            ),
            (
                "export_queue_spans",
                "Spans waiting to be exported.",
                &self.export_queue_spans,
            ),
            (
                "lag_seconds",
                "Seconds between now and the read cursor.",
                &self.lag_seconds,
            ),
            (
                "last_round_timestamp_seconds",
                "Unix time of the last successful read.",
                &self.last_round_unix,
            ),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(
                out,
                "# HELP mailtrace_{name} {help}\n# TYPE mailtrace_{name} gauge\nmailtrace_{name} {}",
                v.load(Relaxed)
            );
        }
        out
    }
}

fn unix_now() -> i64 {
    crate::engine::now_ns() / 1_000_000_000
}

/// Serve `/metrics` and `/healthz` until the task is dropped. Binding errors are returned
/// so the daemon can refuse to start with a clear message.
pub async fn serve(
    addr: &str,
    metrics: Arc<Metrics>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                continue;
            };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                // One request per connection; a request line is all we look at.
                let n = match tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    sock.read(&mut buf),
                )
                .await
                {
                    Ok(Ok(n)) => n,
                    _ => return,
                };
                let req = String::from_utf8_lossy(&buf[..n]);
                let path = req.split_whitespace().nth(1).unwrap_or("/");
                let (status, ctype, body) = match path {
                    "/metrics" => ("200 OK", "text/plain; version=0.0.4", metrics.render()),
                    "/healthz" => match metrics.health(unix_now()) {
                        Ok(()) => ("200 OK", "text/plain", "ok\n".to_string()),
                        Err(why) => ("503 Service Unavailable", "text/plain", format!("{why}\n")),
                    },
                    _ => (
                        "404 Not Found",
                        "text/plain",
                        "try /metrics or /healthz\n".to_string(),
                    ),
                };
                let resp = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    Ok((local, task))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_fails_when_reads_stop_succeeding() {
        let m = Metrics::default();
        assert!(m.health(1_000).is_ok(), "no limit set: always healthy");
        m.started_unix.store(1_000, Relaxed);
        m.stale_after_secs.store(120, Relaxed);
        assert!(
            m.health(1_100).is_ok(),
            "a new daemon gets time for its first round"
        );
        let why = m.health(1_200).unwrap_err();
        assert!(why.contains("no successful read for 200 s"), "{why}");
        m.last_round_unix.store(1_190, Relaxed);
        assert!(m.health(1_200).is_ok());
        assert!(m.health(1_400).is_err());
    }
}
