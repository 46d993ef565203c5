#!/usr/bin/env bash
# HA sync at scale (issue 18, acceptance 3). Node A replays the udp64-1m
# capture forever (net_pcap inside, net_null outside): 1 M UDP sessions,
# refreshed several times a second each. Once A holds them, a fresh node B
# starts (standby, net_null ports) and catches up by bulk dump over a
# veth sync link between two namespaces. Measured:
#   - the time from B's start until it holds the same sessions as A (the
#     count, then every session's protocol, addresses, ports and state
#     compared through `platctl --json show sessions --all`);
#   - steady-state sync traffic (both directions of the sync veth, from
#     its kernel counters) against the data traffic (frames into A's
#     inside port plus frames out of its outside port, from A's counters
#     and the capture's frame size) over MEASURE_S seconds, with refresh
#     coalescing at nat64.sync_refresh_interval (default 60 s, each
#     session at its own phase).
#
# Usage: bash deploy/bench/ha-sync.sh [MEASURE_S]
set -euo pipefail
cd "$(dirname "$0")/../.."
measure=${1:-60}
scenario=udp64-1m
work=${BENCH_DIR:-/tmp/plat-bench-ha}
mkdir -p "$work"
source deploy/bench/replay.sh
platctl=target/release/platctl

NS_A=plat-ha-a
NS_B=plat-ha-b
cleanup() {
  for p in "$work"/*.pid; do [[ -f $p ]] && kill -INT "$(cat "$p")" 2>/dev/null || true; done
  sleep 1
  for p in "$work"/*.pid; do [[ -f $p ]] && kill -KILL "$(cat "$p")" 2>/dev/null || true; rm -f "$p"; done
  ip netns del $NS_A 2>/dev/null || true
  ip netns del $NS_B 2>/dev/null || true
}
trap cleanup EXIT
cleanup
ip netns add $NS_A
ip netns add $NS_B
ip link add hs0 netns $NS_A type veth peer name hs1 netns $NS_B
for ns in $NS_A $NS_B; do ip netns exec $ns ip link set lo up; done
# Room for a dump in flight in the sync sockets' buffers (platd asks for
# 8 MiB; the kernel caps it here, and these limits are not per namespace).
sysctl -qw net.core.rmem_max=16777216
sysctl -qw net.core.wmem_max=16777216
ip netns exec $NS_A ip link set hs0 up
ip netns exec $NS_B ip link set hs1 up
ip netns exec $NS_A ip -6 addr add 2001:db8:ff::1/64 dev hs0 nodad
ip netns exec $NS_B ip -6 addr add 2001:db8:ff::2/64 dev hs1 nodad

node_toml() { # $1 = a|b
  local id=1 prio=200 me=1 peer=2
  [[ $1 == a ]] || { id=2; prio=100; me=2; peer=1; }
  cat <<CONF
idle_sleep_us = 100

[mgmt]
socket = "$work/platd-$1.sock"

[ha]
role = "standby"
node_id = $id
priority = $prio
local = "[2001:db8:ff::$me]:7300"
peer = "[2001:db8:ff::$peer]:7300"
key = "hex:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
CONF
}
config false "$(node_toml a)" > "$work/a.toml"
# B: the same pool and workers (the port partitioning must match), but
# net_null ports and no capture in memory.
config false "$(node_toml b)" |
  sed -e "s|--vdev=net_pcap0,rx_pcap=[^\"]*|--vdev=net_null1,no-rx=1|" \
      -e 's|port = "net_pcap0"|port = "net_null1"|' -e 's|^mbufs = .*||' \
      -e 's|--file-prefix=plat-bench|--file-prefix=plat-bench-b|' > "$work/b.toml"

start() { # $1 = a|b
  local ns=$NS_A; [[ $1 == a ]] || ns=$NS_B
  rm -f "$work/$1.json"
  ip netns exec $ns "$platd" --config "$work/$1.toml" --stats-file "$work/$1.json" \
    >"$work/$1.log" 2>&1 &
  echo $! > "$work/$1.pid"
}
ctl() { local n=$1; shift; "$platctl" --socket "$work/platd-$n.sock" --json "$@"; }
count() { ctl "$1" show sessions --count | python3 -c "import json,sys;print(json.load(sys.stdin)['sessions']['count'])"; }
in_sync() {
  ctl "$1" ha show | python3 -c "
import json,sys
h=json.load(sys.stdin)['ha']
ok=h['role']=='$2' and h['peer'] and h['peer']['alive'] and all(s['in_sync'] for s in h['streams'])
sys.exit(0 if ok else 1)"
}

echo "A: replaying $scenario ($frames flows) alone"
start a
warm_up "$(cat "$work/a.pid")" "$work/a.json" "$work/a.log"
for _ in $(seq 120); do (( $(count a) >= frames )) && break; sleep 1; done
echo "A holds $(count a) sessions"

t0=$(date +%s.%N)
start b
until in_sync b standby 2>/dev/null && (( $(count b) == $(count a) )); do
  awk -v t0="$t0" -v t="$(date +%s.%N)" 'BEGIN { exit !(t - t0 > 120) }' &&
    { echo "B did not catch up" >&2; ctl a ha show; ctl b ha show; tail -n 5 "$work"/[ab].log; exit 1; }
  sleep 0.1
done
t1=$(date +%s.%N)
caught=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')

snapshot() { ctl "$1" show sessions --all | python3 -c "
import json,sys,hashlib
e=json.load(sys.stdin)['sessions']['entries']
keys=sorted(f\"{s['proto']} {s['v6']['addr']} {s['v6']['port']} {s['v4']['addr']} {s['v4']['port']} {s['remote']['addr']} {s['remote']['port']} {s['state']}\" for s in e)
print(len(keys), hashlib.sha256('\n'.join(keys).encode()).hexdigest())"; }
sa=$(snapshot a); sb=$(snapshot b)
echo "B (fresh standby) in sync with A's $(count a) sessions ${caught} s after its start"
echo "contents: A $sa"
echo "          B $sb"
[[ $sa == "$sb" ]] && echo "contents: identical" || { echo "contents differ" >&2; exit 1; }

sync_bytes() {
  ip netns exec $NS_A cat /sys/class/net/hs0/statistics/tx_bytes /sys/class/net/hs0/statistics/rx_bytes |
    awk '{ s += $1 } END { print s }'
}
s0=$(sync_bytes); read -r _ rx0 < <(counter "$work/a.json" rx_inside); read -r _ tx0 < <(counter "$work/a.json" tx_outside)
sleep "$measure"
s1=$(sync_bytes); read -r _ rx1 < <(counter "$work/a.json" rx_inside); read -r _ tx1 < <(counter "$work/a.json" tx_outside)
frame=$(python3 -c "
import struct
f=open('$pcap','rb'); f.read(24); h=f.read(16); print(struct.unpack('<IIII',h)[3])")
python3 - "$measure" "$frame" "$s0" "$s1" "$rx0" "$rx1" "$tx0" "$tx1" <<'PY'
import sys
secs, frame, s0, s1, rx0, rx1, tx0, tx1 = map(int, sys.argv[1:])
sync = s1 - s0
# IPv4 headers are 20 bytes shorter than IPv6's.
data = (rx1 - rx0) * frame + (tx1 - tx0) * (frame - 20)
print(f"steady state over {secs} s: data {data / 1e6:,.1f} MB ({(rx1 - rx0) / secs / 1e6:.2f} Mpps in), "
      f"sync {sync / 1e6:,.2f} MB ({sync / secs / 1e3:,.1f} kB/s): {100 * sync / max(data, 1):.3f} % of the data")
PY
for n in a b; do
  echo "== $n: platctl ha show"; "$platctl" --socket "$work/platd-$n.sock" ha show | sed -n '1,4p;/gaps\|dropped\|refused\|overflow\|dumps/p'
done
