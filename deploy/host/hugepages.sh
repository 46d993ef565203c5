#!/usr/bin/env bash
# Reserves hugepages for platd on every NUMA node (or the ones named):
# 1 GiB pages and 2 MiB pages, through sysfs
# (/sys/devices/system/node/nodeN/hugepages/hugepages-SIZEkB/nr_hugepages;
# /sys/kernel/mm/hugepages/... on a kernel without NUMA), and optionally
# makes the hugetlbfs mounts writable by platd's group.
#
# What DPDK takes from them is `[eal] args`: --socket-mem (per node) or -m.
# Reserving 1 GiB pages at run time needs that much contiguous free memory
# and may get fewer than asked on a long-running host: reserve them at boot
# instead (hugepagesz=1G hugepages=N on the kernel command line, cpus.md)
# and keep this script for the 2 MiB pages and the mounts.
#
# PLAT_SYSFS=DIR reads and writes DIR instead of /sys (tests use a fake
# tree). Nothing is persistent: run it at boot (a oneshot unit before
# platd.service) or use the kernel command line.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: hugepages.sh [--1g N] [--2m N] [--node N]... [--mount GROUP] [--dry-run]
  --1g N         1 GiB pages per NUMA node (default 1)
  --2m N         2 MiB pages per NUMA node (default 512, 1 GiB)
  --node N       only this node (repeatable; default: every node)
  --mount GROUP  let GROUP write the hugetlbfs mounts: /dev/hugepages (2 MiB,
                 chgrp + chmod 1770) and /dev/hugepages1G (mounted if absent)
  --dry-run      print what would be written and run, change nothing
Environment: PLAT_SYSFS (default /sys)
EOF
}

sys=${PLAT_SYSFS:-/sys}
pages_1g=1
pages_2m=512
nodes=()
group=""
dry_run=false

die() { echo "hugepages.sh: $*" >&2; exit 1; }
count() { [[ $2 =~ ^[0-9]+$ ]] || die "$1 wants a number of pages, not '$2'"; }

while (($#)); do
  case $1 in
    --1g) count "$1" "${2-}"; pages_1g=$2; shift 2 ;;
    --2m) count "$1" "${2-}"; pages_2m=$2; shift 2 ;;
    --node) count "$1" "${2-}"; nodes+=("$2"); shift 2 ;;
    --mount) [[ -n ${2-} ]] || die "--mount wants a group name"; group=$2; shift 2 ;;
    --dry-run) dry_run=true; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument '$1'" ;;
  esac
done

[[ -d $sys ]] || die "no sysfs at $sys (PLAT_SYSFS)"

# Where each node's counters live: per node on a NUMA kernel, one global
# set otherwise.
declare -a roots=()
if [[ -d $sys/devices/system/node/node0 ]]; then
  if ((${#nodes[@]} == 0)); then
    for d in "$sys"/devices/system/node/node[0-9]*; do
      nodes+=("${d##*/node}")
    done
  fi
  for n in "${nodes[@]}"; do
    [[ -d $sys/devices/system/node/node$n ]] ||
      die "NUMA node $n does not exist (no $sys/devices/system/node/node$n)"
    roots+=("$sys/devices/system/node/node$n/hugepages")
  done
elif [[ -d $sys/kernel/mm/hugepages ]]; then
  ((${#nodes[@]} == 0)) || die "--node given, but this kernel has no NUMA nodes in $sys/devices/system/node"
  roots+=("$sys/kernel/mm/hugepages")
else
  die "no hugepage controls in $sys (neither devices/system/node/node*/hugepages nor kernel/mm/hugepages): is hugetlbfs (CONFIG_HUGETLBFS) in this kernel?"
fi

# Check every file first: refuse before writing anything.
declare -a writes=()
for root in "${roots[@]}"; do
  for spec in "1048576:$pages_1g:1 GiB" "2048:$pages_2m:2 MiB"; do
    IFS=: read -r kb want label <<<"$spec"
    file="$root/hugepages-${kb}kB/nr_hugepages"
    if [[ ! -f $file ]]; then
      ((want == 0)) && continue
      hint=""
      [[ $kb == 1048576 ]] && hint=" (1 GiB pages need the CPU's pdpe1gb flag; or pass --1g 0)"
      die "$label pages are not offered here: $file is missing$hint"
    fi
    writes+=("$file:$want:$label")
  done
done

short=0
for w in "${writes[@]}"; do
  IFS=: read -r file want label <<<"$w"
  if $dry_run; then
    echo "would write $want to $file (pages of $label, now $(cat "$file"))"
    continue
  fi
  echo "$want" >"$file" || die "could not write $file (root needed)"
  got=$(cat "$file")
  echo "$file: $got of $want pages of $label"
  if ((got < want)); then
    echo "hugepages.sh: only $got of $want pages of $label in $file: memory is fragmented; reserve them at boot (cpus.md)" >&2
    short=1
  fi
done

if [[ -n $group ]]; then
  gid=$(getent group "$group" | cut -d: -f3) ||
    die "group '$group' does not exist (the plat package creates 'plat')"
  run() {
    if $dry_run; then echo "would run: $*"; else "$@"; fi
  }
  # The 2 MiB mount systemd makes (dev-hugepages.mount); its root's
  # owner and mode are what DPDK needs to create page files in it.
  if mountpoint -q /dev/hugepages 2>/dev/null || $dry_run; then
    run chgrp "$group" /dev/hugepages
    run chmod 1770 /dev/hugepages
  else
    echo "hugepages.sh: /dev/hugepages is not mounted (dev-hugepages.mount)" >&2
    short=1
  fi
  if ((pages_1g > 0)) && ! mountpoint -q /dev/hugepages1G 2>/dev/null; then
    run mkdir -p /dev/hugepages1G
    run mount -t hugetlbfs -o "pagesize=1G,gid=$gid,mode=1770" nodev /dev/hugepages1G
  fi
fi
exit "$short"
