#!/usr/bin/env bash
# NAT event logging under a storm of new sessions (issue 16, acceptance 3):
# net_pcap reads the udp-new-flows capture once (10 M distinct flows, so
# every frame opens a session) into one worker, with logging off, with
# per-session logging (IPFIX to a collector that reads slowly, and the
# local JSON log), and with port blocks. For each run: the worker's rate
# and new sessions per second over the middle of the pass (platd's own
# counters), the accounting of events (generated = exported + counted
# lost, per sink, exactly) and the log volume per 1,000 sessions.
#
# Usage: bash deploy/bench/logging.sh [ROUNDS] [MEASURE_S]
#   The runs alternate (off, on, blocks-off, blocks) ROUNDS times; port
#   blocks allocate differently, so they compare with blocks-off.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-2}
measure=${2:-3}
scenario=udp-new-flows
work=${BENCH_DIR:-/tmp/plat-bench}
mkdir -p "$work"
export REPLAY_ONCE=1
source deploy/bench/replay.sh

collector_port=4739
block=64

# The collector: reads a datagram, then sleeps a millisecond, with a small
# receive buffer; it counts what it got. Slower than the exporter, so the
# kernel drops on its side (UDP: the exporter cannot know).
slow_collector() {
  python3 - "$collector_port" "$work/collector.txt" <<'PY' &
import socket, sys, time, signal
port, out = int(sys.argv[1]), sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
s.bind(("127.0.0.1", port))
s.settimeout(0.5)
n = b = 0
def done(*_):
    open(out, "w").write(f"{n} {b}\n"); sys.exit(0)
signal.signal(signal.SIGTERM, done)
while True:
    try:
        d = s.recv(65535)
    except socket.timeout:
        continue
    n += 1; b += len(d)
    time.sleep(0.001)
PY
  collector=$!
}

run() { # $1 = label, $2 = logging (off|on), $3 = port block size (0: none)
  local label=$1 cfg="$work/log-$1.toml" stats="$work/log-$1.json" extra=""
  local log="$work/nat-events-$1.jsonl"
  rm -f "$stats" "$log"*
  extra="[mgmt]
socket = \"$work/mgmt.sock\""
  if [[ $2 == on ]]; then
    extra="[mgmt]
socket = \"$work/mgmt.sock\"

[logging.nat]
collectors = [\"127.0.0.1:$collector_port\"]
file = \"$log\"
file_max_bytes = 4294967296"
  fi
  PORT_BLOCK=$([[ $3 != 0 ]] && echo "$3" || true) config false "$extra" > "$cfg"
  slow_collector
  RUST_BACKTRACE=0 "$platd" --config "$cfg" --stats-file "$stats" >"$work/log-$1.log" 2>&1 &
  local pid=$!
  # The pass: tx_outside sampled every 20 ms through the management
  # socket, from the start until it stands still; the rate is taken
  # between 10 % and 90 % of the capture (the table filling up).
  python3 - "$work/mgmt.sock" "$frames" "$work/log-$1.pass" <<'PY'
import json, socket, sys, time
path, frames, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for _ in range(3000):
    try:
        s = socket.socket(socket.AF_UNIX); s.connect(path); break
    except OSError:
        time.sleep(0.02)
f = s.makefile("rwb")
def tx():
    f.write(b'{"version":1,"id":1,"command":{"show_stats":{}}}\n'); f.flush()
    c = json.loads(f.readline())["ok"]["stats"]["counters"]
    return next(x["total"] for x in c if x["name"] == "tx_outside")
samples, still = [], 0
while still < 50:
    t, n = time.monotonic(), tx()
    still = still + 1 if samples and n == samples[-1][1] and n > 0 else 0
    samples.append((t, n))
    time.sleep(0.02)
def at(frac):
    return next(t for t, n in samples if n >= frac * frames)
t10, t90 = at(0.1), at(0.9)
open(out, "w").write(f"{0.8 * frames / (t90 - t10) / 1e6:.3f} {samples[-1][0] - samples[0][0]:.1f}\n")
PY
  # The log thread's drain.
  sleep 3
  cp "$stats" "$work/log-$1.final.json"
  kill -INT $pid; wait $pid || true
  kill -TERM $collector; wait $collector || true
  python3 - "$label" "$work/log-$1.pass" "$work/log-$1.final.json" "$log" "$work/collector.txt" <<'PY'
import json, os, sys
label = sys.argv[1]
mpps = float(open(sys.argv[2]).read().split()[0])
c = json.load(open(sys.argv[3]))["counters"]
# Every frame of the pass opened a session.
sessions = c.get("xlat_v6_to_v4", 0)
events = c.get("log_events", 0)
ring = c.get("drop_log_ring_full", 0)
shard = c.get("nat_events_lost", 0)
sent = c.get("log_ipfix_records_sent", 0)
lost = c.get("drop_log_ipfix_send", 0)
lines = c.get("log_lines_written", 0)
lines_lost = c.get("drop_log_file", 0)
ipfix_bytes = c.get("log_ipfix_bytes_sent", 0)
log = sys.argv[4]
file_bytes = sum(os.path.getsize(os.path.join(os.path.dirname(log), f))
                 for f in os.listdir(os.path.dirname(log)) if f.startswith(os.path.basename(log)))
got = open(sys.argv[5]).read().split() if os.path.exists(sys.argv[5]) else ["0", "0"]
ok = events == sent + lost and events == lines + lines_lost
per_k = lambda b: b / max(sessions, 1) * 1000
print(f"| {label:<14} | {mpps:5.2f} | {sessions:>10,} | {events:>10,} | {ring:>9,} | {shard:>5,} "
      f"| {sent:>10,} | {lost:>9,} | {lines:>10,} | {lines_lost:>6,} | {'yes' if ok else 'NO'} "
      f"| {per_k(ipfix_bytes):8.0f} | {per_k(file_bytes):8.0f} | {got[0]:>8} |")
PY
}

echo "scenario $scenario: $frames flows read once, one worker (lcore 1), $(nproc) CPUs"
echo "| run            |  Mpps |   sessions |  log_events | ring lost | shard lost | IPFIX recs | IPFIX lost |      lines | lines lost | exact | IPFIX B/1k | JSON B/1k | collector msgs |"
echo "|----------------|-------|------------|------------|-----------|------|------------|-----------|------------|--------|-------|----------|----------|----------|"
for r in $(seq "$rounds"); do
  run "off-$r" off 0
  run "on-$r" on 0
  run "blocks-off-$r" off "$block"
  run "blocks-$r" on "$block"
done
