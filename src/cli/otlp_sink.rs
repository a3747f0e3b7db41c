//! `mailtrace otlp-sink` (hidden): a minimal OTLP/gRPC trace receiver that appends every
//! request it gets as an OTLP-JSON line to a file. The end-to-end harness uses it as the
//! collector; it is also handy to see exactly what the daemon sends.

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
    #[arg(short = 'o', long, value_name = "FILE")]
    output: PathBuf,
}

struct Sink {
    out: Arc<Mutex<JsonLinesWriter<BufWriter<std::fs::File>>>>,
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
        // Flushed per request so a reader never sees half a line of a finished export.
        out.write(&req)
            .and_then(|()| out.flush())
            .map_err(|e| tonic::Status::unavailable(format!("cannot write: {e}")))?;
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

pub fn run(args: OtlpSinkArgs) -> Result<ExitCode> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&args.output)
        .with_context(|| format!("cannot open {}", args.output.display()))?;
    let sink = Sink {
        out: Arc::new(Mutex::new(JsonLinesWriter::new(BufWriter::new(file)))),
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
