//! `mailtrace mcp`: the MCP server on stdio for LLM agents (`mailtrace::mcp`). stdout is the
//! JSON-RPC channel, so logs go to stderr and nothing else is printed.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};
use clap::Args;

#[derive(Debug, Args)]
pub struct McpArgs {}

pub fn run(config: Option<&Path>, log_level: Option<String>, _args: McpArgs) -> Result<ExitCode> {
    let cfg = super::common::load_and_init(config, log_level.as_deref())?.ok_or_else(|| {
        anyhow!(
            "no config: give -c FILE (or set MAILTRACE_CONFIG, or create ./config.yaml); \
             config.yaml.sample documents every key"
        )
    })?;
    // A broken config is refused at start, not on every tool call.
    cfg.validate()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(mailtrace::mcp::server::serve_stdio(cfg))?;
    Ok(ExitCode::SUCCESS)
}
