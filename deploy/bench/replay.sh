# What the replay benchmarks share: the release build, the scenario's
# capture, platd's configuration for a net_pcap replay (inside) into
# net_null (outside), and reading a counter from the stats file.
# Sourced with $scenario and $work set.

cargo build --release --locked --bin platd -p plat --bin plat-scenarios -p pktgen-scenarios \
  --bin platctl -p plat-cli >&2
platd=${PLATD:-target/release/platd}
pcap="$work/$scenario.pcap"
[[ -s $pcap ]] || target/release/plat-scenarios pcap "$scenario" "$pcap" >&2
frames=$(( ($(stat -c %s "$pcap") - 24) / 80 ))

# pool4 with room for every flow (64,512 UDP ports an address, a quarter
# spare), at least the /27 the earlier runs used.
pool4_len=$(python3 -c "import math;print(min(27, 32 - math.ceil(math.log2($frames * 1.25 / 64512))))")

# REPLAY_ONCE=1 reads the capture once from the file (every frame a new
# flow for a capture of distinct flows) instead of looping over it from
# memory.
config() { # $1 = forward_only (true|false), $2 = more TOML (optional)
  local rx="infinite_rx=1" mbufs
  mbufs="mbufs = $(( 1 << $(python3 -c "import math;print(math.ceil(math.log2($frames + 40000)))") ))"
  if [[ ${REPLAY_ONCE:-0} == 1 ]]; then rx="infinite_rx=0"; mbufs=""; fi
  cat <<CONF
[eal]
args = ["-l", "0-1", "--no-huge", "-m", "10240", "--no-pci", "--no-shconf",
        "--iova-mode=va", "--no-telemetry", "--file-prefix=plat-bench",
        "--log-level=lib.eal:warning",
        "--vdev=net_pcap0,rx_pcap=$pcap,$rx", "--vdev=net_null0,no-rx=1"]

[inside]
port = "net_pcap0"
addresses = ["2001:db8:6::1/64"]

[outside]
port = "net_null0"
addresses = ["203.0.113.1/24"]
neighbors = [{ ip = "203.0.113.2", mac = "02:00:00:00:00:02" }]

[nat64]
prefix = "2001:db8:64::/96"
pool4 = ["198.51.100.0/$pool4_len"]
${PORT_BLOCK:+port_block = $PORT_BLOCK}

[nat64.limits]
sessions = $(( frames + frames / 4 ))
${PORT_BLOCK:+ports_per_subscriber = $(( PORT_BLOCK * 4 ))}

[workers]
forward_only = $1
# looping: one mbuf per captured frame, plus the queues
$mbufs
${2:-}
CONF
}

# Waits until platd ($1, logging to $3) has sent the whole capture once
# (every session created), then 2 s more; $2 is its stats file.
warm_up() {
  for _ in $(seq 600); do
    [[ -s $2 ]] && (( $(counter "$2" tx_outside | cut -d' ' -f2) >= frames )) && break
    kill -0 "$1" 2>/dev/null || { cat "$3" >&2; return 1; }
    sleep 0.5
  done
  sleep 2
}

counter() { python3 -c "import json,sys;d=json.load(open('$1'));print(d['unix_ms'], d['counters'].get('$2',0))"; }

