#!/usr/bin/env bash
# Installs the Debian packages kvgo-server builds with, if any is missing.
# Needs root (or sudo) only when something must be installed.
set -euo pipefail

packages=(
  build-essential cmake pkg-config ccache file dpkg-dev patch
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libleveldb-dev libsnappy-dev libgoogle-perftools-dev libtoml11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
  libabsl-dev libc-ares-dev libre2-dev zlib1g-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev libedit-dev libbsd-dev libncurses-dev
  rpm lintian fakeroot systemd
  clang clang-format libclang-rt-14-dev
  nftables openssl
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps: run as root, or install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
