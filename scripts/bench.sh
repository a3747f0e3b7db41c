#!/usr/bin/env bash
# Throughput and peak memory of mailtrace on generated Postfix relay-chain logs.
#
#   scripts/bench.sh [--messages N] [--runs R] [--daemon-messages M] [--no-daemon] [--smoke]
#   scripts/bench.sh steady [--seconds S] [--lines-per-second L] [--source file|opensearch]
#
# The first form generates N messages (24 lines each) as OpenSearch ndjson and as syslog
# text, then reports, as medians of R runs:
#   - the pipeline by stage (decode, parse, correlate, otlp) in lines per CPU-second of one
#     core and peak RSS (benches/pipeline.rs, one process per run);
#   - `mailtrace replay` of the ndjson to OTLP protobuf (encoded, then discarded) and to
#     OTLP-JSON, timed with /usr/bin/time: lines per wall-second and per CPU-second, peak
#     RSS; once free to use both of its threads, once pinned to one core (taskset);
#   - the daemon: M messages indexed into osmem-server (an in-memory OpenSearch-API server;
#     its _bulk takes about 1 s per 1,000 documents, hence the smaller M), then one
#     `mailtrace tracing --once` round that pages through them.
# `steady` runs the daemon (default config: 60 s rounds, hold 2) while a feeder writes L
# lines/s of live log and exports over OTLP gRPC to a counting collector (`otlp-sink
# --summary`), sampling the daemon's CPU time, RSS and state size every 10 s for S seconds. The
# source is a followed syslog file (default) or osmem-server, which on a small machine is
# itself the bottleneck well before 1,000 documents/s.
#
# Needs: cargo, python3, /usr/bin/time, taskset; osmem-server from $OSMEM_SERVER_BIN or .venv-ci
# (.ci/install-test-peers installs it). Inputs are cached in $BENCH_DIR (default
# target/bench-data); the generator is deterministic, so they never go stale.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

MODE=batch
MESSAGES=20000
RUNS=5
DAEMON_MESSAGES=2000
DAEMON=1
SECONDS_STEADY=600
LPS=1000
SOURCE=file
if [ "${1:-}" = steady ]; then MODE=steady; shift; fi
while [ $# -gt 0 ]; do
  case "$1" in
    --messages) MESSAGES=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --daemon-messages) DAEMON_MESSAGES=$2; shift 2 ;;
    --no-daemon) DAEMON=0; shift ;;
    --smoke) MESSAGES=200; RUNS=1; DAEMON_MESSAGES=50; shift ;;
    --seconds) SECONDS_STEADY=$2; shift 2 ;;
    --lines-per-second) LPS=$2; shift 2 ;;
    --source) SOURCE=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BENCH_DIR=${BENCH_DIR:-$TARGET/bench-data}
BIN=$TARGET/dist/mailtrace
mkdir -p "$BENCH_DIR"
# The shipped build (Cargo.toml `[profile.dist]`: whole-program optimisation).
cargo build --profile dist --locked --quiet
if [ "$MODE" = batch ]; then
  cargo bench --bench pipeline --locked --no-run --quiet 2>/dev/null
  PIPELINE=$(ls -t "$TARGET"/release/deps/pipeline-* | grep -v '\.d$' | head -1)
fi

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

start_osmem() {
  local bin=${OSMEM_SERVER_BIN:-$ROOT/.venv-ci/bin/osmem-server}
  [ -x "$bin" ] || { .ci/install-test-peers >/dev/null; bin=$ROOT/.venv-ci/bin/osmem-server; }
  OSMEM_OUT=$(mktemp)
  "$bin" -addr 127.0.0.1:0 -no-stdin-watch >"$OSMEM_OUT" 2>/dev/null &
  OSMEM_PID=$!
  for _ in $(seq 50); do [ -s "$OSMEM_OUT" ] && break; sleep 0.1; done
  OSMEM_URL=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["url"])' "$OSMEM_OUT")
  OSMEM_PORT=${OSMEM_URL##*:}
}

daemon_config() { # $1 = file, $2 = sleep_seconds, $3 = hold_rounds, $4 = state dir
  cat >"$1" <<YAML
method: opensearch
log_level: WARNING
opensearch_config:
  host: 127.0.0.1
  port: $OSMEM_PORT
  index: "mail*"
  timeout: 120
tracing:
  sleep_seconds: $2
  hold_rounds: $3
  go_back_seconds: 10
  state_dir: $4
  metrics_address: ""
YAML
}

if [ "$MODE" = steady ]; then
  WORK=$(mktemp -d)
  RATE=$(python3 -c "print($LPS / 24)")
  MSGS=$(python3 -c "print(int($LPS / 24 * ($SECONDS_STEADY + 120)))")
  if [ "$SOURCE" = opensearch ]; then
    start_osmem
    trap 'kill $(pgrep -P ${FEED_PID:-0}) $OSMEM_PID ${FEED_PID:-} ${DAEMON_PID:-} ${SINK_PID:-} 2>/dev/null; wait; rm -rf "$WORK" "$OSMEM_OUT"' EXIT
    daemon_config "$WORK/config.yaml" 60 2 "$WORK/state"
    ("$BIN" gen-load --messages "$MSGS" --rate "$RATE" --start "$(date +%s)" --format ndjson \
       | python3 scripts/bench_feed.py feed "$OSMEM_URL" mail) &
  else
    trap 'kill $(pgrep -P ${FEED_PID:-0}) ${FEED_PID:-} ${DAEMON_PID:-} ${SINK_PID:-} 2>/dev/null; wait; rm -rf "$WORK"' EXIT
    cat >"$WORK/config.yaml" <<YAML
method: file
log_level: WARNING
file_config:
  paths: ["$WORK/mail.log"]
tracing:
  state_dir: $WORK/state
  metrics_address: ""
YAML
    touch "$WORK/mail.log"
    ("$BIN" gen-load --messages "$MSGS" --rate "$RATE" --start "$(date +%s)" --format syslog \
       | python3 scripts/bench_feed.py append "$WORK/mail.log") &
  fi
  FEED_PID=$!
  sleep 5
  # Export over OTLP gRPC, as deployed, to a collector that only counts what it receives.
  SINK_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$BIN" otlp-sink --listen "127.0.0.1:$SINK_PORT" --summary "$WORK/sink.json" 2>/dev/null &
  SINK_PID=$!
  "$BIN" -c "$WORK/config.yaml" tracing --otel-endpoint "http://127.0.0.1:$SINK_PORT" &
  DAEMON_PID=$!
  tick=$(getconf CLK_TCK)
  echo "steady: $LPS lines/s into $SOURCE, daemon pid $DAEMON_PID, sleep_seconds 60, hold_rounds 2"
  echo "elapsed_s cpu_s cpu_percent_since_start rss_mb state_mb"
  t0=$(date +%s.%N)
  c0=$(awk '{print $14+$15}' /proc/$DAEMON_PID/stat)
  end=$(( $(date +%s) + SECONDS_STEADY ))
  while [ "$(date +%s)" -lt "$end" ]; do
    sleep 10
    t=$(date +%s.%N); c=$(awk '{print $14+$15}' /proc/$DAEMON_PID/stat)
    rss=$(awk '/VmRSS/ {print $2}' /proc/$DAEMON_PID/status)
    st=$(stat -c %s "$WORK/state/state.json" 2>/dev/null || echo 0)
    python3 -c "d=$t-$t0; c=($c-$c0)/$tick; print(f'{d:8.0f} {c:7.2f} {100*c/d:6.2f}% {$rss/1024:7.1f} {$st/1048576:7.1f}')"
  done
  echo "peak RSS: $(awk '/VmHWM/ {print $2/1024 " MB"}' /proc/$DAEMON_PID/status)"
  echo "collector received: $(cat "$WORK/sink.json" 2>/dev/null)"
  kill "$SINK_PID" 2>/dev/null || true
  [ "$SOURCE" = file ] && echo "lines written: $(wc -l <"$WORK/mail.log")"
  exit 0
fi

NDJSON=$BENCH_DIR/load-$MESSAGES.ndjson
SYSLOG=$BENCH_DIR/load-$MESSAGES.log
[ -s "$NDJSON" ] || "$BIN" gen-load --messages "$MESSAGES" --format ndjson -o "$NDJSON"
[ -s "$SYSLOG" ] || "$BIN" gen-load --messages "$MESSAGES" --format syslog -o "$SYSLOG"
LINES=$(wc -l <"$NDJSON")
echo "input: $MESSAGES messages = $LINES lines; medians of $RUNS runs"
echo

printf '%-28s %14s %9s %10s\n' "pipeline stage" "lines/s/core" "cpu s" "peak RSS"
for fmt in ndjson syslog; do
  file=$NDJSON; [ $fmt = syslog ] && file=$SYSLOG
  for stage in decode parse correlate otlp; do
    out=$(for _ in $(seq "$RUNS"); do "$PIPELINE" "$stage" "$file" "$fmt"; done)
    rate=$(echo "$out" | sed -E 's/.* ([0-9]+) lines\/s per core.*/\1/' | median)
    cpu=$(echo "$out" | sed -E 's/.*cpu ([0-9.]+) s.*/\1/' | median)
    rss=$(echo "$out" | sed -E 's/.*peak RSS ([0-9]+) MB.*/\1/' | median)
    printf '%-28s %14.0f %9.3f %7s MB\n' "$fmt $stage" "$rate" "$cpu" "$rss"
  done
done
echo

# replay reads, decodes and parses on a second thread: "wall" is what an operator waits for
# on this machine, "one core" pins the process to one CPU (taskset) for the per-core figure.
printf '%-36s %12s %12s %9s %9s %10s\n' "mailtrace replay (ndjson)" "lines/s wall" "lines/s/cpu" "cpu s" "wall s" "peak RSS"
for sink in discard json; do
  args=(--discard); [ $sink = json ] && args=(-o /dev/null)
  for cores in all one; do
    pin=(); [ $cores = one ] && pin=(taskset -c 0)
    out=$(for _ in $(seq "$RUNS"); do
      /usr/bin/time -f '%U %S %e %M' "${pin[@]}" "$BIN" replay -i "$NDJSON" "${args[@]}" 2>&1 >/dev/null | tail -1
    done)
    cpu=$(echo "$out" | awk '{print $1+$2}' | median)
    wall=$(echo "$out" | awk '{print $3}' | median)
    rss=$(echo "$out" | awk '{print int($4/1024)}' | median)
    label="to OTLP protobuf (discarded)"; [ $sink = json ] && label="to OTLP-JSON (/dev/null)"
    [ $cores = one ] && label="$label, 1 core"
    printf '%-36s %12.0f %12.0f %9.3f %9.3f %7s MB\n' "$label" \
      "$(python3 -c "print($LINES/max($wall,0.01))")" "$(python3 -c "print($LINES/max($cpu,0.01))")" \
      "$cpu" "$wall" "$rss"
  done
done

if [ "$DAEMON" = 1 ]; then
  echo
  WORK=$(mktemp -d)
  start_osmem
  trap 'kill $OSMEM_PID 2>/dev/null; rm -rf "$WORK" "$OSMEM_OUT"' EXIT
  # Documents from the last hour, so one round's first window (sleep_seconds) holds them all.
  span=$(( DAEMON_MESSAGES / 4 + 60 ))
  "$BIN" gen-load --messages "$DAEMON_MESSAGES" --start $(( $(date +%s) - span - 30 )) \
    --format ndjson -o "$WORK/docs.ndjson"
  DLINES=$(wc -l <"$WORK/docs.ndjson")
  t0=$(date +%s.%N)
  python3 scripts/bench_feed.py load "$OSMEM_URL" mail <"$WORK/docs.ndjson"
  load_s=$(python3 -c "print(round($(date +%s.%N) - $t0, 1))")
  printf '%-28s %14s %9s %9s %10s\n' "daemon, one round" "lines/s/core" "cpu s" "wall s" "peak RSS"
  out=$(for i in $(seq "$RUNS"); do
    daemon_config "$WORK/config.yaml" 3600 0 "$WORK/state-$i"
    /usr/bin/time -f '%U %S %e %M' "$BIN" -c "$WORK/config.yaml" tracing --once -o /dev/null \
      2>&1 >/dev/null | tail -1
  done)
  cpu=$(echo "$out" | awk '{print $1+$2}' | median)
  wall=$(echo "$out" | awk '{print $3}' | median)
  rss=$(echo "$out" | awk '{print int($4/1024)}' | median)
  printf '%-28s %14.0f %9.3f %9.3f %7s MB\n' "$DLINES docs from osmem" "$(python3 -c "print($DLINES/max($cpu,0.01))")" "$cpu" "$wall" "$rss"
  echo "  (indexing them took ${load_s} s; wall time includes osmem-server answering the pages)"
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
