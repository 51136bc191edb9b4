# Helper of sparse-vs-interp.test: runs soma on a batch through the JIT and
# the interpreter and compares the outputs it writes as .npy files.
import os
import subprocess
import sys

import numpy as np

soma, net, tmp = sys.argv[1:4]
os.makedirs(tmp, exist_ok=True)
rng = np.random.default_rng(7)
for batch in (1, 8, 37):
    x = rng.uniform(-1, 1, size=(batch, 77)).astype(np.float32)
    xin = os.path.join(tmp, "x.npy")
    np.save(xin, x)
    outs = {}
    for engine, threads in (("interp", 1), ("jit", 1), ("jit", 2)):
        out = os.path.join(tmp, "%s%d.npy" % (engine, threads))
        subprocess.run([soma, "run", net, "--engine=" + engine, "--threads=%d" % threads,
                        "--input", "x=" + xin, "--output", "fc2=" + out],
                       check=True, stdout=subprocess.DEVNULL)
        outs[engine, threads] = np.load(out)
    diff = np.abs(outs["jit", 1].astype(np.float64) - outs["interp", 1]).max()
    same = outs["jit", 1].tobytes() == outs["jit", 2].tobytes()
    print("batch %d: jit %s 1e-05 of interp; threads 1 and 2 %s" %
          (batch, "within" if diff <= 1e-5 else "NOT within (%g)" % diff,
           "identical" if same else "DIFFER"))
