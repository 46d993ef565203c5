#!/usr/bin/env bash
# Checks the package deploy/pkg/build.sh made, without installing it:
# its control data and contents (unit, binaries, conffile, completions,
# sysusers, man pages), lintian (no errors), the unit through
# `systemd-analyze verify` and `security`, the sysusers file through
# `systemd-sysusers`, the shipped configurations through the shipped platd,
# and the host scripts' dry runs on a fake sysfs tree and their refusals.
# Prints one line per check and "N passed, M failed"; exits 1 on a failure.
# Usage: bash deploy/pkg/check.sh [PACKAGE.deb]
set -uo pipefail
cd "$(dirname "$0")/../.."

deb=${1:-$(ls -t target/debian/plat_*.deb 2>/dev/null | head -1)}
[[ -f $deb ]] || { echo "check.sh: no package: run deploy/pkg/build.sh first" >&2; exit 1; }
for tool in dpkg-deb lintian systemd-analyze systemd-sysusers; do
  command -v "$tool" >/dev/null ||
    { echo "check.sh: $tool missing (bash deploy/setup-host.sh lintian systemd)" >&2; exit 1; }
done

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
# check NAME COMMAND...: the command succeeds.
check() {
  local name=$1 out
  shift
  if out=$("$@" 2>&1); then ok "$name"; else bad "$name"; printf '%s\n' "$out" | sed 's/^/     /' | head -20; fi
}
# refuses NAME PATTERN COMMAND...: the command fails, saying PATTERN.
refuses() {
  local name=$1 pattern=$2 out
  shift 2
  if out=$("$@" 2>&1); then
    bad "$name (it did not refuse)"
  elif grep -q -- "$pattern" <<<"$out"; then
    ok "$name"
  else
    bad "$name (no '$pattern' in: $out)"
  fi
}
has() { grep -q -- "$2" <<<"$1"; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
echo "checking $deb"

# Control data.
info=$(dpkg-deb --info "$deb")
check "package is named plat" has "$info" "^ Package: plat$"
check "depends on the DPDK runtime (librte-eal)" has "$info" "Depends:.*librte-eal"
check "depends on systemd" has "$info" "Depends:.*systemd"
desc=$(sed -n 's/^ Description: //p' <<<"$info")
check "the description does not start with the package name" \
  bash -c '[[ ${1,,} != plat* ]]' _ "$desc"
check "conffile /etc/plat/platd.toml" \
  bash -c 'dpkg-deb --ctrl-tarfile "$1" | tar -xO ./conffiles | grep -qx /etc/plat/platd.toml' _ "$deb"
check "postinst creates the plat user (systemd-sysusers)" \
  bash -c 'dpkg-deb --ctrl-tarfile "$1" | tar -xO ./postinst | grep -q "systemd-sysusers.*plat.conf"' _ "$deb"

# Contents.
contents=$(dpkg-deb --contents "$deb" | awk '{print $6}')
for path in usr/sbin/platd usr/bin/platctl usr/bin/plat-bench usr/share/man/man1/plat-bench.1.gz \
  usr/lib/systemd/system/platd.service usr/lib/sysusers.d/plat.conf \
  etc/plat/platd.toml \
  usr/share/man/man8/platd.8.gz usr/share/man/man1/platctl.1.gz \
  usr/share/bash-completion/completions/platctl \
  usr/share/zsh/vendor-completions/_platctl \
  usr/share/fish/vendor_completions.d/platctl.fish \
  usr/lib/plat/hugepages.sh usr/lib/plat/bind-nics.sh \
  usr/share/doc/plat/README.md usr/share/doc/plat/cpus.md \
  usr/share/doc/plat/examples/platd-2nic-8workers.toml usr/share/doc/plat/copyright; do
  check "contains /$path" has "$contents" "^\./$path$"
done

# lintian: warnings are shown, errors fail.
lint=$(lintian --fail-on none "$deb" 2>/dev/null)
[[ -n $lint ]] && printf '%s\n' "$lint" | sed 's/^/     lintian: /'
check "lintian reports no errors" bash -c '! grep -q "^E: " <<<"$1"' _ "$lint"

dpkg-deb -x "$deb" "$root"

# What the files say.
man_text=$(zcat "$root/usr/share/man/man8/platd.8.gz")
check "platd(8) documents --config and --check" \
  bash -c 'grep -q "^\.TH PLATD \"8\"" <<<"$1" && grep -q "config" <<<"$1" && grep -q "check" <<<"$1"' _ "$man_text"
check "platctl(1) is a man page" bash -c 'zcat "$1" | grep -q "^\.TH PLATCTL \"1\""' _ "$root/usr/share/man/man1/platctl.1.gz"
check "bash completion defines _platctl" grep -q "^_platctl()" "$root/usr/share/bash-completion/completions/platctl"
check "zsh completion is a #compdef" grep -q "^#compdef platctl" "$root/usr/share/zsh/vendor-completions/_platctl"
check "fish completion completes ha takeover" grep -q "takeover" "$root/usr/share/fish/vendor_completions.d/platctl.fish"
check "the packaged platd accepts /etc/plat/platd.toml" \
  "$root/usr/sbin/platd" --config "$root/etc/plat/platd.toml" --check
check "the packaged platd accepts the 2-NIC 8-worker example" \
  "$root/usr/sbin/platd" --config "$root/usr/share/doc/plat/examples/platd-2nic-8workers.toml" --check
check "the conffile puts the socket under /run/plat" \
  grep -q '^socket = "/run/plat/platd.sock"' "$root/etc/plat/platd.toml"
check "systemd-sysusers creates user and group plat from plat.conf" \
  bash -c 'mkdir -p "$1/etc" && systemd-sysusers --root="$1" plat.conf >/dev/null 2>&1 &&
           grep -q "^plat:" "$1/etc/passwd" && grep -q "^plat:" "$1/etc/group"' _ "$root"

# The unit: verified inside the package's tree (its binaries and man
# pages), with the host's own units beside it for the targets it names.
unit=$root/usr/lib/systemd/system/platd.service
cp -an /usr/lib/systemd/system/. "$root/usr/lib/systemd/system/"
check "systemd-analyze verify accepts the unit, silently" \
  bash -c 'out=$(MANPATH="$1/usr/share/man" systemd-analyze verify --root="$1" /usr/lib/systemd/system/platd.service 2>&1) &&
           [[ -z $out ]] || { echo "$out"; false; }' _ "$root"
for line in Type=notify WatchdogSec=10s User=plat ProtectSystem=strict PrivateTmp=yes \
  ProtectHome=yes NoNewPrivileges=yes RuntimeDirectory=plat Restart=on-failure \
  CapabilityBoundingSet=CAP_IPC_LOCK; do
  check "unit sets $line" grep -qx "$line" "$unit"
done
exposure=$(systemd-analyze security --offline=yes "$unit" 2>/dev/null | sed -n 's/.*Overall exposure level for platd.service: \([0-9.]*\).*/\1/p')
echo "     systemd-analyze security --offline=yes: exposure ${exposure:-?}"
check "exposure is below 3.0 (OK)" bash -c '[[ -n $1 ]] && awk -v e="$1" "BEGIN { exit !(e < 3.0) }"' _ "$exposure"

# Host scripts: dry runs on a fake sysfs tree, refusals.
hp=$root/usr/lib/plat/hugepages.sh
bn=$root/usr/lib/plat/bind-nics.sh
sys=$work/sys
for n in 0 1; do
  for kb in 1048576 2048; do
    mkdir -p "$sys/devices/system/node/node$n/hugepages/hugepages-${kb}kB"
    echo 0 >"$sys/devices/system/node/node$n/hugepages/hugepages-${kb}kB/nr_hugepages"
  done
done
pci=$sys/bus/pci/devices/0000:3b:00.0
mkdir -p "$pci/net/enp59s0f0" "$sys/bus/pci/drivers/ice" "$sys/kernel/iommu_groups/17" "$sys/module/vfio_pci"
ln -s ../../../kernel/iommu_groups/17 "$pci/iommu_group"
ln -s ../../drivers/ice "$pci/driver"

out=$(PLAT_SYSFS=$sys bash "$hp" --dry-run --2m 1024 2>&1)
check "hugepages.sh --dry-run: 1 GiB and 2 MiB on each node" \
  bash -c '[[ $(grep -c "^would write" <<<"$1") == 4 ]] &&
           grep -q "1024 to .*node1/hugepages/hugepages-2048kB/nr_hugepages" <<<"$1" &&
           grep -q "1 to .*node0/hugepages/hugepages-1048576kB/nr_hugepages" <<<"$1"' _ "$out"
check "hugepages.sh --dry-run writes nothing" \
  bash -c '! grep -rqv "^0$" "$1"/devices/system/node/*/hugepages/*/nr_hugepages' _ "$sys"
check "hugepages.sh --dry-run --mount prints the mounts" \
  bash -c 'PLAT_SYSFS="$1" bash "$2" --dry-run --mount root | grep -q "would run: mount -t hugetlbfs -o pagesize=1G"' _ "$sys" "$hp"
check "hugepages.sh writes a fake tree (--node 1)" \
  bash -c 'PLAT_SYSFS="$1" bash "$2" --node 1 --2m 256 >/dev/null &&
           [[ $(cat "$1/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages") == 256 ]] &&
           [[ $(cat "$1/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages") == 0 ]]' _ "$sys" "$hp"
refuses "hugepages.sh refuses a missing sysfs" "no sysfs at" \
  env PLAT_SYSFS="$work/nowhere" bash "$hp" --dry-run
mkdir -p "$work/bare"
refuses "hugepages.sh refuses a tree without hugepage controls" "no hugepage controls" \
  env PLAT_SYSFS="$work/bare" bash "$hp" --dry-run
refuses "hugepages.sh refuses a node that does not exist" "NUMA node 7 does not exist" \
  env PLAT_SYSFS="$sys" bash "$hp" --dry-run --node 7
cp -a "$sys" "$work/no1g" && rm -r "$work/no1g/devices/system/node/node1/hugepages/hugepages-1048576kB"
refuses "hugepages.sh refuses when 1 GiB pages are not offered" "1 GiB pages are not offered" \
  env PLAT_SYSFS="$work/no1g" bash "$hp" --dry-run

out=$(PLAT_SYSFS=$sys bash "$bn" --dry-run 3b:00.0 2>&1)
check "bind-nics.sh --dry-run: devbind to vfio-pci and the VFIO group to plat" \
  bash -c 'grep -q "would run: dpdk-devbind.py --bind=vfio-pci 0000:3b:00.0" <<<"$1" &&
           grep -q "would run: chgrp plat /dev/vfio/17" <<<"$1" &&
           grep -q "driver ice, kernel interface enp59s0f0" <<<"$1"' _ "$out"
refuses "bind-nics.sh refuses a PCI address that does not exist" "no PCI device 0000:5e:00.0" \
  env PLAT_SYSFS="$sys" bash "$bn" --dry-run 0000:3b:00.0 0000:5e:00.0
refuses "bind-nics.sh refuses what is no PCI address" "is not a PCI address" \
  env PLAT_SYSFS="$sys" bash "$bn" --dry-run eth0
refuses "bind-nics.sh refuses a missing sysfs" "no PCI devices" \
  env PLAT_SYSFS="$work/nowhere" bash "$bn" --dry-run 3b:00.0
cp -a "$sys" "$work/novfio" && rmdir "$work/novfio/module/vfio_pci"
refuses "bind-nics.sh refuses when vfio-pci is absent" "vfio-pci is absent" \
  env PLAT_SYSFS="$work/novfio" bash "$bn" --dry-run 3b:00.0
cp -a "$sys" "$work/noiommu" && rm -r "$work/noiommu/kernel/iommu_groups/17"
refuses "bind-nics.sh refuses a host without IOMMU groups" "no IOMMU groups" \
  env PLAT_SYSFS="$work/noiommu" bash "$bn" --dry-run 3b:00.0
refuses "bind-nics.sh refuses without dpdk-devbind.py" "install Debian's dpdk package" \
  env PLAT_SYSFS="$sys" PLAT_DEVBIND=/nonexistent/dpdk-devbind.py bash "$bn" --dry-run 3b:00.0

echo
echo "package: $passed passed, $failed failed"
((failed == 0))
