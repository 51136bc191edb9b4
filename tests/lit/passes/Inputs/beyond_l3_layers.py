# Writes, into the directory argv[1], relu layers (seeded weights): big.npy,
# 2304 x 2048 (18.9 MB of f32, more than half a 32 MiB L3), and small.npy,
# 1024 x 1024 (4 MiB), with 25% nonzero weights; rare.npy, 2304 x 2048 with
# 1%; half.npy, 1024 x 1024 with 45%; and net.nn using all four.
import os
import sys

import numpy as np

out = sys.argv[1]
rng = np.random.default_rng(1)
for name, shape, density in (("big", (2304, 2048), 0.25), ("small", (1024, 1024), 0.25),
                             ("rare", (2304, 2048), 0.01), ("half", (1024, 1024), 0.45)):
    w = (rng.random(shape) < density) * rng.standard_normal(shape)
    np.save(os.path.join(out, name + ".npy"), w.astype(np.float32))
with open(os.path.join(out, "net.nn"), "w") as f:
    f.write("network s {\n  input x: f32[2048]\n"
            '  dense big(x) { units = 2304; weights = npy("big.npy"); activation = relu }\n'
            "  input y: f32[1024]\n"
            '  dense small(y) { units = 1024; weights = npy("small.npy"); activation = relu }\n'
            "  input z: f32[2048]\n"
            '  dense rare(z) { units = 2304; weights = npy("rare.npy"); activation = relu }\n'
            '  dense half(y) { units = 1024; weights = npy("half.npy"); activation = relu }\n'
            "  output big\n  output small\n  output rare\n  output half\n}\n")
