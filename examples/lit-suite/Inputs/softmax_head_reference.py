"""Writes PREFIX.x.npy (64 seeded samples of 4 values) and PREFIX.golden.npy
(numpy-golden.nn's output for them, computed in float64).

  softmax_head_reference.py PREFIX
"""
import sys

import numpy as np

W = np.array([[0.5, -0.25, 0.125, 1.0],
              [-1.0, 0.5, 0.75, 0.25],
              [0.25, 0.25, -0.5, 0.5]])
b = np.array([0.1, -0.2, 0.0])

prefix = sys.argv[1]
x = np.random.default_rng(seed=2024).uniform(-3, 3, size=(64, 4)).astype(np.float32)
h = np.tanh(x.astype(np.float64) @ W.T + b)
e = np.exp(h - h.max(axis=1, keepdims=True))
probs = e / e.sum(axis=1, keepdims=True)
np.save(prefix + ".x.npy", x)
np.save(prefix + ".golden.npy", probs.astype(np.float32))
