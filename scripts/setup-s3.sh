#!/usr/bin/env bash
# Installs versitygw (Apache-2.0 S3 gateway; its posix backend serves a directory as buckets) into $DCIGN_CACHE/bin,
# built from the Go module proxy: the cluster head profile's object store behind MLflow's --artifacts-destination.
# Chosen over SeaweedFS because `go install` cannot build SeaweedFS from the proxy: its go.mod carries a `replace`
# directive, which `go install module@version` refuses. Idempotent.
set -euo pipefail
VERSITYGW_VERSION=v1.8.0
cache=${DCIGN_CACHE:-$HOME/.cache/dcign}
bin=$cache/bin/versitygw
stamp=$cache/bin/.versitygw-$VERSITYGW_VERSION
if [[ -x $bin && -f $stamp ]]; then
  echo "[setup-s3] versitygw $VERSITYGW_VERSION already installed at $bin"
  exit 0
fi
if ! command -v go >/dev/null; then
  echo "error: the Go toolchain is needed to build versitygw. Install Go 1.24+ (e.g. apt-get install golang) and re-run." >&2
  exit 1
fi
echo "[setup-s3] building versitygw $VERSITYGW_VERSION with go install (minutes on first run)"
mkdir -p "$cache/bin"
GOBIN=$cache/bin GOFLAGS=-trimpath go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
touch "$stamp"
"$bin" --version
