//! A real OTLP/gRPC receiver in-process: a tonic `TraceService` server from
//! opentelemetry-proto on 127.0.0.1:<ephemeral>, accepting gzip, recording every request
//! (and its metadata) so tests can check what an exporter really sent over the wire.
//! Failure injection: `fail_next(n, code)` makes the next `n` calls return `code`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::trace::v1::Span;
use tokio::sync::oneshot;
use tonic::codec::CompressionEncoding;

/// One span as received, with the `service.name` of its resource.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedSpan {
    pub service: String,
    pub span: Span,
}

#[derive(Default)]
struct State {
    requests: Vec<ExportTraceServiceRequest>,
    /// Metadata of every call (failed ones too), lower-case names.
    metadata: Vec<Vec<(String, String)>>,
    calls: usize,
    fail: Option<(usize, tonic::Code)>,
    rejected_spans: i64,
    delay: Duration,
}

#[derive(Clone, Default)]
struct Service {
    state: Arc<Mutex<State>>,
}

#[tonic::async_trait]
impl TraceService for Service {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let metadata: Vec<(String, String)> = request
            .metadata()
            .clone()
            .into_headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("<binary>").to_string()))
            .collect();
        let delay = self.state.lock().unwrap().delay;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let mut st = self.state.lock().unwrap();
        st.calls += 1;
        st.metadata.push(metadata);
        if let Some((n, code)) = st.fail.as_mut() {
            if *n > 0 {
                *n -= 1;
                return Err(tonic::Status::new(*code, "injected failure"));
            }
        }
        st.requests.push(request.into_inner());
        let partial_success = (st.rejected_spans > 0).then(|| ExportTracePartialSuccess {
            rejected_spans: st.rejected_spans,
            error_message: "injected partial success".into(),
        });
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success,
        }))
    }
}

/// A running receiver; stops when dropped.
pub struct OtlpReceiver {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl OtlpReceiver {
    /// Bind 127.0.0.1:0 and serve in the background of the current tokio runtime.
    pub async fn start() -> Self {
        Self::start_at("127.0.0.1:0").await
    }

    /// Bind `addr` (e.g. a port an exporter was pointed at before anything listened).
    pub async fn start_at(addr: &str) -> Self {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let svc = Service::default();
        let state = svc.state.clone();
        let (tx, rx) = oneshot::channel::<()>();
        let server = TraceServiceServer::new(svc)
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(64 * 1024 * 1024);
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(server)
                .serve_with_incoming_shutdown(
                    tokio_stream::wrappers::TcpListenerStream::new(listener),
                    async {
                        let _ = rx.await;
                    },
                )
                .await
                .unwrap();
        });
        Self {
            addr,
            state,
            shutdown: Some(tx),
        }
    }

    /// `http://127.0.0.1:<port>`, for the exporter's config.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every call waits this long before answering (makes "mid-export" observable).
    pub fn delay_calls(&self, d: Duration) {
        self.state.lock().unwrap().delay = d;
    }

    /// The next `n` calls fail with `code` (and are not recorded as received).
    pub fn fail_next(&self, n: usize, code: tonic::Code) {
        self.state.lock().unwrap().fail = Some((n, code));
    }

    /// Answer accepted requests with `partial_success.rejected_spans = n` (0: none).
    pub fn reject_spans(&self, n: i64) {
        self.state.lock().unwrap().rejected_spans = n;
    }

    /// Calls made, failed ones included.
    pub fn calls(&self) -> usize {
        self.state.lock().unwrap().calls
    }

    /// Requests accepted, in arrival order.
    pub fn requests(&self) -> Vec<ExportTraceServiceRequest> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Metadata of every call, in order (`grpc-encoding` tells whether it was gzipped).
    pub fn metadata(&self) -> Vec<Vec<(String, String)>> {
        self.state.lock().unwrap().metadata.clone()
    }

    /// Every accepted span, flattened in arrival order, with its resource's `service.name`.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        flatten(&self.requests())
    }

    /// Wait until at least `n` spans arrived (or `timeout` passed); returns what arrived.
    pub async fn wait_for_spans(&self, n: usize, timeout: Duration) -> Vec<ReceivedSpan> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let spans = self.spans();
            if spans.len() >= n || tokio::time::Instant::now() >= deadline {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Forget everything received so far.
    pub fn clear(&self) {
        let mut st = self.state.lock().unwrap();
        st.requests.clear();
        st.metadata.clear();
        st.calls = 0;
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Spans of some requests with their `service.name`.
pub fn flatten(requests: &[ExportTraceServiceRequest]) -> Vec<ReceivedSpan> {
    let mut out = Vec::new();
    for req in requests {
        for rs in &req.resource_spans {
            let service = rs
                .resource
                .as_ref()
                .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
                .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    any_value::Value::StringValue(s) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    out.push(ReceivedSpan {
                        service: service.clone(),
                        span: span.clone(),
                    });
                }
            }
        }
    }
    out
}
