#!/usr/bin/env bash
# Checks what `plat-scenarios emit` writes (issue 19): every TRex profile
# compiles (python3 -m py_compile), every pktgen-dpdk script parses
# (luac5.4 -p, Debian package lua5.4), every pcap reads in tshark with the
# frame count emit reported and a first frame of the protocol its
# scenario sends (TCP for tcp-cps, ICMPv6 for icmp-mix, else UDP; all
# over IPv6).
#
# Usage: bash deploy/bench/check-scenarios.sh [MAX_FRAMES]   (default 50)
set -euo pipefail
cd "$(dirname "$0")/../.."
max=${1:-50}

fail() { echo "check-scenarios: FAIL: $*" >&2; exit 1; }
for tool in python3 luac5.4 tshark; do
  command -v "$tool" >/dev/null || fail "$tool not installed (luac5.4: apt-get install lua5.4; tshark: apt-get install tshark)"
done

cargo build --release --locked -p pktgen-scenarios --bin plat-scenarios >&2
dir=$(mktemp -d /tmp/plat-scenarios.XXXXXX)
trap 'rm -rf "$dir"' EXIT
listing=$(target/release/plat-scenarios emit "$dir" --max-frames "$max") \
  || fail "plat-scenarios emit $dir --max-frames $max failed"

# The protocol tshark must see in a scenario's first frame.
first_proto() {
  case $1 in
    tcp-cps) echo tcp ;;
    icmp-mix) echo icmpv6 ;;  # flow 0 of the mix is an echo request
    *) echo udp ;;
  esac
}

checked=0
while read -r path frames _; do
  [[ -n $path ]] || continue
  [[ -s $path ]] || fail "$path: missing or empty"
  case $path in
    *.py)
      python3 -m py_compile "$path" 2>&1 || fail "$path: not valid Python"
      ;;
    *.lua)
      luac5.4 -p "$path" 2>&1 || fail "$path: not valid Lua"
      ;;
    *.pcap)
      name=$(basename "$path" .pcap)
      tshark -r "$path" -c 1 >/dev/null 2>&1 || fail "$path: tshark cannot read it"
      got=$(tshark -r "$path" 2>/dev/null | wc -l)
      (( got == frames )) || fail "$path: $got frames, emit said $frames"
      protos=$(tshark -r "$path" -c 1 -T fields -e frame.protocols 2>/dev/null)
      want=$(first_proto "$name")
      [[ $protos == eth:ethertype:ipv6:$want* ]] \
        || fail "$path: first frame is $protos, want IPv6/$want"
      ;;
    *) fail "emit wrote an unexpected file: $path" ;;
  esac
  checked=$((checked + 1))
done <<<"$listing"

(( checked > 0 )) || fail "emit wrote nothing"
echo "scenarios: $checked artifacts checked"
