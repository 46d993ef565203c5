#!/usr/bin/env bash
# Installs what building and running plat needs on Debian 12, and only what
# is missing: DPDK 22.11 (libdpdk-dev), the toolchain pieces bindgen and the
# shim need, and the tools the tests and the lab use.
# Usage: bash deploy/setup-host.sh [extra-debian-package ...]
set -euo pipefail

packages=(
  libdpdk-dev pkg-config clang libclang-dev   # DPDK and bindgen
  iproute2 ethtool procps                      # namespaces, veths, offloads
  libpcap-dev                                  # net_pcap replays
  git ca-certificates
  "$@"
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup-host: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "setup-host: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  for d in "$HOME/.cargo/bin" /root/.cargo/bin /usr/local/cargo/bin; do
    [[ -x $d/cargo ]] && export PATH="$d:$PATH" && break
  done
fi
command -v cargo >/dev/null 2>&1 || {
  echo "setup-host: no Rust toolchain (cargo) on PATH; plat needs Rust 1.87 or newer with rustfmt and clippy" >&2
  exit 1
}
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    command -v rustup >/dev/null 2>&1 && rustup component add "$component" >/dev/null 2>&1 || true
  fi
done
pkg-config --exists libdpdk || { echo "setup-host: libdpdk not visible to pkg-config after install" >&2; exit 1; }
echo "setup-host: ok (DPDK $(pkg-config --modversion libdpdk), $(cargo --version))"
