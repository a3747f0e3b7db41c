#!/usr/bin/env bash
# Soak test: live generated mail traffic into `mailtrace tracing` for a long time, checking
# that memory stays flat, pending messages do not grow, and every message is exported exactly
# once. Not part of CI (it runs for half an hour by default).
#
#   scripts/soak.sh [MINUTES] [MESSAGES_PER_SECOND] [opensearch|file]
#                                     defaults: 30 minutes, 200 msg/s, opensearch
#
# opensearch: documents are indexed into osmem-server as their time comes and the daemon
# queries it (osmem-server, an in-memory emulator, takes about 1,000 documents/s on two
# cores, so ~10 msg/s is what it sustains there). file: lines are appended to a log file the
# daemon follows, which reaches any rate the machine can write.
#
# Prints a sample every 30 s (RSS of the daemon, pending messages, lag, spans received) and a
# verdict at the end; exits non-zero when a check fails. Uses a release build.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
MINUTES=${1:-30}
RATE=${2:-200}
SOURCE=${3:-opensearch}
WORK=$(mktemp -d /tmp/mailtrace-soak.XXXXXX)
BIN=${MAILTRACE_BIN:-$REPO/target/release/mailtrace}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

(cd "$REPO" && cargo build --release --locked --quiet)
"$REPO/.ci/install-test-peers" >/dev/null
MESSAGES=$((MINUTES * 60 * RATE))
echo "soak: $MINUTES min at $RATE msg/s = $MESSAGES messages from $SOURCE; work dir $WORK"

SINK_PORT=$(free_port)
METRICS_PORT=$(free_port)
"$BIN" otlp-sink --listen "127.0.0.1:$SINK_PORT" --summary "$WORK/sink.json" 2>/dev/null &
PIDS+=($!)

# Traffic starts a few seconds from now; the feeder writes each line when the wall clock
# reaches its timestamp, as a mail server (or a shipper) would.
START=$(( $(date +%s) + 5 ))
if [ "$SOURCE" = opensearch ]; then
"$REPO/.venv-ci/bin/osmem-server" -addr 127.0.0.1:0 -no-stdin-watch >"$WORK/osmem.out" 2>/dev/null &
PIDS+=($!)
for _ in $(seq 50); do grep -q url "$WORK/osmem.out" 2>/dev/null && break; sleep 0.1; done
URL=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["url"])' "$WORK/osmem.out")
cat >"$WORK/config.yaml" <<CFG
method: opensearch
opensearch_config:
  host: 127.0.0.1
  port: ${URL##*:}
  index: soak-*
  timeout: 30
tracing:
  sleep_seconds: 10
  hold_rounds: 2
  go_back_seconds: 15
  metrics_address: "127.0.0.1:$METRICS_PORT"
  state_dir: $WORK/state
CFG
"$BIN" gen-load --messages "$MESSAGES" --rate "$RATE" --start "$START" --format ndjson \
  | python3 "$REPO/scripts/bench_feed.py" feed "$URL" soak-mail &
FEED=$!
else
touch "$WORK/mail.log"
cat >"$WORK/config.yaml" <<CFG
method: file
file_config:
  paths: ["$WORK/mail.log"]
tracing:
  sleep_seconds: 10
  hold_rounds: 2
  metrics_address: "127.0.0.1:$METRICS_PORT"
  state_dir: $WORK/state
CFG
"$BIN" gen-load --messages "$MESSAGES" --rate "$RATE" --start "$START" --format syslog \
  | python3 "$REPO/scripts/bench_feed.py" append "$WORK/mail.log" &
FEED=$!
fi
PIDS+=($FEED)
"$BIN" -c "$WORK/config.yaml" tracing --otel-endpoint "http://127.0.0.1:$SINK_PORT" 2>"$WORK/daemon.err" &
DAEMON=$!
PIDS+=($DAEMON)

metric() { curl -s "http://127.0.0.1:$METRICS_PORT/metrics" | awk -v m="$1" '$1==m {print $2}'; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$DAEMON/status"; }
cpu_s() { awk -v t="$(getconf CLK_TCK)" '{printf "%.1f", ($14+$15)/t}' "/proc/$DAEMON/stat"; }
sample() {
  printf '%6ss  rss %6s KiB  cpu %7ss  state %6s KiB  pending %6s  lag %4ss  spans %s\n' \
    "$1" "$(rss_kb)" "$(cpu_s)" "$(( $(stat -c %s "$WORK/state/state.json" 2>/dev/null || echo 0) / 1024 ))" \
    "$(metric mailtrace_pending_messages)" "$(metric mailtrace_lag_seconds)" \
    "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["spans"])' "$WORK/sink.json" 2>/dev/null || echo 0)"
}
echo "   time  sample" ; t=0
RSS=()
PEND=()
while kill -0 "$FEED" 2>/dev/null; do
  sleep 30; t=$((t + 30))
  sample "$t"
  RSS+=("$(rss_kb)"); PEND+=("$(metric mailtrace_pending_messages)")
done
# Let the last messages pass their hold window, then stop the daemon cleanly.
sleep 60
sample "end"
kill -TERM "$DAEMON"; wait "$DAEMON"

python3 - "$WORK/sink.json" "$MESSAGES" "${RSS[*]}" "${PEND[*]}" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
messages = int(sys.argv[2])
rss = [int(x) for x in sys.argv[3].split()]
pend = [int(float(x)) for x in sys.argv[4].split() if x]
ok = True
def check(cond, what):
    global ok
    print(("ok   " if cond else "FAIL ") + what)
    ok &= cond
check(s["roots"] == messages, f"every message exported once: {s['roots']} roots for {messages} messages")
check(s["repeated_span_ids"] == 0, f"no span twice: {s['repeated_span_ids']} repeated span IDs")
if len(rss) >= 4:
    q = len(rss) // 4
    early, late = max(rss[q:2 * q]), max(rss[-q:])
    check(late <= early * 1.2 + 10240, f"RSS flat: {early} KiB in the second quarter, {late} KiB in the last")
if len(pend) >= 4:
    q = len(pend) // 4
    check(max(pend[-q:]) <= max(pend[q:2 * q]) * 1.5 + 100, f"pending not growing: {pend}")
sys.exit(0 if ok else 1)
PY
