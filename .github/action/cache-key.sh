#!/usr/bin/env bash
# Computes the actions/cache key for vmtest's cache directory: the prefix
# (the cache-key input), the runner's OS release and architecture (a build
# cache is only good for the same compiler) and a hash of what the
# command's kernels depend on (see vmtest_identity in lib.sh). The restore
# key is the key less the hash, so a changed patch starts from the last
# cache of the same prefix (Debian's kernel, its source tree and earlier
# builds stay) and is saved under its new key.
#
# Environment: VMTEST_CACHE_KEY (prefix, default vmtest), VMTEST_COMMAND,
# VMTEST_KERNEL, VMTEST_BASE, VMTEST_ARGS. Outputs: key, restore-key, path.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

prefix="${VMTEST_CACHE_KEY:-vmtest}"
os=unknown
if [ -r /etc/os-release ]; then
	# shellcheck disable=SC1091
	os="$(. /etc/os-release && printf '%s%s' "${ID:-linux}" "${VERSION_ID:-}")"
fi
# shellcheck disable=SC2086 # args are split on whitespace on purpose
hash="$(vmtest_identity "${VMTEST_COMMAND:-run}" ${VMTEST_KERNEL:-} ${VMTEST_BASE:-} ${VMTEST_ARGS:-} | vmtest_hash | cut -c1-16)"
restore="$prefix-$os-$(uname -m)-"
vmtest_output key "$restore$hash"
vmtest_output restore-key "$restore"
vmtest_output path "$(vmtest_cache_dir)"
echo "cache key $restore$hash"
