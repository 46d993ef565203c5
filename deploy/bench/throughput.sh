#!/usr/bin/env bash
# One-worker throughput of platd on this machine: net_pcap replays a
# scenario's capture forever (infinite_rx) into the inside port, the
# outside port is net_null. The first pass over the capture creates every
# session (warm-up); packets per second are then measured over MEASURE_S
# seconds from platd's own counters. The same run with translation off
# (forward_only) is the I/O ceiling.
#
# Usage: bash deploy/bench/throughput.sh [SCENARIO] [MEASURE_S]
#   PLATD=path   run that platd binary instead of this tree's (an older
#                build, to alternate old and new in one sitting)
#   NAT_ONLY=1   skip the forward-only run
set -euo pipefail
cd "$(dirname "$0")/../.."
scenario=${1:-udp64-1m}
measure=${2:-12}
work=${BENCH_DIR:-/tmp/plat-bench}
mkdir -p "$work"

source deploy/bench/replay.sh

run() { # $1 = label, $2 = forward_only
  local cfg="$work/$1.toml" stats="$work/$1.json"
  config "$2" > "$cfg"
  rm -f "$stats"
  RUST_BACKTRACE=0 "$platd" --config "$cfg" --stats-file "$stats" >"$work/$1.log" 2>&1 &
  local pid=$!
  warm_up $pid "$stats" "$work/$1.log"
  read -r t0 n0 < <(counter "$stats" tx_outside)
  sleep "$measure"
  read -r t1 n1 < <(counter "$stats" tx_outside)
  kill -INT $pid; wait $pid || true
  python3 - "$1" "$t0" "$n0" "$t1" "$n1" <<'PY'
import sys
label, t0, n0, t1, n1 = sys.argv[1], *map(int, sys.argv[2:])
secs = (t1 - t0) / 1000
print(f"| {label:<22} | {n1 - n0:>12,} | {secs:6.1f} | {(n1 - n0) / secs / 1e6:7.2f} |")
PY
}

echo "scenario $scenario: $frames flows, one worker (lcore 1), $(nproc) CPUs"
echo "| run                    |      packets |      s |    Mpps |"
echo "|------------------------|--------------|--------|---------|"
run "nat64-$scenario" false
[[ ${NAT_ONLY:-} ]] || run "forward-$scenario" true
