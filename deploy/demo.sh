#!/usr/bin/env bash
# The README's demo command: sets up the host, builds platd, and runs it
# between an IPv6-only client and an IPv4-only server in the namespace lab
# (deploy/lab/lab.sh): curl by name through DNS64 and by literal, ping -6
# to an IPv4 host, curl -4 and ping by IPv4 literal through the client's
# CLAT (464XLAT: TAYGA on the client, platd as the PLAT), then what the
# appliance shows its operator through platctl: the summary, the client's
# sessions, the counters, who holds the address and port the server saw,
# and who held it once the sessions are gone (from the NAT event log).
# Tears the lab down on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/setup-host.sh nginx-light bind9 bind9-dnsutils socat iperf3 curl python3 iputils-ping \
  tayga

cargo build --release --locked -p plat --bin platd -p plat-cli --bin platctl
export PLATD=target/release/platd LAB_DIR=${LAB_DIR:-/tmp/plat-lab}
platctl() { target/release/platctl --socket "$LAB_DIR/run/platd.sock" "$@"; }
lab=deploy/lab/lab.sh
trap 'bash $lab down' EXIT

step() { printf '\n==> %s\n' "$*"; }

step "$PLATD --version"
"$PLATD" --version

step "lab: IPv6-only client, platd on DPDK (net_af_packet, net_tap), IPv4 router, IPv4-only server"
bash $lab up
# NAT events (bindings) go to a local JSON log, as a carrier keeps them.
events="$LAB_DIR/nat-events.jsonl"
rm -f "$events"
PLATD_EXTRA="[logging.nat]
file = \"$events\"" bash $lab start-platd 1
prefix=2001:db8:64::
server6=${prefix}cb00:7102   # 203.0.113.2 embedded (RFC 6052, /96)

step "client: dig AAAA www.lab.example (BIND 9 dns64 synthesises it)"
bash $lab client dig +short AAAA www.lab.example

step "client: curl http://www.lab.example/ (by name, through DNS64 and NAT64)"
bash $lab client curl -sS --max-time 10 http://www.lab.example/

step "client: curl http://[$server6]/ (by literal)"
bash $lab client curl -sS --max-time 10 "http://[$server6]/"

step "client: ping -6 $server6 (an IPv4-only host)"
bash $lab client ping -6 -c 3 -i 0.3 "$server6"

step "client: ping -6 -s 4000 $server6 (fragments both ways, RFC 6146 3.4)"
bash $lab client ping -6 -c 3 -i 0.3 -s 4000 "$server6"

step "client (IPv4-only app through the CLAT): curl -4 http://203.0.113.2/"
# 464XLAT (RFC 6877): TAYGA on the client translates IPv4 to IPv6 from
# 2001:db8:6::464 towards 2001:db8:64::/96, platd translates back.
bash $lab clat-up
bash $lab client curl -4 -sS --max-time 10 http://203.0.113.2/
bash $lab client ping -c 3 -i 0.3 203.0.113.2

step "server: the connections came from the pool"
tail -n 3 "$LAB_DIR/nginx/access.log"

step "platctl show summary"
platctl show summary

step "platctl show sessions (the client's and its CLAT's, from the curls and the pings above)"
platctl show sessions --v6 2001:db8:6::/64

step "platctl show stats (non-zero counters)"
platctl show stats

seen=$(tail -n 1 "$LAB_DIR/nginx/access.log" | cut -d' ' -f1)
step "platctl who $seen (who holds the address and port the server saw)"
platctl who "$seen" --proto tcp

step "platctl session clear, then: who held $seen? (from the NAT event log)"
at=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
platctl session clear
sleep 1
tail -n 4 "$events"
target/release/platctl log search --v4 "$seen" --proto tcp --at "$at" "$events"
