#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# 95-kexecd.install against a stub kexecctl that records its arguments:
# stages only on `add` of a UKI when kexecd.conf opts in, prefers the copy
# on the ESP, passes global then per-UKI addons in name order, and never
# fails the kernel installation.
# Usage: test-install-plugin.sh PLUGIN
set -eu
plugin="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$tmp/esp/EFI/Linux/debian-6.1.efi.extra.d" "$tmp/esp/loader/addons"
: > "$tmp/staging-area.efi"
: > "$tmp/esp/EFI/Linux/debian-6.1.efi"
: > "$tmp/esp/loader/addons/b.addon.efi"
: > "$tmp/esp/loader/addons/a.addon.efi"
: > "$tmp/esp/loader/addons/ignored.txt"
: > "$tmp/esp/EFI/Linux/debian-6.1.efi.extra.d/z.addon.efi"
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
    rm -f "$tmp/args"
    env KEXECCTL="$tmp/kexecctl" KERNEL_INSTALL_BOOT_ROOT="$tmp/esp" \
        KERNEL_INSTALL_ENTRY_TOKEN=debian "$@" sh "$plugin" add 6.1 /unused "$tmp/staging-area.efi" \
        > "$tmp/out" 2>&1 || fail "plugin exited $? for: $*"
}

run KEXECD_CONF="$tmp/on.conf" KERNEL_INSTALL_IMAGE_TYPE=uki
expected=$(printf '%s\n' --no-ask-password stage \
    --addon "$tmp/esp/loader/addons/a.addon.efi" \
    --addon "$tmp/esp/loader/addons/b.addon.efi" \
    --addon "$tmp/esp/EFI/Linux/debian-6.1.efi.extra.d/z.addon.efi" \
    "$tmp/esp/EFI/Linux/debian-6.1.efi")
[ "$(cat "$tmp/args")" = "$expected" ] || fail "wrong arguments: $(cat "$tmp/args")"

run KEXECD_CONF="$tmp/on.conf" KERNEL_INSTALL_LAYOUT=uki
[ -f "$tmp/args" ] || fail "the uki layout alone should stage"

run KEXECD_CONF="$tmp/off.conf" KERNEL_INSTALL_IMAGE_TYPE=uki
[ ! -f "$tmp/args" ] || fail "staged although StageOnInstall=no"

run KEXECD_CONF="$tmp/missing.conf" KERNEL_INSTALL_IMAGE_TYPE=uki
[ ! -f "$tmp/args" ] || fail "staged without a configuration"

run KEXECD_CONF="$tmp/on.conf" KERNEL_INSTALL_IMAGE_TYPE=linux KERNEL_INSTALL_LAYOUT=bls
[ ! -f "$tmp/args" ] || fail "staged a kernel that is not a UKI"

run KEXECD_CONF="$tmp/on.conf" KERNEL_INSTALL_IMAGE_TYPE=uki STUB_EXIT=3
grep -q 'failed, ignoring' "$tmp/out" || fail "a failed stage was not reported"

rm -f "$tmp/args"
KEXECD_CONF="$tmp/on.conf" KEXECCTL="$tmp/kexecctl" KERNEL_INSTALL_IMAGE_TYPE=uki \
    sh "$plugin" remove 6.1 /unused || fail "remove failed"
[ ! -f "$tmp/args" ] || fail "remove must not stage"

echo "95-kexecd.install: ok"
