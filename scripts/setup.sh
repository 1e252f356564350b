#!/usr/bin/env bash
# One-stop set-up, run by `npm test` and `npm run demo` before anything else: npm dependencies, native TensorFlow,
# the Temporal CLI, the MLflow server, headless Chromium (for UI checks) and openssl (for the mTLS tests). Every step
# is idempotent and cached outside the clone, so a warm run takes seconds.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cache=${DCIGN_CACHE:-$HOME/.cache/dcign}
mkdir -p "$cache"
start=$(date +%s)

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

bash scripts/setup-tensorflow.sh
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  bash scripts/setup-tensorflow.sh --gpu
fi
bash scripts/setup-temporal.sh
bash scripts/setup-mlflow.sh
if [[ -f scripts/setup-chromium.sh ]]; then bash scripts/setup-chromium.sh; fi
bash scripts/setup-openssl.sh

echo "[setup] done in $(( $(date +%s) - start )) s"
