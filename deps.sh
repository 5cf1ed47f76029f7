#!/usr/bin/env bash
# Installs what mq needs from Debian's packages, only if something is missing.
# Idempotent: a second run installs nothing. Needs root (or sudo) only when
# something is missing.
set -euo pipefail
pkgs=(build-essential cmake pkg-config liblmdb-dev libboost-program-options-dev
      libgtest-dev libgmock-dev libbenchmark-dev libsqlite3-dev python3 clang libclang-rt-14-dev
      ccache strace libtomlplusplus-dev pybind11-dev python3-dev python3-pytest python3-zmq
      libnats-dev nats-server libfuse3-dev fuse3 xfsprogs btrfs-progs redis-server libhiredis-dev)
pkgs+=(python3-mypy)  # python_typecheck: the module's stubs (python/typecheck.sh)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps.sh: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
