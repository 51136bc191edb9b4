#!/usr/bin/env python3
"""Runs every examples/*.nn with `soma run --engine=E` for each engine on the
same three samples and fails, showing the outputs, when any engine's text
differs from the interpreter's other than in numbers within
|got - interp| <= 1e-5 |interp| + 1e-6 (the API tests' bound; printing to
5 digits and diffing fails on values that round either side of a digit).

Usage: engines_agree.py SOMA EXAMPLES_DIR
"""
import os
import re
import subprocess
import sys

ENGINES = ["interp", "jit", "vec", "auto"]


def inputs_of(path):
    """--input arguments: three samples per input, values in [-2, 2]."""
    args = []
    text = open(path).read()
    for n, (name, dims) in enumerate(re.findall(r"^\s*input\s+(\w+)\s*:\s*f32\[([^\]]*)\]", text,
                                               re.M)):
        size = 1
        for d in dims.split(","):
            size *= int(d)
        rows = []
        for s in range(3):
            rows.append(",".join("%g" % (((7 * i + 3 * s + 5 * n) % 17) / 4.0 - 2.0)
                                 for i in range(size)))
        args += ["--input", "%s=%s" % (name, ";".join(rows))]
    return args


NUMBER = re.compile(r"(?<![\w\[])[-+]?(?:\d+\.?\d*(?:e[-+]?\d+)?|inf|nan)(?![\w\]])")


def agree(got, want):
    """Same text around the numbers, and every number within the bound."""
    if NUMBER.sub("#", got) != NUMBER.sub("#", want):
        return False
    for g, w in zip(NUMBER.findall(got), NUMBER.findall(want)):
        g, w = float(g), float(w)
        if g != w and not abs(g - w) <= 1e-5 * abs(w) + 1e-6:
            return False
    return True


def main():
    soma, examples = sys.argv[1], sys.argv[2]
    names = sorted(f for f in os.listdir(examples) if f.endswith(".nn"))
    bad = 0
    for name in names:
        path = os.path.join(examples, name)
        args = inputs_of(path)
        if not args:
            print("%s: no inputs found" % name)
            bad += 1
            continue
        out = {}
        for engine in ENGINES:
            r = subprocess.run([soma, "run", path, "--engine=" + engine, "--digits=9"] + args,
                               capture_output=True, text=True)
            if r.returncode != 0:
                print("%s --engine=%s failed:\n%s" % (name, engine, r.stderr))
                bad += 1
            out[engine] = r.stdout
        for engine in ENGINES[1:]:
            if not agree(out[engine], out["interp"]):
                print("%s: --engine=%s differs from interp:\n%s--- interp:\n%s" %
                      (name, engine, out[engine], out["interp"]))
                bad += 1
    if bad:
        return 1
    print("%d examples: %s agree within 1e-5" % (len(names), ", ".join(ENGINES)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
