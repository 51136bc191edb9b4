#!/usr/bin/env python3
"""The performance regression check of the generated dense kernel, free of
timing noise: for each case in this directory and each modelled CPU, the
JIT's code for that CPU (`soma compile --emit=asm --mcpu=CPU`) is cut into
its innermost loops, and LLVM's own model of that CPU (llvm-mca) predicts
the cycles of an iteration of each loop that does FMAs. A loop's score is
its FMA throughput as a fraction of the same model's FMA-peak loop (16
independent register FMAs of the same vector width): the ratio to the
machine's own peak loop, computed in one process with no clock involved,
so it gives the same answer on every host and every run.

baseline.txt holds, per case, CPU and loop (in the order the loops appear),
the loop's FMAs, instructions and score. The check fails when a loop's
score falls more than 10% below its baseline, when its instruction count
grows more than 10%, or when the kernels' loop structure changes (then
read the new scores and, if they are right, record them with --update).
docs/testing.md#the-kernel-performance-check explains the numbers.

Usage: kernel_model.py SOMA LLVM_MCA [--update]
"""
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
BASELINE = os.path.join(HERE, "baseline.txt")
# A one-pipe and a two-pipe AVX-512 core, and an AVX2 core
# (soma --print-machine=CPU shows what the cost model plans with).
CPUS = ["znver4", "sapphirerapids", "haswell"]
ITERATIONS = 400
TOLERANCE = 0.10

LABEL = re.compile(r"^(\.LBB\w+):")
JUMP = re.compile(r"^\s+(j[a-z]+)\s+(\.LBB\w+)\s*$")
FMA = re.compile(r"^\s+vfn?m(add|sub)\w*\s+.*%([xyz])mm")


def innermost_loops(asm):
    """The loops whose body is one basic block: a label, then instructions
    with no other label, then a conditional jump back to the label. Each as
    its instruction lines (the jump included)."""
    loops, label, body = [], None, []
    for line in asm.splitlines():
        m = LABEL.match(line)
        if m:
            label, body = m.group(1), []
            continue
        if label is None:
            continue
        text = line.split("#", 1)[0].rstrip()
        if not text.strip() or text.lstrip().startswith("."):
            continue  # a directive (.p2align) or a blank line
        body.append(text)
        j = JUMP.match(text)
        if j:
            if j.group(2) == label and j.group(1) != "jmp":
                loops.append(body)
            label = None  # the block ends at its first jump
    return loops


def mca_cycles(lines, cpu):
    """llvm-mca's predicted cycles per iteration of `lines` on `cpu`."""
    with tempfile.NamedTemporaryFile("w", suffix=".s", delete=False) as f:
        f.write(".Lloop:\n" + "\n".join(re.sub(r"\.LBB\w+", ".Lloop", l) for l in lines) + "\n")
        path = f.name
    try:
        out = subprocess.run([LLVM_MCA, "-mcpu=" + cpu, "-iterations=%d" % ITERATIONS, path],
                             capture_output=True, text=True)
    finally:
        os.unlink(path)
    if out.returncode != 0:
        sys.exit("llvm-mca failed on %s:\n%s" % (cpu, out.stderr))
    m = re.search(r"^Total Cycles:\s+(\d+)", out.stdout, re.M)
    if not m:
        sys.exit("llvm-mca printed no 'Total Cycles' for %s:\n%s" % (cpu, out.stdout[:2000]))
    return int(m.group(1)) / ITERATIONS


def peak_fmas_per_cycle(cpu, reg):
    """The model's FMA-peak loop: 16 independent register FMAs."""
    body = ["\tvfmadd231ps\t%%%smm30, %%%smm31, %%%smm%d" % (reg, reg, reg, i) for i in range(16)]
    body += ["\tdecq\t%rax", "\tjne\t.Lpeak"]
    return 16 / mca_cycles(body, cpu)


def measure(case, cpu):
    """[(fmas, instructions, score)] of the case's FMA loops for `cpu`."""
    with tempfile.TemporaryDirectory() as tmp:
        asm = os.path.join(tmp, "k.s")
        out = subprocess.run([SOMA, "compile", os.path.join(HERE, case), "--emit=asm",
                              "--mcpu=" + cpu, "-o", asm], capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit("soma compile %s --mcpu=%s failed:\n%s" % (case, cpu, out.stderr))
        text = open(asm).read()
    rows = []
    for body in innermost_loops(text):
        fmas = [FMA.match(l) for l in body]
        fmas = [m for m in fmas if m]
        if not fmas:
            continue
        reg = fmas[0].group(2)
        score = len(fmas) / mca_cycles(body, cpu) / peak_fmas_per_cycle(cpu, reg)
        rows.append((len(fmas), len(body), score))
    if not rows:
        sys.exit("%s --mcpu=%s: no loop with FMAs found in the assembly" % (case, cpu))
    return rows


def read_baseline():
    base = {}
    for line in open(BASELINE):
        if line.startswith("#") or not line.strip():
            continue
        case, cpu, loop, fmas, instrs, score = line.split()
        base.setdefault((case, cpu), []).append((int(fmas), int(instrs), float(score)))
    return base


def main():
    global SOMA, LLVM_MCA
    if len(sys.argv) not in (3, 4) or (len(sys.argv) == 4 and sys.argv[3] != "--update"):
        sys.exit(__doc__)
    SOMA, LLVM_MCA = sys.argv[1], sys.argv[2]
    update = len(sys.argv) == 4
    cases = sorted(f for f in os.listdir(HERE) if f.endswith(".nn"))
    got = {(c, cpu): measure(c, cpu) for c in cases for cpu in CPUS}
    if update:
        with open(BASELINE, "w") as f:
            f.write("# kernel_model.py --update: case cpu loop fmas instructions score\n")
            for (case, cpu), rows in sorted(got.items()):
                for i, (fmas, instrs, score) in enumerate(rows):
                    f.write("%s %s %d %d %d %.3f\n" % (case, cpu, i, fmas, instrs, score))
        print("wrote", BASELINE)
        return
    base = read_baseline()
    failures = []
    print("%-20s %-15s %4s %5s %6s %6s %6s" % ("case", "cpu", "loop", "fmas", "instrs", "score",
                                              "base"))
    for key, rows in sorted(got.items()):
        want = base.get(key)
        if want is None:
            failures.append("%s %s: not in baseline.txt" % key)
            continue
        if [r[0] for r in rows] != [w[0] for w in want]:
            failures.append("%s %s: the loops' FMA counts changed from %s to %s" %
                            (key + ([w[0] for w in want], [r[0] for r in rows])))
            for i, (fmas, instrs, score) in enumerate(rows):
                print("%-20s %-15s %4d %5d %6d %6.3f %6s" % (key + (i, fmas, instrs, score, "-")))
            continue
        for i, ((fmas, instrs, score), (_, binstrs, bscore)) in enumerate(zip(rows, want)):
            print("%-20s %-15s %4d %5d %6d %6.3f %6.3f" % (key + (i, fmas, instrs, score, bscore)))
            if score < bscore * (1 - TOLERANCE):
                failures.append("%s %s loop %d: %.3f of the FMA peak, baseline %.3f" %
                                (key + (i, score, bscore)))
            if instrs > binstrs * (1 + TOLERANCE):
                failures.append("%s %s loop %d: %d instructions, baseline %d" %
                                (key + (i, instrs, binstrs)))
    if failures:
        print("\nFAILED (if the change is intended, check the scores and rerun with --update):")
        print("\n".join("  " + f for f in failures))
        sys.exit(1)
    print("\nall %d kernels within %d%% of their baseline" % (len(got), TOLERANCE * 100))


if __name__ == "__main__":
    main()
