#!/usr/bin/env bash
# Builds the vmtest binary the action runs and its guest agent beside it:
# from the action's own checkout (the ref in `uses: vmtest/vmtest@REF`) when
# VMTEST_VERSION is empty, else `go install
# github.com/vmtest/vmtest/cmd/{vmtest,vmtest-agent}@VMTEST_VERSION` (a tag,
# a commit or a branch, through the Go module proxy). Static (CGO_ENABLED=0):
# the agent is the guest's /init. A version from before the agent had a
# binary of its own (its vmtest was its own agent) installs vmtest alone.
#
# Environment: VMTEST_VERSION, GITHUB_ACTION_PATH (the action's checkout),
# RUNNER_TEMP. Outputs: bin (the binary's path).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

dir="${RUNNER_TEMP:-/tmp}/vmtest-bin"
mkdir -p "$dir"
export CGO_ENABLED=0
if [ -z "${VMTEST_VERSION:-}" ]; then
	src="${GITHUB_ACTION_PATH:?GITHUB_ACTION_PATH is not set: run this inside a GitHub Actions step}"
	(cd "$src" && go build -trimpath -o "$dir/" ./cmd/vmtest ./cmd/vmtest-agent)
else
	mod=github.com/vmtest/vmtest/cmd
	if ! GOBIN="$dir" go install -trimpath "$mod/vmtest@$VMTEST_VERSION" "$mod/vmtest-agent@$VMTEST_VERSION" 2>"$dir/install.err"; then
		cat "$dir/install.err" >&2
		# Only a version without the agent's package is retried alone;
		# any other failure (the network, a build error) is the step's.
		grep -q "does not contain package $mod/vmtest-agent" "$dir/install.err" || exit 3
		echo "vmtest $VMTEST_VERSION predates cmd/vmtest-agent (its vmtest is its own agent): installing vmtest alone"
		GOBIN="$dir" go install -trimpath "$mod/vmtest@$VMTEST_VERSION"
	fi
fi
if [ -z "${VMTEST_VERSION:-}" ] && [ ! -x "$dir/vmtest-agent" ]; then
	echo "::error title=vmtest::no guest agent was built beside $dir/vmtest"
	exit 3
fi
"$dir/vmtest" --help >/dev/null 2>&1 || {
	echo "::error title=vmtest::the vmtest binary built in $dir does not run"
	exit 3
}
vmtest_output bin "$dir/vmtest"
