//! `mailtrace healthcheck` (hidden): exit 0 when the daemon's `/healthz` answers 200, else 1.
//! For container `HEALTHCHECK`s in images that have no curl. Never exits 2: Docker reserves
//! that code, so every failure (config included) is a plain "unhealthy" 1.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use mailtrace::config::TracingConfig;
use mailtrace::daemon::healthcheck;

#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// The daemon's metrics address [default: the config's tracing.metrics_address, else
    /// 127.0.0.1:9464]; a wildcard address (0.0.0.0:9464) is probed on loopback.
    #[arg(long, value_name = "HOST:PORT")]
    address: Option<String>,

    /// Seconds to wait for the connection and the reply.
    #[arg(long, value_name = "SECONDS", default_value_t = 3)]
    timeout: u64,
}

pub fn run(config: Option<&Path>, args: HealthcheckArgs) -> ExitCode {
    let address = match args.address {
        Some(a) => a,
        None => match super::common::load_config_if_present(config) {
            Ok(Some(cfg)) => cfg.tracing.metrics_address,
            Ok(None) => TracingConfig::default().metrics_address,
            Err(e) => {
                eprintln!("mailtrace healthcheck: {e:#}");
                return ExitCode::from(1);
            }
        },
    };
    if address.is_empty() {
        eprintln!(
            "mailtrace healthcheck: tracing.metrics_address is empty (the health endpoint is \
             disabled); set it or give --address"
        );
        return ExitCode::from(1);
    }
    match healthcheck::probe(&address, Duration::from_secs(args.timeout.max(1))) {
        Ok(()) => {
            println!("ok");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mailtrace healthcheck: {address}: {e}");
            ExitCode::from(1)
        }
    }
}
