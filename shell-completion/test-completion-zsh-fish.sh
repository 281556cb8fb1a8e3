#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# kexecctl's zsh and fish completions: each parses (zsh -n, fish -n) and offers every option the
# kexecctl under test (KEXECCTL_BIN) has, verb by verb. Both are driven as on <Tab>: fish's with
# `complete -C`, zsh's in an interactive zsh on a pseudo-terminal (zpty) with compinit, whose
# compadd is wrapped to print the candidates: verbs, option values, --json=MODE, exclusive
# options, the UKI's profiles; fish's also files (zsh's file candidates come from _path_files,
# which adds path prefixes the wrapper cannot tell apart).
#
# usage: test-completion-zsh-fish.sh ZSH_COMPLETION FISH_COMPLETION
set -euo pipefail

zsh_file=$(realpath "${1:?usage: test-completion-zsh-fish.sh ZSH_COMPLETION FISH_COMPLETION}")
fish_file=$(realpath "${2:?usage: test-completion-zsh-fish.sh ZSH_COMPLETION FISH_COMPLETION}")
have_zsh=$(command -v zsh || true)
have_fish=$(command -v fish || true)
if [ -z "$have_zsh" ] && [ -z "$have_fish" ]; then
	echo "SKIP: neither zsh nor fish is installed (scripts/install-deps.sh installs both)"
	exit 77
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -n "${KEXECCTL_BIN:-}" ]; then
	mkdir "$work/bin"
	ln -s "$KEXECCTL_BIN" "$work/bin/kexecctl"
	PATH=$work/bin:$PATH
fi
mkdir -p "$work/esp/sub"
touch "$work/esp/linux.efi" "$work/esp/a.addon.efi" "$work/esp/notes.txt"
cd "$work/esp"

failed=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; failed=1; }

# The long options of a verb's --help (its own and the global ones), one per line.
help_options() {
	kexecctl "$@" --help | grep -o -- '--[a-z][a-z-]*' | sort -u
}
verbs="status stage unstage reboot soft-reboot inspect list"

if [ -n "$have_zsh" ]; then
	if zsh -n "$zsh_file"; then ok "zsh -n _kexecctl"; else bad "zsh -n _kexecctl"; fi
	# Every option of every verb is in the spec of that verb (or in the global ones).
	if [ -n "${KEXECCTL_BIN:-}" ]; then
		for verb in $verbs; do
			spec=$(sed -n "/^\t\t$verb)\$/,/^\t\t\t;;\$/p" "$zsh_file")
			globals=$(sed -n '/^\tglobal_opts=(/,/^\t)/p' "$zsh_file")
			missing=
			for opt in $(help_options "$verb"); do
				grep -q -- "$opt[]=[}]" <<<"$spec$globals" || missing+=" $opt"
			done
			[ -z "$missing" ] && ok "zsh: $verb offers every option of 'kexecctl $verb --help'" \
				|| bad "zsh: $verb lacks$missing"
		done
		missing=
		for verb in $verbs; do
			grep -q "'$verb:" "$zsh_file" || missing+=" $verb"
		done
		[ -z "$missing" ] && ok "zsh: every verb" || bad "zsh: verbs missing:$missing"
	fi

	# <Tab> in an interactive zsh: the candidates compadd gets, then exit.
	mkdir "$work/zsh"
	cp "$zsh_file" "$work/zsh/_kexecctl"
	cat >"$work/capture.zsh" <<'ZSH'
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PROMPT=''; fpath=($1 \$fpath); autoload -U compinit; compinit -u -D"
zpty -w z 'bindkey "^I" complete-word'
zpty -w z 'null-line () { print -r -- "<<END>>" }; compprefuncs=( null-line ); comppostfuncs=( null-line exit )'
zpty -w z 'compadd () { local -a __hits; builtin compadd -A __hits "$@"; local h; for h in $__hits; do print -r -- "HIT:$h"; done }'
zpty -w -n z "$2"$'\t'
local line
while zpty -r z line; do
	line=${${line//$'\r'/}%$'\n'}
	[[ $line == '<<END>>'* ]] && break
	[[ $line == HIT:* ]] && print -r -- "${line#HIT:}"
done
zpty -d z
ZSH
	zsh_complete() {
		timeout 30 zsh -f "$work/capture.zsh" "$work/zsh" "$1" | { grep -v '^$' || true; } | sort -u | tr '\n' ' ' | sed 's/ $//'
	}
	zsh_expect() {
		local got
		got=$(zsh_complete "$1")
		[ "$got" = "$2" ] && ok "zsh '$1' -> $got" || bad "zsh '$1': got '$got', wanted '$2'"
	}
	zsh_expect_has() {
		local line=$1 got w
		shift
		got=" $(zsh_complete "$line") "
		for w in "$@"; do
			if [[ $got != *" $w "* ]]; then
				bad "zsh '$line': '$w' missing from '$got'"
				return
			fi
		done
		ok "zsh '$line' has $*"
	}
	zsh_expect 'kexecctl ' 'inspect list reboot soft-reboot stage status unstage'
	zsh_expect 'kexecctl --json st' 'stage status'
	zsh_expect 'kexecctl --json=' 'off pretty short'
	zsh_expect 'kexecctl stage --scheme ' 'auto bpf classic'
	zsh_expect 'kexecctl stage --signature-policy ' 'auto enforce warn'
	zsh_expect 'kexecctl stage --cmdline-r' '--cmdline-replace'
	zsh_expect 'kexecctl stage --cmdline-extra x --cmdline-' ''
	zsh_expect 'kexecctl reboot --auto --k' ''
	zsh_expect_has 'kexecctl --' --json --no-pager --no-legend --quiet --no-ask-password --config --bus --help --version
	if [ -n "${KEXECCTL_BIN:-}" ]; then
		for verb in $verbs; do
			mapfile -t known < <(help_options "$verb")
			zsh_expect_has "kexecctl $verb --" "${known[@]}"
		done
		uki=${KEXECD_FIXTURES:-}/uki-profiles.efi
		if [ -r "$uki" ]; then
			cp "$uki" profiles.efi
			zsh_expect 'kexecctl stage profiles.efi --profile ' '@0 @1 @2 debug default noinitrd'
			zsh_expect 'kexecctl inspect profiles.efi --profile d' 'debug default'
			rm profiles.efi
		fi
	fi
else
	echo "note: zsh not installed, its completion not checked"
fi

if [ -n "$have_fish" ]; then
	if fish -n "$fish_file"; then ok "fish -n kexecctl.fish"; else bad "fish -n kexecctl.fish"; fi
	# complete LINE: the candidates fish offers for LINE, sorted, on one line. Only those that
	# start with the word being typed: fish 4 adds its fuzzy (subsequence) matches to
	# `complete -C` (--force for --c), which are fish's, not the completion's.
	complete_line() {
		fish --no-config -c "source '$fish_file'; complete -C '$1'" | cut -f1 |
			awk -v p="${1##* }" 'p == "" || index($0, p) == 1' | sort | tr '\n' ' ' | sed 's/ $//'
	}
	expect() {
		local got
		got=$(complete_line "$1")
		[ "$got" = "$2" ] && ok "fish '$1' -> $got" || bad "fish '$1': got '$got', wanted '$2'"
	}
	expect_has() {
		local line=$1 got w
		shift
		got=" $(complete_line "$line") "
		for w in "$@"; do
			if [[ $got != *" $w "* ]]; then
				bad "fish '$line': '$w' missing from '$got'"
				return
			fi
		done
		ok "fish '$line' has $*"
	}
	expect 'kexecctl ' 'inspect list reboot soft-reboot stage status unstage'
	expect 'kexecctl s' 'soft-reboot stage status'
	expect 'kexecctl --json=short st' 'stage status'
	expect 'kexecctl --json=' '--json=off --json=pretty --json=short'
	expect 'kexecctl stage --scheme ' 'auto bpf classic'
	expect 'kexecctl stage --signature-policy ' 'auto enforce warn'
	expect 'kexecctl stage --cmdline-r' '--cmdline-replace'
	expect 'kexecctl stage --cmdline-extra x --cmdline-r' ''
	# fish's __fish_complete_suffix puts .efi files first, and offers the others after them.
	expect_has 'kexecctl stage ' a.addon.efi linux.efi sub/
	expect 'kexecctl stage --kernel n' 'notes.txt'
	expect 'kexecctl stage --kernel notes.txt ' ''
	expect 'kexecctl list --esp ' 'sub/'
	expect 'kexecctl reboot --auto --c' '--config'
	expect_has 'kexecctl --' --json --no-pager --no-legend --quiet --no-ask-password --config --bus --help --version
	if [ -n "${KEXECCTL_BIN:-}" ]; then
		for verb in $verbs; do
			mapfile -t known < <(help_options "$verb")
			expect_has "kexecctl $verb --" "${known[@]}"
		done
		uki=${KEXECD_FIXTURES:-}/uki-profiles.efi
		if [ -r "$uki" ]; then
			cp "$uki" profiles.efi
			expect 'kexecctl stage profiles.efi --profile ' '@0 @1 @2 debug default noinitrd'
			expect 'kexecctl inspect profiles.efi --profile d' 'debug default'
		else
			echo "note: --profile values not checked (no fixture uki-profiles.efi)"
		fi
	fi
else
	echo "note: fish not installed, its completion not checked"
fi

exit $failed
