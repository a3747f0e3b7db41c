//! The round loop, its sources and sinks.

use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tracing::{debug, error, info, warn};

use super::metrics::{self, Metrics};
use super::queue::ExportQueue;
use super::state::{StateDir, StateError, STATE_VERSION};
use crate::config::{Config, Method};
use crate::correlate::{Correlator, Message};
use crate::engine::{self, now_ns, DEFAULT_SPANS_PER_REQUEST};
use crate::export::console::render_message;
use crate::export::json::JsonLinesWriter;
use crate::export::otlp::{OtlpConfig, OtlpExporter};
use crate::parse::syslog::{self, SyslogContext};
use crate::parse::time::Zone;
use crate::record::LogRecord;
use crate::source::document::{DocumentContext, Shapes};
use crate::source::file::{FileFollower, FileOffsets, StartAt};
use crate::source::opensearch::{OpenSearchSettings, OpenSearchSource};
use crate::trace::model::ModelOptions;
use crate::trace::request::{EncodedRequest, RequestEncoder};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

const SEC: i64 = 1_000_000_000;
/// How long SIGTERM waits for an export in flight (the daemon must stop within seconds).
const SHUTDOWN_EXPORT_GRACE: Duration = Duration::from_secs(3);
/// Bytes read from followed files per round at most (memory bound per round).
const FILE_BYTES_PER_ROUND: usize = 256 << 20;

/// A file round's first poll: enough to see how many bytes a second of log takes, small
/// enough not to overshoot a catch-up step by much.
const FILE_FIRST_POLL_BYTES: usize = 4 << 10;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaemonError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("metrics endpoint {0}: {1}")]
    Metrics(String, std::io::Error),
    #[error("{0}")]
    Source(String),
    #[error("{0}")]
    Export(String),
}

/// Where released traces go.
#[derive(Debug, Clone)]
pub enum Sink {
    /// OTLP gRPC to this endpoint.
    Otlp(String),
    /// Readable text on stdout (the embedded demo).
    Console,
    /// OTLP-JSON lines appended to a file (`-` = stdout).
    Json(PathBuf),
}

#[derive(Debug, Clone)]
pub struct DaemonOptions {
    pub once: bool,
    pub sink: Sink,
    /// Overrides `tracing.state_dir`.
    pub state_dir: Option<PathBuf>,
}

/// Everything that survives a restart.
#[derive(Debug, Serialize, Deserialize)]
struct PersistedState {
    version: u32,
    /// End of the last window read completely (UTC ns); the next window starts
    /// `go_back_seconds` before it.
    cursor_ns: Option<i64>,
    round: u64,
    correlator: Correlator,
    file_offsets: FileOffsets,
    queue: ExportQueue,
    // A state written before re-released messages built only their new spans (hop flag
    // `span_exported`) also holds `exported` (span IDs per message); it is ignored.
}

enum Source {
    OpenSearch {
        client: Box<OpenSearchSource>,
        mapping: Box<DocumentContext>,
        /// The document shapes met so far: the shipper's, from the first round on.
        shapes: Shapes,
    },
    File {
        follower: FileFollower,
        zone: Zone,
        default_host: Option<String>,
        /// The last round did not stand at now (a backlog), or no round ran yet.
        catching_up: bool,
    },
}

struct ReadResult {
    records: Vec<LogRecord>,
    skipped: u64,
    new_cursor: Option<i64>,
    /// The window ended before now: more is waiting (catching up after an outage).
    behind: bool,
}

impl Source {
    async fn read(
        &mut self,
        cursor: Option<i64>,
        go_back_ns: i64,
        first_window_ns: i64,
        step_ns: i64,
    ) -> Result<ReadResult, String> {
        let now = now_ns();
        match self {
            Source::OpenSearch {
                client,
                mapping,
                shapes,
            } => {
                let (from, to) = match cursor {
                    Some(c) => (c - go_back_ns, now.min(c.saturating_add(step_ns))),
                    None => (now - first_window_ns, now),
                };
                let hits = client
                    .fetch_window(from, to)
                    .await
                    .map_err(|e| e.to_string())?;
                let mut records = Vec::with_capacity(hits.len());
                let mut skipped = 0;
                for hit in hits {
                    match mapping.map_hit_shaped(&hit.id, &hit.source, shapes) {
                        Ok(rec) => records.push(rec),
                        Err(e) => {
                            skipped += 1;
                            debug!(id = %hit.id, "document skipped: {e}");
                        }
                    }
                }
                Ok(ReadResult {
                    records,
                    skipped,
                    new_cursor: Some(to),
                    behind: to < now,
                })
            }
            Source::File {
                follower,
                zone,
                default_host,
                catching_up,
            } => {
                let ctx = SyslogContext {
                    zone: *zone,
                    now_ns: now,
                    year: None,
                    default_host: default_host.clone(),
                };
                let polled = poll_files(follower, &ctx, step_ns)?;
                // The log time this round stands at, for the store's clock: the newest line
                // read, and at least a step past the last round's (so quiet stretches of a
                // backlog pass in steps too). With every file read to its end, a round after a
                // live one is live, and one that catches up becomes live within a step of
                // now; a live round stands at now.
                let at = polled
                    .newest
                    .max(cursor.map(|c| c.saturating_add(step_ns)))
                    .unwrap_or(now);
                let live =
                    follower.read_to_end() && (!*catching_up || at >= now.saturating_sub(step_ns));
                *catching_up = !live;
                Ok(ReadResult {
                    records: polled.records,
                    skipped: polled.skipped,
                    new_cursor: Some(if live { now } else { at.min(now) }),
                    behind: !live,
                })
            }
        }
    }
}

/// What one round polled from the followed files.
struct FilePoll {
    records: Vec<LogRecord>,
    skipped: u64,
    /// The newest line's time, when a line was read.
    newest: Option<i64>,
}

/// Poll the followed files for one round. A backlog (a restart after a long stop) is read a
/// catch-up step of log time per round, as OpenSearch windows are. Files have no time index:
/// polls are sized by the bytes per log second read so far (`next_poll_bytes`). Every line
/// polled is ingested this round, so the offsets saved stay exact.
fn poll_files(
    follower: &mut FileFollower,
    ctx: &SyslogContext,
    step_ns: i64,
) -> Result<FilePoll, String> {
    let mut out = FilePoll {
        records: Vec::new(),
        skipped: 0,
        newest: None,
    };
    let (mut bytes, mut first) = (0usize, None::<i64>);
    let mut budget = FILE_FIRST_POLL_BYTES;
    loop {
        let lines = match follower.poll(budget) {
            Ok(lines) => lines,
            // The lines polled before are past the saved offsets: ingest them; the error
            // comes back next round.
            Err(e) if bytes > 0 => {
                debug!("file poll failed after {bytes} bytes this round: {e}");
                break;
            }
            Err(e) => return Err(e.to_string()),
        };
        let polled = lines.len();
        for line in lines {
            bytes += line.bytes.len() + 1;
            match syslog::parse_line(&String::from_utf8_lossy(&line.bytes), ctx) {
                Ok(rec) => {
                    first.get_or_insert(rec.timestamp_ns);
                    out.newest = out.newest.max(Some(rec.timestamp_ns));
                    out.records.push(rec);
                }
                Err(e) => {
                    out.skipped += 1;
                    debug!("line skipped: {e}");
                }
            }
        }
        let left = FILE_BYTES_PER_ROUND.saturating_sub(bytes);
        if follower.read_to_end() || polled == 0 || left == 0 {
            break;
        }
        let span = match (first, out.newest) {
            (Some(f), Some(n)) => n.saturating_sub(f),
            _ => 0,
        };
        if span >= step_ns {
            break;
        }
        budget = next_poll_bytes(span, bytes, step_ns, left);
    }
    Ok(out)
}

/// The next poll's byte budget: the rest of the step at the bytes per log second read so
/// far (everything left when the lines read so far span no time), between the first poll's
/// size and what is `left` of the round's bytes.
fn next_poll_bytes(span_ns: i64, bytes: usize, step_ns: i64, left: usize) -> usize {
    let rate_based = match (u128::try_from(span_ns), u128::try_from(step_ns - span_ns)) {
        (Ok(span), Ok(rest)) if span > 0 => {
            usize::try_from(rest * bytes as u128 / span).unwrap_or(usize::MAX)
        }
        _ => left,
    };
    rate_based.clamp(FILE_FIRST_POLL_BYTES.min(left), left)
}

/// How much log time past its cursor one round reads at most. Rounds that end before now
/// follow each other without sleeping until they catch up (after an outage, or a restart
/// after a long stop). So a backlog is held a few rounds' worth at a time, not whole, and
/// the store's clock follows the windows read instead of jumping to now: a backlog's
/// messages go out when their hold window has passed, as they would have live, not all at
/// once by the age limit, marked incomplete. Ten rounds' worth, but at most a share of the
/// age limit that leaves room for the hold window.
fn catch_up_step_ns(sleep_seconds: u64, hold_rounds: u32, max_age_seconds: u64) -> i64 {
    let sleep = sleep_seconds.max(1);
    let by_age = max_age_seconds / (u64::from(hold_rounds) + 2);
    let secs = sleep.saturating_mul(10).min(by_age).max(sleep);
    i64::try_from(secs).unwrap_or(i64::MAX).saturating_mul(SEC)
}

enum Exporter {
    Otlp(Box<OtlpExporter>),
    Console,
    Json(JsonLinesWriter<Box<dyn Write + Send>>),
}

/// Run the daemon until `shutdown` resolves (SIGTERM/SIGINT) or, with `once`, for one round
/// (more while it is catching up with a backlog, until it has read up to now).
pub async fn run(
    cfg: Config,
    opts: DaemonOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DaemonError> {
    tokio::pin!(shutdown);
    let t = &cfg.tracing;
    let state_path = opts
        .state_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&t.state_dir));
    let state_dir = StateDir::open(&state_path)?;
    let mut state: PersistedState = match state_dir.load()? {
        Some(s) => {
            info!(state = %state_dir.path().display(), "resuming from saved state");
            s
        }
        None => PersistedState {
            version: STATE_VERSION,
            cursor_ns: None,
            round: 0,
            correlator: Correlator::new(engine::correlator_config(&cfg)),
            file_offsets: FileOffsets::default(),
            queue: ExportQueue::default(),
        },
    };
    // Limits come from the current config even when the state is older.
    state.correlator.set_config(engine::correlator_config(&cfg));

    let mut source = build_source(&cfg, &state)?;
    let mut exporter = build_exporter(&cfg, &opts.sink).await?;
    let model = ModelOptions::default();

    let metrics = Arc::new(Metrics::default());
    metrics.started_unix.store(now_ns() / SEC, Relaxed);
    // Unhealthy after three rounds without a successful read (and at least two minutes, so a
    // slow first window or a short outage is not a failure).
    let stale_after = (3 * t.sleep_seconds).max(120);
    metrics.stale_after_secs.store(stale_after as i64, Relaxed);
    let _server = if !t.metrics_address.is_empty() {
        let (addr, task) = metrics::serve(&t.metrics_address, metrics.clone())
            .await
            .map_err(|e| DaemonError::Metrics(t.metrics_address.clone(), e))?;
        info!(%addr, "metrics on http://{addr}/metrics");
        Some(task)
    } else {
        None
    };

    let go_back = t.go_back_seconds as i64 * SEC;
    let first_window = (t.sleep_seconds.max(t.go_back_seconds)) as i64 * SEC;
    let step = catch_up_step_ns(t.sleep_seconds, t.hold_rounds, t.max_trace_age_seconds);
    let mut behind = false;
    let mut read_outage = false;
    let mut export_outage = false;
    let mut backoff = Duration::from_secs(1);

    loop {
        // 1. Read. A failure leaves cursor and round untouched.
        let read = tokio::select! {
            r = source.read(state.cursor_ns, go_back, first_window, step) => r,
            () = &mut shutdown => {
                info!("shutting down (read interrupted; cursor not advanced)");
                state_dir.save(&state)?;
                return Ok(());
            }
        };
        match read {
            Ok(r) => {
                if read_outage {
                    info!("source is back; reading resumes from the held cursor");
                    read_outage = false;
                }
                metrics
                    .lines_read
                    .fetch_add(r.records.len() as u64 + r.skipped, Relaxed);
                metrics.lines_skipped.fetch_add(r.skipped, Relaxed);
                let before = state.correlator.stats().clone();
                if let Some(read_at) = r.new_cursor {
                    state.correlator.begin_read(read_at);
                }
                for rec in r.records {
                    state.correlator.ingest(&rec);
                }
                if let Some(read_at) = r.new_cursor {
                    // The next window starts `go_back` before this read: older reads'
                    // lines cannot come again.
                    state.correlator.forget_reads_before(read_at - go_back);
                }
                // Lines older than the window start can no longer come: let age limits and
                // grace periods run even when the logs are quiet. While catching up, the
                // window's end stands for now.
                let read_to = r.new_cursor.filter(|_| r.behind).unwrap_or_else(now_ns);
                state.correlator.observe_clock(read_to - go_back);
                if r.behind && !behind {
                    info!(
                        behind_seconds = (now_ns() - read_to) / SEC,
                        step_seconds = step / SEC,
                        "catching up with a backlog, a step per round without sleeping"
                    );
                } else if behind && !r.behind {
                    info!("caught up with the backlog");
                }
                behind = r.behind;
                let released = state.correlator.end_round();
                let after = state.correlator.stats().clone();
                metrics
                    .lines_unmatched
                    .fetch_add(after.unmatched - before.unmatched, Relaxed);
                metrics
                    .lines_duplicate
                    .fetch_add(after.duplicates - before.duplicates, Relaxed);
                metrics
                    .rejects
                    .fetch_add(after.rejects - before.rejects, Relaxed);
                metrics
                    .late_lines
                    .fetch_add(after.late_lines - before.late_lines, Relaxed);
                metrics.messages_incomplete.fetch_add(
                    after.messages_incomplete - before.messages_incomplete,
                    Relaxed,
                );
                for rej in state.correlator.take_rejects() {
                    debug!(host = %rej.host, reason = %rej.reject.reason, "rejected before queueing");
                }
                metrics
                    .messages_exported
                    .fetch_add(released.len() as u64, Relaxed);
                enqueue(
                    &mut state,
                    &released,
                    &model,
                    &mut exporter,
                    t.export_queue_max_spans as usize,
                    &metrics,
                );
                if let Source::File { follower, .. } = &source {
                    state.file_offsets = follower.offsets();
                }
                state.cursor_ns = r.new_cursor.or(state.cursor_ns);
                state.round += 1;
                metrics.rounds.fetch_add(1, Relaxed);
                metrics.last_round_unix.store(now_ns() / SEC, Relaxed);
            }
            Err(e) => {
                metrics.round_failures.fetch_add(1, Relaxed);
                if !read_outage {
                    error!(
                        "reading the logs failed; holding the cursor and retrying each round: {e}"
                    );
                    read_outage = true;
                } else {
                    debug!("read still failing: {e}");
                }
            }
        }
        if let Some(c) = state.cursor_ns {
            metrics.lag_seconds.store((now_ns() - c) / SEC, Relaxed);
        }
        metrics
            .pending_messages
            .store(state.correlator.pending_messages() as i64, Relaxed);

        // 2. Persist before exporting.
        state_dir.save(&state)?;

        // 3. Drain the export queue.
        let mut stopping = false;
        let drained = {
            let drain = drain_queue(&mut state.queue, &mut exporter, &metrics);
            tokio::pin!(drain);
            tokio::select! {
                r = &mut drain => r,
                () = &mut shutdown => {
                    // Let the request in flight finish (briefly): cut off after the collector
                    // took it, it would stay queued and be sent again after the restart.
                    stopping = true;
                    tokio::time::timeout(SHUTDOWN_EXPORT_GRACE, drain)
                        .await
                        .unwrap_or_else(|_| Err("stopped while exporting".into()))
                }
            }
        };
        if stopping {
            info!(
                queued_spans = state.queue.spans(),
                "shutting down (export stopped; queue kept)"
            );
            state_dir.save(&state)?;
            return Ok(());
        }
        match drained {
            Ok(sent) => {
                if export_outage {
                    info!("OTLP endpoint is back; queue drained");
                    export_outage = false;
                }
                backoff = Duration::from_secs(1);
                // The next round's save records the drained queue; saving here too would
                // write the whole state twice per round. A crash in between re-sends the
                // same bytes, which the collector takes as one span. A `--once` run has no
                // next round, so it saves now.
                if sent > 0 && opts.once {
                    state_dir.save(&state)?;
                }
            }
            Err(e) => {
                metrics.export_failures.fetch_add(1, Relaxed);
                if !export_outage {
                    warn!(
                        queued_spans = state.queue.spans(),
                        "export failed; spans stay queued (persisted) and are retried: {e}"
                    );
                    export_outage = true;
                }
                state_dir.save(&state)?;
            }
        }
        metrics
            .export_queue_spans
            .store(state.queue.spans() as i64, Relaxed);

        // Catching up: the next round follows at once (a `--once` run too, until it has
        // read up to now).
        let hurry = behind && !read_outage && !export_outage;
        if opts.once && !hurry {
            // One round for a script or a cron job: it must say when it did not do its job
            // (the state is saved either way; nothing is lost).
            if read_outage {
                return Err(DaemonError::Source(
                    "the round could not read the logs (see the error above); cursor held".into(),
                ));
            }
            if export_outage {
                return Err(DaemonError::Export(format!(
                    "the round could not export; {} spans stay queued in the state for the next run",
                    state.queue.spans()
                )));
            }
            return Ok(());
        }
        // 4. Sleep; while exports fail, retry sooner (with backoff) but keep the read cadence.
        let sleep = Duration::from_secs(t.sleep_seconds.max(1));
        let wait = if hurry {
            Duration::ZERO
        } else if export_outage {
            backoff.min(sleep)
        } else {
            sleep
        };
        backoff = (backoff * 2).min(Duration::from_secs(60));
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = &mut shutdown => {
                info!("shutting down");
                state_dir.save(&state)?;
                return Ok(());
            }
        }
    }
}

fn enqueue(
    state: &mut PersistedState,
    released: &[Message],
    model: &ModelOptions,
    exporter: &mut Exporter,
    max_spans: usize,
    metrics: &Metrics,
) {
    if let Exporter::Console = exporter {
        let mut out = std::io::stdout().lock();
        for msg in released {
            let _ = writeln!(out, "{}", render_message(msg));
        }
    }
    // Each request is queued in one exact buffer as soon as it is finished, and its span
    // buffers go back to the encoder: a round's requests are not all held with the room
    // their buffers grew to.
    let mut encoder = RequestEncoder::new(DEFAULT_SPANS_PER_REQUEST);
    let queued = encoder.encode_all(released, model, |encoder, req| {
        let held = req.compact_copy();
        encoder.recycle(req);
        push(state, held, max_spans, metrics);
        Ok::<_, std::convert::Infallible>(())
    });
    let Ok(()) = queued;
}

fn push(state: &mut PersistedState, req: EncodedRequest, max_spans: usize, metrics: &Metrics) {
    let evicted = state.queue.push(req, max_spans);
    if evicted > 0 {
        metrics.spans_evicted.fetch_add(evicted as u64, Relaxed);
        warn!(
            evicted,
            "export queue full (tracing.export_queue_max_spans = {max_spans}); oldest spans dropped"
        );
    }
}

async fn drain_queue(
    queue: &mut ExportQueue,
    exporter: &mut Exporter,
    metrics: &Metrics,
) -> Result<usize, String> {
    let mut sent = 0;
    while let Some(req) = queue.front() {
        let n = req.spans;
        match exporter {
            Exporter::Otlp(otlp) => {
                otlp.export_encoded(req.clone())
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Exporter::Console => {}
            Exporter::Json(w) => {
                let decoded: ExportTraceServiceRequest =
                    prost::Message::decode(req.to_bytes().as_slice())
                        .map_err(|e| format!("queued request: {e}"))?;
                w.write(&decoded).map_err(|e| e.to_string())?;
                w.flush().map_err(|e| e.to_string())?;
            }
        }
        queue.pop_front();
        metrics.spans_exported.fetch_add(n as u64, Relaxed);
        sent += 1;
    }
    Ok(sent)
}

fn build_source(cfg: &Config, state: &PersistedState) -> Result<Source, DaemonError> {
    match cfg.method {
        Method::Opensearch => {
            let o = &cfg.opensearch_config;
            let settings = OpenSearchSettings::from_config(cfg)
                .map_err(|e| DaemonError::Config(e.to_string()))?;
            let client =
                OpenSearchSource::new(settings).map_err(|e| DaemonError::Source(e.to_string()))?;
            let mapping = DocumentContext::new(o).map_err(DaemonError::Config)?;
            Ok(Source::OpenSearch {
                client: Box::new(client),
                mapping: Box::new(mapping),
                shapes: Shapes::default(),
            })
        }
        Method::File => {
            let f = &cfg.file_config;
            let zone = Zone::parse(&f.time_zone)
                .map_err(|e| DaemonError::Config(format!("file_config.time_zone: {e}")))?;
            // A first start follows from the end of existing files? No: mail logs are read
            // from the beginning the first time, so a new install traces what is there.
            let follower = FileFollower::new(
                f.paths.clone(),
                state.file_offsets.clone(),
                StartAt::Beginning,
            )
            .map_err(|e| DaemonError::Source(e.to_string()))?;
            Ok(Source::File {
                follower,
                zone,
                default_host: (!f.default_host.is_empty()).then(|| f.default_host.clone()),
                // A start reads what was written while stopped: judged as a backlog.
                catching_up: true,
            })
        }
        Method::Ssh => Err(DaemonError::Config(
            "method: ssh serves the one-shot commands (run, graph); the tracing daemon reads \
             opensearch or file — set method: opensearch or method: file"
                .into(),
        )),
    }
}

async fn build_exporter(cfg: &Config, sink: &Sink) -> Result<Exporter, DaemonError> {
    match sink {
        Sink::Console => Ok(Exporter::Console),
        Sink::Json(path) => {
            let w: Box<dyn Write + Send> = if path.as_os_str() == "-" {
                Box::new(std::io::stdout())
            } else {
                Box::new(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                        .map_err(|e| {
                            DaemonError::Export(format!("cannot open {}: {e}", path.display()))
                        })?,
                )
            };
            Ok(Exporter::Json(JsonLinesWriter::new(w)))
        }
        Sink::Otlp(endpoint) => {
            let otlp = OtlpConfig {
                // The daemon retries across rounds itself; keep one export call short.
                max_retries: 2,
                ..engine::otlp_config(cfg, endpoint)
            };
            let e = OtlpExporter::connect(otlp)
                .await
                .map_err(|e| DaemonError::Export(e.to_string()))?;
            Ok(Exporter::Otlp(Box::new(e)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_catch_up_step_is_ten_rounds_at_most_and_leaves_the_age_limit_room() {
        // Defaults: 60 s rounds, hold 2, 30 min age limit: 1800 / 4 = 450 s, under 600.
        assert_eq!(catch_up_step_ns(60, 2, 1800), 450 * SEC);
        // A generous age limit: ten rounds.
        assert_eq!(catch_up_step_ns(60, 2, 86_400), 600 * SEC);
        // An age limit shorter than a round: still a round's worth, or it would never end.
        assert_eq!(catch_up_step_ns(60, 2, 30), 60 * SEC);
        assert_eq!(catch_up_step_ns(0, 0, 0), SEC);
        // Absurd settings saturate instead of overflowing into a negative step.
        assert_eq!(catch_up_step_ns(u64::MAX, 0, u64::MAX), i64::MAX);
    }
}
