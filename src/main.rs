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
    /// Find messages by keyword on a host or cluster and print each one's path.
    #[command(alias = "trace", disable_help_flag = true)]
    Run(cli::run::RunArgs),
    /// The same search as `run`, printed as a Graphviz DOT graph.
    #[command(disable_help_flag = true)]
    Graph(cli::run::GraphArgs),
    /// Check the config, credentials, source and OTLP endpoint; print a checklist.
    #[command(disable_help_flag = true)]
    Doctor(cli::doctor::DoctorArgs),
    /// Serve MCP on stdio for LLM agents (tools: query logs, trace a mail; resource: clusters).
    Mcp(cli::mcp::McpArgs),
    /// Receive OTLP/gRPC traces and append them as OTLP-JSON lines to a file.
    #[command(hide = true)]
    OtlpSink(cli::otlp_sink::OtlpSinkArgs),
    /// Exit 0 when a running daemon's /healthz answers (for container health checks).
    #[command(hide = true)]
    Healthcheck(cli::healthcheck::HealthcheckArgs),
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
        Command::Run(args) => cli::run::run(cli.config.as_deref(), cli.log_level, args),
        Command::Graph(args) => cli::run::graph(cli.config.as_deref(), cli.log_level, args),
        Command::Doctor(args) => cli::doctor::run(cli.config.as_deref(), cli.log_level, args),
        Command::Mcp(args) => cli::mcp::run(cli.config.as_deref(), cli.log_level, args),
        Command::OtlpSink(args) => cli::otlp_sink::run(args),
        Command::Healthcheck(args) => Ok(cli::healthcheck::run(cli.config.as_deref(), args)),
        Command::GenLoad(args) => cli::gen_load::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // One clear line (with its causes), no backtrace: operators read this.
            eprintln!("mailtrace: {e:#}");
            exit_code(&e)
        }
    }
}

/// A configuration problem exits 78 (EX_CONFIG, sysexits.h), so a service manager can tell
/// "fix the config" (do not restart) from a failure worth retrying (2).
fn exit_code(e: &anyhow::Error) -> ExitCode {
    let config_error = e.chain().any(|c| {
        c.is::<mailtrace::config::ConfigError>()
            || matches!(
                c.downcast_ref::<mailtrace::daemon::DaemonError>(),
                Some(mailtrace::daemon::DaemonError::Config(_))
            )
    });
    ExitCode::from(if config_error { 78 } else { 2 })
}

// Replay and the daemon allocate many small, short-lived strings per line; glibc malloc spent
// about a quarter of replay's time in malloc/free/consolidate, mimalloc a fraction of that.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
