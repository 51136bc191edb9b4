#!/usr/bin/env python3
"""Bundles as an application uses them (docs/deploy.md):

  bundle_check.py --soma SOMA --source S --lib L --include I --work W

compiles tests/bundle/deep.nn with `soma compile --emit=bundle`, builds
deep_main.c against the bundle's static library and the runtime's (L), and
deep_main.c and deep_main.cpp against its shared library, with cc and c++;
checks that no link line, no `ldd` line and no `nm` symbol of any of them
names LLVM; runs each with 1, 2 and all threads on a batch of 7 random
samples and checks every output bit-identical to `soma run --engine=jit`'s
(the C++ program also runs the batch from four threads at once on its one
loaded bundle, and in its own oneTBB arena with caller_arena, each run
giving the same bits).
Then the same with --mcpu=haswell (no AVX-512 in its code, the JIT's bits
for that CPU), --mcpu=bdver1 (FMA4 and XOP, which this CPU lacks: refused at
load with SOMA_BUNDLE_ERROR_CPU, naming them), examples/cnn.nn, tests/bundle/convs.nn (convolutions,
pooling and flatten on the runtime's own steps) and tests/bundle/pools.nn
(pools with a value between them in blocks of channels) through the runtime's
generic functions, with --weights=external (the file found next to the shared
library, or named), a missing, truncated or foreign weights file (each a
clear error), a network a bundle cannot hold, and a missing C compiler.
Exits non-zero with a message on the first thing that is wrong.
"""
import argparse
import os
import shlex
import shutil
import subprocess
import sys

import numpy as np


def fail(message):
    print("FAIL: " + message, flush=True)
    sys.exit(1)


def run(cmd, expect_status=0, env=None):
    print("$ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    ok = p.returncode != 0 if expect_status == "nonzero" else p.returncode == expect_status
    if not ok:
        print(p.stdout)
        fail("%s exited %d, expected %s" % (cmd[0], p.returncode, expect_status))
    return p.stdout


def link(cmd):
    """A compile-and-link line: it may name nothing of LLVM."""
    if any("llvm" in word.lower() for word in cmd):
        fail("the link line names LLVM: %s" % " ".join(cmd))
    run(cmd)


def check_no_llvm(binary):
    deps = run(["ldd", binary])
    if "llvm" in deps.lower():
        fail("%s depends on LLVM:\n%s" % (binary, deps))
    symbols = run(["nm", "-C", binary]) + run(["nm", "-C", "-D", binary])
    bad = [line for line in symbols.splitlines() if "llvm" in line.lower()]
    if bad:
        fail("%s holds LLVM symbols: %s" % (binary, bad[:5]))


def compare(prefix, reference, what):
    for name in ("probs", "features"):
        got = open("%s.%s" % (prefix, name), "rb").read()
        want = reference[name].astype("<f4").tobytes()
        if got != want:
            g = np.frombuffer(got, dtype="<f4")
            fail("%s: output '%s' differs from the JIT's (%d of %d bytes; first values %s vs %s)"
                 % (what, name, len(got), len(want), g[:4], reference[name].ravel()[:4]))


def build_programs(args, out, tag):
    """deep_main.c static, and deep_main.c and deep_main.cpp shared."""
    cflags = ["-I", out, "-I", args.include, "-Wall", "-Wextra", "-Werror", "-pedantic"]
    src = os.path.join(args.source, "tests", "bundle")
    exes = {}
    exes["c-static"] = os.path.join(args.work, tag + "-c-static")
    link(["cc", "-std=c11"] + cflags + [os.path.join(src, "deep_main.c"),
          os.path.join(out, "libdeep_net.a"), os.path.join(args.lib, "libsoma_runtime.a"),
          os.path.join(args.lib, "libsoma_ir.a"), os.path.join(args.lib, "libsoma_support.a"),
          "-ltbb", "-lstdc++", "-lm", "-o", exes["c-static"]])
    shared = ["-L", out, "-ldeep_net", "-Wl,-rpath," + out]
    exes["c-shared"] = os.path.join(args.work, tag + "-c-shared")
    link(["cc", "-std=c11"] + cflags + [os.path.join(src, "deep_main.c")] + shared +
         ["-o", exes["c-shared"]])
    exes["cpp-shared"] = os.path.join(args.work, tag + "-cpp-shared")
    link(["c++", "-std=c++17"] + cflags + [os.path.join(src, "deep_main.cpp")] + shared +
         ["-ltbb", "-o", exes["cpp-shared"]])
    for exe in exes.values():
        check_no_llvm(exe)
    return exes


def main():
    parser = argparse.ArgumentParser()
    for name in ("--soma", "--source", "--lib", "--include", "--work"):
        parser.add_argument(name, required=True)
    args = parser.parse_args()
    if os.path.exists(args.work):
        shutil.rmtree(args.work)
    os.makedirs(args.work)
    net = os.path.join(args.source, "tests", "bundle", "deep.nn")

    rng = np.random.default_rng(20)
    batch = 7
    inputs = {"x": rng.standard_normal((batch, 37)).astype(np.float32),
              "z": rng.standard_normal((batch, 5)).astype(np.float32)}
    for name, a in inputs.items():
        np.save(os.path.join(args.work, name + ".npy"), a)
        a.astype("<f4").tofile(os.path.join(args.work, name + ".f32"))
    ref = {}
    cmd = [args.soma, "run", net, "--engine=jit", "-q"]
    for name in inputs:
        cmd += ["--input", "%s=%s" % (name, os.path.join(args.work, name + ".npy"))]
    for name in ("probs", "features"):
        ref[name] = os.path.join(args.work, "jit-%s.npy" % name)
        cmd += ["--output", "%s=%s" % (name, ref[name])]
    run(cmd)
    ref = {k: np.load(v) for k, v in ref.items()}
    xs = [os.path.join(args.work, n + ".f32") for n in ("x", "z")]

    out = os.path.join(args.work, "out")
    run([args.soma, "compile", net, "--emit=bundle", "-o", out])
    for f in ("deep_net.o", "deep_net.h", "libdeep_net.a", "libdeep_net.so"):
        if not os.path.exists(os.path.join(out, f)):
            fail("soma compile --emit=bundle wrote no %s (wrote %s)" % (f, os.listdir(out)))
    check_no_llvm(os.path.join(out, "libdeep_net.so"))
    exports = run(["nm", "-D", "--defined-only", os.path.join(out, "libdeep_net.so")])
    names = sorted(line.split()[-1] for line in exports.splitlines() if line.strip())
    if any(not n.startswith("soma_") for n in names) or "soma_deep_net_run" not in names:
        fail("libdeep_net.so must export the soma_ C functions alone, exports %s" % names)
    for what, exe in build_programs(args, out, "embedded").items():
        for threads in ("1", "2", "0"):
            prefix = os.path.join(args.work, "%s-%s" % (what, threads))
            printed = run([exe, str(batch), threads] + xs + [prefix])
            if printed != "x z -> probs features\n":
                fail("%s printed %r" % (what, printed))
            compare(prefix, ref, "%s, %s threads" % (what, threads))

    external(args, net, out, batch, xs, ref)
    other_cpu(args, net, batch, xs)
    foreign_cpu(args, net, batch, xs)
    cnn(args, os.path.join(args.source, "examples", "cnn.nn"), "cnn", (1, 8, 8), "img", "out")
    cnn(args, os.path.join(args.source, "tests", "bundle", "convs.nn"), "convs", (16, 5, 7),
        "x", "y")
    pools(args)
    refusals(args, net)
    print("PASS")


def external(args, net, embedded, batch, xs, ref):
    out = os.path.join(args.work, "ext")
    run([args.soma, "compile", net, "--emit=bundle", "--weights=external", "-o", out])
    weights = os.path.join(out, "deep_net.weights")
    if not os.path.exists(weights):
        fail("--weights=external wrote no deep_net.weights (wrote %s)" % os.listdir(out))
    size = os.path.getsize
    if size(os.path.join(out, "deep_net.o")) + size(weights) // 2 > size(
            os.path.join(embedded, "deep_net.o")):
        fail("the object of --weights=external still holds the weights")
    exes = build_programs(args, out, "external")
    prefix = os.path.join(args.work, "ext-shared")
    run([exes["cpp-shared"], str(batch), "2"] + xs + [prefix])  # found beside the library
    compare(prefix, ref, "external weights, C++, shared")
    prefix = os.path.join(args.work, "ext-static")
    run([exes["c-static"], str(batch), "1"] + xs + [prefix, weights])
    compare(prefix, ref, "external weights, C, static")

    # Beside the executable there is no weights file: a clear error.
    msg = run([exes["c-static"], str(batch), "1"] + xs + [prefix], expect_status=1)
    if "cannot open weights file" not in msg or "deep_net.weights" not in msg:
        fail("a missing weights file gave %r" % msg)
    data = open(weights, "rb").read()
    bad = os.path.join(args.work, "truncated.weights")
    open(bad, "wb").write(data[:-4])
    msg = run([exes["c-static"], str(batch), "1"] + xs + [prefix, bad], expect_status=1)
    if "bytes, but bundle 'deep_net' expects" not in msg:
        fail("a truncated weights file gave %r" % msg)
    bad = os.path.join(args.work, "foreign.weights")
    open(bad, "wb").write(data[:8] + bytes(8) + data[16:])
    msg = run([exes["c-static"], str(batch), "1"] + xs + [prefix, bad], expect_status=1)
    if "does not hold the weights of bundle 'deep_net'" not in msg:
        fail("a foreign weights file gave %r" % msg)


def other_cpu(args, net, batch, xs):
    """A bundle for an older CPU (--mcpu=haswell: AVX2, no AVX-512) gives the
    JIT's bits for that CPU."""
    ref = {}
    cmd = [args.soma, "run", net, "--engine=jit", "--mcpu=haswell", "-q"]
    for name in ("x", "z"):
        cmd += ["--input", "%s=%s" % (name, os.path.join(args.work, name + ".npy"))]
    for name in ("probs", "features"):
        ref[name] = os.path.join(args.work, "haswell-%s.npy" % name)
        cmd += ["--output", "%s=%s" % (name, ref[name])]
    run(cmd)
    ref = {k: np.load(v) for k, v in ref.items()}
    out = os.path.join(args.work, "haswell")
    run([args.soma, "compile", net, "--emit=bundle", "--mcpu=haswell", "-o", out])
    if "zmm" in run(["objdump", "-d", os.path.join(out, "deep_net.o")]):
        fail("the bundle for --mcpu=haswell uses AVX-512 registers")
    exe = build_programs(args, out, "haswell")["c-shared"]
    prefix = os.path.join(args.work, "haswell-run")
    run([exe, str(batch), "2"] + xs + [prefix])
    compare(prefix, ref, "--mcpu=haswell")


def cpu_flags():
    for line in open("/proc/cpuinfo"):
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def foreign_cpu(args, net, batch, xs):
    """A bundle for a CPU with instructions this one lacks (--mcpu=bdver1:
    AMD's FMA4 and XOP, which Intel's CPUs and AMD's since Zen lack) is
    refused by soma_deep_net_load with SOMA_BUNDLE_ERROR_CPU (5), naming
    them and the CPU it was compiled for, before any of its code runs."""
    flags = cpu_flags()
    if "fma4" in flags or "xop" in flags:
        print("skipped the foreign CPU: this one has FMA4 or XOP", flush=True)
        return
    out = os.path.join(args.work, "bdver1")
    run([args.soma, "compile", net, "--emit=bundle", "--mcpu=bdver1", "-o", out])
    exe = build_programs(args, out, "bdver1")["c-shared"]
    msg = run([exe, str(batch), "1"] + xs + [os.path.join(args.work, "bdver1-run")],
              expect_status=1)
    want = "deep_main: load error 5: bundle 'deep_net' was compiled for CPU 'bdver1' (x86_64)"
    if want not in msg or "fma4" not in msg or "xop" not in msg or "--mcpu=" not in msg:
        fail("a bundle for another CPU gave %r" % msg)
    if "sse2" in msg:
        fail("the message names features this CPU has: %r" % msg)


def cnn(args, net, name, shape, inp, outp):
    """A convolutional network (examples/cnn.nn: convolutions on the JIT's
    kernels and the runtime's depthwise one, a max pool and a flatten on
    the runtime's; tests/bundle/convs.nn: the runtime's channel-lane and
    depthwise convolutions and its pools) through the runtime's generic
    functions (any_main.c), batch 3, 1 and 2 threads: the JIT's bits."""
    x = np.random.default_rng(3).standard_normal((3,) + shape).astype(np.float32)
    np.save(os.path.join(args.work, name + "-x.npy"), x)
    x.astype("<f4").tofile(os.path.join(args.work, name + "-x.f32"))
    ref = os.path.join(args.work, name + "-jit.npy")
    run([args.soma, "run", net, "--engine=jit", "-q", "--input",
         inp + "=" + os.path.join(args.work, name + "-x.npy"), "--output", outp + "=" + ref])
    out = os.path.join(args.work, name)
    run([args.soma, "compile", net, "--emit=bundle", "-o", out])
    exe = os.path.join(args.work, name + "-any")
    link(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-I", args.include,
          "-DBUNDLE=soma_%s_bundle" % name,
          os.path.join(args.source, "tests", "bundle", "any_main.c"),
          os.path.join(out, "lib%s.a" % name), os.path.join(args.lib, "libsoma_runtime.a"),
          os.path.join(args.lib, "libsoma_ir.a"), os.path.join(args.lib, "libsoma_support.a"),
          "-ltbb", "-lstdc++", "-lm", "-o", exe])
    check_no_llvm(exe)
    for threads in ("1", "2"):
        prefix = os.path.join(args.work, "%s-run-%s" % (name, threads))
        run([exe, "3", threads, prefix, os.path.join(args.work, name + "-x.f32")])
        if open(prefix + "." + outp, "rb").read() != np.load(ref).astype("<f4").tobytes():
            fail("%s's bundle differs from the JIT (%s threads)" % (net, threads))


def pools(args):
    """tests/bundle/pools.nn: the max pool's value is stored in blocks of
    channels (the plan carries the pooling steps' layouts); the JIT's bits."""
    net = os.path.join(args.source, "tests", "bundle", "pools.nn")
    program = run([args.soma, "compile", net, "--emit=program"])
    if "layouts: %img planar -> blocked" not in program:
        fail("pools.nn's max pool does not write blocked:\n" + program)
    cnn(args, net, "pools", (16, 9, 9), "img", "out")


def refusals(args, net):
    bad = os.path.join(args.source, "tests", "bundle", "unbundlable.nn")
    msg = run([args.soma, "compile", bad, "--emit=bundle", "-o", os.path.join(args.work, "bad")],
              expect_status=1)
    if ("soma: error: bundle: 'b' runs on the interp kernels, which a bundle cannot hold"
            not in msg):
        fail("a network with an op outside the JIT gave %r" % msg)
    env = dict(os.environ, CC=os.path.join(args.work, "no-such-cc"))
    msg = run([args.soma, "compile", net, "--emit=bundle", "-o", os.path.join(args.work, "nocc")],
              expect_status=1, env=env)
    if "soma: error: cannot run '%s' to link" % env["CC"] not in msg:
        fail("a missing C compiler gave %r" % msg)
    msg = run([args.soma, "compile", net, "--emit=bundle"], expect_status="nonzero")
    if "--emit=bundle needs -o DIRECTORY" not in msg:
        fail("--emit=bundle without -o gave %r" % msg)


if __name__ == "__main__":
    main()
