#!/usr/bin/env bash
# One-stop set-up, run by `npm test` and `npm run demo` before anything else: npm dependencies, native TensorFlow,
# the Temporal CLI, the MLflow server, Optuna (the search sampler), headless Chromium (for UI checks), openssl
# (for the mTLS tests), the cluster head profile's PostgreSQL server, versitygw S3 store and Temporal server, and
# kubeconform with the Kubernetes OpenAPI document (the manifests' schema check). Docker is not among them:
# scripts/setup-docker.sh, run by `npm run test:deploy`.
# Every step is idempotent and cached outside the clone, so a warm run takes seconds.
#
# The steps that need nothing of each other run side by side: the Temporal CLI (a pinned release binary), the
# Temporal server and UI builds (Go), the versitygw build (Go), the MLflow and Optuna virtualenvs (pip), Chromium and
# PostgreSQL (apt) start at once, while npm installs the dependencies that the TensorFlow binding is then built into.
# On a cold machine the Go builds are the long pole (about 15 minutes on two cores, once). Each background step writes its own log,
# printed whole when it ends, so the output stays readable; any step that fails fails the set-up, naming its log.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cache=${DCIGN_CACHE:-$HOME/.cache/dcign}
mkdir -p "$cache"
start=$(date +%s)
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

# Independent steps, started in the background: name and command.
steps=(temporal temporal-server mlflow optuna chromium openssl postgres s3 kubeconform)
declare -A cmd=(
  [temporal]="bash scripts/setup-temporal.sh"
  [temporal-server]="bash scripts/setup-temporal-server.sh"
  [mlflow]="bash scripts/setup-mlflow.sh"
  [optuna]="bash scripts/setup-optuna.sh"
  [chromium]="bash scripts/setup-chromium.sh"
  [openssl]="bash scripts/setup-openssl.sh"
  [postgres]="bash scripts/setup-postgres.sh"
  [s3]="bash scripts/setup-s3.sh"
  [kubeconform]="bash scripts/setup-kubeconform.sh"
)
declare -A pid
for s in "${steps[@]}"; do
  ( t0=$(date +%s); bash -c "${cmd[$s]}"; echo "[setup] $s done in $(( $(date +%s) - t0 )) s" ) >"$logs/$s.log" 2>&1 &
  pid[$s]=$!
done

# npm dependencies: reinstalled only when package-lock.json changed. Dependency install scripts run only where
# package.json's allowScripts approves them; the native TensorFlow binding is built below instead of downloaded.
lock_hash=$(sha256sum package-lock.json | cut -c1-16)
if [[ ! -f node_modules/.dcign-lock-$lock_hash ]]; then
  echo "[setup] npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  touch "node_modules/.dcign-lock-$lock_hash"
else
  echo "[setup] npm dependencies up to date"
fi

t0=$(date +%s)
bash scripts/setup-tensorflow.sh
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  bash scripts/setup-tensorflow.sh --gpu
fi
echo "[setup] tensorflow done in $(( $(date +%s) - t0 )) s"

failed=()
for s in "${steps[@]}"; do
  if wait "${pid[$s]}"; then cat "$logs/$s.log"; else
    cat "$logs/$s.log"
    failed+=("$s")
  fi
done
if (( ${#failed[@]} > 0 )); then
  echo "error: set-up step(s) failed: ${failed[*]} (their output is above; rerun one alone with scripts/setup-<step>.sh)" >&2
  exit 1
fi
echo "[setup] done in $(( $(date +%s) - start )) s"
