#!/usr/bin/env bash
# Installs Temporal's production server (go.temporal.io/server, the cluster head profile's Temporal on PostgreSQL with
# SQL visibility), its schema tool and the Temporal Web UI server into $DCIGN_CACHE/temporal-server-<version>, built
# from the Go module proxy, with the PostgreSQL schema files the tool applies. v1.29.1 is the server the pinned
# Temporal CLI embeds, so most of its build is in Go's cache once scripts/setup-temporal.sh has run.
# The UI server: v2.56.4. Every ui-server release on the proxy declares go 1.26.10 (newer than this machine's Go), so
# it is built with that toolchain, which Go fetches through the module proxy (GOTOOLCHAIN); v2.58.x needs
# go.temporal.io/api v1.64.0, which the proxy refuses (403 "not available"). Idempotent.
set -euo pipefail
TEMPORAL_SERVER_VERSION=v1.29.1
TEMPORAL_UI_VERSION=v2.56.4
UI_GO_TOOLCHAIN=go1.26.10
cache=${DCIGN_CACHE:-$HOME/.cache/dcign}
home=$cache/temporal-server-$TEMPORAL_SERVER_VERSION
stamp=$home/.installed
if [[ -x $home/bin/temporal-server && -x $home/bin/temporal-sql-tool && -x $home/bin/temporal-ui-server && -d $home/schema/postgresql/v12 && -f $stamp ]]; then
  echo "[setup-temporal-server] temporal server $TEMPORAL_SERVER_VERSION already installed in $home"
  exit 0
fi
if ! command -v go >/dev/null; then
  echo "error: the Go toolchain is needed to build the Temporal server. Install Go 1.24+ (e.g. apt-get install golang) and re-run." >&2
  exit 1
fi
echo "[setup-temporal-server] building temporal server $TEMPORAL_SERVER_VERSION with go install (many minutes on a cold cache)"
mkdir -p "$home/bin"
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
GOBIN=$build GOFLAGS=-trimpath go install "go.temporal.io/server/cmd/server@$TEMPORAL_SERVER_VERSION" "go.temporal.io/server/cmd/tools/sql@$TEMPORAL_SERVER_VERSION"
mv "$build/server" "$home/bin/temporal-server"
mv "$build/sql" "$home/bin/temporal-sql-tool"
echo "[setup-temporal-server] building temporal ui-server $TEMPORAL_UI_VERSION (Go $UI_GO_TOOLCHAIN)"
GOTOOLCHAIN=$UI_GO_TOOLCHAIN GOBIN=$build GOFLAGS=-trimpath go install "github.com/temporalio/ui-server/v2/cmd/server@$TEMPORAL_UI_VERSION"
mv "$build/server" "$home/bin/temporal-ui-server"
src=$(go env GOMODCACHE)/go.temporal.io/server@$TEMPORAL_SERVER_VERSION/schema/postgresql
rm -rf "$home/schema" && mkdir -p "$home/schema" && cp -r "$src" "$home/schema/" && chmod -R u+w "$home/schema"
touch "$stamp"
"$home/bin/temporal-server" --version
