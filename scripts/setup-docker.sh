#!/usr/bin/env bash
# The container engine for deploy/ and `npm run test:deploy` (not part of scripts/setup.sh: npm test needs no Docker).
#   bash scripts/setup-docker.sh          install Docker and compose, start dockerd if none answers, build the base image
#   bash scripts/setup-docker.sh --stop   stop the dockerd this script started (by its recorded pid), nothing else
# Idempotent: a running engine and an existing base image are kept.
#
# dockerd is started without its bridge and firewall rules (--bridge=none --iptables=false --ip-masq=false): its
# defaults set the FORWARD policy to DROP and load br_netfilter, which cuts the network-namespace hosts of
# test/cluster off from each other. Containers therefore use host networking (deploy/compose.yaml does).
#
# No image registry may be reachable, so the base image is made here: a Debian bookworm rootfs (debootstrap from the
# mirror apt uses) with PostgreSQL 15 and Python 3.11 (the head's MLflow virtualenv runs on it), and this machine's
# Node.js copied in, imported as dcign-base:bookworm. The Dockerfiles default to public images; scripts/build-images.sh
# passes this one as their BASE.
set -euo pipefail
cache=${DCIGN_CACHE:-$HOME/.cache/dcign}
dir=$cache/docker
mkdir -p "$dir"
pidfile=$dir/dockerd.pid
BASE_IMAGE=${DCIGN_BASE_IMAGE:-dcign-base:bookworm}
SUDO=$([[ $(id -u) == 0 ]] && echo "" || echo sudo)

if [[ ${1:-} == --stop ]]; then
  if [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    pid=$(cat "$pidfile")
    $SUDO kill "$pid"
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    echo "[setup-docker] stopped dockerd (pid $pid)"
  else
    echo "[setup-docker] no dockerd started by this script is running"
  fi
  rm -f "$pidfile"
  exit 0
fi

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
# Compose: the v2 plugin where the distribution has it, else Debian bookworm's standalone docker-compose (1.29).
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null; then
  if apt-cache show docker-compose-plugin >/dev/null 2>&1; then need+=(docker-compose-plugin); else need+=(docker-compose); fi
fi
if (( ${#need[@]} > 0 )); then
  echo "[setup-docker] installing ${need[*]}"
  # apt's lock may be held by another setup script: wait for it rather than fail.
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}"
fi

if ! docker info >/dev/null 2>&1; then
  echo "[setup-docker] starting dockerd (no bridge, no iptables rules; log $dir/dockerd.log)"
  $SUDO bash -c "nohup dockerd --bridge=none --iptables=false --ip-masq=false >'$dir/dockerd.log' 2>&1 & echo \$! >'$pidfile'"
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { echo "error: dockerd did not answer within 30 s; its log: $dir/dockerd.log" >&2; tail -20 "$dir/dockerd.log" >&2; exit 1; }
fi
if [[ $(iptables -S FORWARD 2>/dev/null | head -1) == "-P FORWARD DROP" ]]; then
  echo "warning: the FORWARD policy is DROP (a dockerd started with its default firewall rules?): the network-namespace tests need" >&2
  echo "         iptables -P FORWARD ACCEPT; sysctl net.bridge.bridge-nf-call-iptables=0" >&2
fi

if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  tarball=$dir/base-bookworm.tar
  if [[ ! -f $tarball ]]; then
    mirror=${DCIGN_DEBIAN_MIRROR:-$( (grep -shoE '^(URIs:|deb) +https?://[^ ]+/debian/?$' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list || true) | grep -oE 'https?://[^ ]+' | head -1)}
    mirror=${mirror:-http://deb.debian.org/debian}
    echo "[setup-docker] debootstrap bookworm from $mirror (a few minutes, once)"
    rootfs=$dir/rootfs.tmp
    $SUDO rm -rf "$rootfs"
    $SUDO debootstrap --variant=minbase --include=ca-certificates,python3,postgresql-15,procps bookworm "$rootfs" "$mirror" >"$dir/debootstrap.log" 2>&1 \
      || { echo "error: debootstrap failed; its log: $dir/debootstrap.log" >&2; tail -20 "$dir/debootstrap.log" >&2; exit 1; }
    node=$(command -v node)
    $SUDO install -m 0755 "$(readlink -f "$node")" "$rootfs/usr/local/bin/node"
    $SUDO rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/lib/postgresql/15/main
    $SUDO tar -C "$rootfs" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    $SUDO rm -rf "$rootfs"
  fi
  echo "[setup-docker] importing $BASE_IMAGE"
  docker import "$tarball" "$BASE_IMAGE" >/dev/null
fi
echo "[setup-docker] docker $(docker version --format '{{.Server.Version}}'), $(docker compose version --short 2>/dev/null || docker-compose version --short), base image $BASE_IMAGE"
