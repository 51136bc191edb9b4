#!/usr/bin/python3
# Writes sparse_fc1.npy for examples/sparse.nn: a [100, 77] weight matrix
# (units, inputs) with 95% of its weights zero, uniformly at random (seeded,
# so the file is reproducible): the schedule pass gives it the sparse kernel.
import os
import numpy as np

rng = np.random.default_rng(2024)
w = rng.uniform(-0.5, 0.5, size=(100, 77)).astype(np.float32)
w[rng.random(w.shape) >= 0.05] = 0
np.save(os.path.join(os.path.dirname(os.path.abspath(__file__)), "sparse_fc1.npy"), w)
