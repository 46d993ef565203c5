#!/usr/bin/env bash
# The README's demo command: sets up the host, builds platd and shows it
# running on real DPDK with virtual ports.
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/setup-host.sh

cargo build --release --locked --bin platd
platd=target/release/platd

echo
echo "==> $platd --version"
"$platd" --version

echo
echo "==> platd probe: DPDK without hugepages or NICs, on virtual ports"
"$platd" probe -- -l 0 --no-huge -m 256 --no-pci --no-shconf --iova-mode=va \
  --no-telemetry --log-level=lib.eal:warning --file-prefix="plat-demo-$$" \
  --vdev=net_null0 --vdev=net_ring0 --vdev=net_null1
