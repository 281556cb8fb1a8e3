#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Drive kexecctl's bash completion as bash does on <Tab>: set COMP_WORDS/COMP_CWORD/COMP_LINE,
# call the function `complete -p kexecctl` names, and compare COMPREPLY. The profiles come from
# the kexecctl under test (KEXECCTL_BIN) running `inspect` on the fixture UKI with three profiles.
#
# usage: test-completion.sh COMPLETION_FILE
set -euo pipefail

completion=${1:?usage: test-completion.sh COMPLETION_FILE}
completion=$(cd "$(dirname "$completion")" && pwd)/$(basename "$completion")
skip() { echo "SKIP: $*"; exit 77; }
[ -r /usr/share/bash-completion/bash_completion ] || skip "bash-completion is not installed"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The completion calls `kexecctl` by name, as it would when installed.
if [ -n "${KEXECCTL_BIN:-}" ]; then
	mkdir "$work/bin"
	ln -s "$KEXECCTL_BIN" "$work/bin/kexecctl"
	PATH=$work/bin:$PATH
fi
mkdir -p "$work/esp/sub"
touch "$work/esp/linux.efi" "$work/esp/a.addon.efi" "$work/esp/notes.txt" "$work/esp/kexecd.conf"
cd "$work/esp"

# bash_completion refuses to load in a non-interactive shell unless told it may.
BASH_COMPLETION_VERSINFO_SKIP=1
# shellcheck disable=SC1091
. /usr/share/bash-completion/bash_completion
# shellcheck disable=SC1090
. "$completion"

func=$(complete -p kexecctl | sed -n 's/.*-F \([^ ]*\) .*/\1/p')
[ -n "$func" ] || { echo "FAIL: 'complete -p kexecctl' names no function"; exit 1; }

failed=0
# complete LINE: the words of LINE, the cursor at its end (a trailing space starts a new word).
complete_line() {
	local line=$1
	read -r -a COMP_WORDS <<<"$line"
	[[ $line == *' ' ]] && COMP_WORDS+=('')
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMP_LINE=$line
	COMP_POINT=${#line}
	COMPREPLY=()
	"$func" kexecctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
	printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
}
# expect LINE WANTED: the sorted candidates must be exactly WANTED.
expect() {
	local got
	got=$(complete_line "$1")
	if [ "$got" = "$2" ]; then
		echo "ok   '$1' -> $got"
	else
		echo "FAIL '$1': got '$got', wanted '$2'"
		failed=1
	fi
}
# expect_has LINE WORD...: each WORD must be among the candidates.
expect_has() {
	local line=$1 got w
	shift
	got=" $(complete_line "$line") "
	for w in "$@"; do
		if [[ $got != *" $w "* ]]; then
			echo "FAIL '$line': '$w' missing from '$got'"
			failed=1
			return
		fi
	done
	echo "ok   '$line' has $*"
}

expect 'kexecctl ' 'inspect list reboot soft-reboot stage status unstage'
expect 'kexecctl s' 'soft-reboot stage status'
expect 'kexecctl --json st' 'stage status'
expect_has 'kexecctl --' --json --no-ask-password --config --bus --help --version
expect 'kexecctl stage --sch' '--scheme'
# --json=MODE after '=' only; bare --json takes no argument (issue 28).
expect 'kexecctl --json=' 'off pretty short'
expect 'kexecctl status --json=s' 'short'
expect_has 'kexecctl --' --no-pager --no-legend --quiet
expect 'kexecctl stage --cmdline-r' '--cmdline-replace'
expect 'kexecctl stage --cmdline-replace ' ''
expect 'kexecctl stage --scheme ' 'auto bpf classic'
expect 'kexecctl inspect --scheme c' 'classic'
expect 'kexecctl stage --signature-policy ' 'auto enforce warn'
expect_has 'kexecctl reboot --' --auto --kexec --soft --cold --dry-run --require-staged --ignore-inhibitors --force --json
expect_has 'kexecctl soft-reboot --' --dry-run --ignore-inhibitors --no-ask-password
expect 'kexecctl unstage --if' '--if-kernel'
expect_has 'kexecctl stage --' --addon --no-addons --profile --scheme --cmdline-extra --signature-policy --json
expect_has 'kexecctl list --' --esp --xbootldr
# Files: the UKI of stage and inspect, an addon; directories are offered to descend into.
expect 'kexecctl stage ' 'a.addon.efi linux.efi sub'
expect 'kexecctl inspect ' 'a.addon.efi linux.efi sub'
expect 'kexecctl stage --addon ' 'a.addon.efi linux.efi sub'
expect 'kexecctl stage linux.efi --addon a' 'a.addon.efi'
# A plain kernel (issue 15): any file for --kernel and --initrd, nothing for the command line,
# and no positional UKI once --kernel is given.
expect_has 'kexecctl stage --' --kernel --initrd --append --command-line --reuse-cmdline
expect 'kexecctl stage --kernel ' 'a.addon.efi kexecd.conf linux.efi notes.txt sub'
expect 'kexecctl stage --kernel notes.txt --initrd n' 'notes.txt'
expect 'kexecctl stage --kernel notes.txt --append ' ''
expect 'kexecctl stage --kernel notes.txt --command-line ' ''
expect 'kexecctl stage --kernel notes.txt --initrd notes.txt ' ''
expect 'kexecctl list --esp ' 'sub'
expect 'kexecctl --config ' 'kexecd.conf sub'
# An option's argument is not the verb: `--bus system` must not hide `stage`.
expect 'kexecctl --bus system stage --scheme ' 'auto bpf classic'
# No files after the one UKI, and none for verbs that take none.
expect 'kexecctl stage linux.efi ' ''
expect 'kexecctl status ' ''

# Every option kexecctl itself knows is offered: each verb's --help against the completion.
if [ -n "${KEXECCTL_BIN:-}" ]; then
	for verb in status stage unstage reboot soft-reboot inspect list; do
		mapfile -t known < <(kexecctl "$verb" --help | grep -o -- '--[a-z][a-z-]*' | sort -u)
		expect_has "kexecctl $verb --" "${known[@]}"
	done
fi

# --profile: the profiles of the UKI on the command line, from `kexecctl inspect`.
uki=${KEXECD_FIXTURES:-}/uki-profiles.efi
if [ -n "${KEXECCTL_BIN:-}" ] && [ -r "$uki" ]; then
	cp "$uki" "$work/esp/profiles.efi"
	expect 'kexecctl stage profiles.efi --profile ' '@0 @1 @2 debug default noinitrd'
	expect 'kexecctl inspect --profile d' ''
	expect 'kexecctl inspect profiles.efi --profile d' 'debug default'
else
	echo "note: --profile values not checked (no kexecctl or no fixture uki-profiles.efi)"
fi

exit $failed
