#!/usr/bin/env bash
# Instructions per packet of the established-flow path (lookup + translate
# as a worker does it: `Nat64::prefetch_v6`, `Nat64::from_v6` per packet,
# `end_burst`; 1 thousand sessions, so nothing misses the cache), and
# instructions and mispredicted branches (callgrind's branch model) per
# new session in the steady-state creation bench (a shard kept 3/4
# full), counted by callgrind. On a shared VM wall-clock benches move by 20-40 %
# from one minute to the next; an instruction count is the same on every
# run of the same binary, so it tells whether a change to the compute of
# the hot path helped, where criterion cannot. (Memory-bound cases still
# need criterion: see benches/BENCHMARKS.md.)
#
# Usage: bash deploy/bench/instructions.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v valgrind >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends valgrind >/dev/null
fi
bench=$(cargo bench -p plat-benches --bench nat --no-run --locked 2>&1 |
  sed -n 's/.*Executable .*(\(.*\))$/\1/p' | tail -n 1)
[[ -x $bench ]] || { echo "instructions: no bench binary" >&2; exit 1; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
valgrind --tool=callgrind --callgrind-out-file="$out" "$bench" \
  --bench 'nat64_udp_established_burst32/1k$' --profile-time 2 >/dev/null 2>&1
# Sum the calls into nat64_burst (callgrind names it without its type;
# the bench filter runs only the IPv6 side: one burst of 32
# packets: both prefetch stages, the lookups and translations, end_burst)
# and their inclusive cost from the callgrind records: "cfn=(id) name"
# then "calls=N ..." then "<line> <cost>". The last burst of a timed round
# may be shorter; over the hundreds of thousands of bursts a run makes,
# that is below 0.1 %.
awk '
  /^c?fn=\([0-9]+\) / { id = $1; sub(/^c?fn=/, "", id); name[id] = $0 }
  /^cfn=/ { id = $1; sub(/^cfn=/, "", id); if (id in name) n = name[id]; else n = "";
            want = (n ~ /nat::nat64_burst$/); next }
  /^calls=/ && want { split($1, c, "="); calls += c[2]; getline; cost += $2; want = 0 }
  END { if (calls == 0) { print "instructions: nat64_burst not found" > "/dev/stderr"; exit 1 }
        printf "established IPv6-side packet (lookup + translate, both prefetch stages): %.0f instructions (%d bursts of 32)\n", cost / calls / 32, calls }
' "$out"

# Creation, steady state: only `steady_creations` (the bench's timed
# part) is collected, so the warm-up fill and the expiry between seconds
# are left out; every creation calls `Shard::v6_new` once, which gives
# the count (callers kept apart, so only the calls made under
# `steady_creations` are counted; `v6_session_hashed` between `v6_new`
# and `v6_burst` when the compiler does not inline it).
valgrind --tool=callgrind --branch-sim=yes --separate-callers=3 \
  --toggle-collect='nat::steady_creations' \
  --callgrind-out-file="$out" "$bench" \
  --bench 'udp_session_new_bib_burst32_steady_3_4_full$' --profile-time 1 >/dev/null 2>&1
awk '
  /^events:/ { for (i = 2; i <= NF; i++) col[$i] = i - 1 }
  /^(summary|totals):/ { ir = $(col["Ir"] + 1); bcm = $(col["Bcm"] + 1) }
  /^c?fn=\([0-9]+\) / { id = $1; sub(/^c?fn=/, "", id); name[id] = $0 }
  /^cfn=/ { id = $1; sub(/^cfn=/, "", id); if (id in name) n = name[id]; else n = "";
            want = (n ~ /\) plat_core::nat::shard::Shard::v6_new.(plat_core::nat::shard::Shard::v6_session_hashed.)?plat_core::nat::shard::Shard::v6_burst.nat::steady_creations(.|$)/); next }
  /^calls=/ && want { split($1, c, "="); calls += c[2]; want = 0 }
  END { if (calls == 0) { print "instructions: Shard::v6_new not found" > "/dev/stderr"; exit 1 }
        printf "new session, steady state 3/4 full (stage work included): %.0f instructions, %.1f mispredicted branches (%d sessions)\n", ir / calls, bcm / calls, calls }
' "$out"
