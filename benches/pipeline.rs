//! Stage-by-stage throughput and peak memory of the replay pipeline on one input file
//! (`scripts/bench.sh` drives it; run one stage per process, since peak RSS is per process):
//!
//!   cargo bench --bench pipeline -- STAGE FILE [ndjson|syslog]
//!
//! Stages, each including the ones before it:
//! - `decode`: lines → records, lent from the line as `replay` on one core takes them
//!   (ndjson documents through the default mapping, or syslog);
//! - `parse`: + `parse::parse_record`;
//! - `correlate`: + the correlator in log-time rounds, as `replay` streams (messages dropped);
//! - `otlp`: + requests encoded straight from the messages (what `replay --discard` does);
//! - `otlp-prost`: + requests built as prost structs, then encoded (the model the JSON
//!   exporter and the daemon's queue use), to compare.
//!
//! Prints one line: stage, lines, CPU seconds of this thread, lines per CPU-second, wall
//! seconds, peak RSS. CPU time rather than wall time: the machines this runs on are shared.

use std::path::PathBuf;
use std::time::Instant;

use mailtrace::config::Config;
use mailtrace::correlate::{Correlator, CorrelatorConfig};
use mailtrace::engine::{requests_for, LogRounds, DEFAULT_SPANS_PER_REQUEST};
use mailtrace::parse::{parse_record, syslog::SyslogContext};
use mailtrace::source::document::DocumentContext;
use mailtrace::source::replay::{try_read_input, Input, InputFormat, ReadContext, ReadStats};
use mailtrace::trace::model::ModelOptions;
use mailtrace::trace::request::RequestEncoder;

// The allocator `mailtrace` itself uses, so stages cost what they cost in `replay`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let (stage, file) = match args.as_slice() {
        [s, f, ..] => (s.as_str(), PathBuf::from(f)),
        _ => {
            eprintln!(
                "usage: pipeline decode|parse|correlate|otlp|otlp-prost FILE [ndjson|syslog]"
            );
            std::process::exit(2);
        }
    };
    let format = match args.get(2).map(String::as_str) {
        Some("syslog") => InputFormat::Syslog,
        Some("ndjson") => InputFormat::Ndjson,
        _ => InputFormat::Auto,
    };
    let cfg = Config::default();
    let ctx = ReadContext {
        syslog: SyslogContext::default(),
        documents: DocumentContext::new(&cfg.opensearch_config).expect("default mapping"),
    };
    let ccfg = CorrelatorConfig::default();
    let mut correlator = Correlator::new(ccfg.clone());
    let mut rounds = LogRounds::new(cfg.tracing.sleep_seconds as i64 * 1_000_000_000, &ccfg);
    let model = ModelOptions::default();
    let mut buf = Vec::new();
    let mut encoder = RequestEncoder::new(DEFAULT_SPANS_PER_REQUEST);
    let (mut parsed, mut messages, mut bytes) = (0u64, 0u64, 0u64);
    let mut encode = |released: Vec<mailtrace::correlate::Message>| {
        messages += released.len() as u64;
        match stage {
            "otlp" => {
                // As `replay --discard` does: each round's messages in requests of their own.
                let _ = encoder.encode_all(&released, &model, |encoder, req| {
                    bytes += req.len() as u64;
                    encoder.recycle(req);
                    Ok::<_, ()>(())
                });
            }
            "otlp-prost" => {
                for req in requests_for(&released, &model, DEFAULT_SPANS_PER_REQUEST) {
                    buf.clear();
                    prost::Message::encode(&req, &mut buf).expect("encode");
                    bytes += buf.len() as u64;
                }
            }
            _ => {}
        }
    };

    let input = Input { path: file };
    let mut stats = ReadStats::default();
    let (cpu0, wall0) = (thread_cpu_ns(), Instant::now());
    try_read_input(&input, format, &ctx, &mut stats, |rec| {
        match stage {
            "decode" => {}
            "parse" => parsed += u64::from(parse_record(rec).is_some()),
            _ => {
                let _ = rounds.advance(rec.timestamp_ns, &mut correlator, |_, released| {
                    encode(released);
                    Ok::<_, ()>(())
                });
                correlator.ingest(rec);
            }
        }
        Ok::<_, std::io::Error>(())
    })
    .expect("read the input");
    if matches!(stage, "correlate" | "otlp" | "otlp-prost") {
        encode(correlator.drain());
    }
    let cpu = (thread_cpu_ns() - cpu0) as f64 / 1e9;
    let wall = wall0.elapsed().as_secs_f64();
    println!(
        "{stage:<10} {} lines  cpu {cpu:.3} s  {:.0} lines/s per core  wall {wall:.3} s  \
         peak RSS {} MB  (parsed {parsed}, messages {messages}, protobuf {bytes} B)",
        stats.lines,
        stats.lines as f64 / cpu.max(1e-6),
        peak_rss_kb() / 1024,
    );
}

/// CPU time of this thread (the pipeline is single-threaded), nanoseconds.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Peak resident set size of this process (VmHWM), KiB.
fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
