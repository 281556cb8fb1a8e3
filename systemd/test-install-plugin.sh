#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# 95-kexecd.install against a stub kexecctl that records its arguments:
# only with StageOnInstall=yes; `add` stages the default entry, `remove`
# unstages only the removed version; a failing kexecctl never fails the
# kernel installation. (The plugin against the real daemon: test_reboot.py.)
# Usage: test-install-plugin.sh PLUGIN
set -eu
plugin="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat > "$tmp/kexecctl" <<STUB
#!/bin/sh
printf '%s\n' "\$@" > "$tmp/args"
exit \${STUB_EXIT:-0}
STUB
chmod +x "$tmp/kexecctl"
printf '[Manager]\nStageOnInstall=yes\n' > "$tmp/on.conf"
printf '[Manager]\n# StageOnInstall=yes\nStageOnInstall=no\n' > "$tmp/off.conf"

fail() { echo "FAIL: $*"; exit 1; }
run() {
    command=$1
    shift
    rm -f "$tmp/args"
    env KEXECCTL="$tmp/kexecctl" "$@" sh "$plugin" "$command" 6.1 /unused /unused/image.efi \
        > "$tmp/out" 2>&1 || fail "plugin exited $? for: $command $*"
}

run add KEXECD_CONF="$tmp/on.conf"
[ "$(cat "$tmp/args")" = "$(printf '%s\n' --no-ask-password stage)" ] ||
    fail "add: wrong arguments: $(cat "$tmp/args")"

run remove KEXECD_CONF="$tmp/on.conf"
[ "$(cat "$tmp/args")" = "$(printf '%s\n' --no-ask-password unstage --if-kernel 6.1)" ] ||
    fail "remove: wrong arguments: $(cat "$tmp/args")"

run add KEXECD_CONF="$tmp/off.conf"
[ ! -f "$tmp/args" ] || fail "staged although StageOnInstall=no"

run add KEXECD_CONF="$tmp/missing.conf"
[ ! -f "$tmp/args" ] || fail "staged without a configuration"

run add KEXECD_CONF="$tmp/on.conf" STUB_EXIT=3
grep -q 'failed, ignoring' "$tmp/out" || fail "a failed stage was not reported"

run remove KEXECD_CONF="$tmp/on.conf" STUB_EXIT=3
grep -q 'failed, ignoring' "$tmp/out" || fail "a failed unstage was not reported"

echo "95-kexecd.install: ok"
