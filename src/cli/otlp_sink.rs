//! `mailtrace otlp-sink` (hidden): a minimal OTLP/gRPC trace receiver that appends every
//! request it gets as an OTLP-JSON line to a file — or, for long runs, only keeps counts
//! (`--summary`): spans, root spans, and span IDs received more than once. The end-to-end
//! harness and the soak test use it as the collector.

use std::fs::OpenOptions;
use std::io::BufWriter;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use clap::Args;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::codec::CompressionEncoding;

use mailtrace::export::json::JsonLinesWriter;

#[derive(Debug, Args)]
pub struct OtlpSinkArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:4317")]
    listen: SocketAddr,
    /// File to append received requests to, one OTLP-JSON line each.
    #[arg(
        short = 'o',
        long,
        value_name = "FILE",
        required_unless_present = "summary"
    )]
    output: Option<PathBuf>,
    /// Keep only counts, rewritten to FILE after every request as one JSON object:
    /// requests, spans, roots, distinct span IDs, span IDs received again.
    #[arg(long, value_name = "FILE", conflicts_with = "output")]
    summary: Option<PathBuf>,
}

enum Out {
    Lines(JsonLinesWriter<BufWriter<std::fs::File>>),
    Summary {
        path: PathBuf,
        requests: u64,
        spans: u64,
        roots: u64,
        repeated: u64,
        seen: std::collections::HashSet<[u8; 8]>,
    },
}

struct Sink {
    out: Arc<Mutex<Out>>,
}

#[tonic::async_trait]
impl TraceService for Sink {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let req = request.into_inner();
        let mut out = self
            .out
            .lock()
            .map_err(|_| tonic::Status::internal("sink poisoned"))?;
        match &mut *out {
            // Flushed per request so a reader never sees half a line of a finished export.
            Out::Lines(w) => w.write(&req).and_then(|()| w.flush()),
            Out::Summary {
                path,
                requests,
                spans,
                roots,
                repeated,
                seen,
            } => {
                *requests += 1;
                for span in req
                    .resource_spans
                    .iter()
                    .flat_map(|r| &r.scope_spans)
                    .flat_map(|s| &s.spans)
                {
                    *spans += 1;
                    *roots += u64::from(span.parent_span_id.is_empty());
                    let id: [u8; 8] = span.span_id.as_slice().try_into().unwrap_or([0; 8]);
                    if !seen.insert(id) {
                        *repeated += 1;
                    }
                }
                let text = serde_json::json!({
                    "requests": requests, "spans": spans, "roots": roots,
                    "distinct_span_ids": seen.len(), "repeated_span_ids": repeated,
                });
                // Replaced atomically so a reader never sees a torn file.
                let tmp = path.with_extension("tmp");
                std::fs::write(&tmp, text.to_string()).and_then(|()| std::fs::rename(&tmp, &*path))
            }
        }
        .map_err(|e| tonic::Status::unavailable(format!("cannot write: {e}")))?;
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

pub fn run(args: OtlpSinkArgs) -> Result<ExitCode> {
    let out = match (&args.output, &args.summary) {
        (_, Some(path)) => Out::Summary {
            path: path.clone(),
            requests: 0,
            spans: 0,
            roots: 0,
            repeated: 0,
            seen: Default::default(),
        },
        (Some(path), None) => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            Out::Lines(JsonLinesWriter::new(BufWriter::new(file)))
        }
        (None, None) => anyhow::bail!("give --output FILE or --summary FILE"),
    };
    let sink = Sink {
        out: Arc::new(Mutex::new(out)),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async {
        let svc = TraceServiceServer::new(sink)
            .accept_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(64 << 20);
        eprintln!("otlp-sink listening on {}", args.listen);
        tonic::transport::Server::builder()
            .add_service(svc)
            .serve_with_shutdown(args.listen, async {
                use tokio::signal::unix::{signal, SignalKind};
                if let Ok(mut term) = signal(SignalKind::terminate()) {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = tokio::signal::ctrl_c() => {}
                    }
                }
            })
            .await
            .with_context(|| format!("serving on {}", args.listen))
    })?;
    Ok(ExitCode::SUCCESS)
}
