//! `mailtrace trace-id MESSAGE-ID`: the deterministic trace ID of a message.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::Args;

use mailtrace::trace::ids;

#[derive(Debug, Args)]
pub struct TraceIdArgs {
    /// The Message-ID, with or without angle brackets.
    #[arg(value_name = "MESSAGE-ID")]
    message_id: String,
}

pub fn run(config: Option<&Path>, args: TraceIdArgs) -> Result<ExitCode> {
    let Some(id) = ids::normalize_message_id(&args.message_id) else {
        bail!("empty Message-ID: give the value of the Message-ID header, e.g. <abc@example.com>");
    };
    let trace = ids::hex(&ids::trace_id(&id));
    println!("{trace}");
    // The Jaeger link is a convenience: only when a config that sets it is at hand.
    if let Some(cfg) = super::common::load_config_if_present(config)? {
        let base = cfg.jaeger_ui_url.trim_end_matches('/');
        if !base.is_empty() {
            println!("{base}/trace/{trace}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
