#!/usr/bin/env bash
# The management plane under load (issue 15, acceptance 2): platd on one
# worker with a million sessions (net_pcap replays udp64-1m forever into
# the inside port), traffic running, while platctl lists sessions by
# prefix and asks for the summary. Reports each query's time and the
# worker's packet rate before and during the queries, from platd's own
# counters.
#
# Usage: bash deploy/bench/mgmt.sh [QUERIES] [MEASURE_S]
set -euo pipefail
cd "$(dirname "$0")/../.."
queries=${1:-20}
measure=${2:-5}
scenario=udp64-1m
work=${BENCH_DIR:-/tmp/plat-bench}
mkdir -p "$work"
source deploy/bench/replay.sh

sock="$work/mgmt.sock"
cfg="$work/mgmt.toml"
stats="$work/mgmt.json"
config false "[mgmt]
socket = \"$sock\"" > "$cfg"
rm -f "$stats"
RUST_BACKTRACE=0 "$platd" --config "$cfg" --stats-file "$stats" >"$work/mgmt.log" 2>&1 &
pid=$!
trap 'kill -INT $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
platctl() { target/release/platctl --socket "$sock" "$@"; }

warm_up $pid "$stats" "$work/mgmt.log"
sessions=$(platctl --json show summary | python3 -c "import json,sys;print(json.load(sys.stdin)['summary']['sessions']['udp'])")
echo "scenario $scenario: $frames flows, $sessions UDP sessions in platd, one worker, $(nproc) CPUs"

rate() { # packets/s of tx_outside between two stats readings
  python3 -c "import sys;t0,n0,t1,n1=map(int,sys.argv[1:]);print(f'{(n1-n0)/((t1-t0)/1000)/1e6:.3f}')" "$@"
}

read -r t0 n0 < <(counter "$stats" tx_outside)
sleep "$measure"
read -r t1 n1 < <(counter "$stats" tx_outside)
before=$(rate "$t0" "$n0" "$t1" "$n1")

# The prefix of the last subscribers: their sessions sit at the end of
# the table, so each listing pages through nearly all of it.
prefix=2001:db8:100:3d00::/56
times="$work/mgmt-times.txt"
: > "$times"
read -r t2 n2 < <(counter "$stats" tx_outside)
end=$(( $(date +%s) + measure ))
i=0
while (( i < queries || $(date +%s) < end )); do
  for q in "show sessions --proto udp --v6 $prefix --limit 100" "show summary"; do
    s=$(date +%s%N)
    # shellcheck disable=SC2086
    n=$(platctl --json $q | wc -c)
    e=$(date +%s%N)
    echo "$q|$(( (e - s) / 1000000 ))|$n" >> "$times"
  done
  i=$((i + 1))
done
sleep 1.1 # the stats file lags by up to a second
read -r t3 n3 < <(counter "$stats" tx_outside)
during=$(rate "$t2" "$n2" "$t3" "$n3")
s=$(date +%s%N)
count=$(platctl --json show sessions --proto udp --v6 2001:db8:100::/48 --count |
  python3 -c "import json,sys;print(json.load(sys.stdin)['sessions']['count'])")
count_ms=$(( ($(date +%s%N) - s) / 1000000 ))

python3 - "$times" "$before" "$during" "$count" "$count_ms" <<'PY'
import sys, statistics
path, before, during, count, count_ms = sys.argv[1:]
rows = {}
for line in open(path):
    q, ms, size = line.rstrip("\n").split("|")
    rows.setdefault(q, []).append(int(ms))
print("| query | runs | median ms | max ms |")
print("|---|---|---|---|")
for q, ms in rows.items():
    print(f"| `platctl {q}` | {len(ms)} | {statistics.median(ms):.0f} | {max(ms)} |")
print(f"| `platctl show sessions --v6 2001:db8:100::/48 --count` ({count} found) | 1 | {count_ms} | {count_ms} |")
b, d = float(before), float(during)
print(f"\nworker rate before the queries: {b:.3f} Mpps; during: {d:.3f} Mpps ({(d - b) / b * 100:+.1f} %)")
PY
