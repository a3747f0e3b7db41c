#!/usr/bin/env python3
"""Loads `mailtrace gen-load --format ndjson` documents into an OpenSearch-API server for
scripts/bench.sh (standard library only).

  bench_feed.py load URL INDEX < docs.ndjson   index everything through _bulk, then refresh
  bench_feed.py feed URL INDEX < docs.ndjson   index each document once the wall clock
                                                reaches its @timestamp (a live log stream,
                                                batched per half second, into INDEX-<n> per
                                                5 minutes; the oldest beyond 3 are deleted)
  bench_feed.py append FILE < mail.log         append each syslog line to FILE once the
                                                wall clock reaches its timestamp
"""
import datetime
import json
import sys
import time
import urllib.error
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


def delete_index(url, name):
    req = urllib.request.Request(url + "/" + name, method="DELETE")
    try:
        urllib.request.urlopen(req, timeout=60).read()
    except urllib.error.HTTPError as e:
        if e.code != 404:
            raise


def ts_of(doc):
    t = json.loads(doc)["@timestamp"].replace("Z", "+00:00")
    return datetime.datetime.fromisoformat(t).timestamp()


def main():
    mode, url = sys.argv[1:3]
    index = sys.argv[3] if len(sys.argv) > 3 else ""
    if mode == "load":
        chunk = []
        for line in sys.stdin:
            chunk.append(line.rstrip("\n"))
            if len(chunk) == 5000:
                bulk(url, index, chunk)
                chunk = []
        bulk(url, index, chunk, refresh=True)
    elif mode == "feed":
        # Like a shipper: documents go out in batches at most every half second, into an
        # index per 5 minutes of log time; indices older than 15 minutes are deleted (the
        # reader only looks minutes back), so a long run does not grow the server without end.
        pending, last_flush, live = [], 0.0, []

        def flush(batch_index):
            nonlocal pending, last_flush
            bulk(url, batch_index, pending, refresh=True)
            pending, last_flush = [], time.time()

        current = None
        for line in sys.stdin:
            doc = line.rstrip("\n")
            ts = ts_of(doc)
            name = f"{index}-{int(ts) // 300}"
            if pending and (name != current or (ts > time.time() and time.time() - last_flush >= 0.5)):
                flush(current)
            if name != current:
                live.append(name)
                while len(live) > 3:
                    delete_index(url, live.pop(0))
                current = name
            if ts > time.time():
                time.sleep(max(0.0, ts - time.time()))
            pending.append(doc)
        if pending:
            flush(current)
    elif mode == "append":
        with open(url, "a", encoding="utf-8") as out:
            for line in sys.stdin:
                ts = datetime.datetime.fromisoformat(line.split(" ", 1)[0]).timestamp()
                if ts > time.time():
                    out.flush()
                    time.sleep(max(0.0, ts - time.time()))
                out.write(line)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
