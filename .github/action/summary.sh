#!/usr/bin/env bash
# Writes the job summary (GITHUB_STEP_SUMMARY) for one vmtest command: a
# heading with the verdict, then the directory's own Markdown when vmtest
# wrote one (summary.md, or comparison.md for compare), else a table
# rendered here from result.json (run, merge), repeat.json (run --repeat)
# or manifest.json (build). GitHub takes at most 1 MiB per step's summary,
# so longer Markdown is cut with a note.
#
# Environment: VMTEST_COMMAND, VMTEST_RESULT_DIR, VMTEST_EXIT_CODE,
# VMTEST_VERDICT, VMTEST_SUMMARY_ROWS (failing cases listed, default 100),
# VMTEST_SUMMARY_LIMIT (bytes, default 1000000).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

cmd="${VMTEST_COMMAND:-run}"
dir="${VMTEST_RESULT_DIR:-}"
rows="${VMTEST_SUMMARY_ROWS:-100}"
summary="${GITHUB_STEP_SUMMARY:?GITHUB_STEP_SUMMARY is not set: run this inside a GitHub Actions step}"
limit="${VMTEST_SUMMARY_LIMIT:-1000000}"
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT

# md_result renders a run's result.json: status, kernel, counts by outcome,
# then the cases that failed or errored (at most $rows), which are what a
# reader of the summary needs; the rest is in the uploaded directory.
md_result() {
	jq -r --argjson rows "$rows" '
		def cell: tostring | gsub("[\r\n]+"; " ") | gsub("\\|"; "\\|");
		def bad: .outcome == "fail" or .outcome == "error";
		"Kernel `\(.kernel.release // .kernel.version // .kernel.path // "?" | cell)`, accel \(.accel // "?"), status **\(.status // "?")**"
			+ (if .status_detail then ": \(.status_detail | cell)" else "" end)
			+ (if .crash_title then "\n\nCrash: `\(.crash_title | cell)`" else "" end),
		"",
		"| outcome | cases |",
		"|---|---:|",
		((.summary // {}) | to_entries[] | "| \(.key) | \(.value) |"),
		"",
		([.cases[]? | select(bad)] as $bad |
			if ($bad | length) == 0 then "No case failed or errored."
			else
				"| failing case | outcome | reason |",
				"|---|---|---|",
				($bad[:$rows][] | "| `\(.id)` | \(.outcome) | \(.reason // "" | cell) |"),
				(if ($bad | length) > $rows then "\n\(($bad | length) - $rows) more in the uploaded result directory." else empty end)
			end)
	' "$1"
}

# md_repeat renders run --repeat's repeat.json: each boot's status and the
# cases that did not pass every time.
md_repeat() {
	jq -r --argjson rows "$rows" '
		def cell: tostring | gsub("[\r\n]+"; " ") | gsub("\\|"; "\\|");
		"\(.runs | length) boots, status **\(.status // "?")**; flaky cases: \((.flaky // []) | length)",
		"",
		([.cases[]? | select(.passes != .runs)] as $c |
			if ($c | length) == 0 then "Every case passed in every boot."
			else
				"| case | passes | outcomes |",
				"|---|---:|---|",
				($c[:$rows][] | "| `\(.id)` | \(.passes)/\(.runs) | \(.outcomes | join(", ") | cell) |")
			end)
	' "$1"
}

md_build() {
	jq -r '"Built `\(.bzimage)` (\(.source.version // "?"), \((.patches // []) | length) patches, \(.build_seconds // 0 | floor) s)"' "$1"
}

{
	printf '### vmtest %s: %s (exit status %s)\n\n' "$cmd" "${VMTEST_VERDICT:-unknown}" "${VMTEST_EXIT_CODE:-?}"
	if [ -z "$dir" ] || [ ! -d "$dir" ]; then
		echo "vmtest wrote no result directory; its log is in this step's output."
	elif [ -f "$dir/summary.md" ]; then
		cat "$dir/summary.md"
	elif [ -f "$dir/comparison.md" ]; then
		cat "$dir/comparison.md"
	elif [ -f "$dir/result.json" ]; then
		md_result "$dir/result.json"
	elif [ -f "$dir/repeat.json" ]; then
		md_repeat "$dir/repeat.json"
	elif [ -s "$dir/manifest.json" ]; then
		md_build "$dir/manifest.json"
	else
		echo "The result directory holds no summary, result.json or manifest.json."
	fi
} >"$tmp"
if [ "$(wc -c <"$tmp")" -gt "$limit" ]; then
	head -c "$limit" "$tmp"
	printf '\n\n(cut at %d bytes: the whole summary is in the uploaded result directory)\n' "$limit"
else
	cat "$tmp"
fi >>"$summary"
