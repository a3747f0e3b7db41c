//! What several commands share: finding and loading the config, logging setup.

use std::path::Path;

use anyhow::{Context, Result};
use mailtrace::config::{resolve_config_path, Config, LogFormat};

/// Load the config named by `-c`, else `$MAILTRACE_CONFIG`, else `./config.yaml`.
/// A path given explicitly (flag or env) must exist; the implicit `./config.yaml` may be
/// absent, and then `None` is returned so the command runs on defaults.
pub fn load_config_if_present(cli: Option<&Path>) -> Result<Option<Config>> {
    Ok(load_with_path(cli)?.map(|(cfg, _)| cfg))
}

fn load_with_path(cli: Option<&Path>) -> Result<Option<(Config, std::path::PathBuf)>> {
    let env = |k: &str| std::env::var(k).ok();
    let explicit = cli.is_some() || env("MAILTRACE_CONFIG").is_some();
    let path = resolve_config_path(cli, env);
    if !explicit && !path.exists() {
        return Ok(None);
    }
    let mut cfg = Config::load(&path).with_context(|| "loading the config".to_string())?;
    cfg.apply_env(|k| std::env::var(k).ok());
    Ok(Some((cfg, path)))
}

/// Load the config (as `load_config_if_present`), set up logging from it, and log what an
/// operator should know about it before anything runs.
pub fn load_and_init(cli: Option<&Path>, cli_level: Option<&str>) -> Result<Option<Config>> {
    let loaded = load_with_path(cli)?;
    init_logging(cli_level, loaded.as_ref().map(|(c, _)| c));
    if let Some((_, path)) = &loaded {
        if let Some(w) = world_readable_secret(path) {
            tracing::warn!("{w}");
        }
    }
    Ok(loaded.map(|(c, _)| c))
}

/// A config file that holds a password must not be readable by every local user.
fn world_readable_secret(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    if mode & 0o004 == 0 {
        return None;
    }
    // Judge by the file's own text: a password from the environment is not in the file.
    let raw = Config::load(path).ok()?;
    let holds_secret = !raw.opensearch_config.password.is_empty()
        || !raw.ssh_config.password.is_empty()
        || !raw.ssh_config.sudo_pass.is_empty()
        || !raw.tracing.otel_headers.is_empty();
    holds_secret.then(|| {
        format!(
            "{} holds a password but is readable by every user (mode {:o});              run: chmod o-r {} (or move the password to MAILTRACE_OPENSEARCH_PASSWORD)",
            path.display(),
            mode & 0o777,
            path.display()
        )
    })
}

/// Logs go to stderr only: stdout carries the command's output (JSON, DOT) untouched.
pub fn init_logging(cli_level: Option<&str>, cfg: Option<&Config>) {
    let level = cli_level
        .map(str::to_string)
        .or_else(|| cfg.map(|c| c.log_level.as_filter().to_string()))
        .unwrap_or_else(|| "info".into());
    let level = match level.to_ascii_lowercase().as_str() {
        "critical" => "error".to_string(),
        "warning" => "warn".to_string(),
        l => l.to_string(),
    };
    let filter = tracing_subscriber::EnvFilter::try_new(format!("mailtrace={level},warn"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("mailtrace=info,warn"));
    let json = cfg.is_some_and(|c| c.log_format == LogFormat::Json);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
