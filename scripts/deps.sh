#!/usr/bin/env bash
# deps.sh: install every build and test dependency of rpd from Debian packages.
# Idempotent: does nothing when all are present. Needs root (or sudo) only to install.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libmicrohttpd-dev libgnutls28-dev libjansson-dev libsqlite3-dev libssl-dev libzstd-dev
  libcurl4-openssl-dev libcmocka-dev
  python3-pytest python3-requests python3-azure
  curl openssl wrk nginx-light hyperfine bc restic borgbackup rsync
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "deps.sh: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
