#!/usr/bin/env bash
# Announce only while platd is healthy and active: every second, ask
# platd for its summary; while it answers with role standalone or active,
# BIRD's static protocols (the NAT64 prefix, the pool4) are enabled, and
# otherwise disabled, which withdraws their routes from every BGP peer.
# If this script dies, BGP's short hold time withdraws them instead.
#
# Usage: bgp-health.sh PLATCTL PLATD_SOCKET BIRD_SOCKET PROTOCOL...
set -uo pipefail
platctl=$1 sock=$2 bird=$3; shift 3
state=""
while :; do
  if "$platctl" --socket "$sock" --json show summary 2>/dev/null |
      grep -Eq '"role": *"(standalone|active)"'; then
    want=enable
  else
    want=disable
  fi
  if [[ $want != "$state" ]]; then
    ok=1
    for p in "$@"; do birdc -s "$bird" "$want" "$p" >/dev/null || ok=0; done
    ((ok)) && { state=$want; printf '%s %s\n' "$(date +%T.%N)" "$want"; }
  fi
  sleep 1
done
