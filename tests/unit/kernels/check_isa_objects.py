#!/usr/bin/python3
"""Checks that the per-instruction-set kernel objects share no inline code.

Each of runtime/kernels/Kernels{Sse2,Avx2,Avx512}.cpp is compiled with its
own -m flags. An inline function that two of them (or any other soma file)
both emit is a weak symbol, and the linker keeps one copy: if it kept the
AVX-512 one, the SSE2 kernels would run AVX-512 instructions on a CPU
without them. In optimised builds nearly everything is inlined; at -O0
xsimd's helpers are not, which is why each object compiles xsimd into its
own namespace (soma_xsimd_sse2, ...; runtime/kernels/VecMath.h). So: every
weak function an object defines must be in its own soma_xsimd_ namespace,
and no weak function may be defined by two of them.

usage: check_isa_objects.py NM OBJECT...   (objects may also come as one
';'-separated argument)
"""
import subprocess
import sys


def weak_functions(nm, obj):
    out = subprocess.run([nm, "--defined-only", "-C", obj], check=True, capture_output=True,
                         text=True).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split(" ", 2)
        # W: weak, u: unique global (both merged across objects by the
        # linker); V and v are weak data (DW.ref.__gxx_personality_v0).
        if len(parts) == 3 and parts[1] in ("W", "u"):
            names.add(parts[2])
    return names


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    nm = sys.argv[1]
    objects = [o for arg in sys.argv[2:] for o in arg.split(";") if o]
    if len(objects) != 3:
        print(f"expected the 3 kernel objects, got {objects}")
        return 1
    seen = {}
    problems = []
    for obj in objects:
        isa = next((i for i in ("Sse2", "Avx512", "Avx2") if f"Kernels{i}." in obj), None)
        if isa is None:
            problems.append(f"{obj}: not one of the kernel objects")
            continue
        own = f"soma_xsimd_{isa.lower()}::"
        for name in sorted(weak_functions(nm, obj)):
            if not name.startswith(own) and f" {own}" not in name:
                problems.append(f"{obj}: inline function outside {own}: {name}")
            if name in seen:
                problems.append(f"{name}: defined by both {seen[name]} and {obj}")
            seen[name] = obj
    for p in problems:
        print(p)
    print(f"{len(objects)} kernel objects, {len(seen)} weak functions, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
