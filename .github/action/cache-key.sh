#!/usr/bin/env bash
# Computes the actions/cache key for vmtest's cache directory: the prefix
# (the cache-key input), the runner's OS release and architecture (a build
# cache is only good for the same compiler) and a hash of what the
# command's kernels depend on (see vmtest_identity in lib.sh). The restore
# key is the key less the hash, so a changed patch starts from the last
# cache of the same prefix (Debian's kernel, its source tree and earlier
# builds stay) and is saved under its new key.
#
# The paths cached are vmtest's cache directory less the initramfs images
# (rebuilt in a second, one per agent binary) and, unless
# VMTEST_CACHE_TREES=true, less the build trees (build/tree-*: the scratch
# copies of the source with their object files, which let vmtest rebuild
# only what a new patch touches, at the price of hundreds of megabytes).
#
# Environment: VMTEST_CACHE_KEY (prefix, default vmtest),
# VMTEST_CACHE_TREES, VMTEST_COMMAND, VMTEST_KERNEL, VMTEST_BASE,
# VMTEST_ARGS. Outputs: key, restore-key, path (the cache directory),
# paths (what actions/cache saves, one a line).
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
trees=""
[ "${VMTEST_CACHE_TREES:-false}" != true ] || trees="trees-"
restore="$prefix-$os-$(uname -m)-$trees"
dir="$(vmtest_cache_dir)"
vmtest_output key "$restore$hash"
vmtest_output restore-key "$restore"
vmtest_output path "$dir"
# actions/cache does not look inside a directory it includes, so an
# exclusion only works beside an inclusion at the same level: the cache's
# entries are listed with DIR/*, and those of build/ with DIR/build/*.
{
	echo "paths<<VMTEST_PATHS_END"
	echo "$dir/*"
	echo "!$dir/initramfs-*"
	if [ -z "$trees" ]; then
		echo "!$dir/build"
		echo "$dir/build/*"
		echo "!$dir/build/tree-*"
	fi
	echo "VMTEST_PATHS_END"
} >>"$GITHUB_OUTPUT"
echo "cache key $restore$hash"
