#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Build kexecd_ref.ko against KDIR (from prepare-kernel.sh) in OUTDIR, with module BTF.
# skel_internal.h (the light-skeleton loader, kernel and user mode in one header) comes from
# bookworm's libbpf-dev: the same file as the kernel's tools/lib/bpf/, without linux-source.
#
# usage: build-module.sh KDIR OUTDIR      prints the path of the .ko
set -euo pipefail
# The caller reads the path with $(…): it is the only line on stdout (fd 3 here); kbuild's output
# goes to stderr.
exec 3>&1 1>&2

kdir=${1:?usage: build-module.sh KDIR OUTDIR}
out=${2:?usage: build-module.sh KDIR OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
skel=/usr/include/bpf/skel_internal.h
[ -r "$skel" ] || { echo "build-module: $skel missing (libbpf-dev)" >&2; exit 77; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
# The ioctl's uapi header is the engine's (daemon/engine/load/), which talks to the module.
for f in kexecd_ref_core.c kexecd_ref_pesig.c kexecd_ref_pesig.h Kbuild ../../daemon/engine/load/kexecd_ref_uapi.h; do
	cmp -s "$here/$f" "$out/${f##*/}" || cp "$here/$f" "$out/${f##*/}"
done
cmp -s "$skel" "$out/skel_internal.h" || cp "$skel" "$out/skel_internal.h"
make -s -C "$kdir" M="$out" modules >&2
readelf -S "$out/kexecd_ref.ko" | grep -q ' \.BTF ' || { echo "build-module: no .BTF in the module (pahole?)" >&2; exit 1; }
echo "$out/kexecd_ref.ko" >&3
