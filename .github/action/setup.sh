#!/usr/bin/env bash
# Installs what vmtest needs on the runner: QEMU always; the kernel's build
# tools when a build spec is in the command; and checks that Debian's
# archive is there when vmtest will fetch Debian's kernel or source.
#
# Environment: VMTEST_COMMAND, VMTEST_KERNEL, VMTEST_BASE, VMTEST_ARGS (the
# action's inputs), VMTEST_APT_GET and VMTEST_APT_CACHE (default apt-get and
# apt-cache; the tests replace them).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

# shellcheck disable=SC2086 # args are split on whitespace on purpose
set -- ${VMTEST_KERNEL:-} ${VMTEST_BASE:-} ${VMTEST_ARGS:-}

sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
apt_get="${VMTEST_APT_GET:-apt-get}"
apt_cache="${VMTEST_APT_CACHE:-apt-cache}"

# The merge of shard results boots nothing.
pkgs=()
[ "${VMTEST_COMMAND:-run}" = merge ] || pkgs+=(qemu-system-x86)
if vmtest_needs_build "$@"; then
	# The Makefile's DEPS less QEMU: what vmtest build runs.
	pkgs+=(git make gcc libc6-dev flex bison bc libelf-dev libssl-dev libcap-dev xz-utils dpkg-dev ca-certificates)
fi
if vmtest_needs_debian "$@"; then
	pkgs+=(xz-utils)
fi
# The action's own steps read vmtest's JSON with jq (Ubuntu's runners have
# it; a debian:12 container has not).
command -v jq >/dev/null || pkgs+=(jq)
if [ "${#pkgs[@]}" -gt 0 ]; then
	echo "installing: ${pkgs[*]}"
	$sudo "$apt_get" update -qq
	DEBIAN_FRONTEND=noninteractive $sudo "$apt_get" install -y -qq --no-install-recommends "${pkgs[@]}"
fi

# Debian's kernel and source packages come from Debian's archive through
# apt; Ubuntu's runners do not have it. Say so here, plainly, rather than
# leave it to a failed download after the cache and the Go build.
if vmtest_needs_debian "$@"; then
	if ! "$apt_cache" show linux-image-amd64 >/dev/null 2>&1; then
		echo "::error title=vmtest::--kernel debian and build specs without tree= need Debian's archive (linux-image-amd64, linux-source-6.1), which this runner's apt does not have; run the job in a Debian 12 container (container: debian:12) or build from your own tree (build:tree=DIR)"
		exit 2
	fi
fi
