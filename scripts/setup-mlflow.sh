#!/usr/bin/env bash
# Installs the MLflow tracking server into a project-managed virtualenv under $DCIGN_CACHE. Idempotent.
set -euo pipefail
MLFLOW_VERSION=3.17.2
cache=${DCIGN_CACHE:-$HOME/.cache/dcign}
venv=$cache/mlflow-venv
if [[ -x $venv/bin/mlflow ]] && "$venv/bin/python" -c "import mlflow, sys; sys.exit(mlflow.__version__ != '$MLFLOW_VERSION')" 2>/dev/null; then
  echo "[setup-mlflow] mlflow $MLFLOW_VERSION already installed in $venv"
  exit 0
fi
echo "[setup-mlflow] installing mlflow $MLFLOW_VERSION into $venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "mlflow==$MLFLOW_VERSION"
"$venv/bin/mlflow" --version
