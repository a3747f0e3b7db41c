//! OTLP-JSON lines from real model output: the collector file-exporter shape, and a lossless
//! round trip back into the protobuf request.

mod common;

use mailtrace::export::json::JsonLinesWriter;
use mailtrace::trace::model::{build_spans, to_request, ModelOptions};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

#[test]
fn model_output_round_trips_through_json_lines() {
    let req = to_request(build_spans(
        &common::sample_message(),
        &ModelOptions::default(),
    ));
    let file = tempfile::NamedTempFile::new().unwrap();
    let mut w = JsonLinesWriter::new(std::io::BufWriter::new(file.reopen().unwrap()));
    w.write(&req).unwrap();
    w.flush().unwrap();
    drop(w);

    let text = std::fs::read_to_string(file.path()).unwrap();
    assert_eq!(text.lines().count(), 1);
    let v: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
    let rs = &v["resourceSpans"];
    assert_eq!(
        rs[0]["resource"]["attributes"][0]["value"]["stringValue"],
        "mailtrace"
    );
    let span = &rs[0]["scopeSpans"][0]["spans"][0];
    let trace_id = span["traceId"].as_str().unwrap();
    assert_eq!(trace_id.len(), 32);
    assert!(trace_id
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    assert_eq!(
        trace_id,
        mailtrace::trace::ids::hex(&mailtrace::trace::ids::trace_id("round-trip@example.test"))
    );
    assert!(span["startTimeUnixNano"]
        .as_str()
        .unwrap()
        .parse::<u64>()
        .is_ok());
    assert!(span["kind"].is_u64());
    let hop_count = span["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == "email.hop_count")
        .unwrap();
    assert_eq!(hop_count["value"]["intValue"], "2");

    let back: ExportTraceServiceRequest = serde_json::from_str(text.trim_end()).unwrap();
    assert_eq!(back, req);
}
