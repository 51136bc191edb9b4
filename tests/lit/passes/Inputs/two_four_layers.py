# Writes, into the directory argv[1], relu layers of exactly 50% nonzero
# weights (seeded), every neuron with exactly half its inputs nonzero, for
# the schedule's 2:4 rule (cost model step 11):
#   pattern.npy, 1024 x 1024: 2 nonzeros in every aligned 4 inputs (2:4);
#   random.npy, 1024 x 1024: each neuron's nonzeros at uniformly random
#     inputs;
#   almost.npy: pattern.npy with one nonzero of neuron 0 moved from inputs
#     0..3 to inputs 4..7 (3 there), so 2:4 no longer holds;
#   bigpattern.npy and bigrandom.npy: the same as pattern and random at
#     2304 x 2048 (18.9 MB of f32, more than half a 32 MiB L3);
# and net.nn using all five.
import os
import sys

import numpy as np

out = sys.argv[1]
rng = np.random.default_rng(24)


def two_of_four(units, inputs):
    keys = rng.random((units, inputs // 4, 4))
    mask = np.zeros((units, inputs // 4, 4), dtype=bool)
    np.put_along_axis(mask, np.argsort(keys, axis=2)[:, :, :2], True, axis=2)
    return mask.reshape(units, inputs)


def half_random(units, inputs):
    keys = rng.random((units, inputs))
    mask = np.zeros((units, inputs), dtype=bool)
    np.put_along_axis(mask, np.argsort(keys, axis=1)[:, : inputs // 2], True, axis=1)
    return mask


def save(name, mask):
    w = mask * rng.uniform(0.5, 1.5, mask.shape) * rng.choice([-1, 1], mask.shape)
    np.save(os.path.join(out, name + ".npy"), w.astype(np.float32))


pattern = two_of_four(1024, 1024)
save("pattern", pattern)
save("random", half_random(1024, 1024))
almost = pattern.copy()
moved = int(np.flatnonzero(almost[0, :4])[0])
free = int(np.flatnonzero(~almost[0, 4:8])[0])
almost[0, moved] = False
almost[0, 4 + free] = True
save("almost", almost)
save("bigpattern", two_of_four(2304, 2048))
save("bigrandom", half_random(2304, 2048))
with open(os.path.join(out, "net.nn"), "w") as f:
    f.write("network s {\n  input x: f32[1024]\n")
    for name in ("pattern", "random", "almost"):
        f.write(f'  dense {name}(x) {{ units = 1024; weights = npy("{name}.npy"); activation = relu }}\n')
    f.write("  input y: f32[2048]\n")
    for name in ("bigpattern", "bigrandom"):
        f.write(f'  dense {name}(y) {{ units = 2304; weights = npy("{name}.npy"); activation = relu }}\n')
    for name in ("pattern", "random", "almost", "bigpattern", "bigrandom"):
        f.write(f"  output {name}\n")
    f.write("}\n")
