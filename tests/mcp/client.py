"""Drives `mailtrace mcp` with the official MCP Python SDK over stdio.

Usage: client.py MAILTRACE_BINARY CONFIG CALLS_JSON
CALLS_JSON is a list of [tool_name, arguments]. Prints one JSON document on stdout: the
server info, the tool and resource listings, the clusters resource and each call's result
(isError, the text content, the structured content). The Rust test judges it.
"""

import asyncio
import json
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main(binary, config, calls):
    params = StdioServerParameters(command=binary, args=["mcp", "-c", config], env={})
    out = {}
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            out["server"] = {
                "name": init.server_info.name,
                "protocol_version": init.protocol_version,
                "instructions": init.instructions,
            }
            tools = await session.list_tools()
            out["tools"] = [t.model_dump(mode="json", by_alias=True) for t in tools.tools]
            resources = await session.list_resources()
            out["resources"] = [str(r.uri) for r in resources.resources]
            contents = await session.read_resource("mailtrace://clusters")
            out["clusters"] = [
                {"uri": str(c.uri), "mime_type": c.mime_type, "text": c.text}
                for c in contents.contents
            ]
            out["calls"] = []
            for name, arguments in calls:
                r = await session.call_tool(name, arguments)
                out["calls"].append(
                    {
                        "tool": name,
                        "is_error": bool(r.is_error),
                        "text": [c.text for c in r.content if c.type == "text"],
                        "structured": r.structured_content,
                    }
                )
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], json.loads(sys.argv[3])))
