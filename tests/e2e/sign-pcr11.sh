#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Signed PCR 11 policies for the measured-boot proof (run-assess.sh, issue 27), made by the real
# tools: systemd 257's systemd-measure, which predicts exactly what the UKIs' systemd-stub 257
# measures, run from the trixie build root (make-build-root.sh) through that root's own dynamic
# loader, so no chroot and no host library is involved. bookworm's systemd-measure (252) knows
# neither .sbat nor the newer stub's section set, so its values would not match.
#
#   sign-pcr11.sh tools ROOT DIR      write DIR/systemd-measure, the wrapper (ukify --tools=DIR)
#   sign-pcr11.sh keys DIR            an RSA key pair: DIR/pcr-private.pem, DIR/pcr-public.pem
#   sign-pcr11.sh sign DIR OUT UKI...
#                                     OUT: one tpm2-pcr-signature.json with, for every UKI, the
#                                     signed PCR 11 value of the phase a Debian root (initrd
#                                     without systemd) unlocks its crypttab volumes in: right
#                                     after the stub, before systemd-pcrphase-sysinit.service.
set -euo pipefail
py=/usr/bin/python3

case "${1:-}" in
tools)
	root=${2:?ROOT} dir=${3:?DIR}
	tree=$root/root
	loader=$tree/usr/lib64/ld-linux-x86-64.so.2
	[ -x "$loader" ] && [ -x "$tree/usr/lib/systemd/systemd-measure" ] ||
		{ echo "sign-pcr11: no systemd-measure in $tree" >&2; exit 77; }
	mkdir -p "$dir"
	cat >"$dir/systemd-measure" <<EOF
#!/bin/sh
exec "$loader" --library-path "$tree/usr/lib/x86_64-linux-gnu:$tree/usr/lib/x86_64-linux-gnu/systemd" \\
	"$tree/usr/lib/systemd/systemd-measure" "\$@"
EOF
	chmod +x "$dir/systemd-measure"
	"$dir/systemd-measure" --version | head -n1 >&2
	;;
keys)
	dir=${2:?DIR}
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/pcr-private.pem" 2>/dev/null
	openssl pkey -in "$dir/pcr-private.pem" -pubout -out "$dir/pcr-public.pem"
	;;
sign)
	dir=${2:?DIR} out=${3:?OUT}
	shift 3
	"$py" - "$dir" "$out" "$@" <<'PY'
import json, os, subprocess, sys, tempfile
import pefile
tools, out, ukis = sys.argv[1], sys.argv[2], sys.argv[3:]
# The sections systemd-stub measures into PCR 11, each as systemd-measure's option.
measured = ['linux', 'osrel', 'cmdline', 'initrd', 'ucode', 'splash', 'dtb', 'uname', 'sbat',
            'pcrpkey', 'profile', 'hwids', 'dtbauto']
entries = []
for uki in ukis:
    pe = pefile.PE(uki, fast_load=True)
    with tempfile.TemporaryDirectory() as tmp:
        args = [os.path.join(tools, 'systemd-measure'), 'sign', '--bank=sha256',
                '--private-key=' + os.path.join(tools, 'pcr-private.pem'),
                '--public-key=' + os.path.join(tools, 'pcr-public.pem'),
                # The empty phase: the stub's measurements and nothing after them.
                '--phase=', '--json=short']
        for s in pe.sections:
            name = s.Name.rstrip(b'\0').decode().lstrip('.')
            if name not in measured:
                continue
            path = os.path.join(tmp, name)
            # The stub measures the section's virtual size, not its padded raw size.
            open(path, 'wb').write(s.get_data()[:s.Misc_VirtualSize])
            args.append(f'--{name}={path}')
        signed = json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)
    entries += signed['sha256']
    print(f"sign-pcr11: {os.path.basename(uki)}: PCR 11 {signed['sha256'][0]['pol'][:16]}… signed",
          file=sys.stderr)
json.dump({'sha256': entries}, open(out, 'w'))
PY
	;;
*)
	echo "usage: sign-pcr11.sh tools ROOT DIR | keys DIR | sign DIR OUT UKI..." >&2
	exit 2
	;;
esac
