//! The OTLP exporter against a real in-process OTLP/gRPC receiver (tonic server): what
//! arrives is what the model built, gzip is on, retries happen only where the OTLP spec
//! says so, and an unreachable collector fails fast with a clear, secret-free error.

mod common;

use std::time::{Duration, Instant};

use common::otlp_receiver::{flatten, OtlpReceiver};
use common::sample_message;
use mailtrace::engine::requests_for;
use mailtrace::export::otlp::{split_request, ExportError, OtlpConfig, OtlpExporter};
use mailtrace::trace::model::{build_spans, to_request, ModelOptions};
use mailtrace::trace::request::encode_requests;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

const SECRET: &str = "Bearer top-s3cret-token";

fn request() -> ExportTraceServiceRequest {
    to_request(build_spans(&sample_message(), &ModelOptions::default()))
}

fn config(endpoint: String) -> OtlpConfig {
    OtlpConfig {
        endpoint,
        timeout: Duration::from_secs(5),
        headers: vec![("Authorization".into(), SECRET.into())],
        max_retries: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        ..Default::default()
    }
}

#[tokio::test]
async fn spans_arrive_intact_gzipped_with_headers() {
    let rx = OtlpReceiver::start().await;
    let exporter = OtlpExporter::connect(config(rx.endpoint())).await.unwrap();
    let req = request();
    let outcome = exporter.export(req.clone()).await.unwrap();
    assert_eq!(outcome.attempts, 1);
    assert_eq!(outcome.rejected_spans, 0);

    assert_eq!(rx.requests(), vec![req.clone()]);
    let spans = rx.spans();
    assert_eq!(spans, flatten(&[req]));
    // root + 2 hops + 2 attempts + 8 stages
    assert_eq!(spans.len(), 13);
    assert_eq!(spans[0].service, "mailtrace");
    assert!(spans.iter().any(|s| s.service == "mx-b"));

    let md = &rx.metadata()[0];
    let get = |k: &str| md.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("grpc-encoding"), Some("gzip"));
    assert_eq!(get("authorization"), Some(SECRET));
}

#[tokio::test]
async fn retries_unavailable_then_succeeds() {
    let rx = OtlpReceiver::start().await;
    rx.fail_next(2, tonic::Code::Unavailable);
    let exporter = OtlpExporter::connect(config(rx.endpoint())).await.unwrap();
    let outcome = exporter.export(request()).await.unwrap();
    assert_eq!(outcome.attempts, 3);
    assert_eq!(rx.calls(), 3);
    assert_eq!(rx.requests().len(), 1, "accepted exactly once");
}

#[tokio::test]
async fn gives_up_after_max_retries() {
    let rx = OtlpReceiver::start().await;
    rx.fail_next(100, tonic::Code::ResourceExhausted);
    let exporter = OtlpExporter::connect(config(rx.endpoint())).await.unwrap();
    let err = exporter.export(request()).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(
        matches!(err, ExportError::Unavailable { attempts: 4, .. }),
        "{err:?}"
    );
    assert_eq!(rx.calls(), 4);
}

#[tokio::test]
async fn invalid_argument_fails_without_retry() {
    let rx = OtlpReceiver::start().await;
    rx.fail_next(1, tonic::Code::InvalidArgument);
    let exporter = OtlpExporter::connect(config(rx.endpoint())).await.unwrap();
    let err = exporter.export(request()).await.unwrap_err();
    assert_eq!(rx.calls(), 1);
    assert!(!err.is_retryable());
    let text = format!("{err} / {err:?}");
    assert!(text.contains(&rx.endpoint()), "{text}");
    assert!(text.contains("InvalidArgument"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
}

#[tokio::test]
async fn reports_partial_success() {
    let rx = OtlpReceiver::start().await;
    rx.reject_spans(2);
    let exporter = OtlpExporter::connect(config(rx.endpoint())).await.unwrap();
    let outcome = exporter.export(request()).await.unwrap();
    assert_eq!(outcome.rejected_spans, 2);
    assert_eq!(outcome.error_message, "injected partial success");
}

#[tokio::test]
async fn unreachable_endpoint_fails_fast_and_clearly() {
    // A port that was just free: nothing listens there, connections are refused.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let endpoint = format!("http://127.0.0.1:{port}");
    let cfg = OtlpConfig {
        timeout: Duration::from_millis(500),
        max_retries: 1,
        ..config(endpoint.clone())
    };
    // Lazy connect: a collector that is down is not a startup error.
    let exporter = OtlpExporter::connect(cfg).await.unwrap();
    let started = Instant::now();
    let err = exporter.export(request()).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(err.is_retryable(), "{err}");
    let text = err.to_string();
    assert!(text.contains(&endpoint), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
    assert!(!text.contains('\n'), "{text}");
}

#[tokio::test]
async fn split_requests_all_arrive_in_order() {
    let rx = OtlpReceiver::start().await;
    let exporter = OtlpExporter::connect(config(rx.endpoint())).await.unwrap();
    let req = request();
    let parts = split_request(req.clone(), 5);
    assert_eq!(parts.len(), 3);
    for p in parts {
        exporter.export(p).await.unwrap();
    }
    assert_eq!(rx.spans(), flatten(&[req]));
}

#[tokio::test]
async fn https_to_a_plaintext_receiver_is_an_error_not_a_panic() {
    let rx = OtlpReceiver::start().await;
    let endpoint = format!("https://{}", rx.addr());
    let cfg = OtlpConfig {
        timeout: Duration::from_secs(2),
        max_retries: 0,
        ..config(endpoint.clone())
    };
    let exporter = OtlpExporter::connect(cfg).await.unwrap();
    let err = exporter.export(request()).await.unwrap_err();
    assert!(err.to_string().contains(&endpoint), "{err}");
    assert_eq!(rx.requests().len(), 0);

    let missing_ca = OtlpConfig {
        ca_file: Some("/nonexistent/ca.pem".into()),
        ..config(endpoint)
    };
    let err = OtlpExporter::connect(missing_ca).await.unwrap_err();
    assert!(err.to_string().contains("CA file"), "{err}");
}

#[tokio::test]
async fn encoded_requests_arrive_as_the_model_built_them() {
    let rx = OtlpReceiver::start().await;
    // A retry resends the same encoded bytes.
    rx.fail_next(1, tonic::Code::Unavailable);
    let exporter = OtlpExporter::connect(config(rx.endpoint())).await.unwrap();
    let messages = [sample_message(), sample_message()];
    let model = ModelOptions::default();
    let encoded = encode_requests(&messages, &model, 20);
    assert_eq!(encoded.len(), 2, "one message per request at 20 spans");
    for req in encoded {
        exporter.export_encoded(req).await.unwrap();
    }
    assert_eq!(rx.requests(), requests_for(&messages, &model, 20));
    let md = &rx.metadata()[0];
    let get = |k: &str| md.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("grpc-encoding"), Some("gzip"));
    assert_eq!(get("authorization"), Some(SECRET));
}
