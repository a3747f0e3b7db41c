//! The engine shared by every command: records in, correlated messages out, and those
//! messages turned into OTLP export requests; plus the settings every command derives the
//! same way from the config.

use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

use crate::config::Config;
use crate::correlate::{Correlator, CorrelatorConfig, Message};
use crate::export::otlp::OtlpConfig;
use crate::trace::model::{build_spans, to_request, BuiltSpan, ModelOptions};

const SEC: i64 = 1_000_000_000;

/// Requests carry whole messages and about this many spans at most (a gRPC message has a
/// 4 MiB default limit at most receivers; one span with its log-line events is ~1–2 KiB).
pub const DEFAULT_SPANS_PER_REQUEST: usize = 2000;

pub struct Engine {
    pub correlator: Correlator,
    pub model: ModelOptions,
}

impl Engine {
    pub fn new(correlate: CorrelatorConfig, model: ModelOptions) -> Self {
        Engine {
            correlator: Correlator::new(correlate),
            model,
        }
    }
}

/// Cuts a time-ordered stream of records into rounds of log time, the way the daemon's
/// polling cuts the live logs, so a whole-file replay releases each message once it has been
/// quiet for the hold window instead of holding the whole file: memory follows the window,
/// not the file's size.
#[derive(Debug, Clone)]
pub struct LogRounds {
    round_ns: i64,
    /// End of the open round; set by the first record.
    boundary: Option<i64>,
    /// Empty rounds closed in a row at most: after this many the store is as empty as it
    /// gets (everything quiet released, `recent` forgotten), so a gap of months in the log
    /// costs no more than one of a few rounds.
    max_empty_rounds: u64,
}

impl LogRounds {
    pub fn new(round_ns: i64, cfg: &CorrelatorConfig) -> Self {
        LogRounds {
            round_ns: round_ns.max(1),
            boundary: None,
            max_empty_rounds: u64::from(cfg.hold_rounds) + cfg.recent_rounds + 2,
        }
    }

    /// Before ingesting a record stamped `ts`: closes every round it lies beyond (clock at
    /// the round's end, then `end_round`) and hands each round's released messages to
    /// `release` (with the store, e.g. to take its rejects). Records older than the open
    /// round simply join it.
    pub fn advance<E>(
        &mut self,
        ts: i64,
        correlator: &mut Correlator,
        mut release: impl FnMut(&mut Correlator, Vec<Message>) -> Result<(), E>,
    ) -> Result<(), E> {
        let Some(boundary) = self.boundary else {
            self.boundary = Some(ts.saturating_add(self.round_ns));
            return Ok(());
        };
        if ts < boundary {
            return Ok(());
        }
        let crossed = ((ts - boundary) / self.round_ns).saturating_add(1) as u64;
        for k in 0..crossed.min(self.max_empty_rounds) {
            correlator.observe_clock(boundary.saturating_add(k as i64 * self.round_ns));
            let released = correlator.end_round();
            release(correlator, released)?;
        }
        self.boundary =
            Some(boundary.saturating_add((crossed as i64).saturating_mul(self.round_ns)));
        Ok(())
    }
}

/// Batch messages into export requests: each request holds whole messages (a trace is never
/// split across requests unless one message alone exceeds the limit).
pub fn requests_for(
    messages: &[Message],
    model: &ModelOptions,
    max_spans: usize,
) -> Vec<ExportTraceServiceRequest> {
    batch_requests(messages.iter().map(|m| build_spans(m, model)), max_spans)
}

/// Pack the spans of each message (one `Vec` per message) into requests of about
/// `max_spans`, never splitting one message's spans between two requests.
pub fn batch_requests(
    per_message: impl IntoIterator<Item = Vec<BuiltSpan>>,
    max_spans: usize,
) -> Vec<ExportTraceServiceRequest> {
    let mut out = Vec::new();
    let mut batch: Vec<BuiltSpan> = Vec::new();
    for spans in per_message {
        if !batch.is_empty() && batch.len() + spans.len() > max_spans {
            out.push(to_request(std::mem::take(&mut batch)));
        }
        batch.extend(spans);
    }
    if !batch.is_empty() {
        out.push(to_request(batch));
    }
    out
}

/// The correlator's limits from `tracing:`.
pub fn correlator_config(cfg: &Config) -> CorrelatorConfig {
    let t = &cfg.tracing;
    CorrelatorConfig {
        hold_rounds: t.hold_rounds,
        max_age_ns: t.max_trace_age_seconds as i64 * SEC,
        max_pending_messages: t.max_pending_messages as usize,
        max_lines_per_hop: t.max_lines_per_hop as usize,
        next_hop_grace_ns: t.next_hop_grace_seconds as i64 * SEC,
        trust_message_id_hint: !cfg.opensearch_config.mapping.message_id.is_empty(),
        ..CorrelatorConfig::default()
    }
}

/// The OTLP exporter's settings from `tracing:` for `endpoint`.
pub fn otlp_config(cfg: &Config, endpoint: &str) -> OtlpConfig {
    let t = &cfg.tracing;
    OtlpConfig {
        endpoint: endpoint.to_string(),
        timeout: Duration::from_secs(t.otel_timeout_seconds.max(1)),
        headers: t
            .otel_headers
            .iter()
            .map(|(k, v)| (k.clone(), v.expose().to_string()))
            .collect(),
        gzip: t.otel_gzip,
        ..OtlpConfig::default()
    }
}

/// Wall-clock time, UTC nanoseconds.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}
