#!/usr/bin/env python3
"""The installed Python package soma, as a user gets it (the `install`
test's prefix, P):

  python_check.py --prefix P --source S --build B --work W

checks that P/lib/python3.X/dist-packages/soma holds the package (its
__init__.py, dask.py and the extension), that the extension names no
directory of the build machine (no RUNPATH into the build tree) and finds
every library it needs, then copies the package elsewhere (W/moved: the
package does not depend on where it is) and runs a network with it from
a python3 whose PYTHONPATH names only that copy.
"""
import argparse
import glob
import os
import shutil
import subprocess
import sys


def fail(message):
    print("FAIL: " + message, flush=True)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--work", required=True)
    args = ap.parse_args()
    version = "python%d.%d" % sys.version_info[:2]
    package = os.path.join(args.prefix, "lib", version, "dist-packages", "soma")
    found = sorted(os.path.basename(p) for p in glob.glob(os.path.join(package, "*")))
    extension = [f for f in found if f.startswith("_core.") and f.endswith(".so")]
    if "__init__.py" not in found or "dask.py" not in found or len(extension) != 1:
        fail("%s must hold __init__.py, dask.py and one _core extension; it holds %s"
             % (package, found))
    so = os.path.join(package, extension[0])
    dynamic = subprocess.run(["readelf", "-d", so], stdout=subprocess.PIPE, text=True).stdout
    trees = (os.path.realpath(args.build), os.path.realpath(args.source))
    for line in dynamic.splitlines():
        if ("RPATH" in line or "RUNPATH" in line) and any(t in line for t in trees):
            fail("the extension names the build machine's tree: " + line.strip())
    ldd = subprocess.run(["ldd", so], stdout=subprocess.PIPE, text=True).stdout
    if "not found" in ldd:
        fail("the extension's libraries are not all found:\n" + ldd)

    moved = os.path.join(args.work, "moved")
    shutil.rmtree(args.work, ignore_errors=True)
    shutil.copytree(package, os.path.join(moved, "soma"))
    script = ("import numpy as np, soma\n"
              "assert soma.__file__.startswith(%r), soma.__file__\n"
              "m = soma.compile(%r)\n"
              "print(m.run(x=np.array([0.5, 0.3], np.float32))['n'][0])\n"
              % (moved, os.path.join(args.source, "examples", "neuron.nn")))
    env = dict(os.environ, PYTHONPATH=moved)
    p = subprocess.run([sys.executable, "-c", script], env=env, cwd=args.work,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0 or abs(float(p.stdout.strip() or "nan") - 0.78) > 1e-6:
        fail("the moved package printed (exit %d):\n%s" % (p.returncode, p.stdout))
    print("the installed Python package runs from %s: n = %s" % (moved, p.stdout.strip()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
