#!/usr/bin/env bash
# Builds dcign-worker:latest (deploy/worker.Dockerfile) and dcign-head:latest (deploy/head.Dockerfile) from this
# clone once it is set up and compiled (npm run setup; npx tsc -p tsconfig.json): the images take the built dist/,
# node_modules/ with its native bindings, and from the set-up cache libtensorflow, versitygw, the Temporal server
# and MLflow's virtualenv. The build context is streamed as a tar, so node_modules and the cache may be symlinks or
# live outside the clone, and nothing is staged on disk.
#   bash scripts/build-images.sh [worker|head ...]     (default: both)
# BASE: the base image (default dcign-base:bookworm when it exists, made by scripts/setup-docker.sh; else the
# Dockerfiles' public default node:20-bookworm-slim). Prints each image's build time.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cache=${DCIGN_CACHE:-$HOME/.cache/dcign}
images=("$@")
(( ${#images[@]} > 0 )) || images=(worker head)
base=${BASE:-}
if [[ -z $base ]] && docker image inspect dcign-base:bookworm >/dev/null 2>&1; then base=dcign-base:bookworm; fi

fail() { echo "error: $1" >&2; exit 1; }
[[ -f dist/src/cli/main.js ]] || fail "dist/ is not built. Fix: npx tsc -p tsconfig.json"
[[ -d node_modules/@temporalio/worker ]] || fail "node_modules/ is missing. Fix: npm run setup"
modules=$(readlink -f node_modules)
tf_lib=$(readlink -f node_modules/@tensorflow/tfjs-node/deps/lib || true)
[[ -f $tf_lib/libtensorflow_cc.so.2 ]] || fail "the native TensorFlow binding is not set up. Fix: bash scripts/setup-tensorflow.sh"
[[ -f build/tf-graph/cpu/dcign_tf_graph.node ]] || fail "the graph addon (build/tf-graph/) is not built. Fix: bash scripts/setup-tensorflow.sh"

# One tar stream: the clone's files, node_modules, and cached files renamed under cache/ as the Dockerfiles expect.
context() {
  local which=$1
  local -a parts=(-C "$root" package.json dist deploy build/tf-graph -C "$(dirname "$modules")" "$(basename "$modules")")
  local -a names=(--transform "s|^$(basename "$modules")|node_modules|S")
  if [[ $which == worker ]]; then
    parts+=(-C "$(dirname "$tf_lib")" .)
    names+=(--transform "s|^\./|cache/libtensorflow/|S")
  else
    local server_home
    server_home=$(ls -d "$cache"/temporal-server-v* 2>/dev/null | sort -V | tail -1)
    [[ -x $cache/bin/versitygw ]] || fail "versitygw is not built. Fix: bash scripts/setup-s3.sh"
    [[ -x $server_home/bin/temporal-server ]] || fail "the Temporal server is not built. Fix: bash scripts/setup-temporal-server.sh"
    [[ -x $cache/mlflow-venv/bin/mlflow ]] || fail "MLflow is not installed. Fix: bash scripts/setup-mlflow.sh"
    parts+=(-C "$cache" bin/versitygw "$(basename "$server_home")" mlflow-venv)
    names+=(--transform "s|^bin/versitygw|cache/versitygw|S" --transform "s|^$(basename "$server_home")|cache/temporal-server|S"
      --transform "s|^mlflow-venv|cache/mlflow-venv|S")
  fi
  # the cluster key never goes into an image; caches of byte code neither
  tar -c --exclude=deploy/cluster.key --exclude='*.key' --exclude=__pycache__ "${names[@]}" "${parts[@]}"
}

for image in "${images[@]}"; do
  [[ $image == worker || $image == head ]] || fail "unknown image '$image': worker or head"
  t0=$(date +%s)
  echo "[build-images] dcign-$image:latest from deploy/$image.Dockerfile${base:+ on $base}"
  # --network host: the engine runs without a bridge (scripts/setup-docker.sh)
  context "$image" | docker build --network host -q ${base:+--build-arg "BASE=$base"} -f "deploy/$image.Dockerfile" -t "dcign-$image:latest" - >/dev/null
  echo "[build-images] dcign-$image:latest built in $(( $(date +%s) - t0 )) s ($(docker image inspect -f '{{.Size}}' "dcign-$image:latest" | awk '{printf "%.0f MB", $1/1e6}'))"
done
