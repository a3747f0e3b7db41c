//! The export queue: requests waiting for the OTLP endpoint, persisted with the state so an
//! outage or a restart loses nothing. Bounded by spans: past the bound the oldest requests
//! are evicted, counted and logged (the only way spans are ever dropped).
//!
//! Requests are held encoded (`trace::request`): encoded once when a round queues them, saved
//! with every state as base64 of those bytes, and sent as they are.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::trace::request::EncodedRequest;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExportQueue {
    #[serde(with = "as_protobuf")]
    batches: VecDeque<EncodedRequest>,
    spans: usize,
    /// Spans dropped because the queue was full, since the start of this state.
    pub evicted_spans: u64,
}

impl ExportQueue {
    /// Queue a request; returns how many spans had to be evicted to stay within `max_spans`.
    pub fn push(&mut self, req: EncodedRequest, max_spans: usize) -> usize {
        self.spans += req.spans;
        // Held until the endpoint takes it, maybe through an outage: without the room its
        // buffers grew to (one copy, at the daemon's pace).
        self.batches.push_back(req.compact());
        let mut evicted = 0;
        while self.spans > max_spans && self.batches.len() > 1 {
            if let Some(old) = self.batches.pop_front() {
                self.spans -= old.spans;
                evicted += old.spans;
            }
        }
        self.evicted_spans += evicted as u64;
        evicted
    }

    pub fn front(&self) -> Option<&EncodedRequest> {
        self.batches.front()
    }

    /// Drop the front request after the endpoint accepted it.
    pub fn pop_front(&mut self) -> Option<EncodedRequest> {
        let r = self.batches.pop_front()?;
        self.spans -= r.spans;
        Some(r)
    }

    pub fn spans(&self) -> usize {
        self.spans
    }

    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }
}

/// Requests persist as base64 of their protobuf bytes: a third of the JSON form's size and
/// cheap to write, and the queue holds a whole round's spans at every save. A state written
/// with requests as JSON objects still loads.
mod as_protobuf {
    use std::collections::VecDeque;

    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message as _;
    use serde::de::Error as _;
    use serde::ser::SerializeSeq as _;
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::export::otlp::count_spans;
    use crate::trace::request::EncodedRequest;

    pub fn serialize<S: Serializer>(q: &VecDeque<EncodedRequest>, s: S) -> Result<S::Ok, S::Error> {
        // One request at a time: the queue can hold a whole round's spans.
        let mut seq = s.serialize_seq(Some(q.len()))?;
        for r in q {
            seq.serialize_element(&STANDARD.encode(r.to_bytes()))?;
        }
        seq.end()
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Protobuf(String),
        Json(Box<ExportTraceServiceRequest>),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<VecDeque<EncodedRequest>, D::Error> {
        Vec::<Stored>::deserialize(d)?
            .into_iter()
            .map(|s| {
                // Decoded once at load, for the span count the queue's bound needs.
                let req = match s {
                    Stored::Json(r) => *r,
                    Stored::Protobuf(b64) => {
                        let bytes = STANDARD
                            .decode(b64)
                            .map_err(|e| D::Error::custom(format!("queued request: {e}")))?;
                        ExportTraceServiceRequest::decode(bytes.as_slice())
                            .map_err(|e| D::Error::custom(format!("queued request: {e}")))?
                    }
                };
                Ok(EncodedRequest::from_bytes(
                    req.encode_to_vec(),
                    count_spans(&req),
                ))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

    use crate::export::otlp::count_spans;
    use crate::trace::model::{build_spans, to_request, ModelOptions};

    fn encoded(req: &ExportTraceServiceRequest) -> EncodedRequest {
        EncodedRequest::from_bytes(prost::Message::encode_to_vec(req), count_spans(req))
    }

    fn request() -> ExportTraceServiceRequest {
        to_request(build_spans(&request_message(), &ModelOptions::default()))
    }

    fn request_message() -> crate::correlate::Message {
        crate::correlate::Message {
            message_id: "q@x".into(),
            hops: vec![crate::correlate::Hop::new(
                "mx",
                "Q1",
                crate::parse::Mta::Postfix,
                1,
            )],
            incomplete: false,
            notice_of: None,
        }
    }

    #[test]
    fn persists_as_protobuf_and_reads_the_json_form_too() {
        let mut q = ExportQueue::default();
        q.push(encoded(&request()), 100);
        let json = serde_json::to_string(&q).unwrap();
        assert!(!json.contains("resourceSpans"), "{json}");
        let back: ExportQueue = serde_json::from_str(&json).unwrap();
        assert_eq!(back.front(), Some(&encoded(&request())));
        assert_eq!(back.spans(), q.spans());

        let old = format!(
            r#"{{"batches":[{}],"spans":{},"evicted_spans":0}}"#,
            serde_json::to_string(&request()).unwrap(),
            q.spans()
        );
        let back: ExportQueue = serde_json::from_str(&old).unwrap();
        assert_eq!(back.front(), Some(&encoded(&request())));
    }

    #[test]
    fn holds_requests_without_their_buffers_spare_room() {
        use crate::trace::request::RequestEncoder;
        let msg = request_message();
        let mut enc = RequestEncoder::new(1);
        let mut out = Vec::new();
        // The second request's buffers were made as large as the first's, and grew.
        for _ in 0..40 {
            enc.push(&msg, &ModelOptions::default(), &mut out);
        }
        enc.finish_into(&mut out);
        let grown = out.into_iter().find(|r| r.allocated() > r.len());
        // (Taken out, not cloned: a clone has no spare room.)
        let req = grown.expect("a finished request with spare room");
        let bytes = req.to_bytes();
        let mut q = ExportQueue::default();
        q.push(req, 1_000);
        let held = q.front().unwrap();
        assert_eq!(held.to_bytes(), bytes);
        assert_eq!(held.allocated(), held.len());
    }
}
