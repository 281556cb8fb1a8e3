#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The Debian package as built by the README's command (through tests/e2e/build-deb.sh, cached per
# source tree): it ships what `meson install` installs, its maintainer scripts only reload
# systemd (never enable, start, restart or stop a unit), and lintian reports nothing but the tags
# debian/kexecd.lintian-overrides explains.
#
# usage: check-deb.sh       exit 77 with the reason when the packaging tools are missing
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${KEXECD_CACHE:-/var/cache/kexecd-test}
mkdir -p "$cache" 2>/dev/null && [ -w "$cache" ] || cache=${TMPDIR:-/tmp}/kexecd-test-$(id -u)
command -v lintian >/dev/null || { echo "SKIP: lintian not found (install lintian)"; exit 77; }

rc=0
deb=$("$here/../e2e/build-deb.sh" "$cache") || rc=$?
[ $rc = 77 ] && { echo "SKIP: the package cannot be built here (reason above)"; exit 77; }
[ $rc = 0 ] || { echo "FAIL: build-deb.sh rc=$rc"; exit 1; }
echo "package: $deb"

failed=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; failed=1; }

# What an admin needs from the package, at the paths the tools look in.
contents=$(dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|')
for f in /usr/sbin/kexecd /usr/bin/kexecctl \
	/usr/lib/systemd/system/kexecd.service \
	/usr/lib/systemd/system/kexecd-stage-on-boot.service \
	/usr/lib/systemd/system/kexecd-boot-detect.service \
	/usr/lib/systemd/system/kexecd-bless-boot.service \
	/usr/lib/systemd/system/systemd-bless-boot.service.d/kexecd.conf \
	/usr/libexec/kexecd-bless-boot /usr/share/man/man8/kexecd-bless-boot.8.gz \
	/usr/share/zsh/vendor-completions/_kexecctl /usr/share/fish/vendor_completions.d/kexecctl.fish \
	/usr/share/dbus-1/system.d/org.kexecd1.conf \
	/usr/share/dbus-1/system-services/org.kexecd1.service \
	/usr/share/dbus-1/interfaces/org.kexecd1.Manager.xml \
	/usr/share/polkit-1/actions/org.kexecd1.policy \
	/usr/lib/kernel/install.d/95-kexecd.install \
	/usr/lib/kexecd/parsers/kexecd-parsers.elf \
	/usr/share/bash-completion/completions/kexecctl \
	/usr/share/man/man8/kexecd.8.gz /usr/share/man/man1/kexecctl.1.gz \
	/usr/share/man/man5/org.kexecd1.5.gz /usr/share/man/man5/kexecd.conf.5.gz; do
	grep -qx "$f" <<<"$contents" && ok "ships $f" || bad "does not ship $f"
done

# Maintainer scripts: a daemon-reload at most. Starting, restarting or stopping kexecd would
# drop nothing (the kernel keeps the staged image) but is not the package's call to make.
x=$(mktemp -d)
trap 'rm -rf "$x"' EXIT
dpkg-deb -e "$deb" "$x/control"
for s in "$x"/control/{preinst,postinst,prerm,postrm}; do
	[ -e "$s" ] || continue
	if grep -Eq '(deb-systemd-invoke|invoke-rc\.d|systemctl)[^#]*\b(start|restart|stop|try-restart|reload-or-restart)\b' "$s"; then
		bad "$(basename "$s") starts, restarts or stops a unit: $(grep -E 'deb-systemd-invoke|invoke-rc.d|systemctl' "$s" | tr -s ' \n' ' ')"
	else
		ok "$(basename "$s") neither starts nor stops kexecd"
	fi
done
grep -qs 'daemon-reload' "$x"/control/postinst && ok "postinst reloads systemd" || bad "postinst does not daemon-reload"
# Staging at boot is the admin's choice: the package enables no unit. (debhelper's --no-enable
# snippet re-enables a unit only when the admin had enabled it: `was-enabled` guards it.)
if awk '/was-enabled/ { guard = NR }
	/deb-systemd-helper enable|systemctl.*enable/ && !(guard && NR - guard <= 3) { found = 1 }
	END { exit !found }' "$x"/control/postinst 2>/dev/null; then
	bad "postinst enables a unit"
else
	ok "postinst enables no unit"
fi

# lintian on the binary package and the build record; overrides carry their reasons.
changes=$(ls "$(dirname "$deb")"/*.changes | head -n1)
if out=$(lintian --info --display-level '>=pedantic' --fail-on error,warning "$changes" 2>&1); then
	ok "lintian: no error or warning"
else
	bad "lintian: errors or warnings"
fi
printf '%s\n' "$out" | grep -E '^[EWIPX]: ' || true
exit $failed
