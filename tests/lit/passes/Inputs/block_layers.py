# Writes, into the directory argv[1], relu layers of 256 x 256 weights with
# 90% zeros (seeded) in aligned blocks, for the schedule's block rule:
#   rows.npy: every aligned 4 neurons have their nonzeros at the same
#     inputs (sparsity-analysis's "4x1");
#   cols.npy: every neuron's nonzeros come in aligned runs of 4 inputs
#     ("1x4");
# and net.nn using both.
import os
import sys

import numpy as np

out = sys.argv[1]
rng = np.random.default_rng(41)


def save(name, mask):
    w = mask * rng.uniform(0.5, 1.5, mask.shape) * rng.choice([-1, 1], mask.shape)
    np.save(os.path.join(out, name + ".npy"), w.astype(np.float32))


save("rows", np.repeat(rng.random((64, 256)) >= 0.9, 4, axis=0))
save("cols", np.repeat(rng.random((256, 64)) >= 0.9, 4, axis=1))
with open(os.path.join(out, "net.nn"), "w") as f:
    f.write("""network blocks {
  input x: f32[256]
  dense rows(x) { units = 256; weights = npy("rows.npy"); activation = relu }
  dense cols(rows) { units = 256; weights = npy("cols.npy"); activation = relu }
  output cols
}
""")
