"""Fixtures of the Python module's tests (tests/python, run by ctest as
`python`: PYTHONPATH holds the build tree's python/ directory)."""
import os

import numpy as np
import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples")


@pytest.fixture
def examples():
    return os.path.abspath(EXAMPLES)


@pytest.fixture
def rng():
    return np.random.default_rng(20)


# Two inputs, two outputs, a hidden layer both outputs share: names and
# order matter (b is declared before a).
MULTI = """network multi {
  input b: f32[3]
  input a: f32[2, 2]
  dense h(a) { units = 4; weights = he(seed = 1); bias = 0.1; activation = relu }
  concat c(h, b)
  dense y(c) { units = 5; weights = glorot(seed = 2) }
  output y
  output z = h
}
"""
