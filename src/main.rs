//! The `mailtrace` command: argument parsing and dispatch only; each command lives in
//! `cli/`.

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Turn Postfix and Exim logs into OpenTelemetry traces: one trace per email, one span per
/// relay hop, exported over OTLP (e.g. to Jaeger).
#[derive(Debug, Parser)]
#[command(name = "mailtrace", version, about, long_about = None)]
struct Cli {
    /// Config file (YAML, compatible with the Python mailtrace). Default: $MAILTRACE_CONFIG,
    /// else ./config.yaml.
    #[arg(short = 'c', long = "config-path", global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Log verbosity on stderr (overrides the config's log_level): error, warn, info, debug.
    #[arg(long, global = true, value_name = "LEVEL")]
    log_level: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The daemon: poll the logs every tracing.sleep_seconds, correlate, export traces.
    Tracing(cli::tracing::TracingArgs),
    /// Run log files through the engine once and export every message as a trace.
    Replay(cli::replay::ReplayArgs),
    /// Print the trace ID of a Message-ID (the same one the exported trace carries).
    TraceId(cli::trace_id::TraceIdArgs),
    /// Write synthetic Postfix relay-chain logs (benchmarks, load tests).
    #[command(hide = true)]
    GenLoad(cli::gen_load::GenLoadArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Tracing(args) => cli::tracing::run(cli.config.as_deref(), cli.log_level, args),
        Command::Replay(args) => cli::replay::run(cli.config.as_deref(), cli.log_level, args),
        Command::TraceId(args) => cli::trace_id::run(cli.config.as_deref(), args),
        Command::GenLoad(args) => cli::gen_load::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // One clear line (with its causes), no backtrace: operators read this.
            eprintln!("mailtrace: {e:#}");
            ExitCode::from(2)
        }
    }
}
