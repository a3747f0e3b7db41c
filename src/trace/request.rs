//! Export requests as protobuf bytes, encoded straight from correlated messages: the same
//! bytes as `prost::Message::encode` of what `engine::requests_for` builds (same batching,
//! same grouping by service), at a fraction of the cost (no prost structs to build, copy
//! and drop).
//!
//! Each service (`mailtrace` for roots, else the hop's host) collects its encoded spans in
//! its own buffer while messages are added; a finished request wraps those buffers in their
//! `ResourceSpans`/`ScopeSpans` headers, whose lengths are then known. The buffers become
//! parts of the request as they are, not copied together: the transport copies the parts
//! into its frame anyway, and a request is as large as its spans.

use crate::correlate::{FastMap, Message};
use crate::trace::model::{visit_spans, ModelOptions, ROOT_SERVICE, SCOPE_NAME};
use crate::trace::view::Attr;
use crate::trace::wire::{key_value_len, len_field_len, put_key_value, put_len_prefix, put_span};

/// One `ExportTraceServiceRequest`, encoded: its bytes are its parts one after another.
#[derive(Debug, Clone, Default)]
pub struct EncodedRequest {
    parts: Vec<Vec<u8>>,
    /// Spans in it.
    pub spans: usize,
}

impl EncodedRequest {
    pub fn from_bytes(bytes: Vec<u8>, spans: usize) -> Self {
        EncodedRequest {
            parts: vec![bytes],
            spans,
        }
    }

    /// The request's bytes, in order.
    pub fn parts(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.parts.iter().map(Vec::as_slice)
    }

    pub fn len(&self) -> usize {
        self.parts.iter().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.parts.iter().all(Vec::is_empty)
    }

    /// The request's bytes in one buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.parts.concat()
    }

    /// Bytes allocated for it: a finished request's span buffers keep the room they grew
    /// to, up to twice their bytes.
    pub fn allocated(&self) -> usize {
        self.parts.iter().map(Vec::capacity).sum()
    }

    /// The same request in one buffer of its exact size, for one that is held a while.
    pub fn compact(self) -> Self {
        match self.parts.as_slice() {
            [one] if one.capacity() == one.len() => self,
            _ => self.compact_copy(),
        }
    }

    /// `compact`, leaving this one to be recycled.
    pub fn compact_copy(&self) -> Self {
        Self::from_bytes(self.to_bytes(), self.spans)
    }
}

/// Equal when their bytes are, however they are split.
impl PartialEq for EncodedRequest {
    fn eq(&self, other: &Self) -> bool {
        self.spans == other.spans && self.to_bytes() == other.to_bytes()
    }
}

impl Eq for EncodedRequest {}

/// Spans of one service in the open request.
#[derive(Debug)]
struct ServiceSpans {
    name: String,
    /// Encoded `ScopeSpans.spans` fields.
    spans: Vec<u8>,
}

// Field numbers of the enclosing messages.
const REQUEST_RESOURCE_SPANS: u32 = 1;
const RESOURCE_SPANS_RESOURCE: u32 = 1;
const RESOURCE_SPANS_SCOPE_SPANS: u32 = 2;
const RESOURCE_ATTRIBUTES: u32 = 1;
const SCOPE_SPANS_SCOPE: u32 = 1;
const SCOPE_SPANS_SPANS: u32 = 2;
const SCOPE_NAME_FIELD: u32 = 1;
const SCOPE_VERSION_FIELD: u32 = 2;

/// Services kept between requests at most; beyond this the (empty) buffers are dropped, so
/// a stream of ever new host names does not hold memory.
const MAX_KEPT_SERVICES: usize = 1024;

/// Packs messages into encoded requests of about `max_spans` spans, never splitting one
/// message between two requests (as `engine::batch_requests` does).
#[derive(Debug)]
pub struct RequestEncoder {
    max_spans: usize,
    /// `[0]` is `ROOT_SERVICE`.
    services: Vec<ServiceSpans>,
    index: FastMap<String, usize>,
    /// Spans in the open request.
    spans: usize,
    /// Services the message being added wrote to, and their length before it.
    touched: Vec<(usize, usize)>,
    root: Vec<u8>,
    /// The encoded `ScopeSpans.scope` field, the same for every service.
    scope_field: Vec<u8>,
    /// Span buffers of finished requests handed back (`recycle`), to write the next
    /// request's spans into without fresh pages from the allocator.
    spare: Vec<Vec<u8>>,
}

impl RequestEncoder {
    pub fn new(max_spans: usize) -> Self {
        let version = env!("CARGO_PKG_VERSION");
        let body = len_field_len(SCOPE_NAME_FIELD, SCOPE_NAME.len())
            + len_field_len(SCOPE_VERSION_FIELD, version.len());
        let mut scope_field = Vec::new();
        put_len_prefix(&mut scope_field, SCOPE_SPANS_SCOPE, body);
        for (tag, text) in [
            (SCOPE_NAME_FIELD, SCOPE_NAME),
            (SCOPE_VERSION_FIELD, version),
        ] {
            // proto3 leaves empty strings out; neither is empty.
            put_len_prefix(&mut scope_field, tag, text.len());
            scope_field.extend_from_slice(text.as_bytes());
        }
        let mut enc = RequestEncoder {
            max_spans,
            services: Vec::new(),
            index: FastMap::default(),
            spans: 0,
            touched: Vec::new(),
            root: Vec::new(),
            scope_field,
            spare: Vec::new(),
        };
        enc.reset_services();
        enc
    }

    fn reset_services(&mut self) {
        self.services.clear();
        self.index.clear();
        self.services.push(ServiceSpans {
            name: ROOT_SERVICE.to_string(),
            spans: Vec::new(),
        });
        self.index.insert(ROOT_SERVICE.to_string(), 0);
    }

    /// Add the spans of one message; a request that would grow beyond `max_spans` with them
    /// is finished first and pushed to `out`.
    pub fn push(&mut self, msg: &Message, opts: &ModelOptions, out: &mut Vec<EncodedRequest>) {
        let Self {
            services,
            index,
            touched,
            root,
            ..
        } = self;
        touched.clear();
        let mut added = 0usize;
        // Consecutive spans mostly share a host: look it up once.
        let mut last: Option<(&str, usize)> = None;
        visit_spans(msg, opts, |v| {
            added += 1;
            let i = match last {
                // The same host's spans name it with the same `&str`: no compare of text.
                Some((name, i)) if std::ptr::eq(name, v.service) || name == v.service => i,
                _ => {
                    let i = match index.get(v.service) {
                        Some(&i) => i,
                        None => {
                            services.push(ServiceSpans {
                                name: v.service.to_string(),
                                spans: Vec::new(),
                            });
                            index.insert(v.service.to_string(), services.len() - 1);
                            services.len() - 1
                        }
                    };
                    last = Some((v.service, i));
                    i
                }
            };
            let buf = &mut services[i].spans;
            let mark = match touched.iter().find(|(j, _)| *j == i) {
                Some(&(_, mark)) => mark,
                None => {
                    touched.push((i, buf.len()));
                    buf.len()
                }
            };
            if v.parent_span_id.is_none() && mark < buf.len() {
                // The root comes last but goes first among this message's spans of its
                // service (a host may be called `mailtrace` too).
                root.clear();
                put_span(root, SCOPE_SPANS_SPANS, v);
                buf.splice(mark..mark, root.iter().copied());
            } else {
                put_span(buf, SCOPE_SPANS_SPANS, v);
            }
        });
        if self.spans > 0 && self.spans + added > self.max_spans {
            // The open request is full: it leaves without this message.
            let held: Vec<(usize, Vec<u8>)> = self
                .touched
                .iter()
                .map(|&(i, mark)| (i, self.services[i].spans.split_off(mark)))
                .collect();
            self.finish_into(out);
            for (i, bytes) in held {
                self.services[i].spans.extend_from_slice(&bytes);
            }
        }
        self.spans += added;
    }

    /// Finish the open request, if it holds any span.
    pub fn finish_into(&mut self, out: &mut Vec<EncodedRequest>) {
        if self.spans == 0 {
            return;
        }
        // `mailtrace` first, then hosts in byte order (as `model::to_request`).
        let mut order: Vec<usize> = (1..self.services.len())
            .filter(|&i| !self.services[i].spans.is_empty())
            .collect();
        order.sort_by(|&a, &b| self.services[a].name.cmp(&self.services[b].name));
        if !self.services[0].spans.is_empty() {
            order.insert(0, 0);
        }
        let sizes: Vec<(usize, usize, usize)> = order
            .iter()
            .map(|&i| {
                let s = &self.services[i];
                let resource =
                    len_field_len(RESOURCE_ATTRIBUTES, key_value_len(&service_attr(&s.name)));
                let scope_spans = self.scope_field.len() + s.spans.len();
                let body = len_field_len(RESOURCE_SPANS_RESOURCE, resource)
                    + len_field_len(RESOURCE_SPANS_SCOPE_SPANS, scope_spans);
                (resource, scope_spans, body)
            })
            .collect();
        let mut parts = Vec::with_capacity(2 * order.len());
        for (&i, &(resource, scope_spans, body)) in order.iter().zip(&sizes) {
            let s = &mut self.services[i];
            let mut head =
                Vec::with_capacity(len_field_len(REQUEST_RESOURCE_SPANS, body) - s.spans.len());
            put_len_prefix(&mut head, REQUEST_RESOURCE_SPANS, body);
            put_len_prefix(&mut head, RESOURCE_SPANS_RESOURCE, resource);
            put_key_value(&mut head, RESOURCE_ATTRIBUTES, &service_attr(&s.name));
            put_len_prefix(&mut head, RESOURCE_SPANS_SCOPE_SPANS, scope_spans);
            head.extend_from_slice(&self.scope_field);
            debug_assert_eq!(
                head.len() + s.spans.len(),
                len_field_len(REQUEST_RESOURCE_SPANS, body)
            );
            // The next request's spans go into a recycled buffer, else one as large.
            let next = self
                .spare
                .pop()
                .unwrap_or_else(|| Vec::with_capacity(s.spans.len()));
            parts.push(head);
            parts.push(std::mem::replace(&mut s.spans, next));
        }
        out.push(EncodedRequest {
            parts,
            spans: self.spans,
        });
        self.spans = 0;
        if self.services.len() > MAX_KEPT_SERVICES {
            self.reset_services();
        }
    }
}

impl RequestEncoder {
    /// Encode `messages` and finish the last request; each request goes to `f` as soon as
    /// it is complete, with the encoder to `recycle` it into.
    pub fn encode_all<E>(
        &mut self,
        messages: &[Message],
        opts: &ModelOptions,
        mut f: impl FnMut(&mut Self, EncodedRequest) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut done = Vec::new();
        for m in messages.iter().map(Some).chain([None]) {
            match m {
                Some(m) => self.push(m, opts, &mut done),
                None => self.finish_into(&mut done),
            }
            for req in done.drain(..) {
                f(self, req)?;
            }
        }
        Ok(())
    }

    /// Hand back the buffers of a request that has been sent or counted, for reuse.
    pub fn recycle(&mut self, req: EncodedRequest) {
        // Its span buffers (every second part; headers are small), as many as services.
        for mut buf in req.parts.into_iter().skip(1).step_by(2) {
            if self.spare.len() >= self.services.len() {
                break;
            }
            buf.clear();
            self.spare.push(buf);
        }
    }
}

fn service_attr(name: &str) -> Attr<'_> {
    Attr::str("service.name", name)
}

/// All spans of `messages` as encoded requests of about `max_spans` spans: the bytes of
/// `engine::requests_for(messages, model, max_spans)`, encoded.
pub fn encode_requests(
    messages: &[Message],
    model: &ModelOptions,
    max_spans: usize,
) -> Vec<EncodedRequest> {
    let mut enc = RequestEncoder::new(max_spans);
    let mut out = Vec::new();
    for m in messages {
        enc.push(m, model, &mut out);
    }
    enc.finish_into(&mut out);
    out
}
