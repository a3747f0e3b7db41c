//! The export queue and the record of what was exported.
//!
//! `ExportQueue`: requests waiting for the OTLP endpoint, persisted with the state so an
//! outage or a restart loses nothing. Bounded by spans: past the bound the oldest requests
//! are evicted, counted and logged (the only way spans are ever dropped).
//!
//! `ExportedSpans`: span IDs already handed to the queue per message, so that when late
//! lines re-release a message only the spans that did not exist yet are sent (Jaeger never
//! merges two versions of one span ID). Kept as long as the correlator remembers released
//! hops.

use std::collections::{HashMap, HashSet, VecDeque};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use serde::{Deserialize, Serialize};

use crate::export::otlp::count_spans;
use crate::trace::model::BuiltSpan;

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

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExportedSpans {
    /// message ID → (round of last export, span IDs as u64).
    by_message: HashMap<String, (u64, HashSet<u64>)>,
}

impl ExportedSpans {
    /// Keep only spans not exported before for this message, and remember them.
    pub fn keep_new(
        &mut self,
        message_id: &str,
        spans: Vec<BuiltSpan>,
        round: u64,
    ) -> Vec<BuiltSpan> {
        let entry = self
            .by_message
            .entry(message_id.to_string())
            .or_insert_with(|| (round, HashSet::new()));
        entry.0 = round;
        spans
            .into_iter()
            .filter(|s| {
                let id = u64::from_be_bytes(s.span.span_id.as_slice().try_into().unwrap_or([0; 8]));
                entry.1.insert(id)
            })
            .collect()
    }

    /// Forget messages last exported more than `keep_rounds` ago.
    pub fn expire(&mut self, round: u64, keep_rounds: u64) {
        self.by_message
            .retain(|_, (r, _)| r.saturating_add(keep_rounds) >= round);
    }

    pub fn len(&self) -> usize {
        self.by_message.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_message.is_empty()
    }
}
