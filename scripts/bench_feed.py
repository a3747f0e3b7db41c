#!/usr/bin/env python3
"""Loads `mailtrace gen-load --format ndjson` documents into an OpenSearch-API server for
scripts/bench.sh (standard library only).

  bench_feed.py load URL INDEX < docs.ndjson   index everything through _bulk, then refresh
  bench_feed.py feed URL INDEX < docs.ndjson   index each document once the wall clock
                                                reaches its @timestamp (a live log stream)
"""
import datetime
import json
import sys
import time
import urllib.request


def post(url, path, body, ctype="application/x-ndjson"):
    req = urllib.request.Request(url + path, data=body.encode(), method="POST",
                                 headers={"Content-Type": ctype})
    with urllib.request.urlopen(req, timeout=300) as r:
        reply = json.loads(r.read() or b"{}")
    if reply.get("errors"):
        sys.exit(f"bulk errors: {json.dumps(reply)[:500]}")
    return reply


def bulk(url, index, docs, refresh=False):
    action = json.dumps({"index": {"_index": index}})
    body = "".join(f"{action}\n{d}\n" for d in docs)
    post(url, "/_bulk" + ("?refresh=true" if refresh else ""), body)


def ts_of(doc):
    t = json.loads(doc)["@timestamp"].replace("Z", "+00:00")
    return datetime.datetime.fromisoformat(t).timestamp()


def main():
    mode, url, index = sys.argv[1:4]
    if mode == "load":
        chunk = []
        for line in sys.stdin:
            chunk.append(line.rstrip("\n"))
            if len(chunk) == 5000:
                bulk(url, index, chunk)
                chunk = []
        bulk(url, index, chunk, refresh=True)
    elif mode == "feed":
        pending = []
        for line in sys.stdin:
            doc = line.rstrip("\n")
            ts = ts_of(doc)
            if pending and ts > time.time():
                bulk(url, index, pending, refresh=True)
                pending = []
                time.sleep(max(0.0, ts - time.time()))
            pending.append(doc)
        if pending:
            bulk(url, index, pending, refresh=True)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
