//! `mailtrace mcp` driven by the official MCP Python SDK (`tests/mcp/client.py`, PyPI
//! `mcp`, installed into .venv-ci by .ci/install-test-peers) against osmem-server loaded with
//! the shared seed: listings, the clusters resource, every tool, tool errors for bad input;
//! and, over raw pipes, that stdout carries nothing but JSON-RPC.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::osmem::Osmem;
use common::seed::{documents, opensearch_config};
use mailtrace::trace::ids;
use serde_json::{json, Value};

const AT: &str = "2026-02-04 08:00:00";
const CLUSTERS: &str = "clusters:\n  outbound: [smtp1, smtp2]\n  inbound: [mx1, mx2]\n";

fn python() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-ci/bin/python");
    assert!(
        p.is_file(),
        "{} missing: run .ci/install-test-peers (installs the MCP Python SDK)",
        p.display()
    );
    p
}

fn drive(config: &Path, calls: &Value) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/client.py");
    let o = Command::new(python())
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_mailtrace"))
        .arg(config)
        .arg(calls.to_string())
        .output()
        .expect("run the Python MCP client");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "client failed: {err}");
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("client output is not JSON ({e}): {err}"))
}

fn ok(out: &Value, i: usize) -> &Value {
    let c = &out["calls"][i];
    assert_eq!(c["is_error"], false, "call {i} failed: {c:#}");
    let text: Value = serde_json::from_str(c["text"][0].as_str().unwrap()).unwrap();
    assert_eq!(text, c["structured"], "text and structured content agree");
    &c["structured"]
}

fn tool_error(out: &Value, i: usize) -> String {
    let c = &out["calls"][i];
    assert_eq!(c["is_error"], true, "call {i} should fail: {c:#}");
    let text = c["text"][0].as_str().unwrap().to_string();
    assert_eq!(text.lines().count(), 1, "one line: {text}");
    text
}

#[test]
fn python_sdk_client_lists_reads_and_calls_every_tool() {
    let os = Osmem::start();
    os.bulk_index("mail-seed", &documents());
    let dir = tempfile::tempdir().unwrap();
    let config = opensearch_config(dir.path(), os.port, CLUSTERS);
    let window = |mut v: Value| {
        v["time"] = json!(AT);
        v["time_range"] = json!("1h");
        v
    };
    let calls = json!([
        ["mailtrace_trace_mail", window(json!({"host": "smtp1", "mail_id": "A1001CC0001"}))],
        ["mailtrace_query_logs",
         window(json!({"host": "outbound", "keywords": ["alice@internal.example.org"]}))],
        ["mailtrace_trace_message",
         window(json!({"message_id": "<msg-s1-001@internal.example.org>"}))],
        // The same instant in UTC, stated explicitly.
        ["mailtrace_trace_mail",
         {"host": "smtp1", "mail_id": "A1001CC0001", "time": "2026-02-04T08:00:00Z",
          "time_range": "30m"}],
        ["mailtrace_trace_mail", {"host": "smtp1", "mail_id": "A1001CC0001",
                                  "time": "04.02.2026 08:00", "time_range": "1h"}],
        ["mailtrace_query_logs", window(json!({"host": "nosuchcluster", "keywords": ["x"]}))],
        ["mailtrace_query_logs", window(json!({"host": "no such/host", "keywords": ["x"]}))],
        ["mailtrace_trace_mail", {"host": "smtp1", "mail_id": "A1001CC0001", "time": AT,
                                  "time_range": "3d"}],
        ["mailtrace_trace_mail", window(json!({"host": "smtp1", "mail_id": "NOSUCHID"}))],
        ["mailtrace_query_logs", window(json!({"host": "smtp1"}))],
    ]);
    let out = drive(&config, &calls);

    assert_eq!(out["server"]["name"], "mailtrace");
    let tools: Vec<&str> = out["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        tools,
        [
            "mailtrace_query_logs",
            "mailtrace_trace_mail",
            "mailtrace_trace_message"
        ]
    );
    for t in out["tools"].as_array().unwrap() {
        let d = t["description"].as_str().unwrap();
        assert!(d.contains("+00:00"), "zone named in {d}");
        let time = t["inputSchema"]["properties"]["time"]["description"]
            .as_str()
            .unwrap();
        assert!(
            time.contains("YYYY-MM-DD HH:MM:SS") && time.contains('Z'),
            "{time}"
        );
    }
    assert_eq!(out["resources"], json!(["mailtrace://clusters"]));
    let res = &out["clusters"][0];
    assert_eq!(res["mime_type"], "application/json");
    let clusters: Value = serde_json::from_str(res["text"].as_str().unwrap()).unwrap();
    assert_eq!(
        clusters,
        json!({"inbound": ["mx1", "mx2"], "outbound": ["smtp1", "smtp2"]})
    );

    // trace_mail: the relay path with the queue ID each edge delivered to.
    let trace = ids::hex(&ids::trace_id("msg-s1-001@internal.example.org"));
    let t = ok(&out, 0);
    assert_eq!(t["message_id"], "msg-s1-001@internal.example.org");
    assert_eq!(t["trace_id"], trace);
    assert_eq!(
        t["nodes"],
        json!(["smtp1", "relay1", "mx.external.example.com"])
    );
    let edges: Vec<(&str, &str, &str)> = t["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["from"].as_str().unwrap(),
                e["to"].as_str().unwrap(),
                e["mail_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        edges,
        [
            ("smtp1", "relay1", "B1001CC0001"),
            ("relay1", "mx.external.example.com", "EXT00001")
        ]
    );
    assert_eq!(t["edges"][0]["from_mail_id"], "A1001CC0001");
    assert_eq!(t["hop_count"], 2);
    assert_eq!(t["outcome"], "delivered");
    assert_eq!(t["total_delay_seconds"], 4.0);
    let last = t["deliveries"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["recipient"], "bob@external.example.com");
    assert_eq!(last["host"], "relay1");
    assert_eq!(last["status"], "sent");
    assert_eq!(last["dsn"], "2.0.0");
    assert!(last["reply"]
        .as_str()
        .unwrap()
        .contains("queued as EXT00001"));
    let dot = t["graph_dot"].as_str().unwrap();
    assert!(
        dot.starts_with("digraph") && dot.contains("\"smtp1\" -> \"relay1\""),
        "{dot}"
    );
    assert_eq!(t["window"]["from"], "2026-02-04T07:00:00.000Z");

    // query_logs on a cluster: every hop's lines, grouped by queue ID.
    let q = ok(&out, 1);
    assert_eq!(q["hosts"], json!(["smtp1", "smtp2"]));
    let mails = q["mails"].as_array().unwrap();
    let a = mails
        .iter()
        .find(|m| m["mail_id"] == "A1001CC0001")
        .expect("A1001CC0001 in the result");
    assert_eq!(a["host"], "smtp1");
    assert_eq!(a["trace_id"], trace);
    let lines = a["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 5, "{a:#}");
    assert!(
        lines.iter().any(|l| l["line"]
            .as_str()
            .unwrap()
            .contains("queued as B1001CC0001")),
        "{a:#}"
    );
    assert!(mails
        .iter()
        .any(|m| m["mail_id"] == "B1001CC0001" && m["host"] == "relay1"));

    // trace_message: the same path found by Message-ID on every host.
    let m = ok(&out, 2);
    assert_eq!(m["trace_id"], trace);
    assert_eq!(m["edges"], t["edges"]);

    // An explicit UTC time finds the same.
    assert_eq!(ok(&out, 3)["trace_id"], trace);

    // Bad input: tool errors with one line each.
    let e = tool_error(&out, 4);
    assert!(
        e.contains("malformed time") && e.contains("YYYY-MM-DD HH:MM:SS"),
        "{e}"
    );
    let e = tool_error(&out, 5);
    assert!(
        e.contains("unknown host or cluster") && e.contains("nosuchcluster"),
        "{e}"
    );
    assert!(e.contains("inbound, outbound"), "known clusters named: {e}");
    let e = tool_error(&out, 6);
    assert!(e.contains("unknown host or cluster"), "{e}");
    let e = tool_error(&out, 7);
    assert!(e.contains("limit of 24h"), "{e}");
    let e = tool_error(&out, 8);
    assert!(e.contains("no message with queue ID NOSUCHID"), "{e}");
    let e = tool_error(&out, 9);
    assert!(e.contains("keywords"), "{e}");
}

#[test]
fn stdout_is_only_json_rpc_and_the_range_limit_is_configurable() {
    let os = Osmem::start();
    os.bulk_index("mail-seed", &documents());
    let dir = tempfile::tempdir().unwrap();
    // Debug logging on stderr must not leak into stdout.
    let config = opensearch_config(
        dir.path(),
        os.port,
        "log_level: debug\nmcp:\n  max_time_range_hours: 2\n",
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailtrace"))
        .args(["mcp", "-c"])
        .arg(&config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let requests = [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
            "name": "mailtrace_trace_mail", "arguments": {"host": "smtp1",
            "mail_id": "A1001CC0001", "time": AT, "time_range": "2h"}}}),
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
            "name": "mailtrace_trace_mail", "arguments": {"host": "smtp1",
            "mail_id": "A1001CC0001", "time": AT, "time_range": "3h"}}}),
    ];
    let mut stdin = child.stdin.take().unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut responses = Vec::new();
    for r in &requests {
        writeln!(stdin, "{r}").unwrap();
        stdin.flush().unwrap();
        if r.get("id").is_none() {
            continue;
        }
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line:?}"));
        assert_eq!(v["jsonrpc"], "2.0", "{v}");
        assert_eq!(v["id"], r["id"], "{v}");
        responses.push(v);
    }
    drop(stdin);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut reader, &mut rest).unwrap();
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(rest.trim().is_empty(), "nothing else on stdout: {rest:?}");
    assert!(status.success(), "exits 0 when the client hangs up: {err}");

    assert!(responses[0]["result"]["capabilities"]["tools"].is_object());
    assert_eq!(responses[1]["result"]["isError"], false, "{}", responses[1]);
    assert_eq!(responses[1]["result"]["structuredContent"]["hop_count"], 2);
    assert_eq!(responses[2]["result"]["isError"], true, "{}", responses[2]);
    let text = responses[2]["result"]["content"][0]["text"]
        .as_str()
        .unwrap();
    assert!(text.contains("limit of 2h"), "{text}");
}
