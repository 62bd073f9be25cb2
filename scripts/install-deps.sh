#!/usr/bin/env bash
# Installs what valise needs to build and test on Debian 12 (bookworm).
# Uses sudo only when not root. Idempotent: skips apt when all are present.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libssl-dev libsodium-dev libisal-dev libzstd-dev libsqlite3-dev libgfshare-dev libgfshare-bin
  libcli11-dev nlohmann-json3-dev libgtest-dev libfuse3-dev fuse3 rsync
  libqrencode-dev libpng-dev zlib1g-dev zbar-tools
  python3 xxd bc strace man-db
  python3-dev pybind11-dev python3-torch python3-pil
  slurm-wlm munge
  clang libclang-rt-14-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
