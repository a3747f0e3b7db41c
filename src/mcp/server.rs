//! MCP over stdio (rmcp): tool and resource listings, and the dispatch of calls to `Tools`.
//! A bad argument or a failed search is a tool result with `isError: true` and one line the
//! agent can act on; only an unknown tool or resource is a protocol error. Nothing but
//! JSON-RPC is written to stdout.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    InitializeResult, JsonObject, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource,
    ResourceContents, ServerCapabilities, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::{Tools, CLUSTERS_URI};
use crate::config::Config;

pub const QUERY_LOGS: &str = "mailtrace_query_logs";
pub const TRACE_MAIL: &str = "mailtrace_trace_mail";
pub const TRACE_MESSAGE: &str = "mailtrace_trace_message";

#[derive(Clone)]
pub struct McpServer {
    tools: Arc<Tools>,
}

/// Serve MCP on stdin/stdout until the client closes the connection.
pub async fn serve_stdio(cfg: Config) -> anyhow::Result<()> {
    let server = McpServer::new(cfg)?;
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| anyhow::anyhow!("MCP initialisation failed: {e}"))?;
    running.waiting().await?;
    Ok(())
}

impl McpServer {
    pub fn new(cfg: Config) -> anyhow::Result<McpServer> {
        Ok(McpServer {
            tools: Arc::new(Tools::new(cfg)?),
        })
    }

    /// The tool listing; descriptions name the configured zone, which agents must use.
    pub fn definitions(&self) -> Vec<Tool> {
        let zone = self.tools.zone_label();
        let time_doc = format!(
            "Centre of the search window: local time in the log source's zone ({zone}) as \
             \"YYYY-MM-DD HH:MM:SS\"; for UTC append Z (\"2026-02-04T08:00:00Z\") or give an \
             offset (\"2026-02-04 10:00:00+02:00\"). Default: now."
        );
        let max_h = self.tools.config().mcp.max_time_range_hours;
        let range_doc = format!(
            "Half-width of the window: log lines in time ± range are searched. A number with \
             unit s, m, h or d (\"30m\", \"2h\"); default 1h; at most {max_h}h (longer is \
             refused)."
        );
        let host_doc = "A cluster name (see the resource mailtrace://clusters) or a host name \
                        as it appears in the logs; short names get the configured domain.";
        let window = |mut props: JsonObject, required: &[&str]| -> JsonObject {
            props.insert(
                "time".into(),
                json!({"type": "string", "description": time_doc}),
            );
            props.insert(
                "time_range".into(),
                json!({"type": "string", "description": range_doc}),
            );
            let mut schema = JsonObject::new();
            schema.insert("type".into(), json!("object"));
            schema.insert("properties".into(), Value::Object(props));
            schema.insert("required".into(), json!(required));
            schema.insert("additionalProperties".into(), json!(false));
            schema
        };
        let obj = |v: Value| match v {
            Value::Object(m) => m,
            _ => JsonObject::new(),
        };
        vec![
            Tool::new(
                QUERY_LOGS,
                format!(
                    "Search the mail logs on a host or cluster for keywords (address, domain, \
                     queue ID, Message-ID, SASL user; any matches, case-insensitive) and return \
                     the matching messages grouped by mail ID (queue ID) per host, each with \
                     its log lines, followed across relay hops; plus NOQUEUE rejections. Times \
                     are read in {zone} unless they carry Z or an offset; results are in UTC."
                ),
                window(
                    obj(json!({
                        "host": {"type": "string", "description": host_doc},
                        "keywords": {"type": "array", "items": {"type": "string"},
                                     "minItems": 1,
                                     "description": "Strings to look for; a line matching any matches."},
                    })),
                    &["host", "keywords"],
                ),
            ),
            Tool::new(
                TRACE_MAIL,
                format!(
                    "Trace the mail that had queue ID mail_id on host: nodes (hosts, remote \
                     destinations, host/local for local delivery), edges {{from, to, mail_id}} \
                     where mail_id is the queue ID the edge delivered to (null when unknown) and \
                     from_mail_id the one it left under, hop_count (logged hops = spans), \
                     per-recipient deliveries (status, dsn, reply), total_delay_seconds, \
                     trace_id (OpenTelemetry) and graph_dot (Graphviz). Times are read in \
                     {zone} unless they carry Z or an offset; results are in UTC."
                ),
                window(
                    obj(json!({
                        "host": {"type": "string", "description": host_doc},
                        "mail_id": {"type": "string",
                                    "description": "Postfix or Exim queue ID on that host."},
                    })),
                    &["host", "mail_id"],
                ),
            ),
            Tool::new(
                TRACE_MESSAGE,
                format!(
                    "Trace a mail by its Message-ID header on every host (with method: ssh, \
                     the hosts of all configured clusters); same result as \
                     {TRACE_MAIL}. Times are read in {zone} unless they carry Z or an \
                     offset; results are in UTC."
                ),
                window(
                    obj(json!({
                        "message_id": {"type": "string",
                                       "description": "Message-ID, with or without <>."},
                    })),
                    &["message_id"],
                ),
            ),
        ]
    }

    async fn call(&self, name: &str, args: Option<JsonObject>) -> Result<Value, String> {
        let args = Value::Object(args.unwrap_or_default());
        let t = &self.tools;
        let r = match name {
            QUERY_LOGS => t.query_logs(parse(args)?).await,
            TRACE_MAIL => t.trace_mail(parse(args)?).await,
            TRACE_MESSAGE => t.trace_message(parse(args)?).await,
            _ => unreachable!("checked by call_tool"),
        };
        r.map_err(|e| e.0)
    }
}

/// Arguments that do not fit the schema are a tool error naming the field.
fn parse<T: DeserializeOwned>(args: Value) -> Result<T, String> {
    serde_path_to_error::deserialize(args).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            format!("bad arguments: {}", e.inner())
        } else {
            format!("bad argument {path}: {}", e.inner())
        }
    })
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> InitializeResult {
        InitializeResult::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
        .with_server_info(Implementation::new("mailtrace", env!("CARGO_PKG_VERSION")))
        .with_instructions(format!(
            "mailtrace follows emails through Postfix/Exim logs. Start with {QUERY_LOGS} \
             (keywords on a host or cluster), then {TRACE_MAIL} with a queue ID it found, or \
             {TRACE_MESSAGE} with a Message-ID. Times without Z or offset are local time in \
             {}. Clusters: resource {CLUSTERS_URI}.",
            self.tools.zone_label()
        ))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.definitions()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.as_ref();
        if ![QUERY_LOGS, TRACE_MAIL, TRACE_MESSAGE].contains(&name) {
            return Err(ErrorData::invalid_params(
                format!("unknown tool {name:?}"),
                None,
            ));
        }
        let result = match self.call(name, request.arguments).await {
            Ok(v) => CallToolResult::structured(v),
            Err(line) => {
                tracing::info!("{name}: {line}");
                CallToolResult::error(vec![ContentBlock::text(line)])
            }
        };
        Ok(result.into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(vec![Resource::new(
            CLUSTERS_URI,
            "clusters",
        )
        .with_description("Configured clusters: JSON object, cluster name → host names")
        .with_mime_type("application/json")]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        if request.uri != CLUSTERS_URI {
            return Err(ErrorData::resource_not_found(
                format!("no resource {}", request.uri),
                None,
            ));
        }
        let text = serde_json::to_string_pretty(&self.tools.clusters())
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        Ok(ReadResourceResult::new(vec![
            ResourceContents::text(text, CLUSTERS_URI).with_mime_type("application/json")
        ])
        .into())
    }
}
