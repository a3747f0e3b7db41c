//! `mailtrace run` (alias `trace`) and `mailtrace graph`: "where did this mail go?" from the
//! command line. Both search the same way (`mailtrace::investigate`); `run` prints each
//! message's path as text or JSON, `graph` as Graphviz DOT. Only that output goes to stdout.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};
use clap::{ArgAction, Args};

use mailtrace::config::{Config, Secret};
use mailtrace::correlate::RejectReport;
use mailtrace::export::console::render_message;
use mailtrace::investigate::{self, report, Investigation, Query};

/// What `run` and `graph` search for. `-h` names the host: help is `--help` only.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Print help.
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,

    /// Start host or cluster (from the config's `clusters`); short names get the config's
    /// `domain` appended.
    #[arg(short = 'h', long = "host", value_name = "HOST|CLUSTER")]
    host: String,

    /// What to look for on the start host(s): an address, domain, queue ID, Message-ID or
    /// SASL user (repeatable; a line matching any of them matches, case-insensitively).
    #[arg(short = 'k', long = "keyword", value_name = "KEYWORD", required = true)]
    keywords: Vec<String>,

    /// Centre of the search window, local time in the source's time zone
    /// ("YYYY-MM-DD HH:MM:SS") [default: now].
    #[arg(long, value_name = "TIME")]
    time: Option<String>,

    /// Half-width of the window: lines in time ± range are searched (s, m, h or d).
    #[arg(long = "time-range", value_name = "RANGE", default_value = "1h")]
    time_range: String,

    #[command(flatten)]
    passwords: PasswordArgs,
}

/// Password flags (prefer the environment variables or the prompts: a command line is
/// visible to other local users).
#[derive(Debug, Args)]
pub struct PasswordArgs {
    /// OpenSearch password (else $MAILTRACE_OPENSEARCH_PASSWORD or the config).
    #[arg(long, value_name = "PASSWORD")]
    opensearch_pass: Option<String>,
    /// Prompt for the OpenSearch password.
    #[arg(long, conflicts_with = "opensearch_pass")]
    ask_opensearch_pass: bool,
    /// SSH user's password, used for sudo when no sudo password is set (else
    /// $MAILTRACE_SSH_PASSWORD or the config).
    #[arg(long, value_name = "PASSWORD")]
    ssh_pass: Option<String>,
    /// Prompt for the SSH user's password.
    #[arg(long, conflicts_with = "ssh_pass")]
    ask_ssh_pass: bool,
    /// sudo password on the remote hosts (else $MAILTRACE_SUDO_PASSWORD or the config).
    #[arg(long, value_name = "PASSWORD")]
    sudo_pass: Option<String>,
    /// Prompt for the sudo password.
    #[arg(long, conflicts_with = "sudo_pass")]
    ask_sudo_pass: bool,
}

impl PasswordArgs {
    pub fn apply(&self, cfg: &mut Config) -> Result<()> {
        let pick = |flag: &Option<String>, ask: bool, what: &str| -> Result<Option<Secret>> {
            if let Some(p) = flag {
                return Ok(Some(Secret::new(p.clone())));
            }
            if ask {
                let p = rpassword::prompt_password(format!("{what} password: "))
                    .with_context(|| format!("reading the {what} password from the terminal"))?;
                return Ok(Some(Secret::new(p)));
            }
            Ok(None)
        };
        if let Some(p) = pick(
            &self.opensearch_pass,
            self.ask_opensearch_pass,
            "OpenSearch",
        )? {
            cfg.opensearch_config.password = p;
        }
        if let Some(p) = pick(&self.ssh_pass, self.ask_ssh_pass, "SSH")? {
            cfg.ssh_config.password = p;
        }
        if let Some(p) = pick(&self.sudo_pass, self.ask_sudo_pass, "sudo")? {
            cfg.ssh_config.sudo_pass = p;
        }
        Ok(())
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    search: SearchArgs,

    /// Print JSON (one document: messages[] and rejects[]) instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    #[command(flatten)]
    search: SearchArgs,

    /// Write the DOT graph to FILE (`-` or no option: stdout).
    #[arg(short = 'o', long = "output", value_name = "FILE|-")]
    output: Option<PathBuf>,
}

pub fn run(config: Option<&Path>, log_level: Option<String>, args: RunArgs) -> Result<ExitCode> {
    let (cfg, found) = search(config, log_level, &args.search)?;
    if found.messages.is_empty() && found.rejects.is_empty() {
        return Ok(nothing_found(&args.search));
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        let doc = report::report(&found.messages, &found.rejects);
        serde_json::to_writer_pretty(&mut out, &doc)?;
        writeln!(out)?;
    } else {
        for (i, msg) in found.messages.iter().enumerate() {
            if i > 0 {
                writeln!(out)?;
            }
            let text = render_message(msg);
            let (head, body) = text.split_once('\n').unwrap_or((&text, ""));
            writeln!(out, "{head}")?;
            for p in report::path_lines(msg) {
                writeln!(out, "  path: {p}")?;
            }
            let base = cfg.jaeger_ui_url.trim_end_matches('/');
            if !base.is_empty() {
                let trace =
                    mailtrace::trace::ids::hex(&mailtrace::trace::ids::trace_id(&msg.message_id));
                writeln!(out, "  jaeger: {base}/trace/{trace}")?;
            }
            write!(out, "{body}")?;
        }
        if !found.rejects.is_empty() {
            if !found.messages.is_empty() {
                writeln!(out)?;
            }
            for r in &found.rejects {
                writeln!(out, "{}", describe_reject(r))?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

pub fn graph(
    config: Option<&Path>,
    log_level: Option<String>,
    args: GraphArgs,
) -> Result<ExitCode> {
    let (_, found) = search(config, log_level, &args.search)?;
    if found.messages.is_empty() {
        return Ok(nothing_found(&args.search));
    }
    let dot = report::graph_dot(&found.messages);
    match args.output.as_deref() {
        None => write_stdout(&dot)?,
        Some(p) if p.as_os_str() == "-" => write_stdout(&dot)?,
        Some(p) => std::fs::write(p, dot).with_context(|| format!("writing {}", p.display()))?,
    }
    Ok(ExitCode::SUCCESS)
}

fn write_stdout(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

fn search(
    config: Option<&Path>,
    log_level: Option<String>,
    args: &SearchArgs,
) -> Result<(Config, Investigation)> {
    let cfg = super::common::load_config_if_present(config)?;
    super::common::init_logging(log_level.as_deref(), cfg.as_ref());
    let mut cfg = cfg.ok_or_else(|| {
        anyhow!(
            "no config: give -c FILE (or set MAILTRACE_CONFIG, or create ./config.yaml); \
             config.yaml.sample documents every key"
        )
    })?;
    args.passwords.apply(&mut cfg)?;
    let zone = investigate::zone_for(&cfg)?;
    let time_ns = match &args.time {
        Some(t) => investigate::parse_time(t, &zone)?,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i64),
    };
    let query = Query {
        hosts: investigate::resolve_hosts(&cfg, &args.host)?,
        keywords: args.keywords.clone(),
        time_ns,
        range_ns: investigate::parse_range(&args.time_range)?,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let found = rt.block_on(investigate::investigate_full(&cfg, &query))?;
    for w in &found.warnings {
        tracing::warn!("{w}");
    }
    Ok((cfg, found))
}

/// Not an error of the program, but no answer either: one line, exit status 1.
fn nothing_found(args: &SearchArgs) -> ExitCode {
    eprintln!(
        "mailtrace: no message found for {} on {} within {} of {}",
        args.keywords
            .iter()
            .map(|k| format!("{k:?}"))
            .collect::<Vec<_>>()
            .join(", "),
        args.host,
        args.time_range,
        args.time.as_deref().unwrap_or("now")
    );
    ExitCode::from(1)
}

fn describe_reject(r: &RejectReport) -> String {
    let x = &r.reject;
    let opt = |o: &Option<String>| o.clone().unwrap_or_default();
    format!(
        "rejected before queueing on {} at {}: {} {} from=<{}> to=<{}> client={}: {}",
        r.host,
        chrono::DateTime::from_timestamp_nanos(r.timestamp_ns).format("%Y-%m-%d %H:%M:%S UTC"),
        opt(&x.code),
        opt(&x.dsn),
        opt(&x.sender),
        opt(&x.recipient),
        opt(&x.client),
        x.reason
    )
}
