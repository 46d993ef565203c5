#!/usr/bin/env bash
# Builds the plat Debian package: a release build of platd and platctl,
# their man pages (help2man, from --help) and platctl's shell completions
# into target/pkg-gen/, then `cargo deb --no-build`. Prints the .deb's path
# last. Needs help2man and cargo-deb (installed when missing).
# Usage: bash deploy/pkg/build.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

# The package's assets name target/..., whatever CARGO_TARGET_DIR says.
export CARGO_TARGET_DIR="$PWD/target"
gen=target/pkg-gen
release=target/release
cargo_deb_version=3.8.0

command -v help2man >/dev/null || {
  echo "build.sh: help2man missing (bash deploy/setup-host.sh help2man)" >&2
  exit 1
}
if ! cargo deb --version >/dev/null 2>&1; then
  echo "build.sh: installing cargo-deb $cargo_deb_version"
  cargo install cargo-deb --version "$cargo_deb_version" --locked --quiet
fi

# Reuses target/: after the tests' builds only plat and plat-cli relink.
cargo build --release --locked -p plat --bin platd -p plat-cli --bin platctl \
  -p pktgen-scenarios --bin plat-bench

rm -rf "$gen" && mkdir -p "$gen"
# help2man runs the binaries: --help and --version need neither DPDK
# hugepages nor a running platd.
help2man --no-info --section=8 --name="the plat NAT64 appliance daemon (DPDK)" \
  --output="$gen/platd.8" "$release/platd"
help2man --no-info --section=1 --name="admin CLI of the plat NAT64 appliance" \
  --output="$gen/platctl.1" "$release/platctl"
help2man --no-info --section=1 --name="RFC 8219 / RFC 9693 tester of platd over net_memif links" \
  --output="$gen/plat-bench.1" "$release/plat-bench"
"$release/platctl" completions bash >"$gen/platctl.bash"
"$release/platctl" completions zsh >"$gen/_platctl"
"$release/platctl" completions fish >"$gen/platctl.fish"

rm -f target/debian/plat_*.deb target/debian/plat-dbgsym_*.ddeb
# --dbgsym: stripped binaries here, their debug info (release keeps
# debug = 1) in a plat-dbgsym .ddeb beside the package, for crash reports.
cargo deb --no-build --locked -p plat --fast --dbgsym
ls target/debian/plat_*.deb target/debian/plat-dbgsym_*.ddeb
