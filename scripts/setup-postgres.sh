#!/usr/bin/env bash
# Installs Debian's PostgreSQL server binaries (initdb, postgres, psql) for the cluster head profile
# (`dcign dev up --profile cluster`: MLflow's backend store). The profile runs its own cluster in its own data
# directory on its own port, so Debian's default cluster ("main", port 5432, started by the package) is not created.
# Idempotent: nothing to do when a server is already installed under /usr/lib/postgresql/<version>/bin.
set -euo pipefail
found() { compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && command -v psql >/dev/null; }
if found; then
  echo "[setup-postgres] PostgreSQL already installed: $(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "error: the PostgreSQL server is not installed. Fix: sudo apt-get install -y postgresql (as root), then re-run." >&2
  exit 1
fi
echo "[setup-postgres] installing Debian's postgresql package (no default cluster)"
mkdir -p /etc/postgresql-common/createcluster.d
echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.d/dcign-no-main.conf
# apt's lock may be held by another setup script: wait for it rather than fail.
apt-get -o DPkg::Lock::Timeout=600 update -qq
env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends postgresql
found || { echo "error: apt-get installed postgresql but no /usr/lib/postgresql/*/bin/initdb is there" >&2; exit 1; }
echo "[setup-postgres] installed $(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
