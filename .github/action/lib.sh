# shellcheck shell=bash
# Shared by the action's steps (sourced, not run). Every step reads its
# inputs from VMTEST_* environment variables, never from ${{ }} expressions
# pasted into the script, so that no input can inject shell code.

# vmtest_cache_dir is where vmtest keeps kernels, builds and base results;
# the action passes it to vmtest as --cache so that it is the directory
# actions/cache saves, whatever XDG_CACHE_HOME says.
vmtest_cache_dir() {
	printf '%s\n' "${VMTEST_CACHE:-$HOME/.cache/vmtest}"
}

# vmtest_words prints the words of the command line the action will run
# (kernel, base and args), split on whitespace and on the separators of a
# build spec (build:tree=DIR,patch=FILE), one a line.
vmtest_words() {
	printf '%s\n' "$@" | tr ' \t,=:' '\n' | sed '/^$/d'
}

# vmtest_needs_build says whether any word is a build spec (vmtest then
# builds a kernel and needs a compiler and the kernel's build tools) and
# vmtest_needs_debian whether vmtest will fetch something from Debian's
# archive: its packaged kernel (debian) or, for a build spec without a tree,
# its linux-source-6.1 package.
vmtest_needs_build() {
	local w
	for w in "$@"; do
		case "$w" in build | build:*) return 0 ;; esac
	done
	# vmtest build itself takes --tree; without one it uses Debian's source.
	[ "${VMTEST_COMMAND:-}" = build ]
}

vmtest_needs_debian() {
	local w
	for w in "$@"; do
		case "$w" in
		debian) return 0 ;;
		build | build:*) case "$w" in *tree=*) ;; *) return 0 ;; esac ;;
		esac
	done
	if [ "${VMTEST_COMMAND:-}" = build ]; then
		case " $* " in *" --tree "* | *" -tree "* | *--tree=* | *-tree=*) return 1 ;; esac
		return 0
	fi
	return 1
}

# vmtest_identity prints what the outcome of a vmtest command depends on
# beyond its own text, one line per word: a file's SHA-256 (a patch, a
# config fragment, a bzImage, a result.json), a git tree's HEAD and a hash
# of its uncommitted changes, Debian's current kernel and source package
# versions when vmtest would fetch them, and the compiler when it would
# build. Its output is hashed into cache keys, so a changed patch or a new
# Debian kernel gives a new key.
vmtest_identity() {
	local w
	printf 'args %s\n' "$*"
	while IFS= read -r w; do
		if [ -f "$w" ]; then
			printf 'file %s %s\n' "$w" "$(sha256sum <"$w" | cut -d' ' -f1)"
		elif [ -d "$w/.git" ] || [ -f "$w/.git" ]; then
			printf 'git %s %s %s\n' "$w" "$(git -C "$w" rev-parse HEAD 2>/dev/null)" \
				"$(git -C "$w" status --porcelain 2>/dev/null | sha256sum | cut -d' ' -f1)"
		elif [ -f "$w/result.json" ]; then
			printf 'result %s %s\n' "$w" "$(sha256sum <"$w/result.json" | cut -d' ' -f1)"
		fi
	done < <(vmtest_words "$@")
	if vmtest_needs_debian "$@" && command -v apt-cache >/dev/null; then
		printf 'debian %s\n' "$(apt-cache depends linux-image-amd64 2>/dev/null | grep -m1 -o 'linux-image-[0-9][^ ]*')"
		printf 'debian-source %s\n' "$(apt-cache policy linux-source-6.1 2>/dev/null | sed -n 's/.*Candidate: //p')"
	fi
	if vmtest_needs_build "$@"; then
		printf 'cc %s\n' "$(gcc --version 2>/dev/null | head -n1)"
	fi
}

# vmtest_hash prints the SHA-256 of its standard input.
vmtest_hash() {
	sha256sum | cut -d' ' -f1
}

# vmtest_output appends NAME=VALUE to the step's outputs (GITHUB_OUTPUT).
vmtest_output() {
	printf '%s=%s\n' "$1" "$2" >>"${GITHUB_OUTPUT:?GITHUB_OUTPUT is not set: run this inside a GitHub Actions step}"
}
