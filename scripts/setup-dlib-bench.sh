#!/usr/bin/env bash
# Prepares the reference for bench/metrics.ts: google-research/disentanglement_lib from PyPI, installed with --no-deps
# (its metric modules need no TensorFlow) next to the exact scientific stack the conformance cases were computed with
# (test/fixtures/conformance/README.md: numpy 2.4.6, scipy 1.17.1, scikit-learn 1.9.1).
# Idempotent: a venv that already imports everything at the right versions is left alone.
set -euo pipefail

VENV="${DCIGN_DLIB_VENV:-$HOME/.cache/dcign/dlib-venv}"
PY="${PYTHON:-python3}"
SKLEARN_VERSION=1.9.1
NUMPY_VERSION=2.4.6
SCIPY_VERSION=1.17.1
DLIB_VERSION=1.5
GIN_VERSION=0.5.0

check() {
  "$VENV/bin/python" - <<PYEOF 2>/dev/null
import numpy, scipy, sklearn, gin, importlib.util
assert sklearn.__version__ == "$SKLEARN_VERSION", sklearn.__version__
assert importlib.util.find_spec("disentanglement_lib") is not None
PYEOF
}

if [ -x "$VENV/bin/python" ] && check; then
  echo "dlib-venv ready: $VENV"
  exit 0
fi

echo "Preparing $VENV (disentanglement-lib $DLIB_VERSION --no-deps, scikit-learn $SKLEARN_VERSION) ..." >&2
mkdir -p "$(dirname "$VENV")"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "numpy==$NUMPY_VERSION" "scipy==$SCIPY_VERSION" \
  "scikit-learn==$SKLEARN_VERSION" "gin-config==$GIN_VERSION"
"$VENV/bin/python" -m pip install --quiet --no-deps "disentanglement-lib==$DLIB_VERSION"
if ! check; then
  echo "setup-dlib-bench: the venv at $VENV does not import numpy/scipy/scikit-learn $SKLEARN_VERSION/gin/disentanglement_lib" >&2
  exit 1
fi
echo "dlib-venv ready: $VENV"
