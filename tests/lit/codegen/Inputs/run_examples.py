#!/usr/bin/env python3
"""Runs every examples/*.nn through the JIT, for this machine and for
Haswell, and compares each output with the reference interpreter's on the
same three samples; then compiles each to assembly for both targets.
Prints one line per example and exits 1 if anything failed.

  run_examples.py SOMA EXAMPLES_DIR
"""
import glob
import os
import re
import subprocess
import sys

TARGETS = [("host", []), ("haswell", ["--mcpu=haswell"])]


def inputs_of(text):
    """--input arguments: three samples per input, values in [-1.25, 1.25]."""
    text = re.sub(r"(#|//).*", "", text)
    args = []
    for name, dims in re.findall(r"\binput\s+(\w+)\s*:\s*f32\s*\[([^\]]*)\]", text):
        size = 1
        for d in dims.split(","):
            size *= int(d)
        samples = [",".join(str(((i * 7 + s * 3) % 11 - 5) / 4) for i in range(size)) for s in range(3)]
        args.append("--input=%s=%s" % (name, ";".join(samples)))
    return args


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def outputs(stdout):
    """{'name[n]': [floats]} from soma run's output."""
    values = {}
    for line in stdout.splitlines():
        m = re.match(r"^(\S+\[\d+\]):(.*)$", line)
        if m:
            values[m.group(1)] = [float(v) for v in m.group(2).split()]
    return values


def close(a, b):
    if a != a or b != b:  # NaN
        return a != a and b != b
    return abs(a - b) <= 1e-5 * abs(b) + 1e-6


def check(soma, path):
    problems = []
    text = open(path).read()
    network = re.search(r"\bnetwork\s+(\w+)", re.sub(r"(#|//).*", "", text)).group(1)
    args = inputs_of(text)
    code, out, err = run([soma, "run", path, "--engine=interp", "--digits=9"] + args)
    if code != 0:
        return ["interpreter failed (%d): %s" % (code, err.strip())]
    want = outputs(out)
    if not want:
        return ["no outputs from the interpreter"]
    for label, flags in TARGETS:
        code, out, err = run([soma, "run", path, "--digits=9"] + flags + args)
        got = outputs(out)
        if code != 0 or set(got) != set(want):
            problems.append("run %s failed (%d): %s" % (label, code, err.strip()))
            continue
        for key in want:
            if len(got[key]) != len(want[key]) or not all(map(close, got[key], want[key])):
                problems.append("run %s: %s = %s, interpreter %s" % (label, key, got[key], want[key]))
        code, out, err = run([soma, "compile", path, "--emit=asm"] + flags)
        if code != 0 or ".text" not in out or ("soma.%s." % network) not in out:
            problems.append("asm %s failed (%d): %s" % (label, code, err.strip()))
        elif label == "haswell" and "zmm" in out:
            problems.append("asm haswell uses zmm registers")
    return problems


def main():
    soma, examples = sys.argv[1], sys.argv[2]
    paths = sorted(glob.glob(os.path.join(examples, "*.nn")))
    failed = 0
    for path in paths:
        name = os.path.basename(path)[:-3]
        problems = check(soma, path)
        print("example %s: %s" % (name, "ok" if not problems else "FAILED"))
        for p in problems:
            print("  " + p)
        failed += bool(problems)
    print("checked %d examples, %s" % (len(paths), "all ok" if not failed else "%d failed" % failed))
    sys.exit(1 if failed or not paths else 0)


if __name__ == "__main__":
    main()
