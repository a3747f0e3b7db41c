//! `mailtrace replay`: run whole log files through the engine once and export every
//! message — for backfills, tests and benchmarks.
//!
//! Streams: the input is cut into rounds of `tracing.sleep_seconds` of log time, and each
//! round's released messages are exported at once, so memory is bounded by the hold window
//! (and the store's limits), not by the input's size. An input shorter than one round behaves
//! exactly like reading everything, then releasing everything.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};
use clap::Args;

use mailtrace::config::Config;
use mailtrace::correlate::{Message, ParsedRecord, RejectReport};
use mailtrace::engine::{
    correlator_config, now_ns, otlp_config, requests_for, Engine, LogRounds,
    DEFAULT_SPANS_PER_REQUEST,
};
use mailtrace::export::json::JsonLinesWriter;
use mailtrace::export::otlp::{count_spans, OtlpExporter};
use mailtrace::parse::syslog::SyslogContext;
use mailtrace::parse::time::Zone;
use mailtrace::source::document::DocumentContext;
use mailtrace::source::replay::{
    read_inputs_pipelined, Input, InputFormat, Item, ReadContext, ReadStats,
};
use mailtrace::trace::model::ModelOptions;
use mailtrace::trace::request::RequestEncoder;

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

    /// Build and encode the OTLP protobuf, then drop it (benchmarks: the whole pipeline
    /// without a receiver).
    #[arg(long, hide = true, conflicts_with_all = ["output", "otel_endpoint"])]
    discard: bool,
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
    let mut rounds = LogRounds::new(
        cfg.tracing.sleep_seconds.max(1) as i64 * 1_000_000_000,
        &correlator_config(&cfg),
    );
    let mut sink = ReplaySink::open(&cfg, &args)?;
    let mut rejects = RejectSummary::default();
    let mut totals = (0usize, 0usize);
    let mut stats = ReadStats::default();
    let inputs: Vec<Input> = args
        .inputs
        .iter()
        .map(|path| Input { path: path.clone() })
        .collect();
    // Reading, decoding and parsing run on a second thread where there is a second CPU;
    // correlation, span building and export here, in input order. On one CPU all of it runs
    // here, and each record is filed straight from its line.
    read_inputs_pipelined(
        &inputs,
        args.format,
        &ctx,
        &mut stats,
        |rec| ParsedRecord::parse(rec),
        |item| {
            let engine = &mut engine;
            let model = &engine.model;
            let timestamp_ns = match &item {
                Item::Prepared(rec) => rec.timestamp_ns(),
                Item::Borrowed(rec) => rec.timestamp_ns,
            };
            rounds.advance(timestamp_ns, &mut engine.correlator, |c, released| {
                rejects.add(c.take_rejects());
                sink.export(&released, model, &mut totals)
            })?;
            match item {
                Item::Prepared(rec) => engine.correlator.ingest_record(rec),
                Item::Borrowed(rec) => engine.correlator.ingest(rec),
            }
            Ok::<_, anyhow::Error>(())
        },
    )?;
    let released = engine.correlator.drain();
    rejects.add(engine.correlator.take_rejects());
    sink.export(&released, &engine.model, &mut totals)?;
    let destination = sink.finish()?;
    let (messages, spans) = totals;

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
    for r in &rejects.first {
        writeln!(err, "  reject {}", describe_reject(r))?;
    }
    if rejects.more > 0 {
        writeln!(err, "  … and {} more rejects", rejects.more)?;
    }
    if c.late_lines > 0 {
        // Streaming releases a message once it is quiet in log time; input far out of time
        // order (per-host files one after another) makes its later lines late.
        writeln!(
            err,
            "  {} lines came after their message was exported (input out of time order?)",
            c.late_lines
        )?;
    }
    writeln!(
        err,
        "  {} messages → {} spans exported to {destination}{}",
        messages,
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

/// The first rejects, to show, and a count of the rest: a day of a busy MX rejects
/// millions, and replay must not keep them all.
#[derive(Default)]
struct RejectSummary {
    first: Vec<RejectReport>,
    more: u64,
}

impl RejectSummary {
    const SHOWN: usize = 20;

    fn add(&mut self, rejects: Vec<RejectReport>) {
        for r in rejects {
            if self.first.len() < Self::SHOWN {
                self.first.push(r);
            } else {
                self.more += 1;
            }
        }
    }
}

/// Where replay sends each round's released messages, right away.
enum ReplaySink {
    Json {
        writer: JsonLinesWriter<BufWriter<Box<dyn Write>>>,
        path: PathBuf,
    },
    Grpc {
        rt: tokio::runtime::Runtime,
        exporter: Box<OtlpExporter>,
        encoder: Box<RequestEncoder>,
        endpoint: String,
    },
    /// Encode the protobuf and drop it: the whole pipeline without a peer (benchmarks).
    Discard {
        encoder: Box<RequestEncoder>,
        bytes: u64,
    },
}

impl ReplaySink {
    fn open(cfg: &Config, args: &ReplayArgs) -> Result<Self> {
        if args.discard {
            return Ok(ReplaySink::Discard {
                encoder: Box::new(RequestEncoder::new(DEFAULT_SPANS_PER_REQUEST)),
                bytes: 0,
            });
        }
        if let Some(out) = &args.output {
            let sink: Box<dyn Write> = if out.as_os_str() == "-" {
                Box::new(io::stdout().lock())
            } else {
                Box::new(
                    File::create(out)
                        .with_context(|| format!("cannot create {}", out.display()))?,
                )
            };
            return Ok(ReplaySink::Json {
                writer: JsonLinesWriter::new(BufWriter::with_capacity(1 << 16, sink)),
                path: out.clone(),
            });
        }
        let endpoint = args
            .otel_endpoint
            .clone()
            .unwrap_or_else(|| cfg.tracing.otel_endpoint.clone());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        let exporter = rt.block_on(OtlpExporter::connect(otlp_config(cfg, &endpoint)))?;
        Ok(ReplaySink::Grpc {
            rt,
            exporter: Box::new(exporter),
            encoder: Box::new(RequestEncoder::new(DEFAULT_SPANS_PER_REQUEST)),
            endpoint,
        })
    }

    /// Export `messages`; `totals` counts (messages, spans).
    fn export(
        &mut self,
        messages: &[Message],
        model: &ModelOptions,
        totals: &mut (usize, usize),
    ) -> Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        totals.0 += messages.len();
        match self {
            ReplaySink::Json { writer, path } => {
                for req in requests_for(messages, model, DEFAULT_SPANS_PER_REQUEST) {
                    totals.1 += count_spans(&req);
                    writer
                        .write(&req)
                        .with_context(|| format!("writing {}", path.display()))?;
                }
            }
            // Protobuf goes out encoded straight from the messages (`trace::request`).
            ReplaySink::Grpc {
                rt,
                exporter,
                encoder,
                ..
            } => encoder.encode_all(messages, model, |_, req| {
                totals.1 += req.spans;
                rt.block_on(exporter.export_encoded(req))?;
                Ok::<_, anyhow::Error>(())
            })?,
            ReplaySink::Discard { encoder, bytes } => {
                encoder.encode_all(messages, model, |encoder, req| {
                    totals.1 += req.spans;
                    *bytes += req.len() as u64;
                    encoder.recycle(req);
                    Ok::<_, anyhow::Error>(())
                })?
            }
        }
        Ok(())
    }

    /// Flush; returns where the spans went, for the summary.
    fn finish(self) -> Result<String> {
        Ok(match self {
            ReplaySink::Json { mut writer, path } => {
                writer
                    .flush()
                    .with_context(|| format!("writing {}", path.display()))?;
                if path.as_os_str() == "-" {
                    "stdout".to_string()
                } else {
                    path.display().to_string()
                }
            }
            ReplaySink::Grpc { endpoint, .. } => endpoint,
            ReplaySink::Discard { bytes, .. } => {
                format!("nowhere (discarded, {bytes} bytes of OTLP protobuf)")
            }
        })
    }
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
