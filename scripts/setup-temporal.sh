#!/usr/bin/env bash
# Installs the Temporal CLI (dev server with Web UI) into $DCIGN_CACHE/bin, built from source with the Go toolchain
# because release downloads are not reachable here. v1.5.1 (server 1.29.1) is pinned: later tags carry a `replace`
# directive in go.mod that makes `go install module@version` fail. Idempotent.
set -euo pipefail
TEMPORAL_CLI_VERSION=v1.5.1
cache=${DCIGN_CACHE:-$HOME/.cache/dcign}
bin=$cache/bin/temporal
stamp=$cache/bin/.temporal-$TEMPORAL_CLI_VERSION
if [[ -x $bin && -f $stamp ]]; then
  echo "[setup-temporal] temporal $TEMPORAL_CLI_VERSION already installed at $bin"
  exit 0
fi
if ! command -v go >/dev/null; then
  echo "error: the Go toolchain is needed to build the Temporal CLI. Install Go 1.24+ (e.g. apt-get install golang) and re-run." >&2
  exit 1
fi
echo "[setup-temporal] building temporal $TEMPORAL_CLI_VERSION with go install (several minutes on first run)"
mkdir -p "$cache/bin"
GOBIN=$cache/bin GOFLAGS=-trimpath go install "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_CLI_VERSION"
touch "$stamp"
"$bin" --version
