#!/usr/bin/env bash
# The plat network-namespace lab: an IPv6-only client, the appliance, an
# IPv4 router and an IPv4-only server on one machine, joined by veth pairs.
#
#   plat-client  c0 ==== a6  plat-appl  t4 -b4- a4 ==== r0  plat-router  r1 ==== s0  plat-server
#   2001:db8:6::2/64     (platd on DPDK:  192.0.2.254/24   203.0.113.254/24  203.0.113.2/24
#   BIND 9 dns64 on ::1   net_af_packet    (Linux, forwarding IPv4)       nginx :80, UDP
#                         inside, net_tap outside,                        echo :7, iperf3
#                         its TAP t4 bridged to a4 by b4)
#   platd: inside 2001:db8:6::1, outside 192.0.2.1 with its default route
#   via the router, NAT64 prefix 2001:db8:64::/96, pool4 198.51.100.0/29
#   (routed to platd by the router, and to the router by the server).
#   The router is a hop of its own: `traceroute -6` shows it as
#   2001:db8:64::c000:2fe, its Time Exceeded translated. Only
#   documentation ranges.
#   `clat-up` adds 464XLAT's customer side to the client: TAYGA as a CLAT
#   (IPv4 192.0.0.0/29 on the TUN `clat`, IPv6 2001:db8:6::464).
#
# Usage: lab.sh up | down | status | client CMD... | router CMD... |
#        server CMD... | appl CMD... |
#        start-platd [WORKERS] [OUTSIDE_MTU] [INSIDE_MTU] | stop-platd |
#        clat-up | clat-down | ha-up | start-node a|b [WORKERS] | stop-node a|b |
#        kill-node a|b | node a|b CMD...
# `up` leaves the lab running; callers trap `down` to tear it down.
# PLATD names the platd binary (default: target/release/platd);
# PORT_BLOCK sets nat64.port_block and PLATD_EXTRA is appended to platd's
# configuration (whole tables, such as [logging.nat]); OUTSIDE_PMD picks
# the outside port's driver (tap, the default, or af_packet).
#
# `ha-up` (after `up`) makes it an HA pair: a second appliance namespace,
# both appliances on the client's link (bridge b6) and the router's (b4),
# and a sync link between them:
#
#   plat-client c0 -- a6 [b6] -- n6ap == n6a  platd A (plat-appl)  t4  [b4] -- a4 == r0 router
#                            \-- n6bp == n6b  platd B (plat-appl2) t4b [b4b] -- x4b == x4bp [b4]
#   sync link: h0 2001:db8:ff::1 (A) == h1 2001:db8:ff::2 (B), UDP port 7300;
#   SYNC_RELAY=1 points both at a relay on 2001:db8:ff::100 (h0) instead.
#
# Both appliances carry the same addresses (only the active answers for
# them) and MACs of their own, which a takeover announces.
set -euo pipefail

LAB_DIR=${LAB_DIR:-/tmp/plat-lab}
NS_CLIENT=plat-client
NS_APPL=plat-appl
NS_ROUTER=plat-router
NS_SERVER=plat-server
NS_APPL2=plat-appl2
NAMESPACES="$NS_CLIENT $NS_APPL $NS_ROUTER $NS_SERVER $NS_APPL2"

CLIENT6=2001:db8:6::2
INSIDE6=2001:db8:6::1
# platd's link and the router's side of it.
OUTSIDE4=192.0.2.1
# platd's outside port (the DPDK side of the TAP) and the TAP's kernel side.
OUTSIDE_MAC=02:00:00:00:04:01
TAP_KERNEL_MAC=02:00:00:00:04:fe
ROUTER4=192.0.2.254
# The server's link and the router's side of it.
SERVER4=203.0.113.2
ROUTER_SERVER4=203.0.113.254
NAT64_PREFIX=2001:db8:64::
# The HA pair: each node's inside and outside MACs, the sync link.
INSIDE_MAC_A=02:00:00:00:06:0a
INSIDE_MAC_B=02:00:00:00:06:0b
OUTSIDE_MAC_B=02:00:00:00:04:0b
TAP_KERNEL_MAC_B=02:00:00:00:04:fb
SYNC_A=2001:db8:ff::1
SYNC_B=2001:db8:ff::2
SYNC_RELAY_ADDR=2001:db8:ff::100
SYNC_PORT=7300
# A test key (hex, 32 bytes); production keys come from `openssl rand -hex 32`.
HA_KEY=hex:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
POOL4=198.51.100.0/29
# The 10 MB file the TCP tests fetch byte-exact.
BIG_FILE_MB=${BIG_FILE_MB:-10}

# The CLAT (RFC 6877): RFC 7335's 192.0.0.0/29 on a TUN device TAYGA owns,
# the CLAT (TAYGA) at .1 and the host at .2 (issue 17's numbering; clatd's
# defaults swap the two, which changes nothing outside the client), and
# one IPv6 address of the client's /64 that stands for the host's IPv4
# address towards the PLAT.
CLAT_DEV=clat
CLAT4=192.0.0.1
CLAT_HOST4=192.0.0.2
CLAT6=2001:db8:6::464
# clatd's v4-defaultroute-mtu: a 1260-byte IPv4 packet is a 1280-byte IPv6
# packet, which every IPv6 path carries, so the CLAT never has to fragment
# or answer Fragmentation Needed for a path it cannot see.
CLAT_MTU=1260

log() { printf 'lab: %s\n' "$*" >&2; }
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"


up() {
  down quiet
  mkdir -p "$LAB_DIR"/{www,bind,nginx,run}
  rm -f "$LAB_DIR"/platd*.log
  for ns in $NAMESPACES; do
    ip netns add "$ns"
    in_ns "$ns" ip link set lo up
  done

  ip link add c0 netns $NS_CLIENT type veth peer name a6 netns $NS_APPL
  ip link add r0 netns $NS_ROUTER type veth peer name a4 netns $NS_APPL
  ip link add s0 netns $NS_SERVER type veth peer name r1 netns $NS_ROUTER

  # The appliance's kernel stays out of the way: no addresses, no IPv6
  # autoconfiguration noise, no checksum offload on either side.
  in_ns $NS_APPL ip link add b4 type bridge
  for ifc in a6 a4 b4; do
    in_ns $NS_APPL sysctl -qw "net.ipv6.conf.$ifc.disable_ipv6=1"
    offloads_off $NS_APPL $ifc
    in_ns $NS_APPL ip link set $ifc up
  done
  # The outside is a TAP (net_tap) bridged to the router's veth, not
  # net_af_packet: AF_PACKET's fanout (which the PMD always joins, with
  # PACKET_FANOUT_FLAG_DEFRAG) reassembles IPv4 fragments before platd
  # sees them, as no NIC does; RFC 6146 3.4 is platd's to do.
  in_ns $NS_APPL ip link set a4 master b4

  # Client: IPv6 only.
  in_ns $NS_CLIENT sysctl -qw net.ipv6.conf.c0.accept_ra=0
  in_ns $NS_CLIENT sysctl -qw net.ipv6.conf.c0.accept_dad=0
  offloads_off $NS_CLIENT c0
  in_ns $NS_CLIENT ip link set c0 up
  in_ns $NS_CLIENT ip -6 addr add $CLIENT6/64 dev c0 nodad
  in_ns $NS_CLIENT ip -6 route add default via $INSIDE6 dev c0

  # Router: IPv4 only, a plain Linux router between platd's link and the
  # server's. It routes the pool to platd, and answers what routers answer
  # (Time Exceeded, Fragmentation Needed) from its address on the link
  # the packet came in on.
  in_ns $NS_ROUTER sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  in_ns $NS_ROUTER sysctl -qw net.ipv4.ip_forward=1
  for ifc in r0 r1; do
    offloads_off $NS_ROUTER $ifc
    in_ns $NS_ROUTER ip link set $ifc up
  done
  in_ns $NS_ROUTER ip addr add $ROUTER4/24 dev r0
  in_ns $NS_ROUTER ip addr add $ROUTER_SERVER4/24 dev r1
  in_ns $NS_ROUTER ip route add $POOL4 via $OUTSIDE4 dev r0

  # Server: IPv4 only; the pool is reached through the router.
  in_ns $NS_SERVER sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  offloads_off $NS_SERVER s0
  in_ns $NS_SERVER ip link set s0 up
  in_ns $NS_SERVER ip addr add $SERVER4/24 dev s0
  in_ns $NS_SERVER ip route add $POOL4 via $ROUTER_SERVER4 dev s0

  start_server
  start_dns64
  log "up: client $CLIENT6, router $ROUTER4, server $SERVER4, prefix ${NAT64_PREFIX}/96, pool4 $POOL4"
}

start_server() {
  head -c $((BIG_FILE_MB * 1024 * 1024)) /dev/urandom > "$LAB_DIR/www/big.bin"
  echo "hello from the IPv4-only server $SERVER4" > "$LAB_DIR/www/index.html"
  cat > "$LAB_DIR/nginx/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $LAB_DIR/run/nginx.pid;
error_log $LAB_DIR/nginx/error.log;
events { worker_connections 256; }
http {
  # The client's address and port as the server sees them: the pool4
  # transport address that platctl who and the NAT event log must name.
  log_format lab '\$remote_addr:\$remote_port - [\$time_iso8601] "\$request" \$status \$body_bytes_sent';
  access_log $LAB_DIR/nginx/access.log lab;
  client_body_temp_path $LAB_DIR/nginx;
  proxy_temp_path $LAB_DIR/nginx;
  fastcgi_temp_path $LAB_DIR/nginx;
  uwsgi_temp_path $LAB_DIR/nginx;
  scgi_temp_path $LAB_DIR/nginx;
  default_type application/octet-stream;
  sendfile on;
  server { listen $SERVER4:80; root $LAB_DIR/www; }
}
CONF
  in_ns $NS_SERVER nginx -c "$LAB_DIR/nginx/nginx.conf" >"$LAB_DIR/nginx/stdout.log" 2>&1 &
  echo $! > "$LAB_DIR/run/nginx.launcher"
  # UDP echo on port 7: every datagram goes back to its sender.
  in_ns $NS_SERVER socat -T 5 UDP4-RECVFROM:7,bind=$SERVER4,fork PIPE >/dev/null 2>&1 &
  echo $! > "$LAB_DIR/run/echo.pid"
  in_ns $NS_SERVER iperf3 -s -B $SERVER4 -D --pidfile "$LAB_DIR/run/iperf3.pid" >/dev/null
  wait_for "nginx" in_ns $NS_SERVER curl -fs -o /dev/null "http://$SERVER4/"
}

start_dns64() {
  cat > "$LAB_DIR/bind/lab.example.zone" <<ZONE
\$TTL 60
@   IN SOA ns.lab.example. hostmaster.lab.example. 1 60 60 600 60
    IN NS  ns.lab.example.
ns  IN AAAA ::1
www IN A $SERVER4
ZONE
  cat > "$LAB_DIR/bind/named.conf" <<CONF
options {
  directory "$LAB_DIR/bind";
  pid-file "$LAB_DIR/run/named.pid";
  listen-on { none; };
  listen-on-v6 { ::1; };
  recursion yes;
  allow-query { any; };
  dnssec-validation no;
  // RFC 6147 DNS64 on the lab's network-specific prefix (RFC 6052 3.1
  // keeps documentation addresses off the well-known prefix).
  dns64 ${NAT64_PREFIX}/96 { clients { any; }; mapped { any; }; };
};
zone "lab.example" { type primary; file "$LAB_DIR/bind/lab.example.zone"; };
CONF
  # Names inside the client namespace resolve through this BIND.
  mkdir -p /etc/netns/$NS_CLIENT
  echo "nameserver ::1" > /etc/netns/$NS_CLIENT/resolv.conf
  printf '127.0.0.1 localhost\n::1 localhost\n' > /etc/netns/$NS_CLIENT/hosts
  in_ns $NS_CLIENT named -c "$LAB_DIR/bind/named.conf" -g -u root >"$LAB_DIR/bind/named.log" 2>&1 &
  echo $! > "$LAB_DIR/run/named.launcher"
  wait_for "BIND dns64" in_ns $NS_CLIENT dig +short +time=1 +tries=1 @::1 AAAA www.lab.example
}

# net_af_packet's ring frames for a link of MTU $1: the kernel writes a
# received frame 66 bytes into a ring frame and cuts what does not fit, so
# the default 2048-byte frames carry MTUs up to 1968. Above that, frames of
# whole KiB holding MTU + 80, in blocks that are a multiple of both the
# frame and the page (the PMD and the kernel want both).
afp_frames() {
  local mtu=$1 frame block
  ((mtu + 80 > 2048)) || return 0
  frame=$(( (mtu + 80 + 1023) / 1024 * 1024 ))
  block=$frame
  while ((block % 4096)); do block=$((block + frame)); done
  printf ',framesz=%d,blocksz=%d' "$frame" "$block"
}

# platd's configuration for the lab: DPDK net_af_packet on the veth ends,
# lcores laid over this machine's two CPUs so the kernel-side test hosts
# keep a CPU (workers back off when idle: a lab switch, not production's).
# Jumbo links make every mbuf as large as their frames (some 300 MiB per
# worker at MTU 9000), so the EAL gets more memory for them.
write_platd_config() {
  local workers=$1 out_mtu=$2 in_mtu=$3 lcores mem=512 sfx inside_if
  sfx=$(node_suffix); inside_if=$(node_inside_if)
  if ((workers == 1)); then lcores="0@0,1@1"; else lcores="0@0,(1-$workers)@1"; fi
  if ((out_mtu > 1500 || in_mtu > 1500)); then mem=$((512 * (workers + 1))); fi
  cat > "$LAB_DIR/platd$sfx.toml" <<CONF
[eal]
args = ["--lcores=$lcores", "--no-huge", "-m", "$mem", "--no-pci", "--no-shconf",
        "--iova-mode=va", "--no-telemetry", "--file-prefix=plat-lab$sfx",
        "--log-level=lib.eal:warning",
        "--vdev=net_af_packet0,iface=$inside_if,qpairs=$workers$(afp_frames "$in_mtu")",
        "$(outside_vdev "$workers" "$out_mtu")"]

[inside]
port = "net_af_packet0"
addresses = ["$INSIDE6/64"]
mtu = $in_mtu

[outside]
port = "net_${OUTSIDE_PMD:-tap}1"
addresses = ["$OUTSIDE4/24"]
mtu = $out_mtu
routes = [{ prefix = "0.0.0.0/0", via = "$ROUTER4" }]

[nat64]
prefix = "${NAT64_PREFIX}/96"
pool4 = ["$POOL4"]
${PORT_BLOCK:+port_block = $PORT_BLOCK}

[workers]
steering = "${STEERING:-auto}"
idle_sleep_us = 100

[mgmt]
socket = "$LAB_DIR/run/platd$sfx.sock"
${MGMT_GROUP:+group = \"$MGMT_GROUP\"}

[metrics]
listen = "127.0.0.1:9464"

$(ha_section)

${PLATD_EXTRA:-}
CONF
}

# The HA node this platd is: NODE=a or b (ha-up), or none (the lone
# appliance of the plain lab).
node_suffix() { [[ -z ${NODE:-} ]] || printf -- '-%s' "$NODE"; }
node_ns() { if [[ ${NODE:-} == b ]]; then echo $NS_APPL2; else echo $NS_APPL; fi; }
node_inside_if() { if [[ -n ${NODE:-} ]]; then echo "n6$NODE"; else echo a6; fi; }
node_tap() { if [[ ${NODE:-} == b ]]; then echo t4b; else echo t4; fi; }
node_bridge() { if [[ ${NODE:-} == b ]]; then echo b4b; else echo b4; fi; }
node_mac() { if [[ ${NODE:-} == b ]]; then echo $OUTSIDE_MAC_B; else echo $OUTSIDE_MAC; fi; }
node_tap_kernel_mac() { if [[ ${NODE:-} == b ]]; then echo $TAP_KERNEL_MAC_B; else echo $TAP_KERNEL_MAC; fi; }

# The [ha] section of node a (node id 1, priority 200: the pair's active
# when both are up) or b (2, 100). SYNC_RELAY=1 sends both through the
# relay; HA_EXTRA adds settings (dead_ms, ...).
ha_section() {
  [[ -n ${NODE:-} ]] || return 0
  local id=1 prio=200 local_addr=$SYNC_A peer=$SYNC_B
  if [[ $NODE == b ]]; then id=2; prio=100; local_addr=$SYNC_B; peer=$SYNC_A; fi
  [[ -z ${SYNC_RELAY:-} ]] || peer=$SYNC_RELAY_ADDR
  cat <<HA
[ha]
role = "standby"
node_id = $id
priority = $prio
local = "[$local_addr]:$SYNC_PORT"
peer = "[$peer]:$SYNC_PORT"
key = "$HA_KEY"
${HA_EXTRA:-}
HA
}

# The links' MTUs: platd gives its ports theirs (net_af_packet and
# net_tap set the kernel side, a6 and t4); the bridge port a4 and the
# peers here. The outside MTU is the link
# between platd and the router: a smaller one is a narrower IPv4 path in
# the middle, with the server keeping its 1500-byte link and MSS (so the
# client's full-size segments are cut down by platd's Packet Too Big, and
# the server's by the router's Fragmentation Needed); a larger one makes
# the whole IPv4 side jumbo.
set_link_mtus() {
  local out_mtu=$1 in_mtu=$2 far_mtu=$(( $1 > 1500 ? $1 : 1500 ))
  in_ns $NS_CLIENT ip link set c0 mtu "$in_mtu"
  in_ns $NS_APPL ip link set a4 mtu "$out_mtu"
  in_ns $NS_ROUTER ip link set r0 mtu "$out_mtu"
  in_ns $NS_ROUTER ip link set r1 mtu "$far_mtu"
  in_ns $NS_SERVER ip link set s0 mtu "$far_mtu"
}

# platd's outside port: a TAP bridged to a4 (OUTSIDE_PMD=tap, the
# default), or net_af_packet on a4 itself (OUTSIDE_PMD=af_packet: jumbo
# frames, which net_tap does not carry, max_rx_pktlen 1522).
outside_vdev() {
  local workers=$1 out_mtu=$2
  if [[ ${OUTSIDE_PMD:-tap} == tap ]]; then
    printf -- '--vdev=net_tap1,iface=%s,mac=%s' "$(node_tap)" "$(node_mac)"
  else
    printf -- '--vdev=net_af_packet1,iface=a4,qpairs=%s%s' "$workers" "$(afp_frames "$out_mtu")"
  fi
}

# platd's outside TAP into the bridge. The TAP's kernel side gets an
# address of its own: the bridge takes its ports' addresses as its own
# and would keep frames for platd's MAC rather than forward them.
attach_tap() {
  local ns tap; ns=$(node_ns); tap=$(node_tap)
  wait_for "platd's TAP" in_ns "$ns" ip link show "$tap" || return 1
  in_ns "$ns" sysctl -qw "net.ipv6.conf.$tap.disable_ipv6=1" 2>/dev/null || true
  offloads_off "$ns" "$tap"
  in_ns "$ns" ip link set "$tap" address "$(node_tap_kernel_mac)"
  in_ns "$ns" ip link set "$tap" master "$(node_bridge)" up
}

tap_gone() {
  local ns tap; ns=$(node_ns); tap=$(node_tap)
  ! in_ns "$ns" ip link show "$tap" >/dev/null 2>&1 &&
    in_ns "$ns" test ! -e "/proc/sys/net/ipv6/conf/$tap"
}

start_platd() {
  local workers=${1:-1} out_mtu=${2:-1500} in_mtu=${3:-1500}
  local platd=${PLATD:-target/release/platd} sfx; sfx=$(node_suffix)
  [[ -x $platd ]] || { log "no platd at $platd (build it, or set PLATD)"; return 1; }
  stop_platd
  # The last platd's TAP goes with its last file descriptor, a moment
  # after the process: a new one of the same name must not meet it.
  wait_for "the old TAP to go" tap_gone || return 1
  write_platd_config "$workers" "$out_mtu" "$in_mtu"
  [[ -n ${NODE:-} ]] || set_link_mtus "$out_mtu" "$in_mtu"
  rm -f "$LAB_DIR/stats$sfx.json"
  # Not through in_ns: a function in the background is a subshell, and
  # the pid recorded must be platd's own (ip netns exec execs it).
  ip netns exec "$(node_ns)" "$platd" --config "$LAB_DIR/platd$sfx.toml" \
    --stats-file "$LAB_DIR/stats$sfx.json" >>"$LAB_DIR/platd$sfx.log" 2>&1 &
  echo $! > "$LAB_DIR/run/platd$sfx.pid"
  wait_for "platd" test -s "$LAB_DIR/stats$sfx.json" || { cat "$LAB_DIR/platd$sfx.log" >&2; return 1; }
  [[ ${OUTSIDE_PMD:-tap} != tap ]] || attach_tap
  log "platd$sfx up: $workers worker(s), outside MTU $out_mtu, inside MTU $in_mtu"
}

# The client's CLAT, built the way clatd builds one; RFC 8683 4.6: IPv4
# literals and IPv4-only applications on an IPv6-only host. Its own
# subcommand rather than part of `up`: it turns the client into an IPv6
# router (forwarding, proxy NDP), and the IPv6 tests want a plain host.
clat_up() {
  ip netns list | grep -qw $NS_CLIENT || { log "no lab (run up first)"; return 1; }
  clat_down quiet
  mkdir -p "$LAB_DIR/clat" "$LAB_DIR/run"
  # Stateless (SIIT, RFC 7915) with one explicit mapping: the host's IPv4
  # address <-> the CLAT's IPv6 address; every other IPv4 address is
  # embedded in the lab's NAT64 prefix (RFC 6052), so 203.0.113.2 becomes
  # 2001:db8:64::cb00:7102, the address platd translates. TAYGA's own IPv6
  # address (for the ICMPv6 errors it sends) is 192.0.0.1 in that prefix.
  cat > "$LAB_DIR/clat/tayga.conf" <<CONF
tun-device $CLAT_DEV
ipv4-addr $CLAT4
prefix ${NAT64_PREFIX}/96
map $CLAT_HOST4 $CLAT6
CONF
  # The translated packets leave TAYGA on the TUN and must be forwarded to
  # c0 (and the answers back), so the client forwards IPv6. c0 keeps its
  # static address and route: accept_ra is already 0.
  in_ns $NS_CLIENT sysctl -qw net.ipv6.conf.all.forwarding=1
  # platd resolves 2001:db8:6::464 on the inside link like any subscriber
  # of the /64. Proxy NDP makes c0 answer for it (clatd's default) while
  # the packets go on to the TUN by the /128 route below. The alternative,
  # the address on c0, would make the kernel deliver them locally instead
  # of to TAYGA (clatd then needs policy routing ahead of the local table).
  # proxy_delay 0: the kernel otherwise holds a proxied answer to a
  # multicast solicitation for up to 0.8 s.
  in_ns $NS_CLIENT sysctl -qw net.ipv6.conf.c0.proxy_ndp=1
  in_ns $NS_CLIENT sysctl -qw net.ipv6.neigh.c0.proxy_delay=0
  in_ns $NS_CLIENT ip -6 neigh add proxy $CLAT6 dev c0
  # A persistent TUN first (as clatd does), so that it is configured
  # before TAYGA reads from it.
  in_ns $NS_CLIENT tayga --config "$LAB_DIR/clat/tayga.conf" --mktun >/dev/null
  in_ns $NS_CLIENT ip link set $CLAT_DEV up
  in_ns $NS_CLIENT ip addr add $CLAT_HOST4/29 dev $CLAT_DEV
  in_ns $NS_CLIENT ip -6 route add $CLAT6/128 dev $CLAT_DEV
  in_ns $NS_CLIENT ip route add default via $CLAT4 dev $CLAT_DEV src $CLAT_HOST4 \
    mtu $CLAT_MTU advmss $((CLAT_MTU - 40))
  # As platd: not through in_ns, so the pid is TAYGA's own. `down` stops it.
  ip netns exec $NS_CLIENT tayga --config "$LAB_DIR/clat/tayga.conf" --nodetach \
    >"$LAB_DIR/clat/tayga.log" 2>&1 &
  echo $! > "$LAB_DIR/run/tayga.pid"
  # TAYGA answers pings at its own IPv4 address once it translates.
  wait_for "TAYGA" in_ns $NS_CLIENT ping -c 1 -W 1 $CLAT4 || { cat "$LAB_DIR/clat/tayga.log" >&2; return 1; }
  log "clat up: IPv4 $CLAT_HOST4 -> TAYGA $CLAT4 -> IPv6 $CLAT6 -> ${NAT64_PREFIX}/96"
}

stop_tayga() { stop_pidfile "$LAB_DIR/run/tayga.pid"; }

# Undoes clat_up and leaves the IPv6-only client of `up`.
clat_down() {
  stop_tayga
  if ip netns list | grep -qw $NS_CLIENT; then
    in_ns $NS_CLIENT ip link del $CLAT_DEV 2>/dev/null || true
    in_ns $NS_CLIENT ip -6 neigh del proxy $CLAT6 dev c0 2>/dev/null || true
    in_ns $NS_CLIENT sysctl -qw net.ipv6.conf.c0.proxy_ndp=0 || true
    in_ns $NS_CLIENT sysctl -qw net.ipv6.conf.all.forwarding=0 || true
  fi
  [[ ${1:-} == quiet ]] || log "clat down"
}

stop_platd() { stop_pidfile "$LAB_DIR/run/platd$(node_suffix).pid"; }

# kill -9 of an HA node: no goodbye on any link.
kill_node() { kill_pidfile "$LAB_DIR/run/platd$(node_suffix).pid"; }

# The HA pair's links, on top of `up` (see the top of this file).
ha_up() {
  ip netns list | grep -qw $NS_CLIENT || { log "no lab (run up first)"; return 1; }
  ip netns list | grep -qw $NS_APPL2 || ip netns add $NS_APPL2
  in_ns $NS_APPL2 ip link set lo up
  # The client's link becomes a switch, b6, with both appliances on it.
  in_ns $NS_APPL ip link add b6 type bridge
  in_ns $NS_APPL ip link add n6a type veth peer name n6ap
  ip link add n6bp netns $NS_APPL type veth peer name n6b netns $NS_APPL2
  in_ns $NS_APPL ip link set n6a address $INSIDE_MAC_A
  in_ns $NS_APPL2 ip link set n6b address $INSIDE_MAC_B
  for ifc in b6 n6a n6ap n6bp; do
    in_ns $NS_APPL sysctl -qw "net.ipv6.conf.$ifc.disable_ipv6=1"
    offloads_off $NS_APPL $ifc
  done
  in_ns $NS_APPL2 sysctl -qw net.ipv6.conf.n6b.disable_ipv6=1
  offloads_off $NS_APPL2 n6b
  for ifc in a6 n6ap n6bp; do in_ns $NS_APPL ip link set $ifc master b6; done
  for ifc in b6 n6a n6ap n6bp; do in_ns $NS_APPL ip link set $ifc up; done
  in_ns $NS_APPL2 ip link set n6b up
  # Node b's TAP goes into b4b, joined to the router's switch b4.
  in_ns $NS_APPL2 ip link add b4b type bridge
  ip link add x4bp netns $NS_APPL type veth peer name x4b netns $NS_APPL2
  in_ns $NS_APPL2 sysctl -qw net.ipv6.conf.b4b.disable_ipv6=1
  in_ns $NS_APPL2 sysctl -qw net.ipv6.conf.x4b.disable_ipv6=1
  in_ns $NS_APPL sysctl -qw net.ipv6.conf.x4bp.disable_ipv6=1
  offloads_off $NS_APPL2 x4b; offloads_off $NS_APPL2 b4b; offloads_off $NS_APPL x4bp
  in_ns $NS_APPL2 ip link set x4b master b4b
  in_ns $NS_APPL ip link set x4bp master b4
  in_ns $NS_APPL2 ip link set b4b up
  in_ns $NS_APPL2 ip link set x4b up
  in_ns $NS_APPL ip link set x4bp up
  # The sync link (a dedicated link, as in production).
  ip link add h0 netns $NS_APPL type veth peer name h1 netns $NS_APPL2
  in_ns $NS_APPL ip link set h0 up
  in_ns $NS_APPL2 ip link set h1 up
  in_ns $NS_APPL ip -6 addr add $SYNC_A/64 dev h0 nodad
  in_ns $NS_APPL ip -6 addr add $SYNC_RELAY_ADDR/64 dev h0 nodad
  in_ns $NS_APPL2 ip -6 addr add $SYNC_B/64 dev h1 nodad
  # Room for a bulk dump in the sync sockets' buffers (platd asks for
  # 8 MiB; these limits are the host's, not per namespace).
  sysctl -qw net.core.rmem_max=16777216
  sysctl -qw net.core.wmem_max=16777216
  log "ha up: nodes a ($INSIDE_MAC_A, $OUTSIDE_MAC) and b ($INSIDE_MAC_B, $OUTSIDE_MAC_B), sync $SYNC_A <-> $SYNC_B"
}

down() {
  stop_platd
  NODE=a stop_platd
  NODE=b stop_platd
  # TAYGA goes first; its TUN goes with the client namespace.
  stop_tayga
  for f in "$LAB_DIR"/run/*.pid "$LAB_DIR"/run/*.launcher; do
    [[ -f $f ]] && kill "$(cat "$f")" 2>/dev/null || true
  done
  for ns in $NAMESPACES; do
    if ip netns list | grep -qw "$ns"; then
      # Anything still running in the namespace goes with it.
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
      ip netns del "$ns" 2>/dev/null || true
    fi
  done
  rm -rf "/etc/netns/$NS_CLIENT" "$LAB_DIR/run"
  [[ ${1:-} == quiet ]] || log "down"
}

status() {
  for ns in $NAMESPACES; do
    echo "== $ns"; in_ns "$ns" ip -br addr 2>/dev/null || echo "(absent)"
  done
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) status ;;
  client) shift; in_ns $NS_CLIENT "$@" ;;
  router) shift; in_ns $NS_ROUTER "$@" ;;
  server) shift; in_ns $NS_SERVER "$@" ;;
  appl) shift; in_ns $NS_APPL "$@" ;;
  start-platd) shift; start_platd "$@" ;;
  stop-platd) stop_platd ;;
  ha-up) ha_up ;;
  start-node) NODE=$2; shift 2; start_platd "$@" ;;
  stop-node) NODE=$2 stop_platd ;;
  kill-node) NODE=$2 kill_node ;;
  node) NODE=$2; shift 2; in_ns "$(node_ns)" "$@" ;;
  clat-up) clat_up ;;
  clat-down) clat_down ;;
  *) echo "usage: $0 up|down|status|client CMD...|router CMD...|server CMD...|appl CMD...|start-platd [WORKERS] [OUTSIDE_MTU] [INSIDE_MTU]|stop-platd|clat-up|clat-down" >&2; exit 2 ;;
esac
