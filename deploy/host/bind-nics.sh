#!/usr/bin/env bash
# Binds platd's NICs to vfio-pci with dpdk-devbind.py (Debian's `dpdk`
# package) and gives their VFIO group devices (/dev/vfio/N) to platd's
# group, so platd runs as its own user rather than root.
#
# A bound NIC leaves the kernel: never bind the port you manage the box
# through. dpdk-devbind.py refuses a NIC whose kernel interface is up and
# routed (it says so); take it down first. Nothing is persistent: run it
# at boot before platd.service, or pin the driver with driverctl
# (`driverctl set-override 0000:01:00.0 vfio-pci`) and give /dev/vfio to
# the group with a udev rule (deploy/README.md).
#
# PLAT_SYSFS=DIR reads DIR instead of /sys and PLAT_DEVBIND names
# dpdk-devbind.py (tests use a fake tree and --dry-run).
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: bind-nics.sh [--group GROUP] [--dry-run] PCI-ADDRESS...
  PCI-ADDRESS  as `lspci -D` shows it (0000:01:00.0; 01:00.0 means domain 0000)
  --group G    the group given /dev/vfio/N of each NIC's IOMMU group (default plat)
  --dry-run    print what would be run, change nothing
Environment: PLAT_SYSFS (default /sys), PLAT_DEVBIND (default dpdk-devbind.py)
EOF
}

sys=${PLAT_SYSFS:-/sys}
devbind=${PLAT_DEVBIND:-dpdk-devbind.py}
group=plat
dry_run=false
addrs=()

die() { echo "bind-nics.sh: $*" >&2; exit 1; }

while (($#)); do
  case $1 in
    --group) [[ -n ${2-} ]] || die "--group wants a group name"; group=$2; shift 2 ;;
    --dry-run) dry_run=true; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) usage >&2; die "unknown option '$1'" ;;
    *) addrs+=("$1"); shift ;;
  esac
done
((${#addrs[@]})) || { usage >&2; die "name at least one PCI address"; }

command -v "$devbind" >/dev/null 2>&1 ||
  die "$devbind not found: install Debian's dpdk package (apt-get install dpdk)"
[[ -d $sys/bus/pci/devices ]] || die "no PCI devices in $sys/bus/pci/devices (PLAT_SYSFS)"

# Every address first: refuse before binding anything.
declare -a pci=()
for a in "${addrs[@]}"; do
  [[ $a =~ ^[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$ ]] && a="0000:$a"
  [[ $a =~ ^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$ ]] ||
    die "'$a' is not a PCI address (DDDD:BB:DD.F, as lspci -D prints)"
  a=${a,,}
  [[ -e $sys/bus/pci/devices/$a ]] ||
    die "no PCI device $a (not in $sys/bus/pci/devices; see lspci -D or $devbind --status-dev net)"
  pci+=("$a")
done

# vfio-pci: loaded, or loadable here.
if [[ ! -d $sys/module/vfio_pci ]]; then
  if [[ -z ${PLAT_SYSFS:-} ]] && modinfo vfio-pci >/dev/null 2>&1; then
    if $dry_run; then echo "would run: modprobe vfio-pci"; else modprobe vfio-pci; fi
  else
    die "vfio-pci is absent (no $sys/module/vfio_pci and no module to load): a kernel with VFIO (CONFIG_VFIO_PCI) is needed"
  fi
fi
# Without an IOMMU, vfio-pci only binds in its unsafe no-IOMMU mode, which
# platd's sandbox (and good sense) does not allow.
if [[ -z $(ls -A "$sys/kernel/iommu_groups" 2>/dev/null) ]]; then
  die "no IOMMU groups in $sys/kernel/iommu_groups: enable VT-d / AMD-Vi in the firmware and boot with intel_iommu=on iommu=pt (cpus.md)"
fi
getent group "$group" >/dev/null || $dry_run ||
  die "group '$group' does not exist (the plat package creates 'plat')"

for a in "${pci[@]}"; do
  dev=$sys/bus/pci/devices/$a
  driver=$(basename "$(readlink -f "$dev/driver" 2>/dev/null)" 2>/dev/null || true)
  [[ -e $dev/driver ]] || driver=none
  ifaces=$(ls "$dev/net" 2>/dev/null | tr '\n' ' ' || true)
  [[ -L $dev/iommu_group ]] || die "$a has no IOMMU group ($dev/iommu_group): is the IOMMU on for it?"
  iommu=$(basename "$(readlink "$dev/iommu_group")")
  echo "$a: driver $driver${ifaces:+, kernel interface ${ifaces% }}, IOMMU group $iommu"
  if [[ $driver == vfio-pci ]]; then
    echo "$a: already on vfio-pci"
  elif $dry_run; then
    echo "would run: $devbind --bind=vfio-pci $a"
  else
    "$devbind" --bind=vfio-pci "$a"
  fi
  if $dry_run; then
    echo "would run: chgrp $group /dev/vfio/$iommu && chmod 0660 /dev/vfio/$iommu"
  else
    chgrp "$group" "/dev/vfio/$iommu" && chmod 0660 "/dev/vfio/$iommu"
  fi
done
