#!/usr/bin/env bash
# Installs Optuna (the search's sampler, driven by src/search/optuna_driver.py) and optuna-dashboard into a
# project-managed virtualenv under $DCIGN_CACHE. Idempotent: a warm run checks the pinned versions and exits.
set -euo pipefail
OPTUNA_VERSION=5.0.0
DASHBOARD_VERSION=0.21.0
cache=${DCIGN_CACHE:-$HOME/.cache/dcign}
venv=$cache/optuna-venv
want_gp=${DCIGN_OPTUNA_GP:-0}
gp_import=''
if [[ $want_gp == 1 ]]; then gp_import=', torch'; fi
check="import optuna, optuna_dashboard, sys$gp_import; sys.exit(not (optuna.__version__ == '$OPTUNA_VERSION' and optuna_dashboard.__version__ == '$DASHBOARD_VERSION'))"
if [[ -x $venv/bin/optuna-dashboard ]] && "$venv/bin/python" -c "$check" 2>/dev/null; then
  echo "[setup-optuna] optuna $OPTUNA_VERSION and optuna-dashboard $DASHBOARD_VERSION already installed in $venv"
  exit 0
fi
echo "[setup-optuna] installing optuna $OPTUNA_VERSION and optuna-dashboard $DASHBOARD_VERSION into $venv"
python3 -m venv "$venv"
# cmaes and scipy: CmaEsSampler needs them. GPSampler also needs torch, several GB from PyPI with its CUDA libraries:
# DCIGN_OPTUNA_GP=1 adds it; without, a sweep with `sampler: gp` fails naming this command as the fix.
"$venv/bin/pip" install --quiet --disable-pip-version-check "optuna==$OPTUNA_VERSION" "optuna-dashboard==$DASHBOARD_VERSION" cmaes==0.13.1 scipy==1.17.1
if [[ $want_gp == 1 ]]; then "$venv/bin/pip" install --quiet --disable-pip-version-check torch; fi
"$venv/bin/python" -c "$check"
echo "[setup-optuna] optuna $("$venv/bin/python" -c 'import optuna; print(optuna.__version__)') ready"
