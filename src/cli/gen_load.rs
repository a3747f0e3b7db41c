//! `mailtrace gen-load` (hidden): synthetic Postfix relay-chain logs for benchmarks
//! (see `mailtrace::loadgen`).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

use mailtrace::loadgen::{self, LoadFormat, LoadSpec};

#[derive(Debug, Args)]
pub struct GenLoadArgs {
    /// Messages to generate (24 lines each: 3 hops × 2 recipients, with connect noise).
    #[arg(long, default_value_t = 1000)]
    messages: u64,

    /// PRNG seed: the same seed writes the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,

    /// Mean new messages per second of log time.
    #[arg(long, default_value_t = 4.0)]
    rate: f64,

    /// Log time of the first message, Unix seconds [default: 2025-03-01T00:00:00Z].
    #[arg(long, value_name = "UNIX_SECONDS")]
    start: Option<i64>,

    /// syslog text (rsyslog RFC 3339 format) or OpenSearch documents (default mapping).
    #[arg(long, value_enum, default_value_t = LoadFormat::Syslog)]
    format: LoadFormat,

    /// Output file; `-` (default) is stdout.
    #[arg(short = 'o', long, default_value = "-", value_name = "FILE|-")]
    output: PathBuf,
}

pub fn run(args: GenLoadArgs) -> Result<ExitCode> {
    let mut spec = LoadSpec {
        messages: args.messages,
        seed: args.seed,
        messages_per_second: args.rate,
        ..LoadSpec::default()
    };
    if let Some(s) = args.start {
        spec.start_ns = s.saturating_mul(1_000_000_000);
    }
    let sink: Box<dyn Write> = if args.output.as_os_str() == "-" {
        Box::new(io::stdout().lock())
    } else {
        Box::new(
            File::create(&args.output)
                .with_context(|| format!("cannot create {}", args.output.display()))?,
        )
    };
    let mut out = BufWriter::with_capacity(1 << 16, sink);
    match loadgen::write(&spec, args.format, &mut out) {
        Ok(_) => Ok(ExitCode::SUCCESS),
        // `gen-load | head` is a normal way to look at the output.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e).with_context(|| format!("writing {}", args.output.display())),
    }
}
