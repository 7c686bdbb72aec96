#!/usr/bin/env bash
# Makes /dev/kvm usable by the job's user on GitHub-hosted runners, whose
# /dev/kvm is root:kvm 0660 and whose runner user is not in group kvm: a
# udev rule opens the node to everyone, as the runner images' own
# documentation suggests. Inside a container running as root, or on a
# runner without KVM, there is nothing to do. vmtest decides for itself
# whether KVM really works (--accel auto probes it); this step only gives it
# the chance, and reports kvm=true|false as an output.
#
# Environment: VMTEST_KVM_DEV (default /dev/kvm; the tests point it at a
# file), VMTEST_UDEV_RULES (default /etc/udev/rules.d/99-kvm4all.rules).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

dev="${VMTEST_KVM_DEV:-/dev/kvm}"
rules="${VMTEST_UDEV_RULES:-/etc/udev/rules.d/99-kvm4all.rules}"
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo

if [ ! -e "$dev" ]; then
	echo "::notice title=vmtest::no $dev on this runner: vmtest will use TCG (software emulation, about ten times slower)"
	vmtest_output kvm false
	exit 0
fi
if [ ! -w "$dev" ] && command -v udevadm >/dev/null; then
	echo 'KERNEL=="kvm", GROUP="kvm", MODE="0666", OPTIONS+="static_node=kvm"' | $sudo tee "$rules" >/dev/null
	$sudo udevadm control --reload-rules
	$sudo udevadm trigger --name-match=kvm
	# udevadm trigger returns before the rule is applied.
	$sudo udevadm settle --timeout=10 || true
fi
if [ -r "$dev" ] && [ -w "$dev" ]; then
	echo "$dev is usable"
	vmtest_output kvm true
else
	echo "::warning title=vmtest::$dev exists but this user cannot open it: vmtest will use TCG"
	vmtest_output kvm false
fi
