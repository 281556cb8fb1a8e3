#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The Debian package as built by the README's command (through tests/e2e/build-deb.sh, cached per
# source tree): it ships what `meson install` installs, its maintainer scripts only reload
# systemd (never enable, start, restart or stop a unit), and lintian reports nothing but the tags
# debian/kexecd.lintian-overrides explains. With RELEASE trixie, the same checks on the package
# built in the Debian 13 build root, with trixie's lintian, and its Depends name trixie's
# libraries: each release's package depends on the sdbus-c++ runtime it was built against.
#
# usage: check-deb.sh [RELEASE]     RELEASE: host (default) | trixie
# exit 77 with the reason when the packaging tools (or the trixie root) are missing
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${KEXECD_CACHE:-/var/cache/kexecd-test}
mkdir -p "$cache" 2>/dev/null && [ -w "$cache" ] || cache=${TMPDIR:-/tmp}/kexecd-test-$(id -u)
release=${1:-host}
# in_release CMD…: CMD on the release the package was built for (the trixie root or this host).
if [ "$release" = trixie ]; then
	[ "$(id -u)" = 0 ] || { echo "SKIP: the trixie build root needs root"; exit 77; }
	rc=0
	root=$("$here/../trixie/make-build-root.sh" "$cache") || rc=$?
	[ $rc = 77 ] && { echo "SKIP: no trixie build root (reason above)"; exit 77; }
	[ $rc = 0 ] || { echo "FAIL: make-build-root.sh rc=$rc"; exit 1; }
	in_release() { "$here/../trixie/run-in-root.sh" "$root" "$debdir" "$debdir" "$@"; }
	at() { echo "/work/$(basename "$1")"; }
else
	command -v lintian >/dev/null || { echo "SKIP: lintian not found (install lintian)"; exit 77; }
	in_release() { "$@"; }
	at() { echo "$1"; }
fi

rc=0
deb=$("$here/../e2e/build-deb.sh" "$cache" "$release") || rc=$?
[ $rc = 77 ] && { echo "SKIP: the package cannot be built here (reason above)"; exit 77; }
[ $rc = 0 ] || { echo "FAIL: build-deb.sh rc=$rc"; exit 1; }
echo "package: $deb"
debdir=$(dirname "$deb")

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

# Linked against this release's sdbus-c++ (libsdbus-c++1 on bookworm, libsdbus-c++2 on trixie),
# and ${shlibs:Depends} says so.
sdbus_pkg=$(in_release dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' 'libsdbus-c++[0-9]*' |
	awk '$1 == "ii" { print $2; exit }')
depends=$(dpkg-deb -f "$deb" Depends)
if [ -n "$sdbus_pkg" ] && tr ',' '\n' <<<"$depends" | awk '{ print $1 }' | grep -Fxq "$sdbus_pkg"; then
	ok "depends on $sdbus_pkg, the sdbus-c++ it was built against"
else
	bad "Depends does not name ${sdbus_pkg:-a libsdbus-c++ package}: $depends"
fi
echo "Depends: $depends"

# lintian (the release's) on the binary package and the build record; overrides carry their reasons.
changes=$(ls "$debdir"/*.changes | head -n1)
if out=$(in_release lintian --info --display-level '>=pedantic' --fail-on error,warning "$(at "$changes")" 2>&1); then
	ok "lintian $(in_release lintian --version | awk '{ print $2 }'): no error or warning"
else
	bad "lintian: errors or warnings"
fi
printf '%s\n' "$out" | grep -E '^[EWIPX]: ' || true
exit $failed
