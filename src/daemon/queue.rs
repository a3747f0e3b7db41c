//! The export queue: requests waiting for the OTLP endpoint, persisted with the state so an
//! outage or a restart loses nothing. Bounded by spans: past the bound the oldest requests
//! are evicted, counted and logged (the only way spans are ever dropped).

use std::collections::VecDeque;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use serde::{Deserialize, Serialize};

use crate::export::otlp::count_spans;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExportQueue {
    batches: VecDeque<ExportTraceServiceRequest>,
    spans: usize,
    /// Spans dropped because the queue was full, since the start of this state.
    pub evicted_spans: u64,
}

impl ExportQueue {
    /// Queue a request; returns how many spans had to be evicted to stay within `max_spans`.
    pub fn push(&mut self, req: ExportTraceServiceRequest, max_spans: usize) -> usize {
        self.spans += count_spans(&req);
        self.batches.push_back(req);
        let mut evicted = 0;
        while self.spans > max_spans && self.batches.len() > 1 {
            if let Some(old) = self.batches.pop_front() {
                let n = count_spans(&old);
                self.spans -= n;
                evicted += n;
            }
        }
        self.evicted_spans += evicted as u64;
        evicted
    }

    pub fn front(&self) -> Option<&ExportTraceServiceRequest> {
        self.batches.front()
    }

    /// Drop the front request after the endpoint accepted it.
    pub fn pop_front(&mut self) -> Option<ExportTraceServiceRequest> {
        let r = self.batches.pop_front()?;
        self.spans -= count_spans(&r);
        Some(r)
    }

    pub fn spans(&self) -> usize {
        self.spans
    }

    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }
}
