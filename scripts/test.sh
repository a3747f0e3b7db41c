#!/usr/bin/env bash
# The test command: installs the real peers the tests talk to (osmem-server, an
# OpenSearch-API server, into .venv-ci), then runs the whole test suite.
# Extra arguments go to `cargo test` (e.g. a test name filter).
set -euo pipefail
cd "$(dirname "$0")/.."
.ci/install-test-peers >/dev/null
export OSMEM_SERVER_BIN="$PWD/.venv-ci/bin/osmem-server"
cargo test --locked "$@"
