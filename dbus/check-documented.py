#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Fail if org.kexecd1(5) misses a member of the bus API (systemd's
update-dbus-docs.py check_documented, STYLE 15).

Usage: check-documented.py XML SCD ERRORS_CPP

Every method, signal and property of the XML must appear in the man page
as "*Name*"; every error name of the table in daemon/bus/errors.cpp must
appear in the man page and in the XML's header comment, so the three
stay one list."""

import re
import sys
import xml.etree.ElementTree as ET


def main():
    xml_path, scd_path, errors_path = sys.argv[1:4]
    tree = ET.parse(xml_path)
    with open(scd_path, encoding='utf-8') as f:
        scd = f.read()
    with open(xml_path, encoding='utf-8') as f:
        xml_text = f.read()
    with open(errors_path, encoding='utf-8') as f:
        errors = sorted(set(re.findall(r'"((?:org\.kexecd1|org\.freedesktop\.DBus)\.Error\.\w+)"', f.read())))

    missing = []
    for iface in tree.getroot().iter('interface'):
        name = iface.get('name')
        if name not in scd:
            missing.append(f'interface {name}')
        for kind in ('method', 'signal', 'property'):
            for member in iface.iter(kind):
                member_name = member.get('name')
                if f'*{member_name}*' not in scd:
                    missing.append(f'{kind} {name}.{member_name}')
    if not errors:
        missing.append(f'no error names found in {errors_path}')
    for error in errors:
        if f'*{error}*' not in scd:
            missing.append(f'error {error} (man page)')
        if error not in xml_text:
            missing.append(f'error {error} (XML header comment)')

    if missing:
        for m in missing:
            print(f'{scd_path}: undocumented: {m}')
        return 1
    print(f'{len(errors)} errors and every interface member are documented')
    return 0


if __name__ == '__main__':
    sys.exit(main())
