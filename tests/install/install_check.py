#!/usr/bin/env python3
"""The installed soma package, as a user gets it, in four steps that CTest
runs as four tests (`install` first: the others need its prefix):

  install_check.py install   --build B --source S --prefix P
      `cmake --install B --prefix P.staging`, then moves P.staging to P (so
      every step runs from a moved prefix), then checks the tree: the public
      headers, the package files (with no path into the source or build
      tree), the tools, which run.
  install_check.py embed     --source S --prefix P --work W
      configures examples/embed against P alone (CMAKE_PREFIX_PATH), builds
      and runs it; its compile line may name no include directory outside
      P; a broken network gives a `file:line:col: error:` failure; and
      docs/api.md shows examples/embed/main.cpp and CMakeLists.txt verbatim.
  install_check.py bundle    --source S --prefix P --work W
      P/bin/soma compiles examples/mlp.nn into a bundle; examples/bundle is
      built against it with CMake (find_package(soma COMPONENTS runtime),
      which must not look for LLVM) and with pkg-config (soma-runtime), and
      both run, with no LLVM in ldd or nm; docs/deploy.md shows
      examples/bundle verbatim, and the output it prints.
  install_check.py lit-suite --source S --prefix P --work W
      P/bin/soma-lit runs examples/lit-suite (every test passes), one file of
      it, and a suite that must fail; the substitutions name P's tools;
      -D engine=NAME runs every `%soma run` on that engine.

Exits non-zero with a message on the first thing that is wrong.
"""
import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time


def fail(message):
    print("FAIL: " + message, flush=True)
    sys.exit(1)


def run(cmd, expect_status=0, **kwargs):
    """Runs cmd, returns its stdout+stderr; fails when the status differs."""
    print("$ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    t0 = time.monotonic()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)
    print("  (%.1f s, exit %d)" % (time.monotonic() - t0, p.returncode), flush=True)
    ok = p.returncode != 0 if expect_status == "nonzero" else p.returncode == expect_status
    if not ok:
        print(p.stdout)
        fail("%s exited %d, expected %s" % (cmd[0], p.returncode, expect_status))
    return p.stdout


def files_under(root):
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, fs in os.walk(root) for f in fs)


def install(args):
    staging = args.prefix + ".staging"
    for d in (args.prefix, staging):
        if os.path.exists(d):
            shutil.rmtree(d)
    run([args.cmake, "--install", args.build, "--prefix", staging])
    shutil.move(staging, args.prefix)

    headers = files_under(os.path.join(args.prefix, "include"))
    if headers != ["soma/Version.h", "soma/bundle.h", "soma/soma.h"]:
        fail("the installed headers must be soma/soma.h, soma/Version.h and soma/bundle.h, got %s"
             % headers)
    with open(os.path.join(args.prefix, "include", "soma", "bundle.h")) as f:
        includes = re.findall(r'^\s*#\s*include\s*([<"][^>"]+[>"])', f.read(), re.M)
    if includes != ["<stdint.h>"]:
        fail("soma/bundle.h must include <stdint.h> alone, it includes %s" % includes)
    with open(os.path.join(args.prefix, "include", "soma", "soma.h")) as f:
        header = f.read()
    for inc in re.findall(r'^\s*#\s*include\s*([<"][^>"]+[>"])', header, re.M):
        if not re.fullmatch(r"<[a-z_]+(\.h)?>", inc) and inc != '"soma/Version.h"':
            fail("soma.h must include standard headers and soma/Version.h only, it includes %s" % inc)
    with open(os.path.join(args.prefix, "include", "soma", "Version.h")) as f:
        if "#include" in f.read():
            fail("soma/Version.h must include nothing")

    expected = [
        "bin/soma", "bin/soma-lit", "bin/soma-opt",
        "lib/cmake/soma/somaConfig.cmake", "lib/cmake/soma/somaConfigVersion.cmake",
        "lib/cmake/soma/somaTargets.cmake", "lib/cmake/soma/somaRuntimeTargets.cmake",
        "lib/libsoma.a", "lib/libsoma_runtime.a", "lib/pkgconfig/soma-runtime.pc",
        "share/soma/lit/soma_lit.cfg.py", "share/soma/lit/soma_lit_format.py",
    ]
    present = files_under(args.prefix)
    for path in expected:
        if path not in present:
            fail("missing from the install: %s (installed: %s)" % (path, present))
    for path in present:
        if path.startswith("lib/cmake/soma/"):
            with open(os.path.join(args.prefix, path)) as f:
                text = f.read()
            for tree in (os.path.realpath(args.source), os.path.realpath(args.build)):
                if tree in text:
                    fail("%s names the build machine's tree %s" % (path, tree))

    out = run([os.path.join(args.prefix, "bin", "soma"), "run",
               os.path.join(args.source, "examples", "neuron.nn"), "--input", "x=0.5,0.3",
               "--digits=6"])
    if "n[0]: 0.78" not in out:
        fail("installed soma printed %r" % out)
    out = run([os.path.join(args.prefix, "bin", "soma-opt"),
               os.path.join(args.source, "examples", "neuron.nn")])
    if "graph @neuron" not in out:
        fail("installed soma-opt printed %r" % out)


def embed(args):
    if os.path.exists(args.work):
        shutil.rmtree(args.work)
    build = os.path.join(args.work, "build")
    configure = [args.cmake, "-S", os.path.join(args.source, "examples", "embed"), "-B", build,
                 "-DCMAKE_PREFIX_PATH=" + args.prefix, "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON"]
    if args.generator:
        configure += ["-G", args.generator]
    if args.cxx:
        configure += ["-DCMAKE_CXX_COMPILER=" + args.cxx]
    run(configure)

    # An application needs soma's one header and nothing else: no internal
    # soma header, no LLVM header.
    with open(os.path.join(build, "compile_commands.json")) as f:
        commands = json.load(f)
    prefix = os.path.realpath(args.prefix)
    for entry in commands:
        words = shlex.split(entry["command"])
        for i, w in enumerate(words):
            if w in ("-I", "-isystem", "-iquote", "-idirafter"):
                d = words[i + 1]
            elif w.startswith("-I") and len(w) > 2:
                d = w[2:]
            else:
                continue
            if not os.path.realpath(d).startswith(prefix + os.sep):
                fail("embed is compiled with include directory %s, outside the install prefix" % d)

    run([args.cmake, "--build", build])
    exe = os.path.join(build, "embed")
    out = run([exe, os.path.join(args.source, "examples", "neuron.nn")])
    if out != "n[0] = 0.78\n":
        fail("embed printed %r, expected 'n[0] = 0.78'" % out)
    # docs/api.md's console example of it shows exactly that.
    with open(os.path.join(args.source, "docs", "api.md")) as f:
        if "```console\n$ embed examples/neuron.nn\n%s```\n" % out not in f.read():
            fail("docs/api.md's console example must show `$ embed examples/neuron.nn` "
                 "printing %r" % out)

    bad = os.path.join(args.work, "bad.nn")
    with open(bad, "w") as f:
        f.write("network bad {\n  input x: f32[2]\n  neuron n(y) { weights = [1, 2] }\n  output n\n}\n")
    out = run([exe, bad], expect_status=1)
    if bad + ":3:12: error: unknown name 'y'" not in out:
        fail("embed on a broken network printed %r" % out)
    out = run([exe], expect_status=2)

    with open(os.path.join(args.source, "docs", "api.md")) as f:
        api_md = f.read()
    for name, lang in (("main.cpp", "cpp"), ("CMakeLists.txt", "cmake")):
        with open(os.path.join(args.source, "examples", "embed", name)) as f:
            text = f.read()
        if "```%s\n%s```\n" % (lang, text) not in api_md:
            fail("docs/api.md must show examples/embed/%s verbatim in a ```%s block" % (name, lang))


def check_no_llvm(binary):
    text = run(["ldd", binary]) + run(["nm", "-C", binary])
    if "llvm" in text.lower():
        fail("%s reaches LLVM (ldd or nm names it)" % binary)


def bundle(args):
    if os.path.exists(args.work):
        shutil.rmtree(args.work)
    out = os.path.join(args.work, "out")
    run([os.path.join(args.prefix, "bin", "soma"), "compile",
         os.path.join(args.source, "examples", "mlp.nn"), "--emit=bundle", "-o", out])
    example = os.path.join(args.source, "examples", "bundle")
    build = os.path.join(args.work, "build")
    configure = [args.cmake, "-S", example, "-B", build, "-DCMAKE_PREFIX_PATH=" + args.prefix,
                 "-DMLP_BUNDLE=" + out]
    if args.generator:
        configure += ["-G", args.generator]
    run(configure)
    with open(os.path.join(build, "CMakeCache.txt")) as f:
        cache = f.read()
    if re.search(r"^LLVM_DIR:PATH=(?!LLVM_DIR-NOTFOUND)", cache, re.M):
        fail("find_package(soma COMPONENTS runtime) looked for LLVM and found it")
    run([args.cmake, "--build", build])
    expected = run([os.path.join(build, "classify")])
    check_no_llvm(os.path.join(build, "classify"))

    # pkg-config, from the moved prefix.
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(args.prefix, "lib", "pkgconfig"))
    version = run(["pkg-config", "--modversion", "soma-runtime"], env=env).strip()
    soma_version = run([os.path.join(args.prefix, "bin", "soma"), "--version"]).split()[-1]
    if version != soma_version:
        fail("soma-runtime.pc says version %s, soma --version %s" % (version, soma_version))
    flags = shlex.split(run(["pkg-config", "--cflags", "--libs", "soma-runtime"], env=env))
    exe = os.path.join(args.work, "classify-pc")
    run(["cc", "-I", out, os.path.join(example, "classify.c"), os.path.join(out, "libmlp.a")]
        + flags + ["-o", exe])
    if run([exe]) != expected:
        fail("classify built with pkg-config printed another result")
    check_no_llvm(exe)

    with open(os.path.join(args.source, "docs", "deploy.md")) as f:
        deploy_md = f.read()
    for name, lang in (("classify.c", "c"), ("CMakeLists.txt", "cmake")):
        with open(os.path.join(example, name)) as f:
            if "```%s\n%s```\n" % (lang, f.read()) not in deploy_md:
                fail("docs/deploy.md must show examples/bundle/%s verbatim in a ```%s block"
                     % (name, lang))
    if "```console\n$ build-bundle/classify\n%s```\n" % expected not in deploy_md:
        fail("docs/deploy.md's console example must show `$ build-bundle/classify` printing %r"
             % expected)


def lit_suite(args):
    if os.path.exists(args.work):
        shutil.rmtree(args.work)
    os.makedirs(args.work)
    soma_lit = os.path.join(args.prefix, "bin", "soma-lit")
    suite = os.path.join(args.source, "examples", "lit-suite")
    tests = [f for f in os.listdir(suite) if f.endswith((".nn", ".sir", ".test"))]
    if len(tests) < 3:
        fail("examples/lit-suite has %d tests" % len(tests))

    out = run([soma_lit, suite])
    if "Passed: %d " % len(tests) not in out:
        print(out)
        fail("soma-lit did not pass all %d tests of %s" % (len(tests), suite))

    out = run([soma_lit, os.path.join(suite, sorted(tests)[0])])
    if "Passed: 1 " not in out:
        print(out)
        fail("soma-lit on one file did not run exactly that test")

    # A suite of its own: the substitutions name the installed tools, and a
    # failing test makes soma-lit fail.
    mine = os.path.join(args.work, "mine")
    os.makedirs(mine)
    prefix_bin = os.path.join(os.path.realpath(args.prefix), "bin")
    with open(os.path.join(mine, "tools.test"), "w") as f:
        f.write("# RUN: echo %%soma %%soma-opt %%python | FileCheck %%s\n"
                "# CHECK: %s/soma %s/soma-opt %s\n" % (prefix_bin, prefix_bin, sys.executable))
    with open(os.path.join(mine, "wrong.nn"), "w") as f:
        f.write("# RUN: %soma run %s --input x=0.5,0.3 | FileCheck %s\n"
                "network neuron {\n  input x: f32[2]\n"
                "  neuron n(x) { weights = [0.8, 0.6]; bias = 0.2; activation = relu }\n"
                "  output n\n}\n"
                "# CHECK: n[0]: 0.79\n")
    # A model without RUN lines sits next to the test that runs it: it is
    # not a test (not UNRESOLVED).
    with open(os.path.join(mine, "model.nn"), "w") as f:
        f.write("network neuron {\n  input x: f32[2]\n"
                "  neuron n(x) { weights = [1, 1]; activation = identity }\n"
                "  output n\n}\n")
    with open(os.path.join(mine, "uses-model.test"), "w") as f:
        f.write("# RUN: %soma run %S/model.nn --input x=1,2 | FileCheck %s\n"
                "# CHECK: n[0]: 3\n")
    out = run([soma_lit, mine], expect_status="nonzero")
    if ("Passed: 2 " not in out or "Failed: 1 " not in out or "wrong.nn" not in out
            or "Unresolved" in out):
        print(out)
        fail("soma-lit on a suite with two passing tests, one failing and a model without RUN "
             "lines must report 2 passed, 1 failed, nothing unresolved")

    # The engine choice: by default `%soma run` is left as it is (--expect
    # checks every engine); -D engine=NAME makes every run use NAME.
    engines = os.path.join(args.work, "engines")
    os.makedirs(engines)
    with open(os.path.join(engines, "jit.nn"), "w") as f:
        f.write("# RUN: %soma run %s --input x=0.5,0.3 -v 2>&1 | FileCheck %s\n"
                "network neuron {\n  input x: f32[2]\n"
                "  neuron n(x) { weights = [0.8, 0.6]; bias = 0.2; activation = relu }\n"
                "  output n\n}\n"
                "# CHECK: soma: engine jit\n")
    run([soma_lit, "-D", "engine=jit", engines])
    out = run([soma_lit, engines], expect_status="nonzero")
    if "soma-user:engines (engine: all) :: jit.nn" not in out:
        print(out)
        fail("soma-lit without -D engine must leave the engine to soma run (auto: vec)")
    out = run([soma_lit, "-D", "engine=fast", engines], expect_status="nonzero")
    if "unknown engine 'fast'" not in out:
        print(out)
        fail("soma-lit -D engine=fast must be refused")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=["install", "embed", "bundle", "lit-suite"])
    ap.add_argument("--build")
    ap.add_argument("--source", required=True)
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--work")
    ap.add_argument("--cmake", default="cmake")
    ap.add_argument("--generator")
    ap.add_argument("--cxx")
    args = ap.parse_args()
    t0 = time.monotonic()
    {"install": install, "embed": embed, "bundle": bundle, "lit-suite": lit_suite}[args.step](args)
    print("ok: %s (%.1f s)" % (args.step, time.monotonic() - t0))


if __name__ == "__main__":
    main()
