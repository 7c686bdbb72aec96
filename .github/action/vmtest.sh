#!/usr/bin/env bash
# Runs one vmtest command and never fails the step on vmtest's own exit
# status: that is captured as the outputs exit-code and verdict, so the
# upload and the job summary run first and the action's last step exits
# with it. A problem of the action itself (an unknown command) still fails
# at once.
#
#   run      vmtest run --cache C --out DIR [--kernel K] ARGS
#   compare  vmtest compare --cache C --out DIR [--base B] [--kernel K] ARGS
#   merge    vmtest merge --out DIR ARGS            (ARGS: the shard result directories)
#   build    vmtest build --cache C --json ARGS     (manifest.json in DIR)
#
# ARGS is split on whitespace and its globs are expanded (so a merge can be
# given shards/*); quotes are not interpreted. For compare with
# VMTEST_REUSE_BASE=true (the default), the base side's result directory is
# kept in the cache under a key of the vmtest binary, the base kernel's
# identity and ARGS, and given as --base on the next run with the same key,
# so an unchanged base is neither built nor booted again.
#
# Environment: VMTEST_BIN, VMTEST_COMMAND, VMTEST_KERNEL, VMTEST_BASE,
# VMTEST_ARGS, VMTEST_OUT (default $RUNNER_TEMP/vmtest-COMMAND),
# VMTEST_REUSE_BASE. Outputs: result-dir, exit-code, verdict, base-reused.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

bin="${VMTEST_BIN:?VMTEST_BIN is not set: the install step did not run}"
cmd="${VMTEST_COMMAND:-run}"
kernel="${VMTEST_KERNEL:-}"
base="${VMTEST_BASE:-}"
cache="$(vmtest_cache_dir)"
out="${VMTEST_OUT:-${RUNNER_TEMP:-/tmp}/vmtest-$cmd}"
# shellcheck disable=SC2206 # split on whitespace and expand globs on purpose
args=(${VMTEST_ARGS:-})

argv=("$bin" "$cmd")
case "$cmd" in
run | compare)
	argv+=(--cache "$cache" --out "$out")
	# A leftover from an earlier step of the same job; vmtest replaces
	# only its own results, even with --force.
	[ ! -e "$out" ] || argv+=(--force)
	;;
merge) argv+=(--out "$out") ;;
build) argv+=(--cache "$cache" --json) ;;
*)
	echo "::error title=vmtest::command \"$cmd\": want run, compare, merge or build"
	exit 2
	;;
esac

reused=false
saved=""
if [ "$cmd" = compare ] && [ "${VMTEST_REUSE_BASE:-true}" = true ] && [ -n "$base" ] && [ ! -f "$base/result.json" ]; then
	# The guest agent beside vmtest is part of what ran: a change to the
	# guest alone leaves vmtest's binary as it was.
	agent="$(dirname "$bin")/vmtest-agent"
	# shellcheck disable=SC2086
	key="$({ printf 'vmtest %s\n' "$(vmtest_hash <"$bin")"; [ ! -f "$agent" ] || printf 'agent %s\n' "$(vmtest_hash <"$agent")"; vmtest_identity "$base" ${VMTEST_ARGS:-}; } | vmtest_hash | cut -c1-16)"
	saved="$cache/action-base/$key"
	if [ -f "$saved/result.json" ]; then
		echo "base: reusing $saved (the result of an earlier run of the same base with the same vmtest and arguments)"
		base="$saved"
		reused=true
	fi
fi
if [ "$cmd" = compare ] && [ -n "$base" ]; then argv+=(--base "$base"); fi
if [ "$cmd" = run ] || [ "$cmd" = compare ]; then
	[ -z "$kernel" ] || argv+=(--kernel "$kernel")
fi
argv+=("${args[@]}")

echo "+ ${argv[*]}"
rc=0
if [ "$cmd" = build ]; then
	mkdir -p "$out"
	"${argv[@]}" >"$out/manifest.json" || rc=$?
	[ "$rc" != 0 ] || vmtest_output kernel "$(jq -r .bzimage "$out/manifest.json")"
else
	"${argv[@]}" || rc=$?
fi

case "$rc" in
0) verdict=pass ;;
1) if [ "$cmd" = compare ]; then verdict=regressed; else verdict=fail; fi ;;
2) verdict=bad-input ;;
3) verdict=infrastructure ;;
130) verdict=interrupted ;;
*) verdict="exit-$rc" ;;
esac

# Keep a base run that completed for the next comparison, replacing any
# older one of the same key whole (copied aside, then renamed).
if [ -n "$saved" ] && [ "$reused" = false ] && { [ "$rc" = 0 ] || [ "$rc" = 1 ]; } &&
	[ "$(jq -r .status "$out/base/result.json" 2>/dev/null)" = completed ]; then
	mkdir -p "$cache/action-base"
	tmp="$(mktemp -d "$cache/action-base/.new-XXXXXX")"
	cp -R "$out/base/." "$tmp/"
	rm -rf "$saved"
	mv "$tmp" "$saved"
	echo "base: kept as $saved for the next comparison"
	# Bases go by (a new base commit, a new vmtest): keep the ten newest,
	# so that the saved cache does not grow without end.
	find "$cache/action-base" -mindepth 1 -maxdepth 1 -type d -printf '%T@ %p\n' |
		sort -rn | tail -n +11 | cut -d' ' -f2- | xargs -r -d '\n' rm -rf
fi

[ ! -d "$out" ] || vmtest_output result-dir "$out"
vmtest_output exit-code "$rc"
vmtest_output verdict "$verdict"
vmtest_output base-reused "$reused"
echo "vmtest $cmd: $verdict (exit status $rc)"
