#!/usr/bin/env bash
# End-to-end harness (root, Debian): real mail servers → log shipper → OpenSearch API →
# `mailtrace tracing` → OTLP, checked by `cargo test --test e2e -- --ignored`.
#
#   A mx-a 127.0.0.2  Postfix, relays to B; final destination of src.example.test (gets DSNs);
#                     dest2.example.test goes via E
#   B mx-b 127.0.0.3  Postfix with enable_long_queue_ids, relays to C; src.example.test back to A
#   C mx-c 127.0.0.4  Postfix, virtual mailboxes (unknown users rejected at RCPT: NOQUEUE),
#                     later@dest.example.test refused with 451 until released
#   E mx-e 127.0.0.5  Exim 4, relays everything to C
#
# Postfix logs through postlogd into one file, Exim into its mainlog. rsyslog (imfile →
# omelasticsearch) ships both into osmem-server the way a site ships to OpenSearch. Two daemons
# trace the same traffic: one reading OpenSearch, one tailing the log files. Each exports to its
# own OTLP sink (`mailtrace otlp-sink`), whose files the Rust test then checks.
# Every process started here is stopped on exit.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
E2E_ROOT=${E2E_ROOT:-/var/tmp/mailtrace-e2e}
WORK=$E2E_ROOT/run
EXIM_BIN=$E2E_ROOT/exim-root/usr/sbin/exim4
MAILTRACE=${MAILTRACE_BIN:-$REPO/target/debug/mailtrace}
MAILLOG=$WORK/log/maillog
EXIM_LOG=$WORK/exim/log/mainlog

log() { printf '[e2e %s] %s\n' "$(date +%T)" "$*" >&2; }
ip_of() { case $1 in a) echo 127.0.0.2;; b) echo 127.0.0.3;; c) echo 127.0.0.4;; esac; }
cfg_of() { echo "$WORK/$1/etc"; }
exim() { "$EXIM_BIN" -C "$WORK/exim/exim.conf" "$@"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

BG_PIDS=()
cleanup() {
  set +e
  for i in a b c; do
    [ -f "$WORK/$i/queue/pid/master.pid" ] && postfix -c "$(cfg_of "$i")" stop >/dev/null 2>&1
  done
  for p in "${BG_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  [ -f "$WORK/exim/exim.pid" ] && kill -TERM "$(cat "$WORK/exim/exim.pid")" 2>/dev/null
  sleep 1
  for p in "${BG_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  # Postfix children and Exim queue runners started from this run's directories.
  pkill -KILL -f "$WORK/" 2>/dev/null
  true
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || { echo "run as root (it starts mail servers on loopback port 25)" >&2; exit 2; }
"$REPO/tests/e2e/install.sh" >/dev/null
"$REPO/.ci/install-test-peers" >/dev/null
[ -x "$MAILTRACE" ] || (cd "$REPO" && cargo build --locked --quiet)

rm -rf "$WORK"
mkdir -p "$WORK/log" "$WORK/exim/spool" "$WORK/exim/log" "$WORK/rsyslog" "$WORK/out"
chmod 755 "$E2E_ROOT" "$WORK" "$WORK/log"

# --- Postfix ---------------------------------------------------------------------------
master_cf() {  # all services unchrooted; the listener binds its own loopback address
  echo "$1:smtp inet n - n - - smtpd"
  cat <<'MASTER'
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
proxywrite unix - - n - 1 proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
local     unix  - n n - - local
virtual   unix  - n n - - virtual
lmtp      unix  - - n - - lmtp
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
MASTER
}
for i in a b c; do
  cfg=$(cfg_of "$i")
  mkdir -p "$cfg" "$WORK/$i/queue" "$WORK/$i/data" "$WORK/$i/vmail"
  chmod 755 "$WORK/$i" "$WORK/$i/queue"
  chown postfix:postfix "$WORK/$i/data"
  chown 65534:65534 "$WORK/$i/vmail"
  master_cf "$(ip_of "$i")" >"$cfg/master.cf"
  cat >"$cfg/main.cf" <<MAIN
compatibility_level = 3.6
myhostname = mx-$i.example.test
mydomain = example.test
myorigin = \$myhostname
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
smtp_bind_address = $(ip_of "$i")
mynetworks = 127.0.0.0/8
queue_directory = $WORK/$i/queue
data_directory = $WORK/$i/data
maillog_file = $MAILLOG
maillog_file_prefixes = $WORK
smtp_dns_support_level = disabled
lmtp_dns_support_level = disabled
smtpd_peername_lookup = no
smtp_tls_security_level = none
smtpd_tls_security_level = none
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
alias_maps =
alias_database =
biff = no
append_dot_mydomain = no
queue_run_delay = 10s
minimal_backoff_time = 10s
maximal_backoff_time = 20s
MAIN
  case $i in
    a) cat >>"$cfg/main.cf" <<MAIN
relayhost = [127.0.0.3]:25
virtual_mailbox_domains = src.example.test
virtual_mailbox_base = $WORK/a/vmail
virtual_mailbox_maps = static:inbox/
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
virtual_minimum_uid = 100
transport_maps = inline:{ {dest2.example.test=smtp:[127.0.0.5]:25} }
MAIN
    ;;
    b) cat >>"$cfg/main.cf" <<MAIN
relayhost = [127.0.0.4]:25
transport_maps = inline:{ {src.example.test=smtp:[127.0.0.2]:25} }
enable_long_queue_ids = yes
MAIN
    ;;
    c) cat >>"$cfg/main.cf" <<MAIN
virtual_mailbox_domains = dest.example.test, dest2.example.test
virtual_mailbox_base = $WORK/c/vmail
virtual_mailbox_maps = inline:{ {alice@dest.example.test=alice/} {bob@dest.example.test=bob/} {carol@dest.example.test=carol/} {later@dest.example.test=later/} {alice@dest2.example.test=alice2/} }
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
virtual_minimum_uid = 100
smtpd_recipient_restrictions = check_recipient_access texthash:$cfg/tempfail, permit_mynetworks, reject_unauth_destination
MAIN
      echo "later@dest.example.test 451 4.3.0 try again later" >"$cfg/tempfail"
    ;;
  esac
  postfix -c "$cfg" check
done

# --- Exim ------------------------------------------------------------------------------
chown Debian-exim:Debian-exim "$WORK/exim/spool" "$WORK/exim/log"
cat >"$WORK/exim/exim.conf" <<EXIM
primary_hostname = mx-e.example.test
timezone = UTC
spool_directory = $WORK/exim/spool
log_file_path = $WORK/exim/log/%slog
daemon_smtp_ports = 25
local_interfaces = 127.0.0.5
host_lookup =
rfc1413_hosts =
rfc1413_query_timeout = 0s
hostlist relay_from_hosts = 127.0.0.0/8
acl_smtp_rcpt = acl_check_rcpt
log_selector = +queue_time +deliver_time +received_recipients +smtp_connection +sender_on_delivery +delivery_size +queue_time_overall +subject
exim_path = $EXIM_BIN
keep_environment =
tls_advertise_hosts =
begin acl
acl_check_rcpt:
  accept hosts = +relay_from_hosts
  deny   message = relay not permitted
begin routers
to_postfix_c:
  driver = manualroute
  domains = *
  transport = remote_smtp
  route_list = * 127.0.0.4 byname
  self = send
  no_more
begin transports
remote_smtp:
  driver = smtp
  port = 25
  interface = 127.0.0.5
  hosts_avoid_tls = *
begin retry
*  *  F,2m,30s
EXIM

# --- OpenSearch API and the shipper ----------------------------------------------------
"$REPO/.venv-ci/bin/osmem-server" -addr 127.0.0.1:0 -no-stdin-watch >"$WORK/osmem.out" 2>"$WORK/osmem.err" &
BG_PIDS+=($!)
for _ in $(seq 1 50); do grep -q '"url"' "$WORK/osmem.out" 2>/dev/null && break; sleep 0.1; done
OS_URL=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["url"])' "$WORK/osmem.out")
OS_PORT=${OS_URL##*:}
log "osmem-server at $OS_URL"

# Postfix lines are RFC 3164 syslog (host, tag[pid]: text); Exim's mainlog has its own format
# ("YYYY-MM-DD HH:MM:SS id …", UTC here) and names no host. Both become documents with the flat
# fields @timestamp (RFC 3339: a date field refuses anything else), host, program, message,
# facility.
cat >"$WORK/rsyslog.conf" <<RSYSLOG
global(workDirectory="$WORK/rsyslog")
module(load="imfile" PollingInterval="1")
module(load="omelasticsearch")
template(name="postfixdoc" type="list" option.jsonf="on") {
  property(outname="@timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="host" name="programname" format="jsonf")
  property(outname="program" name="msg" regex.type="ERE" regex.submatch="1" regex.expression="^ ?([a-zA-Z0-9/_.-]+)\\\\[" regex.nomatchmode="BLANK" format="jsonf")
  property(outname="message" name="msg" regex.type="ERE" regex.submatch="1" regex.expression="^ ?[^ ]+: (.*)\$" regex.nomatchmode="FIELD" format="jsonf")
  constant(outname="facility" value="mail" format="jsonf")
}
template(name="eximdoc" type="list") {
  constant(value="{\"@timestamp\":\"")
  property(name="rawmsg" regex.type="ERE" regex.submatch="1" regex.expression="^([0-9]{4}-[0-9]{2}-[0-9]{2}) " regex.nomatchmode="BLANK")
  constant(value="T")
  property(name="rawmsg" regex.type="ERE" regex.submatch="1" regex.expression="^[0-9-]{10} ([0-9:]{8})" regex.nomatchmode="BLANK")
  constant(value="Z\",\"host\":\"mx-e\",\"program\":\"exim\",\"facility\":\"mail\",\"message\":\"")
  property(name="rawmsg" regex.type="ERE" regex.submatch="1" regex.expression="^[0-9-]{10} [0-9:]{8} (.*)\$" regex.nomatchmode="FIELD" format="json")
  constant(value="\"}")
}
ruleset(name="postfix") {
  action(type="omelasticsearch" server="127.0.0.1" serverport="$OS_PORT" template="postfixdoc"
         esVersion.major="8" searchIndex="maillog-e2e" bulkmode="on" queue.type="linkedlist"
         action.resumeRetryCount="-1" errorfile="$WORK/rsyslog/es-errors.json")
}
ruleset(name="exim") {
  action(type="omelasticsearch" server="127.0.0.1" serverport="$OS_PORT" template="eximdoc"
         esVersion.major="8" searchIndex="maillog-e2e" bulkmode="on" queue.type="linkedlist"
         action.resumeRetryCount="-1" errorfile="$WORK/rsyslog/es-errors.json")
}
input(type="imfile" File="$MAILLOG" Tag="maillog" needParse="on" ruleset="postfix" freshStartTail="off")
input(type="imfile" File="$EXIM_LOG" Tag="exim" ruleset="exim" freshStartTail="off")
RSYSLOG
touch "$MAILLOG" "$EXIM_LOG"
chown Debian-exim:Debian-exim "$EXIM_LOG"
rsyslogd -n -f "$WORK/rsyslog.conf" -i "$WORK/rsyslog.pid" >"$WORK/rsyslog.out" 2>&1 &
BG_PIDS+=($!)

# --- mailtrace: two daemons and their OTLP sinks ----------------------------------------
start_daemon() {  # $1 = name (opensearch|file), $2 = config text
  local port; port=$(free_port)
  "$MAILTRACE" otlp-sink --listen "127.0.0.1:$port" -o "$WORK/out/$1.jsonl" 2>"$WORK/out/$1-sink.err" &
  BG_PIDS+=($!)
  printf '%s\n' "$2" >"$WORK/$1.yaml"
  "$MAILTRACE" -c "$WORK/$1.yaml" tracing --otel-endpoint "http://127.0.0.1:$port" \
    --state-dir "$WORK/state-$1" >"$WORK/out/$1.stdout" 2>"$WORK/out/$1.stderr" &
  BG_PIDS+=($!)
  echo $! >"$WORK/out/$1.pid"
}
TRACING="tracing:
  sleep_seconds: 2
  hold_rounds: 1
  go_back_seconds: 30
  next_hop_grace_seconds: 15
  metrics_address: \"\""
start_daemon opensearch "method: opensearch
log_level: DEBUG
opensearch_config:
  host: 127.0.0.1
  port: $OS_PORT
  index: maillog-*
  time_zone: \"+00:00\"
  facility_value: mail
  mapping:
    facility: facility
    hostname: host
    service: program
    message: message
    timestamp: \"@timestamp\"
$TRACING"
start_daemon file "method: file
log_level: DEBUG
file_config:
  paths: [\"$MAILLOG\", \"$EXIM_LOG\"]
  time_zone: \"+00:00\"
  default_host: mx-e
$TRACING"

# --- the mail servers and the traffic ---------------------------------------------------
for i in a b c; do postfix -c "$(cfg_of "$i")" start >/dev/null 2>&1; done
"$EXIM_BIN" -C "$WORK/exim/exim.conf" -bdf -q10s -oP "$WORK/exim/exim.pid" >"$WORK/exim/daemon.out" 2>&1 </dev/null &
BG_PIDS+=($!)
n=0
for _ in $(seq 1 50); do
  n=0
  for ip in 127.0.0.2 127.0.0.3 127.0.0.4 127.0.0.5; do
    ss -Hltn "src $ip:25" | grep -q LISTEN && n=$((n+1))
  done
  [ "$n" = 4 ] && break
  sleep 0.2
done
[ "$n" = 4 ] || { log "mail servers did not all start"; exit 1; }
log "Postfix A B C and Exim E listening"

send() {  # $1 = Message-ID, $2 = recipients, $3 = subject
  swaks --silent 2 --server 127.0.0.2 --port 25 --helo client.example.test \
    --from sender@src.example.test --to "$2" --header "Message-Id: <$1>" --header "Subject: $3" \
    --body "e2e $3"
}
send e2e-multi@mailtrace.test "alice@dest.example.test,bob@dest.example.test" "two recipients"
send e2e-bounce@mailtrace.test nobody@dest.example.test "unknown recipient"
send e2e-later@mailtrace.test "later@dest.example.test,carol@dest.example.test" "451 then accepted"
send e2e-exim@mailtrace.test alice@dest2.example.test "via exim"
log "mail sent"

queued() {
  local c=0 i
  for i in a b c; do
    c=$((c + $(find "$WORK/$i/queue/incoming" "$WORK/$i/queue/active" "$WORK/$i/queue/maildrop" -type f 2>/dev/null | wc -l)))
  done
  echo "$c"
}
settle() {
  for _ in $(seq 1 100); do
    [ "$(queued)" = 0 ] && [ "$(exim -bpc)" = 0 ] && return
    sleep 0.3
  done
}
settle
# Let the daemons see the deferral for a few rounds before the retry succeeds.
sleep 6
: >"$(cfg_of c)/tempfail"
postfix -c "$(cfg_of c)" reload >/dev/null 2>&1
sleep 1
postqueue -c "$(cfg_of b)" -f
sleep 2
settle
log "queues settled; waiting for the daemons to export"

# Done when both sinks hold every test message, then a little longer for stragglers.
for _ in $(seq 1 120); do
  ok=1
  for d in opensearch file; do
    for m in e2e-multi e2e-bounce e2e-later e2e-exim; do
      grep -q "$m@mailtrace.test" "$WORK/out/$d.jsonl" 2>/dev/null || ok=0
    done
  done
  [ "$ok" = 1 ] && break
  sleep 1
done
sleep 10
for d in opensearch file; do
  pid=$(cat "$WORK/out/$d.pid")
  kill -TERM "$pid"
  rc=0
  wait "$pid" || rc=$?
  [ "$rc" = 0 ] || { log "daemon $d exited $rc after SIGTERM"; tail -20 "$WORK/out/$d.stderr" >&2; exit 1; }
done
log "daemons stopped cleanly; checking what the sinks received"

cd "$REPO"
MAILTRACE_E2E_DIR=$WORK MAILTRACE_BIN=$MAILTRACE \
  cargo test --locked --quiet --test e2e -- --ignored --test-threads 1
