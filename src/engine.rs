//! The engine shared by every command: records in, correlated messages out, and those
//! messages turned into OTLP export requests.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

use crate::correlate::{Correlator, CorrelatorConfig, Message};
use crate::record::LogRecord;
use crate::trace::model::{build_spans, to_request, BuiltSpan, ModelOptions};

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

    pub fn ingest(&mut self, rec: &LogRecord) {
        self.correlator.ingest(rec);
    }
}

/// Batch messages into export requests: each request holds whole messages (a trace is never
/// split across requests unless one message alone exceeds the limit).
pub fn requests_for(
    messages: &[Message],
    model: &ModelOptions,
    max_spans: usize,
) -> Vec<ExportTraceServiceRequest> {
    let mut out = Vec::new();
    let mut batch: Vec<BuiltSpan> = Vec::new();
    for msg in messages {
        let spans = build_spans(msg, model);
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

/// Count spans in a request (for summaries and metrics).
pub fn span_count(req: &ExportTraceServiceRequest) -> usize {
    req.resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum()
}
