//! `mailtrace tracing`: the daemon (see `mailtrace::daemon`).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Args;

use mailtrace::config::{Config, Secret};
use mailtrace::daemon::{self, DaemonOptions, Sink};

#[derive(Debug, Args)]
pub struct TracingArgs {
    /// Run one round (read, correlate, export), save the state, and exit. Far behind (a
    /// long stop), it reads the backlog in several rounds, up to now, then exits.
    #[arg(long)]
    once: bool,

    /// OTLP gRPC endpoint [default: the config's tracing.otel_endpoint, else
    /// http://localhost:4317].
    #[arg(long, value_name = "URL")]
    otel_endpoint: Option<String>,

    /// Print each released message as readable text on stdout instead of exporting.
    #[arg(long, conflicts_with_all = ["output", "otel_endpoint"])]
    console: bool,

    /// Append OTLP-JSON lines to FILE (`-` = stdout) instead of exporting over gRPC.
    #[arg(short = 'o', long, value_name = "FILE|-")]
    output: Option<PathBuf>,

    /// State directory [default: the config's tracing.state_dir].
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,

    /// OpenSearch password (prefer $MAILTRACE_OPENSEARCH_PASSWORD or --ask-opensearch-pass:
    /// a command line is visible to other local users).
    #[arg(long, value_name = "PASSWORD", hide_env_values = true)]
    opensearch_pass: Option<String>,

    /// Prompt for the OpenSearch password on the terminal.
    #[arg(long, conflicts_with = "opensearch_pass")]
    ask_opensearch_pass: bool,
}

pub fn run(
    config: Option<&Path>,
    log_level: Option<String>,
    args: TracingArgs,
) -> Result<ExitCode> {
    let cfg = super::common::load_and_init(config, log_level.as_deref())?;
    let Some(mut cfg) = cfg else {
        bail!(
            "no config: give -c FILE (or set MAILTRACE_CONFIG, or create ./config.yaml); \
             config.yaml.sample documents every key, examples/demo/config.yaml runs on a \
             bundled log"
        );
    };
    if let Some(p) = args.opensearch_pass.clone() {
        cfg.opensearch_config.password = Secret::new(p);
    } else if args.ask_opensearch_pass {
        let p = rpassword::prompt_password("OpenSearch password: ")
            .context("reading the password from the terminal")?;
        cfg.opensearch_config.password = Secret::new(p);
    }
    cfg.validate()?;
    let sink = sink_for(&cfg, &args);
    let opts = DaemonOptions {
        once: args.once,
        sink,
        state_dir: args.state_dir,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let reload = Arc::new(AtomicBool::new(false));
    rt.block_on(daemon::run(cfg, opts, stop_signal(reload.clone())))?;
    drop(rt);
    if reload.load(Ordering::SeqCst) {
        // SIGHUP: the state is saved and the lock released (the runtime is gone; files and
        // sockets close on exec). Start again as the same process with the same arguments,
        // so the new config applies and systemd/docker see no restart.
        let exe = std::env::current_exe().context("finding the running executable")?;
        tracing::info!(
            "SIGHUP: reloading (config {})",
            config.map_or("default".into(), |p| p.display().to_string())
        );
        let err = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .exec();
        return Err(anyhow::Error::new(err).context("re-executing for SIGHUP"));
    }
    Ok(ExitCode::SUCCESS)
}

fn sink_for(cfg: &Config, args: &TracingArgs) -> Sink {
    if args.console {
        Sink::Console
    } else if let Some(out) = &args.output {
        Sink::Json(out.clone())
    } else {
        Sink::Otlp(
            args.otel_endpoint
                .clone()
                .unwrap_or_else(|| cfg.tracing.otel_endpoint.clone()),
        )
    }
}

/// Resolves on SIGTERM (systemd stop, docker stop), SIGINT (Ctrl-C) or SIGHUP (reload:
/// `reload` is set so the caller re-executes once the state is saved).
async fn stop_signal(reload: Arc<AtomicBool>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
        _ = hup.recv() => reload.store(true, Ordering::SeqCst),
    }
}
