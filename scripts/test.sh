#!/usr/bin/env bash
# The test command: installs the real peers the tests talk to (osmem-server, an
# OpenSearch-API server, into .venv-ci), runs the whole test suite, then — as root — the
# end-to-end harness with real Postfix, Exim, rsyslog and osmem-server (tests/e2e/run.sh).
# Extra arguments go to `cargo test` (e.g. a test name filter) and skip the end-to-end run.
set -euo pipefail
cd "$(dirname "$0")/.."
.ci/install-test-peers >/dev/null
export OSMEM_SERVER_BIN="$PWD/.venv-ci/bin/osmem-server"
cargo test --locked "$@"
if [ $# -eq 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    tests/e2e/run.sh
  else
    echo "end-to-end harness not run: it needs root (mail servers on loopback port 25); run tests/e2e/run.sh as root" >&2
  fi
fi
