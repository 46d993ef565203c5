#!/usr/bin/env bash
# platd measured by plat-bench, the repo's DPDK tester, in two processes
# on this machine: platd's inside and outside ports are net_memif servers,
# plat-bench the client of both. One platd worker on lcore 1, the tester
# on lcore 0 (with platd's control thread).
#
# Usage: bash deploy/bench/plat-bench.sh SCENARIO TESTS [plat-bench options...]
#   e.g. bash deploy/bench/plat-bench.sh udp64-established throughput,latency --trial-s 5
#   FORWARD_ONLY=1  platd with translation off (the forwarding-only ceiling
#                   of the same setup)
#   LOOPBACK=1      no platd: the tester's own ceiling (inside wired to
#                   outside by one memif link)
#   SESSIONS=N      platd's session table size (default: flows + 25 %)
#   JSON=FILE       append the JSON records there
#   PLATD=path      another platd binary (old and new alternated)
set -euo pipefail
cd "$(dirname "$0")/../.."
scenario=${1:?usage: plat-bench.sh SCENARIO TESTS [options]}
tests=${2:?usage: plat-bench.sh SCENARIO TESTS [options]}
shift 2
work=${BENCH_DIR:-/tmp/plat-bench}
run=${BENCH_RUN:-/run/plat-bench}
mkdir -p "$work" "$run"

# PLAT_BENCH, PLATCTL, PLAT_SCENARIOS and PLATD name prebuilt binaries
# (the test suite's); otherwise this tree's release build.
if [[ -z ${PLAT_BENCH:-} ]]; then
  cargo build --release --locked -p plat --bin platd -p plat-cli --bin platctl \
    -p pktgen-scenarios --bin plat-bench --bin plat-scenarios >&2
fi
platd=${PLATD:-target/release/platd}
bench=${PLAT_BENCH:-target/release/plat-bench}
platctl=${PLATCTL:-target/release/platctl}
scenarios=${PLAT_SCENARIOS:-target/release/plat-scenarios}
flows=$("$scenarios" flows "$scenario")
for a in "$@"; do [[ ${prev:-} == --flows ]] && flows=$a; prev=$a; done
sessions=${SESSIONS:-$(( flows + flows / 4 + 1024 ))}
# pool4 with room for every flow (64,512 UDP ports an address, a quarter spare)
pool4_len=$(python3 -c "import math;print(min(28, 32 - math.ceil(math.log2($sessions / 64512 + 1))))")

json_opt=()
[[ -n ${JSON:-} ]] && json_opt=(--json "$JSON")

if [[ ${LOOPBACK:-0} == 1 ]]; then
  exec "$bench" --scenario "$scenario" --tests "$tests" --loopback "$run/loop.sock" \
    --lcore 0 "${json_opt[@]}" "$@"
fi

cfg=$work/platd-memif.toml
cat >"$cfg" <<CONF
[eal]
args = ["-l", "0-1", "--no-huge", "-m", "1024", "--no-pci", "--no-shconf",
        "--iova-mode=va", "--no-telemetry", "--file-prefix=platd-bench",
        "--log-level=lib.eal:warning", "--log-level=pmd.net.memif:warning",
        "--vdev=net_memif0,role=server,id=0,socket=$run/inside.sock,socket-abstract=no,rsize=12,mac=02:00:00:00:00:a6",
        "--vdev=net_memif1,role=server,id=0,socket=$run/outside.sock,socket-abstract=no,rsize=12,mac=02:00:00:00:00:a4"]

[inside]
port = "net_memif0"
addresses = ["2001:db8:6::1/64"]
routes = [{ prefix = "2001:db8:100::/40", via = "2001:db8:6::2" }]
neighbors = [{ ip = "2001:db8:6::2", mac = "02:00:00:00:00:01" }]

[outside]
port = "net_memif1"
addresses = ["203.0.113.1/24"]
neighbors = [{ ip = "203.0.113.2", mac = "02:00:00:00:00:02" }]

[nat64]
prefix = "2001:db8:64::/96"
pool4 = ["198.51.100.0/$pool4_len"]
filtering = "eif"

[nat64.limits]
sessions = $sessions
subscriber_prefix_len = 64

[workers]
forward_only = $([[ ${FORWARD_ONLY:-0} == 1 ]] && echo true || echo false)

[mgmt]
socket = "$run/platd.sock"
CONF
rm -f "$run/inside.sock" "$run/outside.sock"
RUST_BACKTRACE=0 "$platd" --config "$cfg" >"$work/platd-memif.log" 2>&1 &
pid=$!
# On the way out: platd's non-zero drop counters (where any loss went).
finish() {
  "$platctl" --socket "$run/platd.sock" show stats 2>/dev/null | grep -E '^ *drop_' >&2 || true
  kill -INT $pid 2>/dev/null; wait $pid 2>/dev/null || true
}
trap finish EXIT
for _ in $(seq 200); do
  [[ -S $run/platd.sock ]] && break
  kill -0 $pid 2>/dev/null || { cat "$work/platd-memif.log" >&2; exit 1; }
  sleep 0.1
done
"$bench" --scenario "$scenario" --tests "$tests" --inside "$run/inside.sock" \
  --outside "$run/outside.sock" --mgmt "$run/platd.sock" --platctl "$platctl" \
  --dut-pid $pid --lcore 0 "${json_opt[@]}" "$@"
