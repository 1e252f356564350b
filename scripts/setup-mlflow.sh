#!/usr/bin/env bash
# Installs the MLflow tracking server into a project-managed virtualenv under $DCIGN_CACHE, with the drivers the
# cluster head profile needs: psycopg2 (PostgreSQL backend store) and boto3 (S3 artifact store). Idempotent.
set -euo pipefail
MLFLOW_VERSION=3.17.2
PSYCOPG2_VERSION=2.9.13
BOTO3_VERSION=1.44.18
cache=${DCIGN_CACHE:-$HOME/.cache/dcign}
venv=$cache/mlflow-venv
if [[ -x $venv/bin/mlflow ]] && "$venv/bin/python" -c "import mlflow, psycopg2, boto3, sys; sys.exit(mlflow.__version__ != '$MLFLOW_VERSION' or boto3.__version__ != '$BOTO3_VERSION' or not psycopg2.__version__.startswith('$PSYCOPG2_VERSION'))" 2>/dev/null; then
  echo "[setup-mlflow] mlflow $MLFLOW_VERSION (with psycopg2 $PSYCOPG2_VERSION, boto3 $BOTO3_VERSION) already installed in $venv"
  exit 0
fi
echo "[setup-mlflow] installing mlflow $MLFLOW_VERSION, psycopg2-binary $PSYCOPG2_VERSION, boto3 $BOTO3_VERSION into $venv"
[[ -x $venv/bin/pip ]] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "mlflow==$MLFLOW_VERSION" "psycopg2-binary==$PSYCOPG2_VERSION" "boto3==$BOTO3_VERSION"
"$venv/bin/mlflow" --version
