#!/usr/bin/env bash
# Benchmark yardsticks for `npm run bench:train` (idempotent; safe to re-run):
#   ~/.cache/dcign/torch-venv  PyTorch from PyPI, runs bench/torch_vae_bench.py on the CPU.
#   ~/.cache/dcign/keras-venv  Keras 3 on tensorflow-cpu==2.21.0, the same TensorFlow kernels our native binding uses.
#
# Why plain `pip install torch`: the CPU-only wheel index is not reachable from these machines, and the PyPI wheel
# imports only with its nvidia-* CUDA libraries present (libtorch links them), so `--no-deps` is not an option.
# The download is several GB (torch ~0.9 GB + CUDA libraries ~3 GB) and runs once; the venv is cached.
set -euo pipefail

CACHE="${DCIGN_CACHE:-$HOME/.cache/dcign}"
PY="${PYTHON:-python3}"
TORCH_VENV="$CACHE/torch-venv"
KERAS_VENV="$CACHE/keras-venv"
TORCH_VERSION="${DCIGN_TORCH_VERSION:-}"   # empty = newest on PyPI
mkdir -p "$CACHE"

log() { printf '[setup-torch-bench] %s\n' "$*" >&2; }

if [ "${1:-}" != "--keras-only" ]; then
  if [ -x "$TORCH_VENV/bin/python" ] && "$TORCH_VENV/bin/python" -c 'import torch' 2>/dev/null; then
    log "torch venv ready: $("$TORCH_VENV/bin/python" -c 'import torch; print(torch.__version__)') at $TORCH_VENV"
  else
    log "creating $TORCH_VENV (PyPI torch with its CUDA libraries: several GB, once)"
    "$PY" -m venv "$TORCH_VENV"
    "$TORCH_VENV/bin/pip" install --quiet --upgrade pip
    "$TORCH_VENV/bin/pip" install --quiet "torch${TORCH_VERSION:+==$TORCH_VERSION}"
    "$TORCH_VENV/bin/python" -c 'import torch; print("torch", torch.__version__, "threads", torch.get_num_threads())'
  fi
fi

if [ "${1:-}" != "--torch-only" ]; then
  if [ -x "$KERAS_VENV/bin/python" ] && "$KERAS_VENV/bin/python" -c 'import keras, tensorflow' 2>/dev/null; then
    log "keras venv ready at $KERAS_VENV"
  else
    log "creating $KERAS_VENV (tensorflow-cpu==2.21.0 + keras)"
    "$PY" -m venv "$KERAS_VENV"
    "$KERAS_VENV/bin/pip" install --quiet --upgrade pip
    # The wheel the native binding was built from is cached here by scripts/setup.sh when present.
    "$KERAS_VENV/bin/pip" install --quiet --find-links "$CACHE/wheels" tensorflow-cpu==2.21.0
    TF_CPP_MIN_LOG_LEVEL=2 "$KERAS_VENV/bin/python" -c 'import tensorflow as tf, keras; print("tf", tf.__version__, "keras", keras.__version__)'
  fi
fi
