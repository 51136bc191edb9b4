#!/usr/bin/env python3
"""Writes hostile inputs for the robustness tests: the tools must answer each
with diagnostics (or a clean error), quickly, and never crash or hang.

  mkhostile.py KIND OUT

KIND is one of:
  deep-array    a weight array nested 10000 levels deep
  deep-call     a call nested 10000 levels deep through named arguments
  garbage-line  a network whose body is one 1 MiB line of printable junk
  random-bytes  1 MiB of random non-NUL bytes inside a network
  nul-bytes     4096 NUL bytes
  empty         an empty file
  long-names    an input and an operand with 300000-character names that
                differ in their last character
  unknown-operands
                100000 layers `dense dI(qI)`, each reading an unknown name
                one edit away from a layer's
  unused-inputs 100000 inputs no output reads
  wide-concat   a concat of 10000 operands: inputs x, y, z (widths 2, 3
                and 1) in turn
All random content is seeded, so every run writes the same file.
"""
import random
import sys

DEPTH = 10000
MIB = 1 << 20


def network(body):
    return "network n {\n  input x: f32[2]\n" + body + "\n  output a\n}\n"


def deep_array():
    return network("  neuron a(x) { weights = " + "[" * DEPTH + "1" + "]" * DEPTH + " }")


def deep_call():
    return network("  neuron a(x) { weights = " + "he(seed = " * DEPTH + "1" + ")" * DEPTH + " }")


def garbage_line():
    rng = random.Random(1)
    # No '}' (it would close the network) and no quote or '#' (they would
    # swallow the rest of the line as one token).
    alphabet = "".join(chr(c) for c in range(33, 127) if chr(c) not in "}\"#")
    return "network n {\n" + "".join(rng.choice(alphabet) for _ in range(MIB)) + "\n}\n"


def random_bytes():
    rng = random.Random(2)
    junk = bytes(rng.randrange(1, 256) for _ in range(MIB))
    return b"network n {\n" + junk + b"\n}\n"


def long_names():
    defined = "a" * 300000
    used = "a" * 299999 + "b"
    return ("network n {\n  input " + defined + ": f32[2]\n  neuron a(" + used +
            ") { weights = [1, 2] }\n  output a\n}\n")


def unknown_operands():
    return ("network n {\n  input x: f32[1]\n" +
            "".join(f"  dense d{i}(q{i}) {{ units = 1; weights = zeros() }}\n"
                    for i in range(100000)) + "  output x\n}\n")


def unused_inputs():
    return ("network n {\n  input x: f32[1]\n" +
            "".join(f"  input u{i}: f32[1]\n" for i in range(100000)) + "  output x\n}\n")


def wide_concat():
    names = ["x", "y", "z"]
    operands = ", ".join(names[k % 3] for k in range(10000))
    return ("network n {\n  input x: f32[2]\n  input y: f32[3]\n  input z: f32[1]\n" +
            "  concat c(" + operands + ")\n  output c\n}\n")


KINDS = {
    "deep-array": deep_array,
    "deep-call": deep_call,
    "garbage-line": garbage_line,
    "random-bytes": random_bytes,
    "nul-bytes": lambda: b"\0" * 4096,
    "empty": lambda: b"",
    "long-names": long_names,
    "unknown-operands": unknown_operands,
    "unused-inputs": unused_inputs,
    "wide-concat": wide_concat,
}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in KINDS:
        sys.exit(__doc__)
    content = KINDS[sys.argv[1]]()
    if isinstance(content, str):
        content = content.encode("ascii")
    with open(sys.argv[2], "wb") as f:
        f.write(content)


if __name__ == "__main__":
    main()
