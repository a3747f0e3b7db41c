//! `mailtrace run` / `trace` / `graph` against a real OpenSearch REST peer (osmem-server)
//! loaded with the seed scenarios: each scenario's path in text, JSON and DOT, clusters,
//! domains, keywords of every kind, and one clear line for every kind of bad input.

mod common;

use std::path::PathBuf;

use common::osmem::Osmem;
use common::seed::{
    assert_dot_renders, assert_one_line_error, documents, mailtrace, opensearch_config, stderr,
    stdout,
};
use mailtrace::trace::ids;
use serde_json::Value;

const AT: &str = "2026-02-04 08:00:00";

struct Seeded {
    _os: Osmem,
    dir: tempfile::TempDir,
    config: PathBuf,
}

fn seeded(extra_config: &str) -> Seeded {
    let os = Osmem::start();
    os.bulk_index("mail-seed", &documents());
    let dir = tempfile::tempdir().unwrap();
    let config = opensearch_config(dir.path(), os.port, extra_config);
    Seeded {
        _os: os,
        dir,
        config,
    }
}

fn run_json(s: &Seeded, host: &str, keywords: &[&str]) -> Value {
    let mut args = vec![
        "run",
        "-h",
        host,
        "--time",
        AT,
        "--time-range",
        "1h",
        "--json",
    ];
    for k in keywords {
        args.extend(["-k", k]);
    }
    let o = mailtrace(&s.config, &args);
    assert!(o.status.success(), "run failed: {}", stderr(&o));
    serde_json::from_str(&stdout(&o)).expect("stdout is one JSON document")
}

fn hop_hosts(msg: &Value) -> Vec<&str> {
    msg["hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["host"].as_str().unwrap())
        .collect()
}

fn message<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["message_id"] == id)
        .unwrap_or_else(|| panic!("no message {id} in {doc:#}"))
}

#[test]
fn relay_to_external_in_text_json_and_dot() {
    let s = seeded("");
    let args = [
        "run",
        "-h",
        "smtp1",
        "-k",
        "alice@internal.example.org",
        "--time",
        AT,
        "--time-range",
        "1h",
    ];
    let o = mailtrace(&s.config, &args);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let trace = ids::hex(&ids::trace_id("msg-s1-001@internal.example.org"));
    assert!(
        text.contains("message <msg-s1-001@internal.example.org>"),
        "{text}"
    );
    assert!(text.contains(&trace), "trace ID in the text: {text}");
    assert!(
        text.contains("path: smtp1 → relay1 → mx.external.example.com"),
        "{text}"
    );
    for qid in ["A1001CC0001", "B1001CC0001", "EXT00001"] {
        assert!(text.contains(qid), "{qid} in {text}");
    }
    assert!(text.contains("4.00s"), "total time: {text}");
    assert_eq!(
        text.matches("message <").count(),
        1,
        "only the match: {text}"
    );

    // The `trace` alias is the same command.
    let mut alias = args;
    alias[0] = "trace";
    let o2 = mailtrace(&s.config, &alias);
    assert_eq!(stdout(&o2), text);

    let doc = run_json(&s, "smtp1", &["alice@internal.example.org"]);
    assert_eq!(doc["messages"].as_array().unwrap().len(), 1);
    let m = message(&doc, "msg-s1-001@internal.example.org");
    assert_eq!(m["trace_id"], trace);
    assert_eq!(m["outcome"], "delivered");
    assert_eq!(m["total_seconds"], 4.0);
    assert_eq!(hop_hosts(m), ["smtp1", "relay1"]);
    assert_eq!(m["hops"][0]["parent"], Value::Null);
    assert_eq!(m["hops"][1]["parent"], 0);
    assert_eq!(m["hops"][0]["queue_id"], "A1001CC0001");
    assert_eq!(
        m["hops"][0]["client"],
        "webmail.internal.example.org[10.0.0.5]"
    );
    assert_eq!(m["hops"][0]["sender"], "alice@internal.example.org");
    let last = &m["hops"][1]["attempts"][0];
    assert_eq!(last["recipients"][0], "bob@external.example.com");
    assert_eq!(last["status"], "sent");
    assert_eq!(last["dsn"], "2.0.0");
    assert_eq!(last["relay"], "mx.external.example.com[203.0.113.10]:25");
    assert_eq!(last["reply"], "250 2.0.0 Ok: queued as EXT00001");
    assert_eq!(last["delay"], 1.5);
    assert_eq!(last["time"], "2026-02-04T08:00:05.000Z");
    assert_eq!(
        m["path"],
        serde_json::json!([["smtp1", "relay1", "mx.external.example.com"]])
    );

    let o = mailtrace(
        &s.config,
        &[
            "graph",
            "-h",
            "smtp1",
            "-k",
            "alice@internal.example.org",
            "--time",
            AT,
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let dot = stdout(&o);
    assert!(dot.starts_with("digraph mailtrace {"), "{dot}");
    assert!(
        dot.contains(r#""smtp1" -> "relay1" [label="A1001CC0001 → B1001CC0001"];"#),
        "{dot}"
    );
    assert!(
        dot.contains(r#""relay1" -> "mx.external.example.com" [label="B1001CC0001"];"#),
        "{dot}"
    );
    assert_dot_renders(&dot);
}

#[test]
fn three_relay_hops_found_by_message_id() {
    let s = seeded("");
    let doc = run_json(&s, "mx1", &["<msg-inbound-003@bigcorp.example.net>"]);
    assert_eq!(doc["messages"].as_array().unwrap().len(), 1, "{doc:#}");
    let m = message(&doc, "msg-inbound-003@bigcorp.example.net");
    assert_eq!(hop_hosts(m), ["mx1", "list1", "relay1"]);
    let parents: Vec<&Value> = m["hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| &h["parent"])
        .collect();
    assert_eq!(parents, [&Value::Null, &Value::from(0), &Value::from(1)]);
    assert_eq!(m["outcome"], "delivered");
    assert_eq!(
        m["path"],
        serde_json::json!([["mx1", "list1", "relay1", "local"]])
    );
    assert_eq!(m["hops"][2]["attempts"][0]["reply"], "delivered to maildir");
}

#[test]
fn a_queue_id_on_a_middle_host_finds_the_hops_before_and_after() {
    let s = seeded("");
    let doc = run_json(&s, "relay1", &["B1001CC0001"]);
    let m = message(&doc, "msg-s1-001@internal.example.org");
    assert_eq!(hop_hosts(m), ["smtp1", "relay1"]);
}

#[test]
fn two_recipients_each_with_their_status() {
    let s = seeded("");
    let doc = run_json(&s, "mx1", &["sender@bigcorp.example.net"]);
    assert_eq!(doc["messages"].as_array().unwrap().len(), 1, "{doc:#}");
    let m = message(&doc, "msg-fanout-006@bigcorp.example.net");
    assert_eq!(hop_hosts(m), ["mx1", "list1"]);
    let attempts = m["hops"][1]["attempts"].as_array().unwrap();
    let rcpts: Vec<&str> = attempts
        .iter()
        .map(|a| a["recipients"][0].as_str().unwrap())
        .collect();
    assert_eq!(
        rcpts,
        ["user-a@mail.example.org", "user-b@mail.example.org"]
    );
    assert!(attempts.iter().all(|a| a["status"] == "sent"));
    assert_eq!(m["outcome"], "delivered");

    let o = mailtrace(
        &s.config,
        &[
            "run",
            "-h",
            "mx1",
            "-k",
            "sender@bigcorp.example.net",
            "--time",
            AT,
        ],
    );
    let text = stdout(&o);
    assert!(
        text.contains("user-a@mail.example.org sent (2.0.0)"),
        "{text}"
    );
    assert!(
        text.contains("user-b@mail.example.org sent (2.0.0)"),
        "{text}"
    );
}

#[test]
fn bounce_with_its_dsn_and_the_notification_message() {
    let s = seeded("");
    let doc = run_json(&s, "smtp1", &["spammer@internal.example.org"]);
    assert_eq!(doc["messages"].as_array().unwrap().len(), 2, "{doc:#}");
    let m = message(&doc, "msg-spam-007@internal.example.org");
    assert_eq!(m["outcome"], "bounced");
    assert_eq!(hop_hosts(m), ["smtp1", "relay1", "list1"]);
    let bounce = &m["hops"][2]["attempts"][0];
    assert_eq!(bounce["status"], "bounced");
    assert_eq!(bounce["dsn"], "5.1.1");
    assert!(
        bounce["reply"]
            .as_str()
            .unwrap()
            .contains("550 5.7.1 Spam content rejected"),
        "{bounce}"
    );
    assert_eq!(m["hops"][2]["notices"][0]["queue_id"], "E1003CC0007");
    assert_eq!(m["hops"][2]["notices"][0]["kind"], "non_delivery");
    assert_eq!(
        m["path"],
        serde_json::json!([["smtp1", "relay1", "list1", "bounced"]])
    );

    let ndn = message(&doc, "bounce-msg-spam-007@list1");
    assert_eq!(
        ndn["notice_of"]["message_id"],
        "msg-spam-007@internal.example.org"
    );
    assert_eq!(ndn["notice_of"]["queue_id"], "D1003CC0007");
    assert_eq!(hop_hosts(ndn), ["list1", "relay1", "smtp1"]);
    assert_eq!(ndn["hops"][0]["sender"], "");
    assert_eq!(
        ndn["path"],
        serde_json::json!([["list1", "relay1", "smtp1", "local"]])
    );

    let o = mailtrace(
        &s.config,
        &[
            "graph",
            "-h",
            "smtp1",
            "-k",
            "spammer@internal.example.org",
            "--time",
            AT,
        ],
    );
    let dot = stdout(&o);
    assert!(
        dot.contains(
            r#""list1" -> "list1/bounced" [label="D1003CC0007 bounced 5.1.1", color=red];"#
        ),
        "{dot}"
    );
    assert_dot_renders(&dot);
}

#[test]
fn deferred_delivery_shows_where_it_is_stuck() {
    let s = seeded("");
    let doc = run_json(&s, "mx1", &["news@vendor.example.com"]);
    let m = message(&doc, "msg-deferred-005@vendor.example.com");
    assert_eq!(m["outcome"], "deferred");
    assert_eq!(hop_hosts(m), ["mx1", "list1"]);
    let a = &m["hops"][1]["attempts"][0];
    assert_eq!(a["status"], "deferred");
    assert_eq!(a["dsn"], "4.7.1");
    assert!(a["reply"].as_str().unwrap().contains("connect to"), "{a}");
    assert_eq!(a["delay"], 120.5);
    assert_eq!(m["hops"][1]["finished"], false);
    assert_eq!(
        m["path"],
        serde_json::json!([["mx1", "list1", "relay1 (deferred)"]])
    );

    let o = mailtrace(
        &s.config,
        &[
            "run",
            "-h",
            "mx1",
            "-k",
            "news@vendor.example.com",
            "--time",
            AT,
        ],
    );
    let text = stdout(&o);
    assert!(text.contains("deferred"), "{text}");
    assert!(text.contains("(still queued)"), "{text}");
    assert!(
        text.contains("path: mx1 → list1 → relay1 (deferred)"),
        "{text}"
    );

    let o = mailtrace(
        &s.config,
        &[
            "graph",
            "-h",
            "mx1",
            "-k",
            "news@vendor.example.com",
            "--time",
            AT,
        ],
    );
    let dot = stdout(&o);
    assert!(
        dot.contains(
            r#""list1" -> "relay1" [label="D3003CC0005 deferred 4.7.1", style=dashed, color=orange];"#
        ),
        "{dot}"
    );
    assert_dot_renders(&dot);
}

#[test]
fn a_cluster_searches_all_its_hosts_and_a_domain_matches_addresses() {
    let s = seeded("clusters:\n  inbound: [mx1, mx2]\n");
    // `example.org` is no whole token of `team@mail.example.org`: found by the wildcard clause.
    let doc = run_json(&s, "inbound", &["example.org"]);
    let mut ids: Vec<&str> = doc["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message_id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            "msg-deferred-005@vendor.example.com",
            "msg-fanout-006@bigcorp.example.net",
            "msg-inbound-003@bigcorp.example.net",
            "msg-inbound-004@partner.example.net",
        ]
    );
    // The NOQUEUE rejections on mx1 and mx2 name no example.org address.
    assert_eq!(doc["rejects"].as_array().unwrap().len(), 0, "{doc:#}");
}

#[test]
fn short_names_get_the_domain_and_still_match_short_log_names() {
    // Logs say `smtp1`; `-h smtp1` becomes smtp1.corp.example, which must still find them.
    let s = seeded("domain: corp.example\n");
    let doc = run_json(&s, "smtp1", &["alice@internal.example.org"]);
    let m = message(&doc, "msg-s1-001@internal.example.org");
    assert_eq!(hop_hosts(m), ["smtp1", "relay1"]);
}

#[test]
fn time_is_local_time_in_the_configured_zone() {
    // 16:00 at +08:00 is 08:00 UTC: msg-s1-001 (08:00:01Z) is within 5 minutes of it.
    let s = seeded("");
    let text = std::fs::read_to_string(&s.config)
        .unwrap()
        .replace("  index:", "  time_zone: \"+08:00\"\n  index:");
    std::fs::write(&s.config, text).unwrap();
    let args = |t: &'static str| {
        [
            "run",
            "-h",
            "smtp1",
            "-k",
            "alice@internal.example.org",
            "--time",
            t,
            "--time-range",
            "5m",
        ]
    };
    let o = mailtrace(&s.config, &args("2026-02-04 16:00:00"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("msg-s1-001@internal.example.org"));
    let o = mailtrace(&s.config, &args("2026-02-04 08:00:00"));
    assert_eq!(o.status.code(), Some(1), "08:00 at +08:00 is midnight UTC");
}

#[test]
fn a_rejection_before_queueing_is_reported() {
    let s = seeded("");
    let doc = run_json(&s, "mx1", &["spam@botnet.example"]);
    assert_eq!(doc["messages"].as_array().unwrap().len(), 0);
    let r = &doc["rejects"][0];
    assert_eq!(r["host"], "mx1");
    assert_eq!(r["code"], "554");
    assert_eq!(r["dsn"], "5.7.1");
}

#[test]
fn graph_writes_only_dot_to_stdout_or_the_file_and_pipes_into_dot() {
    let s = seeded("");
    let search = [
        "-h",
        "mx1",
        "-k",
        "bigcorp.example.net",
        "--time",
        AT,
        "--time-range",
        "1h",
    ];
    // Debug logging must not leak into the graph.
    let mut args = vec!["--log-level", "debug", "graph"];
    args.extend(search);
    let o = mailtrace(&s.config, &args);
    assert!(o.status.success(), "{}", stderr(&o));
    let dot = stdout(&o);
    assert!(
        dot.starts_with("digraph mailtrace {") && dot.ends_with("}\n"),
        "{dot}"
    );

    let mut dash = vec!["graph", "-o", "-"];
    dash.extend(search);
    assert_eq!(stdout(&mailtrace(&s.config, &dash)), dot);

    let file = s.dir.path().join("out.dot");
    let file_s = file.display().to_string();
    let mut to_file = vec!["graph", "-o", &file_s];
    to_file.extend(search);
    let o = mailtrace(&s.config, &to_file);
    assert!(o.status.success());
    assert!(o.stdout.is_empty(), "nothing on stdout with -o FILE");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), dot);

    // The operator's pipeline, for real.
    let svg = s.dir.path().join("out.svg");
    let pipeline = format!(
        "{} -c '{}' --log-level debug graph {} | dot -Tsvg > '{}'",
        env!("CARGO_BIN_EXE_mailtrace"),
        s.config.display(),
        search
            .iter()
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(" "),
        svg.display()
    );
    let st = std::process::Command::new("bash")
        .args(["-o", "pipefail", "-c", &pipeline])
        .status()
        .unwrap();
    assert!(st.success(), "{pipeline}");
    let svg = std::fs::read_to_string(svg).unwrap();
    assert!(svg.contains("<svg") && svg.contains("C3001CC0003"), "{svg}");
}

#[test]
fn bad_input_is_one_clear_line_and_a_failure() {
    let s = seeded("clusters:\n  empty: []\n");
    let base = |extra: &[&'static str]| {
        let mut a = vec!["run", "-k", "alice@internal.example.org"];
        a.extend(extra);
        a
    };
    let o = mailtrace(&s.config, &base(&["-h", "nosuch", "--time", AT]));
    assert_one_line_error(&o, "unknown host or cluster \"nosuch\"");
    assert_eq!(o.status.code(), Some(2));

    let o = mailtrace(&s.config, &base(&["-h", "empty", "--time", AT]));
    assert_one_line_error(&o, "cluster \"empty\" has no hosts");

    let o = mailtrace(
        &s.config,
        &base(&["-h", "smtp1", "--time", "04.02.2026 8:00"]),
    );
    assert_one_line_error(&o, "malformed time \"04.02.2026 8:00\"");

    let o = mailtrace(
        &s.config,
        &base(&["-h", "smtp1", "--time", AT, "--time-range", "ten hours"]),
    );
    assert_one_line_error(&o, "malformed time range");

    // Empty result: not an error of the program, but no answer; exit status 1.
    let o = mailtrace(
        &s.config,
        &[
            "run",
            "-h",
            "smtp1",
            "-k",
            "nobody@nowhere.example",
            "--time",
            AT,
        ],
    );
    assert_one_line_error(&o, "no message found");
    assert_eq!(o.status.code(), Some(1));
    let o = mailtrace(
        &s.config,
        &[
            "graph",
            "-h",
            "smtp1",
            "-k",
            "nobody@nowhere.example",
            "--time",
            AT,
        ],
    );
    assert_one_line_error(&o, "no message found");

    // Unreachable server: a port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let dir = tempfile::tempdir().unwrap();
    let cfg = opensearch_config(dir.path(), port, "");
    let o = mailtrace(&cfg, &base(&["-h", "smtp1", "--time", AT]));
    assert_one_line_error(&o, "cannot connect");
    assert_eq!(o.status.code(), Some(2));
}
