#!/usr/bin/env bash
# The reference twins of `npm run bench:train` (bench/torch_vae_bench.py, bench/keras_vae_bench.py), each in its own
# venv under $DCIGN_CACHE (default ~/.cache/dcign), pinned; idempotent: a venv whose marker names the pinned versions
# is left alone (no import, no network), so `npm run bench:train` runs this before every run at no cost.
#   torch-venv  PyTorch 2.15.0 from PyPI, run on the CPU only.
#   keras-venv  Keras 3.15.1 on tensorflow-cpu 2.21.0, the TensorFlow our native binding is built from
#               (scripts/setup-tensorflow.sh), so the Keras twin runs the same kernels we do.
#
# The CPU route for PyTorch: the CPU-only wheel index is not reachable from these machines, and PyPI's torch wheel is
# the CUDA build, whose libraries link the CUDA runtime libraries (DT_NEEDED: cudart, cublas, cudnn, nccl, ...), so it
# does not import without them. Its full dependency set also brings triton, cuSOLVER, cuda-bindings and the CUDA
# toolkit metapackages, none of which a CPU import loads. So: torch with --no-deps, its pure-Python dependencies, and
# only the CUDA wheels that torch's shared libraries link, at the versions torch 2.15.0 pins (numpy too, which torch warns
# about when absent). About 4 GB on disk, once.
#
#   scripts/setup-bench-twins.sh [--torch-only | --keras-only]
set -euo pipefail

CACHE="${DCIGN_CACHE:-$HOME/.cache/dcign}"
PY="${PYTHON:-python3}"
TORCH_VENV="$CACHE/torch-venv"
KERAS_VENV="$CACHE/keras-venv"
mkdir -p "$CACHE"

TORCH_PINS=(torch==2.15.0)
# torch 2.15.0's pins of the libraries that libtorch_cpu / libtorch_cuda / libtorch_nvshmem link (readelf -d)
TORCH_CUDA_PINS=(
  nvidia-cuda-runtime==13.2.86 nvidia-cublas==13.4.1.3 nvidia-cufft==12.2.0.57 nvidia-cufile==1.17.1.22
  nvidia-cusparse==12.7.10.12 nvidia-nvjitlink==13.5.37 nvidia-cuda-nvrtc==13.2.86 nvidia-cuda-cupti==13.2.86
  nvidia-cudnn-cu13==9.26.0.51 nvidia-cusparselt-cu13==0.8.1 nvidia-nccl-cu13==2.30.7 nvidia-nvshmem-cu13==3.7.2
)
TORCH_PY_PINS=(filelock==4.3.2 typing-extensions==4.16.0 sympy==1.14.0 mpmath==1.3.0 networkx==3.6.1 jinja2==3.1.6
  markupsafe==3.0.4 fsspec==2026.9.0 numpy==2.4.6)
KERAS_PINS=(tensorflow-cpu==2.21.0 keras==3.15.1)

log() { printf '[setup-bench-twins] %s\n' "$*" >&2; }

# ready VENV SPEC: the venv was completed with exactly these pins
ready() { [ -x "$1/bin/python" ] && [ "$(cat "$1/.dcign-twin" 2>/dev/null)" = "$2" ]; }

# build VENV SPEC INSTALL-FUNCTION CHECK: builds into VENV.tmp and moves it in place only once CHECK passed, so an
# interrupted run leaves no half-made venv behind (a venv's python finds its site-packages wherever the folder is;
# only pip's script shebangs would point at .tmp, and nothing here runs them)
build() {
  local venv=$1 spec=$2 install=$3 check=$4
  rm -rf "$venv.tmp" "$venv"
  "$PY" -m venv "$venv.tmp"
  "$venv.tmp/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$install" "$venv.tmp/bin/python"
  TF_CPP_MIN_LOG_LEVEL=2 "$venv.tmp/bin/python" -c "$check"
  printf '%s' "$spec" >"$venv.tmp/.dcign-twin"
  mv "$venv.tmp" "$venv"
}

install_torch() {
  # the pure-Python dependencies first: pip's conflict report (which would list the CUDA packages left out on purpose)
  # is skipped under --no-deps, so the torch install last keeps the log clean
  "$1" -m pip install --quiet --disable-pip-version-check "${TORCH_PY_PINS[@]}"
  "$1" -m pip install --quiet --disable-pip-version-check --no-deps "${TORCH_PINS[@]}" "${TORCH_CUDA_PINS[@]}"
}
install_keras() {
  # the wheel scripts/setup-tensorflow.sh downloaded, when there
  "$1" -m pip install --quiet --disable-pip-version-check --find-links "$CACHE/wheels" "${KERAS_PINS[@]}"
}

TORCH_CHECK='import torch
x = torch.randn(4, 3, requires_grad=True)
(x @ x.t()).sum().backward()
assert x.grad is not None
print("[setup-bench-twins] torch", torch.__version__, "threads", torch.get_num_threads(), "cuda", torch.cuda.is_available())'
KERAS_CHECK='import tensorflow as tf, keras
print("[setup-bench-twins] tensorflow", tf.__version__, "keras", keras.__version__)
assert tf.__version__ == "2.21.0", tf.__version__'

if [ "${1:-}" != "--keras-only" ]; then
  spec="${TORCH_PINS[*]} ${TORCH_CUDA_PINS[*]} ${TORCH_PY_PINS[*]}"
  if ready "$TORCH_VENV" "$spec"; then
    log "torch twin ready at $TORCH_VENV"
  else
    log "creating $TORCH_VENV (${TORCH_PINS[*]}, CPU use; about 4 GB on disk, once)"
    build "$TORCH_VENV" "$spec" install_torch "$TORCH_CHECK"
  fi
fi

if [ "${1:-}" != "--torch-only" ]; then
  spec="${KERAS_PINS[*]}"
  if ready "$KERAS_VENV" "$spec"; then
    log "keras twin ready at $KERAS_VENV"
  else
    log "creating $KERAS_VENV (${KERAS_PINS[*]})"
    build "$KERAS_VENV" "$spec" install_keras "$KERAS_CHECK"
  fi
fi
