#!/usr/bin/env python3
"""An aarch64 bundle, run under qemu-user (docs/deploy.md, "Cross-compiling
for aarch64"):

  cross_check.py --soma SOMA --soma-opt SOMA_OPT --source S --work W [--jobs N]

cross-builds soma's LLVM-free runtime for aarch64 (SOMA_RUNTIME_ONLY with
cmake/toolchains/aarch64-linux-gnu.cmake, in W/runtime, kept between runs),
runs docs/deploy.md's walkthrough (examples/mlp.nn with
examples/bundle/classify.c: the page must show what it prints), compiles
tests/bundle/deep.nn and examples/cnn.nn with
`soma compile --emit=bundle --mtriple=aarch64-linux-gnu`, links
tests/bundle/deep_main.c and any_main.c against each bundle's static
library and the cross-built runtime with aarch64-linux-gnu-gcc, runs them
under qemu-aarch64 (one thread and two; deep.nn with --mattr=+sve too, on
qemu's CPU with SVE) and compares every output with
`soma run --engine=jit` on this machine within the numerical contract's
exact class (docs/passes.md: |arm - x86| <= 1e-6 (|x86| + scale), scale the
output's largest magnitude; non-finite values equal). Then the runtime's
xsimd kernels, their NEON build: tests/cross/kernels.nn, as graph IR, on the
vec engine in a program of the runtime alone (vec_main.cpp) under qemu,
against this machine's vec engine, within the same bound.

Exits 77 (ctest: skipped) with a message naming what is missing when the
cross toolchain, qemu-user or oneTBB for arm64 is not installed
(tools/setup installs them); non-zero with a message on the first thing
that is wrong.
"""
import argparse
import os
import shlex
import shutil
import subprocess
import sys
import time

import numpy as np

TRIPLE = "aarch64-linux-gnu"
SYSROOT = "/usr/aarch64-linux-gnu"
MULTIARCH_LIB = "/usr/lib/aarch64-linux-gnu"
EM_AARCH64 = 183
RTOL = 1e-6  # ToleranceClasses.def: exact


def fail(message):
    print("FAIL: " + message, flush=True)
    sys.exit(1)


def run(cmd, env=None):
    print("$ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    if p.returncode != 0:
        print(p.stdout)
        fail("%s exited %d" % (cmd[0], p.returncode))
    return p.stdout


def missing_tools():
    missing = []
    for tool, package in ((TRIPLE + "-gcc", "gcc-aarch64-linux-gnu"),
                          (TRIPLE + "-g++", "g++-aarch64-linux-gnu"),
                          (TRIPLE + "-ar", "binutils-aarch64-linux-gnu"),
                          ("qemu-aarch64", "qemu-user")):
        if not shutil.which(tool):
            missing.append("%s (%s)" % (tool, package))
    if not os.path.exists(os.path.join(MULTIARCH_LIB, "libtbb.so")):
        missing.append("oneTBB for arm64 (libtbb-dev:arm64)")
    return missing


def build_runtime(args):
    """The runtime, cross-built once into W/runtime (incremental after)."""
    build = os.path.join(args.work, "runtime")
    toolchain = os.path.join(args.source, "cmake", "toolchains", "aarch64-linux-gnu.cmake")
    cmd = ["cmake", "-S", args.source, "-B", build, "-DSOMA_RUNTIME_ONLY=ON",
           "-DCMAKE_BUILD_TYPE=Release", "-DCMAKE_TOOLCHAIN_FILE=" + toolchain]
    if shutil.which("ccache"):
        cmd.append("-DCMAKE_CXX_COMPILER_LAUNCHER=ccache")
    t0 = time.monotonic()
    run(cmd)
    run(["cmake", "--build", build, "-j", str(args.jobs), "--target", "soma_runtime"])
    print("runtime for aarch64: configured and built in %.1f s" % (time.monotonic() - t0))
    return os.path.join(build, "lib")


def elf_machine(path):
    with open(path, "rb") as f:
        head = f.read(20)
    return int.from_bytes(head[18:20], "little") if head[:4] == b"\x7fELF" else -1


def bundle(args, net, name, out, extra=()):
    run([args.soma, "compile", net, "--emit=bundle", "--mtriple=" + TRIPLE, "-o", out] +
        list(extra))
    for f in (name + ".o", name + ".h", "lib%s.a" % name):
        if not os.path.exists(os.path.join(out, f)):
            fail("the aarch64 bundle has no %s" % f)
    if os.path.exists(os.path.join(out, "lib%s.so" % name)):
        fail("an aarch64 bundle wrote a shared library of this machine's runtime")
    if elf_machine(os.path.join(out, name + ".o")) != EM_AARCH64:
        fail("%s.o is not an aarch64 object" % name)
    return os.path.join(out, "lib%s.a" % name)


def link(args, lib, sources, archive, exe, defines=()):
    run([TRIPLE + "-gcc", "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic",
         "-I", os.path.dirname(archive), "-I", os.path.join(args.source, "runtime", "include")] +
        list(defines) + sources +
        [archive, os.path.join(lib, "libsoma_runtime.a"), os.path.join(lib, "libsoma_ir.a"),
         os.path.join(lib, "libsoma_support.a"), "-L" + MULTIARCH_LIB,
         "-Wl,-rpath-link," + MULTIARCH_LIB, "-ltbb", "-lstdc++", "-lm", "-o", exe])
    if elf_machine(exe) != EM_AARCH64:
        fail("%s is not an aarch64 program" % exe)


def qemu(cmd, cpu=None):
    # The arm64 oneTBB is in the multiarch directory, outside the sysroot.
    return run(["qemu-aarch64"] + (["-cpu", cpu] if cpu else []) +
               ["-L", SYSROOT, "-E", "LD_LIBRARY_PATH=" + MULTIARCH_LIB] + cmd)


def compare(got_path, reference, what):
    got = np.fromfile(got_path, dtype="<f4")
    want = reference.astype(np.float32).ravel()
    if got.size != want.size:
        fail("%s: %d values, the JIT's %d" % (what, got.size, want.size))
    finite = np.isfinite(want)
    if not np.array_equal(np.isfinite(got), finite) or \
       not np.array_equal(got[~finite], want[~finite], equal_nan=True):
        fail("%s: its non-finite values differ from the JIT's" % what)
    scale = float(np.max(np.abs(want[finite]))) if finite.any() else 0.0
    diff = np.abs(got[finite].astype(np.float64) - want[finite])
    bound = RTOL * (np.abs(want[finite].astype(np.float64)) + scale)
    if (diff > bound).any():
        i = int(np.argmax(diff - bound))
        fail("%s: element %d is %r on aarch64, %r on x86 (beyond rtol %g)"
             % (what, i, float(got[finite][i]), float(want[finite][i]), RTOL))
    worst = float(np.max(diff / np.maximum(np.abs(want[finite]) + scale, 1e-30))) if diff.size else 0
    same = got.tobytes() == want.astype("<f4").tobytes()
    print("%s: within the contract (largest relative difference %.3g%s)"
          % (what, worst, ", bit-identical" if same else ""))


def classify(args, lib):
    """docs/deploy.md's walkthrough: examples/mlp.nn's bundle for aarch64
    with examples/bundle/classify.c, whose output the page shows."""
    archive = bundle(args, os.path.join(args.source, "examples", "mlp.nn"), "mlp",
                     os.path.join(args.work, "out-arm"))
    exe = os.path.join(args.work, "classify-arm")
    link(args, lib, [os.path.join(args.source, "examples", "bundle", "classify.c")], archive, exe)
    printed = qemu([exe])
    session = ("```console\n$ qemu-aarch64 -L %s -E LD_LIBRARY_PATH=%s ./classify-arm\n%s```\n"
               % (SYSROOT, MULTIARCH_LIB, printed))
    with open(os.path.join(args.source, "docs", "deploy.md")) as f:
        if session not in f.read():
            fail("docs/deploy.md must show ./classify-arm under qemu-aarch64 printing %r" % printed)


def deep(args, lib):
    net = os.path.join(args.source, "tests", "bundle", "deep.nn")
    rng = np.random.default_rng(20)
    batch = 7
    inputs = {"x": rng.standard_normal((batch, 37)).astype(np.float32),
              "z": rng.standard_normal((batch, 5)).astype(np.float32)}
    cmd = [args.soma, "run", net, "--engine=jit", "-q"]
    for name, a in inputs.items():
        np.save(os.path.join(args.work, name + ".npy"), a)
        a.astype("<f4").tofile(os.path.join(args.work, name + ".f32"))
        cmd += ["--input", "%s=%s" % (name, os.path.join(args.work, name + ".npy"))]
    for name in ("probs", "features"):
        cmd += ["--output", "%s=%s" % (name, os.path.join(args.work, "x86-%s.npy" % name))]
    run(cmd)
    archive = bundle(args, net, "deep_net", os.path.join(args.work, "deep"))
    exe = os.path.join(args.work, "deep_main")
    link(args, lib, [os.path.join(args.source, "tests", "bundle", "deep_main.c")], archive, exe)
    for threads in ("1", "2"):
        prefix = os.path.join(args.work, "deep-%s" % threads)
        qemu([exe, str(batch), threads, os.path.join(args.work, "x.f32"),
              os.path.join(args.work, "z.f32"), prefix])
        for name in ("probs", "features"):
            compare("%s.%s" % (prefix, name), np.load(os.path.join(args.work, "x86-%s.npy" % name)),
                    "deep.nn '%s', %s thread(s)" % (name, threads))
    # --mattr=+sve: LLVM's SVE instructions in the kernels (the masked
    # tails), run on qemu's CPU with SVE.
    archive = bundle(args, net, "deep_net", os.path.join(args.work, "deep-sve"), ["--mattr=+sve"])
    exe = os.path.join(args.work, "deep_main_sve")
    link(args, lib, [os.path.join(args.source, "tests", "bundle", "deep_main.c")], archive, exe)
    prefix = os.path.join(args.work, "deep-sve")
    qemu([exe, str(batch), "2", os.path.join(args.work, "x.f32"), os.path.join(args.work, "z.f32"),
          prefix], cpu="max")
    for name in ("probs", "features"):
        compare("%s.%s" % (prefix, name), np.load(os.path.join(args.work, "x86-%s.npy" % name)),
                "deep.nn '%s', +sve" % name)


def cnn(args, lib):
    """Convolutions on the JIT's kernels; the max pool and the flatten on
    the runtime's own steps, with its NEON kernels."""
    net = os.path.join(args.source, "examples", "cnn.nn")
    x = np.random.default_rng(3).standard_normal((3, 1, 8, 8)).astype(np.float32)
    np.save(os.path.join(args.work, "img.npy"), x)
    x.astype("<f4").tofile(os.path.join(args.work, "img.f32"))
    ref = os.path.join(args.work, "x86-cnn.npy")
    run([args.soma, "run", net, "--engine=jit", "-q", "--input",
         "img=" + os.path.join(args.work, "img.npy"), "--output", "out=" + ref])
    archive = bundle(args, net, "cnn", os.path.join(args.work, "cnn"))
    exe = os.path.join(args.work, "cnn_any")
    link(args, lib, [os.path.join(args.source, "tests", "bundle", "any_main.c")], archive, exe,
         ["-DBUNDLE=soma_cnn_bundle"])
    prefix = os.path.join(args.work, "cnn-run")
    qemu([exe, "3", "2", prefix, os.path.join(args.work, "img.f32")])
    compare(prefix + ".out", np.load(ref), "cnn.nn 'out', 2 threads")


def vec(args, lib):
    """The runtime's xsimd kernels, NEON's build, against this machine's:
    the vec engine on tests/cross/kernels.nn (sparse, dense, elementwise,
    layer norm, softmax, conv, pooling) in a program of the runtime alone
    (vec_main.cpp), batch 5, two threads."""
    net = os.path.join(args.source, "tests", "cross", "kernels.nn")
    ir = os.path.join(args.work, "kernels.sir")
    p = subprocess.run([args.soma_opt, net, "-O2", "--machine=neon"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        fail("soma-opt %s failed:\n%s" % (net, p.stderr))
    with open(ir, "w") as f:
        f.write(p.stdout)
    rng = np.random.default_rng(5)
    batch = 5
    inputs = {"x": rng.standard_normal((batch, 67)).astype(np.float32),
              "m": rng.standard_normal((batch, 3, 6, 6)).astype(np.float32)}
    cmd = [args.soma, "run", ir, "--engine=vec", "-q"]
    files = []
    for name, a in inputs.items():
        np.save(os.path.join(args.work, "k-%s.npy" % name), a)
        files.append(os.path.join(args.work, "k-%s.f32" % name))
        a.astype("<f4").tofile(files[-1])
        cmd += ["--input", "%s=%s" % (name, os.path.join(args.work, "k-%s.npy" % name))]
    outputs = ("p", "f")
    for name in outputs:
        cmd += ["--output", "%s=%s" % (name, os.path.join(args.work, "x86-k-%s.npy" % name))]
    run(cmd)
    exe = os.path.join(args.work, "vec_main")
    run([TRIPLE + "-g++", "-std=c++20", "-O2", "-Wall", "-Wextra", "-Werror",
         "-I", os.path.join(args.source, "compiler", "include"),
         "-I", os.path.join(args.source, "runtime", "include"),
         os.path.join(args.source, "tests", "cross", "vec_main.cpp"),
         os.path.join(lib, "libsoma_runtime.a"), os.path.join(lib, "libsoma_ir.a"),
         os.path.join(lib, "libsoma_support.a"), "-L" + MULTIARCH_LIB,
         "-Wl,-rpath-link," + MULTIARCH_LIB, "-ltbb", "-o", exe])
    prefix = os.path.join(args.work, "k-arm")
    printed = qemu([exe, ir, str(batch), "2", prefix] + files)
    print(printed, end="")
    if "isa: neon" not in printed:
        fail("the aarch64 vec engine does not run the NEON kernels")
    for family in ("vec.sparse", "vec.dense", "vec.elementwise", "vec.conv"):
        if ": " + family not in printed:
            fail("no step of kernels.nn ran on %s" % family)
    for i, name in enumerate(outputs):
        compare("%s.%d" % (prefix, i), np.load(os.path.join(args.work, "x86-k-%s.npy" % name)),
                "vec engine, kernels.nn '%s'" % name)


def main():
    parser = argparse.ArgumentParser()
    for name in ("--soma", "--soma-opt", "--source", "--work"):
        parser.add_argument(name, required=True)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    missing = missing_tools()
    if missing:
        print("SKIP: the aarch64 cross test needs %s; tools/setup installs them"
              % ", ".join(missing))
        sys.exit(77)
    os.makedirs(args.work, exist_ok=True)
    for entry in os.listdir(args.work):  # all but the runtime's build
        if entry != "runtime":
            path = os.path.join(args.work, entry)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    lib = build_runtime(args)
    classify(args, lib)
    deep(args, lib)
    cnn(args, lib)
    vec(args, lib)
    print("PASS")


if __name__ == "__main__":
    main()
