#!/usr/bin/env bash
# openssl, for the mTLS tests (test/stack/temporal-connection.test.ts makes a throw-away CA and certificates with it).
# Most images carry it; a slim one may not. Idempotent: does nothing when it is already on PATH.
set -euo pipefail
if command -v openssl >/dev/null 2>&1; then
  echo "[setup-openssl] $(openssl version) already installed"
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
# apt's lock may be held by another setup script: wait for it rather than fail.
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends openssl
echo "[setup-openssl] $(openssl version)"
