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

cargo build --release --locked --bin platd -p plat --bin plat-scenarios -p pktgen-scenarios >&2
platd=${PLATD:-target/release/platd}
pcap="$work/$scenario.pcap"
[[ -s $pcap ]] || target/release/plat-scenarios pcap "$scenario" "$pcap" >&2
frames=$(( ($(stat -c %s "$pcap") - 24) / 80 ))

config() { # $1 = forward_only (true|false)
  cat <<CONF
[eal]
args = ["-l", "0-1", "--no-huge", "-m", "10240", "--no-pci", "--no-shconf",
        "--iova-mode=va", "--no-telemetry", "--file-prefix=plat-bench",
        "--log-level=lib.eal:warning",
        "--vdev=net_pcap0,rx_pcap=$pcap,infinite_rx=1", "--vdev=net_null0,no-rx=1"]

[inside]
port = "net_pcap0"
addresses = ["2001:db8:6::1/64"]

[outside]
port = "net_null0"
addresses = ["203.0.113.1/24"]
neighbors = [{ ip = "203.0.113.2", mac = "02:00:00:00:00:02" }]

[nat64]
prefix = "2001:db8:64::/96"
pool4 = ["198.51.100.0/27"]

[nat64.limits]
sessions = $(( frames + frames / 4 ))

[workers]
forward_only = $1
# one mbuf per captured frame, plus the queues
mbufs = $(( 1 << $(python3 -c "import math;print(math.ceil(math.log2($frames + 40000)))") ))
CONF
}

counter() { python3 -c "import json,sys;d=json.load(open('$1'));print(d['unix_ms'], d['counters'].get('$2',0))"; }

run() { # $1 = label, $2 = forward_only
  local cfg="$work/$1.toml" stats="$work/$1.json"
  config "$2" > "$cfg"
  rm -f "$stats"
  RUST_BACKTRACE=0 "$platd" --config "$cfg" --stats-file "$stats" >"$work/$1.log" 2>&1 &
  local pid=$!
  # Warm-up: the whole capture once (every session created), then 2 s.
  for _ in $(seq 600); do
    [[ -s $stats ]] && (( $(counter "$stats" tx_outside | cut -d' ' -f2) >= frames )) && break
    kill -0 $pid 2>/dev/null || { cat "$work/$1.log" >&2; return 1; }
    sleep 0.5
  done
  sleep 2
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
