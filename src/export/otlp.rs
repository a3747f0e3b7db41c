//! OTLP/gRPC exporter: sends `ExportTraceServiceRequest`s to a collector or Jaeger
//! (`TraceService/Export`), gzip-compressed, with a per-request timeout, metadata headers
//! (auth) and retries with exponential backoff on the codes the OTLP spec calls retryable.
//!
//! State: one lazily connected tonic `Channel` (cheap to clone, reconnects by itself), so an
//! unreachable collector is an export error the daemon can retry later, not a startup crash.
//! Header values are secrets (API keys): they never appear in errors or logs.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use prost::bytes::BufMut;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::codegen::GrpcMethod;
use tonic::metadata::{AsciiMetadataValue, MetadataKey, MetadataMap};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::Code;

pub use crate::trace::request::EncodedRequest;

/// Default size limit of one request, in spans (`split_request`): well under the 4 MiB gRPC
/// message limit of collectors even with 100 log-line events per hop span.
pub const DEFAULT_MAX_SPANS_PER_REQUEST: usize = 2000;

/// Where and how to send OTLP.
#[derive(Clone, PartialEq)]
pub struct OtlpConfig {
    /// `http://host:4317`, or `https://…` for TLS (system roots plus `ca_file`).
    pub endpoint: String,
    /// Extra PEM CA certificate(s) to trust for `https://` (a private CA).
    pub ca_file: Option<PathBuf>,
    /// Per attempt, covering connect and the call.
    pub timeout: Duration,
    /// gRPC metadata sent with every request (e.g. `authorization`). Values are secret.
    pub headers: Vec<(String, String)>,
    pub gzip: bool,
    /// Retries after the first attempt, for retryable failures only.
    pub max_retries: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

// Hand-written so header values (credentials) never reach a log line through `{:?}`.
impl std::fmt::Debug for OtlpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("OtlpConfig")
            .field("endpoint", &redact_userinfo(&self.endpoint))
            .field("ca_file", &self.ca_file)
            .field("timeout", &self.timeout)
            .field("header_names", &header_names)
            .field("gzip", &self.gzip)
            .field("max_retries", &self.max_retries)
            .field("initial_backoff", &self.initial_backoff)
            .field("max_backoff", &self.max_backoff)
            .finish()
    }
}

impl Default for OtlpConfig {
    fn default() -> Self {
        Self {
            endpoint: "http://localhost:4317".to_string(),
            ca_file: None,
            timeout: Duration::from_secs(10),
            headers: Vec::new(),
            gzip: true,
            max_retries: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// Why an export failed. Display is one line naming the endpoint, never a header value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    #[error("invalid OTLP endpoint {endpoint:?}: {reason}")]
    InvalidEndpoint { endpoint: String, reason: String },
    #[error("invalid OTLP header {name:?} for {endpoint}: {reason}")]
    InvalidHeader {
        endpoint: String,
        name: String,
        reason: String,
    },
    /// The collector refused the request with a non-retryable code.
    #[error("OTLP export to {endpoint} rejected: {code:?}: {message}")]
    Rejected {
        endpoint: String,
        code: Code,
        message: String,
    },
    /// A retryable failure (collector down, overloaded, timeouts) outlasted the retries.
    #[error("OTLP export to {endpoint} failed after {attempts} attempt(s): {code:?}: {message}")]
    Unavailable {
        endpoint: String,
        attempts: u32,
        code: Code,
        message: String,
    },
}

impl ExportError {
    /// Worth trying again later with the same data (the daemon keeps it queued).
    pub fn is_retryable(&self) -> bool {
        matches!(self, ExportError::Unavailable { .. })
    }
}

/// What the collector said about an accepted request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExportOutcome {
    /// `partial_success.rejected_spans`: spans the collector dropped.
    pub rejected_spans: i64,
    /// `partial_success.error_message`, empty when none.
    pub error_message: String,
    /// Calls made, 1 when the first one succeeded.
    pub attempts: u32,
}

/// OTLP/gRPC trace exporter. Cheap to clone.
#[derive(Clone)]
pub struct OtlpExporter {
    cfg: OtlpConfig,
    /// The endpoint as shown in errors: without any `user:password@`.
    display_endpoint: String,
    headers: MetadataMap,
    channel: Channel,
}

impl std::fmt::Debug for OtlpExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpExporter")
            .field("config", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl OtlpExporter {
    /// Validate the config and set up a lazy channel: nothing is dialled until the first
    /// export, so a collector that is down now is not a startup error.
    pub async fn connect(cfg: OtlpConfig) -> Result<Self, ExportError> {
        let display_endpoint = redact_userinfo(&cfg.endpoint);
        let invalid = |reason: String| ExportError::InvalidEndpoint {
            endpoint: display_endpoint.clone(),
            reason,
        };
        let endpoint =
            Endpoint::from_shared(cfg.endpoint.clone()).map_err(|e| invalid(e.to_string()))?;
        let endpoint = match endpoint.uri().scheme_str() {
            Some("http") => endpoint,
            Some("https") => {
                let mut tls = ClientTlsConfig::new().with_native_roots();
                if let Some(path) = &cfg.ca_file {
                    let pem = std::fs::read(path).map_err(|e| {
                        invalid(format!("cannot read CA file {}: {e}", path.display()))
                    })?;
                    tls = tls.ca_certificate(Certificate::from_pem(pem));
                }
                endpoint
                    .tls_config(tls)
                    .map_err(|e| invalid(format!("TLS setup: {e}")))?
            }
            _ => {
                return Err(invalid(
                    "expected http://host:port or https://host:port".into(),
                ))
            }
        };
        if endpoint.uri().host().is_none() {
            return Err(invalid("missing host".to_string()));
        }
        let endpoint = endpoint
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout)
            .tcp_nodelay(true);
        let mut headers = MetadataMap::new();
        for (name, value) in &cfg.headers {
            let bad = |reason: &str| ExportError::InvalidHeader {
                endpoint: display_endpoint.clone(),
                name: name.clone(),
                reason: reason.to_string(),
            };
            let key = MetadataKey::from_bytes(name.to_ascii_lowercase().as_bytes())
                .map_err(|_| bad("not a valid gRPC metadata name"))?;
            // The value is parsed but never echoed: it is usually a credential.
            let val = AsciiMetadataValue::try_from(value.as_str())
                .map_err(|_| bad("value is not printable ASCII"))?;
            headers.append(key, val);
        }
        Ok(Self {
            channel: endpoint.connect_lazy(),
            cfg,
            display_endpoint,
            headers,
        })
    }

    /// The endpoint, safe to log.
    pub fn endpoint(&self) -> &str {
        &self.display_endpoint
    }

    /// Send one request, retrying retryable failures with exponential backoff and jitter.
    pub async fn export(
        &self,
        req: ExportTraceServiceRequest,
    ) -> Result<ExportOutcome, ExportError> {
        let spans = count_spans(&req);
        let bytes = prost::Message::encode_to_vec(&req);
        self.export_encoded(EncodedRequest::from_bytes(bytes, spans))
            .await
    }

    /// Send one request already encoded (`trace::request`), as `export` would send it.
    pub async fn export_encoded(&self, req: EncodedRequest) -> Result<ExportOutcome, ExportError> {
        // Shared by the attempts; each copies its parts into the call's frame.
        let payload = Arc::new(req);
        let mut client = tonic::client::Grpc::new(self.channel.clone());
        if self.cfg.gzip {
            client = client
                .send_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Gzip);
        }
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let mut request = tonic::Request::new(payload.clone());
            *request.metadata_mut() = self.headers.clone();
            request.set_timeout(self.cfg.timeout);
            request
                .extensions_mut()
                .insert(GrpcMethod::new(TRACE_SERVICE, "Export"));
            // The channel timeout covers the call; this one also bounds connection setup
            // when the collector black-holes packets.
            let call = tokio::time::timeout(self.cfg.timeout, send(&mut client, request)).await;
            let status = match call {
                Ok(Ok(resp)) => {
                    let ps = resp.into_inner().partial_success.unwrap_or_default();
                    if ps.rejected_spans > 0 {
                        tracing::warn!(
                            endpoint = %self.display_endpoint,
                            rejected_spans = ps.rejected_spans,
                            error = %ps.error_message,
                            "collector rejected part of an OTLP export"
                        );
                    }
                    return Ok(ExportOutcome {
                        rejected_spans: ps.rejected_spans,
                        error_message: ps.error_message,
                        attempts: attempt,
                    });
                }
                Ok(Err(status)) => status,
                Err(_) => tonic::Status::deadline_exceeded(format!(
                    "no answer within {:?}",
                    self.cfg.timeout
                )),
            };
            let message = describe(&status);
            if !is_retryable(&status) {
                return Err(ExportError::Rejected {
                    endpoint: self.display_endpoint.clone(),
                    code: status.code(),
                    message,
                });
            }
            if attempt > self.cfg.max_retries {
                return Err(ExportError::Unavailable {
                    endpoint: self.display_endpoint.clone(),
                    attempts: attempt,
                    code: status.code(),
                    message,
                });
            }
            let delay = retry_pushback(&status)
                .map(|d| d.min(self.cfg.max_backoff))
                .unwrap_or_else(|| backoff(&self.cfg, attempt));
            tracing::debug!(
                endpoint = %self.display_endpoint,
                attempt,
                code = ?status.code(),
                delay_ms = delay.as_millis() as u64,
                "OTLP export failed, retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }
}

const TRACE_SERVICE: &str = "opentelemetry.proto.collector.trace.v1.TraceService";
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// One `TraceService/Export` call with an encoded request (what the generated
/// `TraceServiceClient::export` does, minus the encoding).
async fn send(
    client: &mut tonic::client::Grpc<Channel>,
    request: tonic::Request<Arc<EncodedRequest>>,
) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
    client
        .ready()
        .await
        .map_err(|e| tonic::Status::unknown(format!("Service was not ready: {e}")))?;
    let path = PathAndQuery::from_static(EXPORT_PATH);
    client.unary(request, path, EncodedCodec).await
}

/// gRPC codec that sends requests already encoded as they are and decodes the response
/// with prost.
#[derive(Debug, Clone, Copy, Default)]
struct EncodedCodec;

impl Codec for EncodedCodec {
    type Encode = Arc<EncodedRequest>;
    type Decode = ExportTraceServiceResponse;
    type Encoder = EncodedCodec;
    type Decoder = EncodedCodec;

    fn encoder(&mut self) -> Self::Encoder {
        EncodedCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        EncodedCodec
    }
}

impl Encoder for EncodedCodec {
    type Item = Arc<EncodedRequest>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Self::Item, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        for part in item.parts() {
            dst.put_slice(part);
        }
        Ok(())
    }
}

impl Decoder for EncodedCodec {
    type Item = ExportTraceServiceResponse;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Self::Error> {
        prost::Message::decode(src)
            .map(Some)
            .map_err(|e| tonic::Status::internal(format!("decoding the export response: {e}")))
    }
}

/// OTLP spec: these codes mean "try again later"; everything else is a permanent refusal.
/// Transport failures surface as UNAVAILABLE (or UNKNOWN wrapping a transport error).
fn is_retryable(status: &tonic::Status) -> bool {
    match status.code() {
        Code::Unavailable
        | Code::ResourceExhausted
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::Cancelled => true,
        Code::Unknown => {
            std::error::Error::source(status).is_some_and(|e| e.is::<tonic::transport::Error>())
        }
        _ => false,
    }
}

/// Status message plus its error chain ("transport error: tcp connect error: Connection
/// refused"), which is what an operator needs to see.
fn describe(status: &tonic::Status) -> String {
    let mut msg = status.message().to_string();
    let mut src = std::error::Error::source(status);
    while let Some(e) = src {
        let s = e.to_string();
        if !msg.contains(&s) {
            if !msg.is_empty() {
                msg.push_str(": ");
            }
            msg.push_str(&s);
        }
        src = e.source();
    }
    if msg.is_empty() {
        msg = "no message".to_string();
    }
    msg
}

/// Server-requested delay: the `grpc-retry-pushback-ms` trailer, or the OTLP `RetryInfo`
/// detail of the status.
fn retry_pushback(status: &tonic::Status) -> Option<Duration> {
    if let Some(ms) = status
        .metadata()
        .get("grpc-retry-pushback-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        return Some(Duration::from_millis(ms));
    }
    rpc_status::retry_delay(status.details())
}

/// `initial · 2^(attempt−1)`, capped, with "equal jitter" (half fixed, half random) so many
/// exporters do not retry in lockstep.
fn backoff(cfg: &OtlpConfig, attempt: u32) -> Duration {
    let exp = 2u32.saturating_pow(attempt.saturating_sub(1).min(30));
    let base = cfg.initial_backoff.saturating_mul(exp).min(cfg.max_backoff);
    let half = base / 2;
    let random = RandomState::new().build_hasher().finish();
    let frac = (random % 1_000_000) as f64 / 1_000_000.0;
    half + half.mul_f64(frac)
}

/// Drop `user:password@` from a URL before showing it.
fn redact_userinfo(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s + 3 && !url[s + 3..at].contains('/') => {
            format!("{}{}", &url[..s + 3], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// The few `google.rpc` messages needed to read a `RetryInfo` from status details.
mod rpc_status {
    use std::time::Duration;

    #[derive(Clone, PartialEq, prost::Message)]
    struct RpcStatus {
        #[prost(int32, tag = "1")]
        code: i32,
        #[prost(string, tag = "2")]
        message: String,
        #[prost(message, repeated, tag = "3")]
        details: Vec<Any>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct Any {
        #[prost(string, tag = "1")]
        type_url: String,
        #[prost(bytes = "vec", tag = "2")]
        value: Vec<u8>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct RetryInfo {
        #[prost(message, optional, tag = "1")]
        retry_delay: Option<ProtoDuration>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct ProtoDuration {
        #[prost(int64, tag = "1")]
        seconds: i64,
        #[prost(int32, tag = "2")]
        nanos: i32,
    }

    pub(super) fn retry_delay(details: &[u8]) -> Option<Duration> {
        use prost::Message;
        if details.is_empty() {
            return None;
        }
        let st = RpcStatus::decode(details).ok()?;
        st.details
            .iter()
            .filter(|a| a.type_url.ends_with("google.rpc.RetryInfo"))
            .find_map(|a| RetryInfo::decode(a.value.as_slice()).ok()?.retry_delay)
            .map(|d| Duration::new(d.seconds.max(0) as u64, d.nanos.max(0) as u32))
    }

    #[cfg(test)]
    pub(super) fn encode_retry_info(delay: Duration) -> Vec<u8> {
        use prost::Message;
        let info = RetryInfo {
            retry_delay: Some(ProtoDuration {
                seconds: delay.as_secs() as i64,
                nanos: delay.subsec_nanos() as i32,
            }),
        };
        RpcStatus {
            code: 14,
            message: String::new(),
            details: vec![Any {
                type_url: "type.googleapis.com/google.rpc.RetryInfo".to_string(),
                value: info.encode_to_vec(),
            }],
        }
        .encode_to_vec()
    }
}

/// Split a request into requests of at most `max_spans` spans each (at least one span per
/// request). A resource split across requests is repeated whole in each part, with its
/// scope, so every part stays attributed to the right `service.name`. Order is kept.
pub fn split_request(
    req: ExportTraceServiceRequest,
    max_spans: usize,
) -> Vec<ExportTraceServiceRequest> {
    let max_spans = max_spans.max(1);
    let total: usize = count_spans(&req);
    if total <= max_spans {
        return vec![req];
    }
    let mut out = Vec::new();
    let mut current: Vec<ResourceSpans> = Vec::new();
    let mut room = max_spans;
    for rs in req.resource_spans {
        let ResourceSpans {
            resource,
            scope_spans,
            schema_url,
        } = rs;
        let mut part = ResourceSpans {
            resource: resource.clone(),
            scope_spans: Vec::new(),
            schema_url: schema_url.clone(),
        };
        for ss in scope_spans {
            let mut spans = ss.spans.into_iter().peekable();
            while spans.peek().is_some() {
                if room == 0 {
                    if !part.scope_spans.is_empty() {
                        current.push(std::mem::replace(
                            &mut part,
                            ResourceSpans {
                                resource: resource.clone(),
                                scope_spans: Vec::new(),
                                schema_url: schema_url.clone(),
                            },
                        ));
                    }
                    out.push(ExportTraceServiceRequest {
                        resource_spans: std::mem::take(&mut current),
                    });
                    room = max_spans;
                }
                let chunk: Vec<_> = spans.by_ref().take(room).collect();
                room -= chunk.len();
                part.scope_spans
                    .push(opentelemetry_proto::tonic::trace::v1::ScopeSpans {
                        scope: ss.scope.clone(),
                        spans: chunk,
                        schema_url: ss.schema_url.clone(),
                    });
            }
        }
        if !part.scope_spans.is_empty() {
            current.push(part);
        }
    }
    if !current.is_empty() {
        out.push(ExportTraceServiceRequest {
            resource_spans: current,
        });
    }
    out
}

/// Number of spans in a request.
pub fn count_spans(req: &ExportTraceServiceRequest) -> usize {
    req.resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::trace::v1::Span;

    fn req(per_service: &[(&str, usize)]) -> ExportTraceServiceRequest {
        let resource_spans = per_service
            .iter()
            .map(|(svc, n)| {
                let spans = (0..*n)
                    .map(|i| Span {
                        name: format!("{svc}-{i}"),
                        ..Default::default()
                    })
                    .collect();
                crate::trace::model::resource_spans_for(svc, spans)
            })
            .collect();
        ExportTraceServiceRequest { resource_spans }
    }

    fn names(r: &ExportTraceServiceRequest) -> Vec<String> {
        r.resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .map(|s| s.name.clone())
            .collect()
    }

    #[test]
    fn split_keeps_order_resources_and_limits() {
        let original = req(&[("mailtrace", 1), ("mx-a", 5), ("mx-b", 3)]);
        let parts = split_request(original.clone(), 4);
        assert_eq!(parts.len(), 3);
        assert!(parts.iter().all(|p| count_spans(p) <= 4));
        let all: Vec<String> = parts.iter().flat_map(names).collect();
        assert_eq!(all, names(&original));
        // Every part carries the resource of the spans it holds.
        for p in &parts {
            for rs in &p.resource_spans {
                let svc = &rs.resource.as_ref().unwrap().attributes[0];
                let svc = match &svc.value.as_ref().unwrap().value {
                    Some(
                        opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s),
                    ) => s.clone(),
                    _ => panic!(),
                };
                for s in &rs.scope_spans[0].spans {
                    assert!(s.name.starts_with(&svc));
                }
                assert_eq!(rs.scope_spans[0].scope.as_ref().unwrap().name, "mailtrace");
            }
        }
        assert_eq!(split_request(original.clone(), 100), vec![original.clone()]);
        assert_eq!(split_request(original, 0).len(), 9);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let cfg = OtlpConfig {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            ..Default::default()
        };
        let b1 = backoff(&cfg, 1);
        assert!(b1 >= Duration::from_millis(50) && b1 <= Duration::from_millis(100));
        let b3 = backoff(&cfg, 3);
        assert!(b3 >= Duration::from_millis(200) && b3 <= Duration::from_millis(400));
        let b40 = backoff(&cfg, 40);
        assert!(b40 >= Duration::from_millis(500) && b40 <= Duration::from_millis(1000));
    }

    #[test]
    fn reads_retry_pushback() {
        let mut st = tonic::Status::with_details(
            Code::Unavailable,
            "busy",
            rpc_status::encode_retry_info(Duration::from_millis(1500)).into(),
        );
        assert_eq!(retry_pushback(&st), Some(Duration::from_millis(1500)));
        st.metadata_mut()
            .insert("grpc-retry-pushback-ms", "20".parse().unwrap());
        assert_eq!(retry_pushback(&st), Some(Duration::from_millis(20)));
        assert_eq!(retry_pushback(&tonic::Status::unavailable("x")), None);
    }

    #[test]
    fn classifies_codes() {
        for c in [
            Code::Unavailable,
            Code::ResourceExhausted,
            Code::DeadlineExceeded,
            Code::Aborted,
            Code::Cancelled,
        ] {
            assert!(is_retryable(&tonic::Status::new(c, "")), "{c:?}");
        }
        for c in [
            Code::InvalidArgument,
            Code::Unauthenticated,
            Code::PermissionDenied,
            Code::Unimplemented,
        ] {
            assert!(!is_retryable(&tonic::Status::new(c, "")), "{c:?}");
        }
    }

    #[test]
    fn redacts_userinfo() {
        assert_eq!(redact_userinfo("http://u:p@h:4317"), "http://h:4317");
        assert_eq!(redact_userinfo("http://h:4317"), "http://h:4317");
    }

    #[tokio::test]
    async fn invalid_endpoint_and_header_are_clear_and_secret_free() {
        let e = OtlpExporter::connect(OtlpConfig {
            endpoint: "not a url".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
        assert!(e.to_string().contains("invalid OTLP endpoint"), "{e}");
        let e = OtlpExporter::connect(OtlpConfig {
            headers: vec![("authorization".into(), "Bearer s3cr3t\n".into())],
            ..Default::default()
        })
        .await
        .unwrap_err();
        let text = format!("{e} {e:?}");
        let cfg = OtlpConfig {
            headers: vec![("authorization".into(), "Bearer s3cr3t".into())],
            ..Default::default()
        };
        let exporter = OtlpExporter::connect(cfg.clone()).await.unwrap();
        let text = format!("{text} {cfg:?} {exporter:?}");
        assert!(text.contains("authorization"), "{text}");
        assert!(!text.contains("s3cr3t"), "{text}");
    }
}
