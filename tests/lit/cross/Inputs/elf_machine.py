#!/usr/bin/env python3
"""Prints an ELF file's class, byte order, type and machine number:
`ELF64 little-endian relocatable machine 183` (183: aarch64, 62: x86-64)."""
import struct
import sys

data = open(sys.argv[1], "rb").read(20)
if data[:4] != b"\x7fELF":
    sys.exit("not an ELF file: %s" % sys.argv[1])
kind = {1: "relocatable", 2: "executable", 3: "shared"}.get(
    struct.unpack_from("<H", data, 16)[0], "other")
print("ELF%d %s %s machine %d" % (64 if data[4] == 2 else 32,
                                  "little-endian" if data[5] == 1 else "big-endian", kind,
                                  struct.unpack_from("<H", data, 18)[0]))
