#!/bin/bash
# Sends a few messages through the demo chain every INTERVAL seconds (default 15):
#   mx-a -> mx-b -> mx-c            two recipients, delivered
#   mx-a -> mx-e (Exim) -> mx-c     delivered
#   mx-a -> mx-b -> mx-c rejects an unknown user: bounced, the DSN travels mx-b -> mx-a
set -uo pipefail
INTERVAL=${INTERVAL:-15}
SERVER=${SERVER:-mx-a}
send() {
  swaks --silent 2 --server "$SERVER" --port 25 --helo client.example.test \
        --from "$1" --to "$2" --header "Subject: $3" --body "mailtrace demo: $3" \
    || echo "traffic: sending '$3' failed" >&2
}
n=0
while :; do
  n=$((n + 1))
  send "sender$n@src.example.test" "alice@dest.example.test,bob@dest.example.test" "relay $n"
  send "sender$n@src.example.test" "alice@dest2.example.test" "via exim $n"
  if [ $((n % 3)) = 0 ]; then
    send "sender$n@src.example.test" "nobody@dest.example.test" "bounce $n"
  fi
  echo "traffic: round $n sent"
  sleep "$INTERVAL"
done
