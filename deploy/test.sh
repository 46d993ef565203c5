#!/usr/bin/env bash
# The README's test command: sets up the host, then runs every check CI
# runs: formatting, clippy with warnings as errors, docs, and all tests
# (the DPDK ones included, which need root for namespaces and veths; a
# short plat-bench run among them), the emitted scenario artifacts, then
# builds the Debian package and checks it (deploy/pkg/).
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/setup-host.sh nginx-light bind9 bind9-dnsutils socat iperf3 curl python3 iputils-ping \
  tmux prometheus passwd util-linux tshark traceroute tayga help2man lintian dpdk systemd bird2 lua5.4

export CARGO_TERM_COLOR=never
step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings
step "cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet
step "cargo test"
cargo test --workspace --locked
step "scenario artifacts (TRex STL/ASTF compile, pktgen-dpdk Lua parses, pcaps read in tshark)"
bash deploy/bench/check-scenarios.sh 50
step "fuzz targets (a short run of each)"
bash deploy/fuzz-smoke.sh
step "Debian package"
bash deploy/pkg/build.sh && bash deploy/pkg/check.sh
