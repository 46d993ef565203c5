#!/usr/bin/env bash
# Scale-out by routing (issue 20): two active platd nodes behind a BIRD 2
# router with ECMP for the shared NAT64 prefix, each node announcing that
# prefix and its own pool4 over eBGP while platctl says it is healthy.
#
#   plat-bgp-client c0 ==== rc  plat-bgp-router  rs ==== s0  plat-bgp-server
#   2001:db8:7::2/64   ::1   (BIRD 2, AS 64500,  .254  203.0.113.2/24
#                            forwards v6 + v4)         UDP echo :7, nginx :80
#   per node N (n1, n2), namespace plat-bgp-nN, platd on DPDK net_af_packet:
#     inside  iN (platd 2001:db8:6N::2/64) ==== r6N (router 2001:db8:6N::1)
#     outside oN (platd 192.0.2.(16N-14)/28) == r4N (router 192.0.2.(16N-15))
#     BGP     mN (kernel, BIRD AS 6450N)     ==== rmN: 2001:db8:ff:N::2 / ::1
#                                                 and 192.0.2.(64+4N+2)/.1 (/30)
#   n1 pool4 198.51.100.0/28, n2 198.51.100.16/28; both 2001:db8:64::/96.
#
# Usage: bgp.sh up | down | status | client|router|server CMD... |
#        node n1|n2 CMD... | start-node n1|n2 | kill-node n1|n2 | birdc NS CMD...
# PLATD names platd (default target/debug/platd), PLATCTL platctl (beside
# platd). `up` starts everything, platd and BIRD and the health checks
# included; callers trap `down`. Only documentation ranges and ASNs.
set -euo pipefail

LAB_DIR=${LAB_DIR:-/tmp/plat-bgp}
PLATD=${PLATD:-target/debug/platd}
PLATCTL=${PLATCTL:-$(dirname "$PLATD")/platctl}
NS_CLIENT=plat-bgp-client
NS_ROUTER=plat-bgp-router
NS_SERVER=plat-bgp-server
NODES="n1 n2"
NAMESPACES="$NS_CLIENT $NS_ROUTER $NS_SERVER plat-bgp-n1 plat-bgp-n2"

CLIENT6=2001:db8:7::2
ROUTER_CLIENT6=2001:db8:7::1
SERVER4=203.0.113.2
ROUTER_SERVER4=203.0.113.254
NAT64_PREFIX=2001:db8:64::/96
ROUTER_AS=64500

log() { printf 'bgp-lab: %s\n' "$*" >&2; }
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# Node start-up (BIRD, platd, the health check) takes longer than 10 s.
WAIT_TRIES=75

# A node's numbers: n = 1 or 2.
num() { echo "${1#n}"; }
node_ns() { echo "plat-bgp-$1"; }
inside6() { echo "2001:db8:6$(num "$1")::2"; }
router_inside6() { echo "2001:db8:6$(num "$1")::1"; }
outside4() { echo "192.0.2.$((16 * $(num "$1") - 14))"; }
router_outside4() { echo "192.0.2.$((16 * $(num "$1") - 15))"; }
bgp6() { echo "2001:db8:ff:$(num "$1")::2"; }
router_bgp6() { echo "2001:db8:ff:$(num "$1")::1"; }
bgp4() { echo "192.0.2.$((64 + 4 * $(num "$1") + 2))"; }
router_bgp4() { echo "192.0.2.$((64 + 4 * $(num "$1") + 1))"; }
pool4() { if [[ $1 == n1 ]]; then echo 198.51.100.0/28; else echo 198.51.100.16/28; fi; }
node_as() { echo $((ROUTER_AS + $(num "$1"))); }

up() {
  down quiet
  mkdir -p "$LAB_DIR"/{run,www}
  for ns in $NAMESPACES; do
    ip netns add "$ns"
    in_ns "$ns" ip link set lo up
  done
  ip link add c0 netns $NS_CLIENT type veth peer name rc netns $NS_ROUTER
  ip link add s0 netns $NS_SERVER type veth peer name rs netns $NS_ROUTER

  # Router: forwards both families; ECMP hashes on ports too (policy 1,
  # L4), or 20 flows from one client to one server would all take one path.
  in_ns $NS_ROUTER sysctl -qw net.ipv6.conf.all.forwarding=1
  in_ns $NS_ROUTER sysctl -qw net.ipv4.ip_forward=1
  in_ns $NS_ROUTER sysctl -qw net.ipv6.fib_multipath_hash_policy=1
  in_ns $NS_ROUTER sysctl -qw net.ipv4.fib_multipath_hash_policy=1
  for ifc in rc rs; do offloads_off $NS_ROUTER $ifc; in_ns $NS_ROUTER ip link set $ifc up; done
  in_ns $NS_ROUTER ip -6 addr add $ROUTER_CLIENT6/64 dev rc nodad
  in_ns $NS_ROUTER ip addr add $ROUTER_SERVER4/24 dev rs

  # Client: IPv6 only, the router its first hop.
  in_ns $NS_CLIENT sysctl -qw net.ipv6.conf.c0.accept_ra=0
  offloads_off $NS_CLIENT c0
  in_ns $NS_CLIENT ip link set c0 up
  in_ns $NS_CLIENT ip -6 addr add $CLIENT6/64 dev c0 nodad
  in_ns $NS_CLIENT ip -6 route add default via $ROUTER_CLIENT6 dev c0

  # Server: IPv4 only, both pools behind the router.
  in_ns $NS_SERVER sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  offloads_off $NS_SERVER s0
  in_ns $NS_SERVER ip link set s0 up
  in_ns $NS_SERVER ip addr add $SERVER4/24 dev s0
  in_ns $NS_SERVER ip route add default via $ROUTER_SERVER4 dev s0

  for n in $NODES; do node_links "$n"; done
  start_server
  write_router_bird
  start_bird $NS_ROUTER router
  for n in $NODES; do start_node "$n"; done
  log "up: client $CLIENT6 via $ROUTER_CLIENT6, server $SERVER4, prefix $NAT64_PREFIX"
}

node_links() {
  local n=$1 ns; ns=$(node_ns "$1")
  ip link add "i$(num "$n")" netns "$ns" type veth peer name "r6$(num "$n")" netns $NS_ROUTER
  ip link add "o$(num "$n")" netns "$ns" type veth peer name "r4$(num "$n")" netns $NS_ROUTER
  ip link add "m$(num "$n")" netns "$ns" type veth peer name "rm$(num "$n")" netns $NS_ROUTER
  # platd's data ports: the node's kernel stays off them.
  for ifc in "i$(num "$n")" "o$(num "$n")"; do
    in_ns "$ns" sysctl -qw "net.ipv6.conf.$ifc.disable_ipv6=1"
    offloads_off "$ns" "$ifc"
    in_ns "$ns" ip link set "$ifc" up
  done
  for ifc in "r6$(num "$n")" "r4$(num "$n")" "rm$(num "$n")"; do
    offloads_off $NS_ROUTER "$ifc"
    in_ns $NS_ROUTER ip link set "$ifc" up
  done
  in_ns $NS_ROUTER ip -6 addr add "$(router_inside6 "$n")/64" dev "r6$(num "$n")" nodad
  in_ns $NS_ROUTER ip addr add "$(router_outside4 "$n")/28" dev "r4$(num "$n")"
  # The BGP link: the only kernel interface the node's BIRD has.
  in_ns $NS_ROUTER ip -6 addr add "$(router_bgp6 "$n")/64" dev "rm$(num "$n")" nodad
  in_ns $NS_ROUTER ip addr add "$(router_bgp4 "$n")/30" dev "rm$(num "$n")"
  in_ns "$ns" ip link set "m$(num "$n")" up
  in_ns "$ns" ip -6 addr add "$(bgp6 "$n")/64" dev "m$(num "$n")" nodad
  in_ns "$ns" ip addr add "$(bgp4 "$n")/30" dev "m$(num "$n")"
}

start_server() {
  echo "hello from the IPv4-only server $SERVER4" > "$LAB_DIR/www/index.html"
  # A simple HTTP server and a UDP echo that logs each sender (the test
  # reads which pool4 each flow left by).
  in_ns $NS_SERVER python3 -m http.server --bind $SERVER4 --directory "$LAB_DIR/www" 80 \
    >"$LAB_DIR/http.log" 2>&1 &
  echo $! > "$LAB_DIR/run/http.pid"
  : > "$LAB_DIR/echo.log"
  in_ns $NS_SERVER socat -d -d -T 5 UDP4-RECVFROM:7,bind=$SERVER4,fork PIPE </dev/null >/dev/null \
    2>>"$LAB_DIR/echo.log" &
  echo $! > "$LAB_DIR/run/echo.pid"
  wait_for "http" in_ns $NS_SERVER curl -fs -o /dev/null "http://$SERVER4/"
}

# The router's BIRD: eBGP to each node over the BGP link, one session per
# family. The nodes announce next hops that are platd's data-port
# addresses, not their BGP-link addresses: `gateway recursive` resolves
# them through the router's own connected routes (protocol direct), so the
# kernel routes data to platd's inside (IPv6) or outside (IPv4) link.
# The kernel protocol exports BGP routes only, merging equal ones into one
# multipath route (`merge paths`): ECMP over the nodes for the prefix.
write_router_bird() {
  local f=$LAB_DIR/bird-router.conf n
  cat > "$f" <<CONF
router id 192.0.2.254;
protocol device { scan time 1; }
protocol direct { ipv4; ipv6; }
protocol kernel { ipv4 { export where source = RTS_BGP; }; merge paths on; }
protocol kernel { ipv6 { export where source = RTS_BGP; }; merge paths on; }
template bgp node {
  local as $ROUTER_AS;
  hold time 3; keepalive time 1; connect retry time 1; error wait time 1, 2;
}
CONF
  for n in $NODES; do
    cat >> "$f" <<CONF
protocol bgp ${n}_v6 from node {
  neighbor $(bgp6 "$n") as $(node_as "$n");
  ipv6 { import filter { if net = $NAT64_PREFIX then accept; reject; }; export none; gateway recursive; igp table master6; };
}
protocol bgp ${n}_v4 from node {
  neighbor $(bgp4 "$n") as $(node_as "$n");
  ipv4 { import filter { if net = $(pool4 "$n") then accept; reject; }; export none; gateway recursive; igp table master4; };
}
CONF
  done
}

# A node's BIRD: static routes for the prefix and its pool4 (blackholes
# here: the node's kernel never forwards data, platd does), announced with
# the next hop set to platd's port address on the router's link. BIRD
# keeps a next hop an export filter sets. The static protocols start
# disabled: the health check enables them once platd answers.
write_node_bird() {
  local n=$1
  cat > "$LAB_DIR/bird-$n.conf" <<CONF
router id $(bgp4 "$n");
protocol device { scan time 1; }
protocol static nat64 { ipv6; disabled; route $NAT64_PREFIX blackhole; }
protocol static pool4 { ipv4; disabled; route $(pool4 "$n") blackhole; }
template bgp upstream {
  local as $(node_as "$n");
  hold time 3; keepalive time 1; connect retry time 1; error wait time 1, 2;
}
protocol bgp up_v6 from upstream {
  neighbor $(router_bgp6 "$n") as $ROUTER_AS;
  ipv6 { import none; export filter { bgp_next_hop = $(inside6 "$n"); accept; }; };
}
protocol bgp up_v4 from upstream {
  neighbor $(router_bgp4 "$n") as $ROUTER_AS;
  ipv4 { import none; export filter { bgp_next_hop = $(outside4 "$n"); accept; }; };
}
CONF
}

start_bird() {
  local ns=$1 name=$2
  in_ns "$ns" bird -c "$LAB_DIR/bird-$name.conf" -s "$LAB_DIR/run/bird-$name.ctl" \
    -P "$LAB_DIR/run/bird-$name.pid" </dev/null >/dev/null 2>&1
  wait_for "BIRD $name" birdc -s "$LAB_DIR/run/bird-$name.ctl" show status
}

write_platd_config() {
  local n=$1
  cat > "$LAB_DIR/platd-$n.toml" <<CONF
[eal]
args = ["--lcores=0@0,1@1", "--no-huge", "-m", "512", "--no-pci", "--no-shconf",
        "--iova-mode=va", "--no-telemetry", "--file-prefix=plat-bgp-$n",
        "--log-level=lib.eal:warning",
        "--vdev=net_af_packet0,iface=i$(num "$n"),qpairs=1",
        "--vdev=net_af_packet1,iface=o$(num "$n"),qpairs=1"]

[inside]
port = "net_af_packet0"
addresses = ["$(inside6 "$n")/64"]
mtu = 1500
routes = [{ prefix = "::/0", via = "$(router_inside6 "$n")" }]

[outside]
port = "net_af_packet1"
addresses = ["$(outside4 "$n")/28"]
mtu = 1500
routes = [{ prefix = "0.0.0.0/0", via = "$(router_outside4 "$n")" }]

[nat64]
prefix = "$NAT64_PREFIX"
pool4 = ["$(pool4 "$n")"]

[workers]
idle_sleep_us = 100

[mgmt]
socket = "$LAB_DIR/run/platd-$n.sock"

[metrics]
listen = "127.0.0.1:9464"
CONF
}

# platd, its BIRD and its health check.
start_node() {
  local n=$1 ns; ns=$(node_ns "$1")
  [[ -x $PLATD ]] || { log "no platd at $PLATD (build it, or set PLATD)"; return 1; }
  [[ -x $PLATCTL ]] || { log "no platctl at $PLATCTL"; return 1; }
  stop_pidfile "$LAB_DIR/run/health-$n.pid"
  stop_pidfile "$LAB_DIR/run/platd-$n.pid"
  write_platd_config "$n"
  rm -f "$LAB_DIR/stats-$n.json"
  ip netns exec "$ns" "$PLATD" --config "$LAB_DIR/platd-$n.toml" \
    --stats-file "$LAB_DIR/stats-$n.json" >>"$LAB_DIR/platd-$n.log" 2>&1 &
  echo $! > "$LAB_DIR/run/platd-$n.pid"
  wait_for "platd $n" test -s "$LAB_DIR/stats-$n.json" || { cat "$LAB_DIR/platd-$n.log" >&2; return 1; }
  if [[ ! -S $LAB_DIR/run/bird-$n.ctl ]]; then
    write_node_bird "$n"
    start_bird "$ns" "$n"
  fi
  bash "$(dirname "$0")/bgp-health.sh" "$PLATCTL" "$LAB_DIR/run/platd-$n.sock" \
    "$LAB_DIR/run/bird-$n.ctl" nat64 pool4 >>"$LAB_DIR/health-$n.log" 2>&1 &
  echo $! > "$LAB_DIR/run/health-$n.pid"
  log "node $n up: inside $(inside6 "$n"), outside $(outside4 "$n"), pool4 $(pool4 "$n")"
}

# kill -9: no goodbye; the health check notices within a second.
kill_node() { kill_pidfile "$LAB_DIR/run/platd-$1.pid"; }

down() {
  for n in $NODES; do
    stop_pidfile "$LAB_DIR/run/health-$n.pid"
    stop_pidfile "$LAB_DIR/run/platd-$n.pid"
  done
  for f in "$LAB_DIR"/run/*.pid; do
    [[ -f $f ]] && kill "$(cat "$f")" 2>/dev/null || true
  done
  for ns in $NAMESPACES; do
    if ip netns list | grep -qw "$ns"; then
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
      ip netns del "$ns" 2>/dev/null || true
    fi
  done
  rm -rf "$LAB_DIR/run"
  [[ ${1:-} == quiet ]] || log "down"
}

status() {
  for ns in $NAMESPACES; do
    echo "== $ns"; in_ns "$ns" ip -br addr 2>/dev/null || echo "(absent)"
  done
  if ip netns list | grep -qw $NS_ROUTER; then
    echo "== router routes"
    in_ns $NS_ROUTER ip -6 route show $NAT64_PREFIX || true
    in_ns $NS_ROUTER ip route show proto bird || true
  fi
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) status ;;
  client) shift; in_ns $NS_CLIENT "$@" ;;
  router) shift; in_ns $NS_ROUTER "$@" ;;
  server) shift; in_ns $NS_SERVER "$@" ;;
  node) n=$2; shift 2; in_ns "$(node_ns "$n")" "$@" ;;
  start-node) start_node "$2" ;;
  kill-node) kill_node "$2" ;;
  birdc) n=$2; shift 2; birdc -s "$LAB_DIR/run/bird-$n.ctl" "$@" ;;
  *) echo "usage: $0 up|down|status|client|router|server CMD...|node n1|n2 CMD...|start-node n1|n2|kill-node n1|n2|birdc router|n1|n2 CMD..." >&2; exit 2 ;;
esac
