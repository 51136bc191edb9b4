#!/usr/bin/env python3
"""Fails when an executable reaches LLVM: a libLLVM in its dynamic
dependencies (ldd) or an llvm:: symbol linked into it (nm -C).

Usage: check_no_llvm.py NM EXECUTABLE
"""
import subprocess
import sys


def main():
    nm, exe = sys.argv[1], sys.argv[2]
    ldd = subprocess.run(["ldd", exe], capture_output=True, text=True, check=True).stdout
    libs = [l.strip() for l in ldd.splitlines() if "llvm" in l.lower()]
    symbols = subprocess.run([nm, "-C", exe], capture_output=True, text=True, check=True).stdout
    llvm = [l for l in symbols.splitlines() if "llvm::" in l]
    if libs or llvm:
        print(f"{exe} reaches LLVM:")
        for l in libs + llvm[:10]:
            print("  " + l)
        return 1
    count = len(symbols.splitlines())
    if count < 100:  # a stripped or empty binary would pass for the wrong reason
        print(f"{exe}: only {count} symbols; cannot check")
        return 1
    print(f"{exe}: no LLVM in {len(ldd.splitlines())} shared libraries and {count} symbols")
    return 0


if __name__ == "__main__":
    sys.exit(main())
