use super::*;

fn parse(y: &str) -> Result<Config, ConfigError> {
    Config::from_yaml_str(y, "config.yaml")
}

fn err(y: &str) -> String {
    parse(y).unwrap_err().to_string()
}

#[test]
fn empty_documents_give_defaults() {
    for y in ["", "---\n", "# only a comment\n", "\n\n"] {
        let c = parse(y).unwrap();
        assert_eq!(c.tracing, TracingConfig::default());
        assert_eq!(c.origin, "config.yaml");
    }
}

#[test]
fn null_sections_and_strings_are_defaults() {
    let c =
        parse("tracing:\nssh_config:\n  password:\n  username:\nopensearch_config:\n  mapping:\n")
            .unwrap();
    assert_eq!(c.tracing.sleep_seconds, 60);
    assert!(c.ssh_config.password.is_empty());
    assert_eq!(c.opensearch_config.mapping, Mapping::default());
}

#[test]
fn unknown_key_names_path_file_and_position() {
    let e = err("opensearch_config:\n  mapping:\n    hostnmae: x\n");
    assert!(
        e.starts_with("config.yaml: opensearch_config.mapping.hostnmae: unknown field `hostnmae`, expected one of `facility`, `hostname`"),
        "{e}"
    );
    assert!(e.ends_with("(line 3, column 5)"), "{e}");
    let e = err("ssh_config:\n  hosts:\n    mx1:\n      log_parsr: X\n");
    assert!(
        e.starts_with("config.yaml: ssh_config.hosts.mx1.log_parsr: unknown field"),
        "{e}"
    );
    let e = err("tracng: {}\n");
    assert!(e.starts_with("config.yaml: tracng: unknown field"), "{e}");
}

#[test]
fn wrong_type_names_path() {
    assert_eq!(
        err("tracing:\n  sleep_seconds: abc\n"),
        "config.yaml: tracing.sleep_seconds: invalid type: string \"abc\", expected u64 (line 2, column 18)"
    );
    assert!(err("clusters:\n  c: 5\n").starts_with("config.yaml: clusters.c: invalid type"));
    assert!(err("opensearch_config:\n  port: 70000\n")
        .starts_with("config.yaml: opensearch_config.port: invalid value"));
    assert!(
        err("ssh_config:\n  host_config:\n    log_parser: JsonParser\n").starts_with(
            "config.yaml: ssh_config.host_config.log_parser: unknown variant `JsonParser`"
        )
    );
    assert!(err("method: smtp\n").starts_with("config.yaml: method: unknown variant `smtp`"));
}

#[test]
fn syntax_error_has_position() {
    let e = err("a: [\n");
    assert!(e.starts_with("config.yaml: YAML syntax error: "), "{e}");
    assert!(e.contains("(line 2, column 1)"), "{e}");
}

#[test]
fn log_level_any_case() {
    for (s, want) in [
        ("debug", LogLevel::Debug),
        ("Warning", LogLevel::Warning),
        ("WARN", LogLevel::Warning),
        ("critical", LogLevel::Critical),
    ] {
        assert_eq!(parse(&format!("log_level: {s}\n")).unwrap().log_level, want);
    }
    assert!(err("log_level: verbose\n")
        .starts_with("config.yaml: log_level: invalid value: string \"verbose\""));
    assert_eq!(LogLevel::Critical.as_filter(), "error");
}

#[test]
fn host_entries_inherit_unset_keys() {
    let c = parse(
        "ssh_config:\n  host_config:\n    log_files: [/var/log/mail.log]\n    log_parser: Rfc3164Parser\n    time_format: '%b %d %H:%M:%S'\n  hosts:\n    mx1:\n      log_parser: Rfc5424Parser\n    mx2:\n    mx3:\n      log_files: [/a, /b]\n",
    )
    .unwrap();
    let s = &c.ssh_config;
    let mx1 = s.host_config_for("mx1");
    assert_eq!(mx1.log_parser, LogParser::Rfc5424Parser);
    assert_eq!(mx1.log_files, vec!["/var/log/mail.log"]);
    assert_eq!(mx1.time_format, "%b %d %H:%M:%S");
    assert_eq!(s.host_config_for("mx2"), s.host_config);
    assert_eq!(s.host_config_for("MX3").log_files, vec!["/a", "/b"]);
    assert_eq!(
        s.host_config_for("MX3").log_parser,
        LogParser::Rfc3164Parser
    );
    assert_eq!(s.host_config_for("unknown"), s.host_config);
}

#[test]
fn env_fills_only_empty_passwords() {
    let mut c = parse("opensearch_config:\n  username: admin\nssh_config:\n  password: fromfile\n")
        .unwrap();
    assert!(matches!(
        c.opensearch_auth(),
        Err(ConfigError::MissingPassword { .. })
    ));
    let env = |k: &str| -> Option<String> {
        match k {
            ENV_OPENSEARCH_PASSWORD => Some("os-secret".into()),
            ENV_SSH_PASSWORD => Some("ssh-env".into()),
            ENV_SUDO_PASSWORD => Some("sudo-env".into()),
            _ => None,
        }
    };
    c.apply_env(env);
    assert_eq!(c.opensearch_auth().unwrap(), Some(("admin", "os-secret")));
    assert_eq!(c.ssh_config.password.expose(), "fromfile");
    assert_eq!(c.ssh_config.sudo_pass.expose(), "sudo-env");
}

#[test]
fn password_required_only_with_username() {
    let c = parse("method: opensearch\nopensearch_config:\n  host: h\n  index: i\n").unwrap();
    c.validate().unwrap();
    assert_eq!(c.opensearch_auth().unwrap(), None);
    let c =
        parse("method: opensearch\nopensearch_config:\n  host: h\n  index: i\n  username: admin\n")
            .unwrap();
    c.validate().unwrap();
    let e = c.opensearch_auth().unwrap_err().to_string();
    assert!(e.contains("MAILTRACE_OPENSEARCH_PASSWORD"), "{e}");
}

#[test]
fn debug_hides_secrets() {
    let mut c = parse("opensearch_config:\n  password: hunter2\nssh_config:\n  sudo_pass: s3cret\ntracing:\n  otel_headers:\n    authorization: Bearer tok3n\n").unwrap();
    c.apply_env(|_| Some("envpass".into()));
    let dbg = format!("{c:?}");
    for s in ["hunter2", "s3cret", "tok3n", "envpass"] {
        assert!(!dbg.contains(s), "{s} leaked in {dbg}");
    }
    assert!(dbg.contains("***"));
}

#[test]
fn validate_method_requirements() {
    let problems = |y: &str| match parse(y).unwrap().validate() {
        Ok(()) => Vec::new(),
        Err(ConfigError::Invalid { problems, .. }) => problems,
        Err(e) => panic!("{e}"),
    };
    let p = problems("method: opensearch\n");
    assert!(p.iter().any(|p| p.starts_with("opensearch_config.host")));
    assert!(p.iter().any(|p| p.starts_with("opensearch_config.index")));
    assert!(problems("method: file\n")[0].starts_with("file_config.paths"));
    assert!(problems("method: file\nfile_config:\n  paths: ['/var/log/*.log']\n").is_empty());
    assert!(problems("method: ssh\n")[0].starts_with("ssh_config.username"));
    assert!(problems("method: ssh\nssh_config:\n  username: u\n").is_empty());
    let ok = "method: file\nfile_config:\n  paths: [x]\n";
    assert!(problems(&format!("{ok}tracing:\n  sleep_seconds: 0\n"))[0].contains("sleep_seconds"));
    assert!(problems(&format!("{ok}tracing:\n  hold_rounds: 1001\n"))[0].contains("hold_rounds"));
    assert!(problems(&format!("{ok}tracing:\n  hold_rounds: 1000\n")).is_empty());
    assert!(problems(&format!("{ok}tracing:\n  metrics_address: ''\n")).is_empty());
    assert!(
        problems(&format!("{ok}tracing:\n  metrics_address: localhost\n"))[0]
            .contains("metrics_address")
    );
}

#[test]
fn bad_time_zone_is_reported() {
    let c =
        parse("method: file\nfile_config:\n  paths: [x]\nopensearch_config:\n  time_zone: '+8'\n")
            .unwrap();
    let e = c.validate().unwrap_err().to_string();
    assert!(
        e.starts_with(
            "config.yaml: invalid configuration: opensearch_config.time_zone: invalid UTC offset"
        ),
        "{e}"
    );
    for good in ["+08:00", "-0530", "Z", "UTC", "Asia/Shanghai"] {
        let c = parse(&format!(
            "method: file\nfile_config:\n  paths: [x]\n  time_zone: '{good}'\n"
        ))
        .unwrap();
        c.validate().unwrap();
    }
    let c = parse("method: file\nfile_config:\n  paths: [x]\n  time_zone: Mars/Base\n").unwrap();
    assert!(c
        .validate()
        .unwrap_err()
        .to_string()
        .contains("file_config.time_zone: unknown time zone"));
}

#[test]
fn config_path_resolution() {
    let none = |_: &str| None;
    let set = |k: &str| (k == ENV_CONFIG).then(|| "/etc/mailtrace.yaml".to_string());
    assert_eq!(
        resolve_config_path(Some(Path::new("x.yaml")), set),
        PathBuf::from("x.yaml")
    );
    assert_eq!(
        resolve_config_path(None, set),
        PathBuf::from("/etc/mailtrace.yaml")
    );
    assert_eq!(
        resolve_config_path(None, none),
        PathBuf::from("config.yaml")
    );
    assert_eq!(
        resolve_config_path(None, |_| Some(String::new())),
        PathBuf::from("config.yaml")
    );
}

#[test]
fn clusters_and_domain() {
    let c = parse("domain: example.org\nclusters:\n  mx: [mx1, mx2.other.net]\n").unwrap();
    assert_eq!(c.cluster_hosts("mx").unwrap(), ["mx1", "mx2.other.net"]);
    assert_eq!(c.cluster_hosts("nope"), None);
    assert_eq!(c.qualify_host("mx1"), "mx1.example.org");
    assert_eq!(c.qualify_host("mx2.other.net"), "mx2.other.net");
}

#[test]
fn opensearch_password_file_fills_an_empty_password() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("opensearch-password");
    // As `echo secret > file` or systemd-creds write it: one trailing line break, dropped;
    // inner and leading spaces belong to the password.
    std::fs::write(&file, " s3cr3t pass\n").unwrap();
    let path = file.display().to_string();
    let env_with = |pw: Option<&str>| {
        let path = path.clone();
        let pw = pw.map(str::to_string);
        move |k: &str| match k {
            ENV_OPENSEARCH_PASSWORD_FILE => Some(path.clone()),
            ENV_OPENSEARCH_PASSWORD => pw.clone(),
            _ => None,
        }
    };
    let yaml = "method: opensearch\nopensearch_config:\n  host: h\n  index: i\n  username: admin\n";

    let mut c = parse(yaml).unwrap();
    c.apply_env(env_with(None));
    c.validate().unwrap();
    assert_eq!(
        c.opensearch_auth().unwrap(),
        Some(("admin", " s3cr3t pass"))
    );

    // CRLF is dropped too.
    std::fs::write(&file, "crlf\r\n").unwrap();
    let mut c = parse(yaml).unwrap();
    c.apply_env(env_with(None));
    assert_eq!(c.opensearch_config.password.expose(), "crlf");

    // The config, then MAILTRACE_OPENSEARCH_PASSWORD, win over the file.
    let mut c = parse(yaml).unwrap();
    c.apply_env(env_with(Some("from-env")));
    assert_eq!(c.opensearch_config.password.expose(), "from-env");
    let mut c = parse(&format!("{yaml}  password: from-config\n")).unwrap();
    c.apply_env(env_with(Some("from-env")));
    assert_eq!(c.opensearch_config.password.expose(), "from-config");
}

#[test]
fn unreadable_or_empty_password_file_is_reported_by_validate() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "method: opensearch\nopensearch_config:\n  host: h\n  index: i\n  username: admin\n";
    let missing = dir.path().join("nope").display().to_string();
    let mut c = parse(yaml).unwrap();
    c.apply_env(|k| (k == ENV_OPENSEARCH_PASSWORD_FILE).then(|| missing.clone()));
    let e = c.validate().unwrap_err().to_string();
    assert!(
        e.starts_with("config.yaml: invalid configuration: MAILTRACE_OPENSEARCH_PASSWORD_FILE=")
            && e.contains("nope: cannot read:"),
        "{e}"
    );

    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let empty = empty.display().to_string();
    let mut c = parse(yaml).unwrap();
    c.apply_env(|k| (k == ENV_OPENSEARCH_PASSWORD_FILE).then(|| empty.clone()));
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("the file is empty"), "{e}");

    // Not consulted when a password is already set: a stale variable does no harm.
    let mut c = parse(&format!("{yaml}  password: x\n")).unwrap();
    c.apply_env(|k| (k == ENV_OPENSEARCH_PASSWORD_FILE).then(|| missing.clone()));
    c.validate().unwrap();
}
