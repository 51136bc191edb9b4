# Writes, into the directory argv[1], two relu layers with 25% nonzero
# weights (seeded): big.npy, 2304 x 2048 (18.9 MB of f32, more than half a
# 32 MiB L3), small.npy, 1024 x 1024 (4 MiB), and net.nn using both.
import os
import sys

import numpy as np

out = sys.argv[1]
rng = np.random.default_rng(1)
for name, shape in (("big", (2304, 2048)), ("small", (1024, 1024))):
    w = (rng.random(shape) < 0.25) * rng.standard_normal(shape)
    np.save(os.path.join(out, name + ".npy"), w.astype(np.float32))
with open(os.path.join(out, "net.nn"), "w") as f:
    f.write("network s {\n  input x: f32[2048]\n"
            '  dense big(x) { units = 2304; weights = npy("big.npy"); activation = relu }\n'
            "  input y: f32[1024]\n"
            '  dense small(y) { units = 1024; weights = npy("small.npy"); activation = relu }\n'
            "  output big\n  output small\n}\n")
