#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# org.kexecd1.conf on a real dbus-daemon: a private system-type bus with a
# deny-by-default policy (Debian's system.conf default context) that includes our file.
# Root may own org.kexecd1, another uid may not, and that uid may still
# call the Manager, Properties and Peer interfaces of the owner.
# Usage: check-bus-policy.sh org.kexecd1.conf
set -u
conf="$1"
for tool in dbus-daemon busctl setpriv /usr/bin/python3; do
    command -v "$tool" >/dev/null 2>&1 || { echo "$tool not installed, skipping"; exit 77; }
done
[ "$(id -u)" = 0 ] || { echo "needs root to check a second uid, skipping"; exit 77; }

tmp=$(mktemp -d)
chmod 755 "$tmp"
cat > "$tmp/bus.conf" <<EOF2
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$tmp/socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
  </policy>
  <include>$(readlink -f "$conf")</include>
</busconfig>
EOF2
dbus-daemon --config-file="$tmp/bus.conf" --nofork --nopidfile --print-pid=3 3>"$tmp/pid" &
sleep 0.5
daemon_pid=$(cat "$tmp/pid")
cleanup() { kill "$daemon_pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
chmod 666 "$tmp/socket"
addr="unix:path=$tmp/socket"
fail() { echo "FAIL: $*"; exit 1; }

# A stand-in owner serving Manager.Describe and the standard interfaces.
cat > "$tmp/owner.py" <<'EOF2'
import sys, dbus, dbus.service, dbus.mainloop.glib
from gi.repository import GLib
dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
bus = dbus.bus.BusConnection(sys.argv[1])
class M(dbus.service.Object):
    @dbus.service.method('org.kexecd1.Manager', out_signature='s')
    def Describe(self):
        return '{}'
name = dbus.service.BusName('org.kexecd1', bus)
M(bus, '/org/kexecd1')
print('ready', flush=True)
GLib.MainLoop().run()
EOF2

# Another uid must not own the name.
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 "$tmp/owner.py" "$addr" 2>&1 &
      p=$!; sleep 1.5; kill $p 2>/dev/null; wait $p 2>/dev/null)
case "$out" in
    *ready*) fail "uid 65534 could own org.kexecd1" ;;
    *AccessDenied*) ;;
    *) echo "$out"; fail "unexpected result when uid 65534 owns the name" ;;
esac

/usr/bin/python3 "$tmp/owner.py" "$addr" > "$tmp/owner.out" 2>&1 &
owner=$!
sleep 1.5
grep -q ready "$tmp/owner.out" || { cat "$tmp/owner.out"; kill $owner; fail "root could not own org.kexecd1"; }

as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
as_nobody busctl --address="$addr" call org.kexecd1 /org/kexecd1 org.kexecd1.Manager Describe \
    >/dev/null || { kill $owner; fail "uid 65534 cannot call the Manager interface"; }
as_nobody busctl --address="$addr" call org.kexecd1 /org/kexecd1 org.freedesktop.DBus.Peer Ping \
    >/dev/null || { kill $owner; fail "uid 65534 cannot call Peer"; }
as_nobody busctl --address="$addr" call org.kexecd1 /org/kexecd1 org.freedesktop.DBus.Introspectable Introspect \
    >/dev/null || { kill $owner; fail "uid 65534 cannot introspect"; }
if as_nobody busctl --address="$addr" call org.kexecd1 /org/kexecd1 org.example.Other Frob >/dev/null 2>&1; then
    kill $owner; fail "uid 65534 may call an interface the policy does not name"
fi
kill $owner
echo "org.kexecd1.conf: ok"
