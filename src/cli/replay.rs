//! `mailtrace replay`: run whole log files through the engine once and export every
//! message — for backfills, tests and benchmarks.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};
use clap::Args;

use mailtrace::config::Config;
use mailtrace::correlate::RejectReport;
use mailtrace::engine::{
    correlator_config, now_ns, otlp_config, requests_for, span_count, Engine,
    DEFAULT_SPANS_PER_REQUEST,
};
use mailtrace::export::json::JsonLinesWriter;
use mailtrace::export::otlp::OtlpExporter;
use mailtrace::parse::syslog::SyslogContext;
use mailtrace::parse::time::Zone;
use mailtrace::source::document::DocumentContext;
use mailtrace::source::replay::{read_input, Input, InputFormat, ReadContext, ReadStats};
use mailtrace::trace::model::ModelOptions;

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Log file to read (repeatable); `-` reads standard input.
    #[arg(short = 'i', long = "input", required = true, value_name = "PATH")]
    inputs: Vec<PathBuf>,

    /// How the inputs are written: syslog text, OpenSearch ndjson (one document per line,
    /// fields found through the config's opensearch_config.mapping), or auto-detect.
    #[arg(long, value_enum, default_value_t = InputFormat::Auto)]
    format: InputFormat,

    /// Write OTLP-JSON lines (the Collector file-exporter format) to FILE, or `-` for
    /// stdout, instead of sending over gRPC.
    #[arg(short = 'o', long, value_name = "FILE|-")]
    output: Option<PathBuf>,

    /// OTLP gRPC endpoint [default: the config's tracing.otel_endpoint, else
    /// http://localhost:4317].
    #[arg(long, value_name = "URL")]
    otel_endpoint: Option<String>,

    /// Year for RFC 3164 lines, which carry none [default: inferred so that no line lies
    /// in the future].
    #[arg(long, value_name = "YYYY")]
    year: Option<i32>,

    /// Time zone of syslog timestamps without one (`+08:00`, `UTC`, `Europe/Berlin`)
    /// [default: the config's file_config.time_zone, else UTC].
    #[arg(long, value_name = "ZONE")]
    time_zone: Option<String>,

    /// Host name for lines that carry none (Exim's own mainlog) [default: the config's
    /// file_config.default_host, else "localhost"].
    #[arg(long, value_name = "HOST")]
    default_host: Option<String>,
}

pub fn run(config: Option<&Path>, log_level: Option<String>, args: ReplayArgs) -> Result<ExitCode> {
    let cfg = super::common::load_and_init(config, log_level.as_deref())?;
    let cfg = cfg.unwrap_or_default();

    let zone_text = args
        .time_zone
        .clone()
        .unwrap_or_else(|| cfg.file_config.time_zone.clone());
    let zone = Zone::parse(&zone_text).map_err(|e| anyhow!("time zone {zone_text:?}: {e}"))?;
    let default_host = args
        .default_host
        .clone()
        .or_else(|| Some(cfg.file_config.default_host.clone()).filter(|h| !h.is_empty()));
    let ctx = ReadContext {
        syslog: SyslogContext {
            zone,
            now_ns: now_ns(),
            year: args.year,
            default_host,
        },
        documents: DocumentContext::new(&cfg.opensearch_config).map_err(|e| anyhow!(e))?,
    };

    let mut engine = Engine::new(correlator_config(&cfg), ModelOptions::default());
    let mut stats = ReadStats::default();
    for path in &args.inputs {
        let input = Input { path: path.clone() };
        read_input(&input, args.format, &ctx, &mut stats, |rec| {
            engine.ingest(&rec)
        })?;
    }
    let messages = engine.correlator.drain();
    let rejects = engine.correlator.take_rejects();
    let requests = requests_for(&messages, &engine.model, DEFAULT_SPANS_PER_REQUEST);
    let spans: usize = requests.iter().map(span_count).sum();

    let destination = match &args.output {
        Some(out) => {
            write_json(out, &requests)?;
            if out.as_os_str() == "-" {
                "stdout".to_string()
            } else {
                out.display().to_string()
            }
        }
        None => {
            let endpoint = args
                .otel_endpoint
                .clone()
                .unwrap_or_else(|| cfg.tracing.otel_endpoint.clone());
            export_grpc(&cfg, &endpoint, requests)?;
            endpoint
        }
    };

    let c = engine.correlator.stats();
    let mut err = io::stderr().lock();
    writeln!(
        err,
        "mailtrace replay: {} lines read, {} records, {} skipped{}",
        stats.lines,
        stats.records,
        stats.skipped_total(),
        if stats.invalid_utf8 > 0 {
            format!(" ({} lines had invalid UTF-8, kept)", stats.invalid_utf8)
        } else {
            String::new()
        }
    )?;
    for (reason, s) in &stats.skipped {
        writeln!(
            err,
            "  skipped {:>6} × {reason} (first at {})",
            s.count, s.first_at
        )?;
    }
    if stats.filtered > 0 {
        writeln!(
            err,
            "  filtered {} documents of another facility",
            stats.filtered
        )?;
    }
    writeln!(
        err,
        "  {} duplicates dropped, {} lines outside any queue file, {} rejected before queueing",
        c.duplicates, c.unmatched, c.rejects
    )?;
    for r in rejects.iter().take(20) {
        writeln!(err, "  reject {}", describe_reject(r))?;
    }
    if rejects.len() > 20 {
        writeln!(err, "  … and {} more rejects", rejects.len() - 20)?;
    }
    writeln!(
        err,
        "  {} messages → {} spans exported to {destination}{}",
        messages.len(),
        spans,
        if c.orphans_released > 0 {
            format!(
                " ({} queue files never logged a message-id and got their own trace)",
                c.orphans_released
            )
        } else {
            String::new()
        }
    )?;
    Ok(ExitCode::SUCCESS)
}

fn describe_reject(r: &RejectReport) -> String {
    let x = &r.reject;
    let opt = |o: &Option<String>| o.clone().unwrap_or_default();
    format!(
        "{} {} {} from=<{}> to=<{}>: {} {} {}",
        r.host,
        opt(&x.stage),
        opt(&x.client),
        opt(&x.sender),
        opt(&x.recipient),
        opt(&x.code),
        opt(&x.dsn),
        x.reason
    )
}

fn write_json(
    out: &Path,
    requests: &[opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest],
) -> Result<()> {
    let sink: Box<dyn Write> = if out.as_os_str() == "-" {
        Box::new(io::stdout().lock())
    } else {
        Box::new(File::create(out).with_context(|| format!("cannot create {}", out.display()))?)
    };
    let mut w = JsonLinesWriter::new(BufWriter::new(sink));
    for r in requests {
        w.write(r)
            .with_context(|| format!("writing {}", out.display()))?;
    }
    w.flush()
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

fn export_grpc(
    cfg: &Config,
    endpoint: &str,
    requests: Vec<opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest>,
) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async {
        let exporter = OtlpExporter::connect(otlp_config(cfg, endpoint)).await?;
        for r in requests {
            exporter.export(r).await?;
        }
        Ok::<_, anyhow::Error>(())
    })
}
