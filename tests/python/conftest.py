"""Fixtures of the Python module's tests (tests/python, run by ctest as
`python`: PYTHONPATH holds the build tree's python/ directory)."""
import os
import subprocess

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


def compile_bundle(net, out, *flags):
    """`soma compile NET --emit=bundle -o OUT FLAGS...` with the build's
    soma (SOMA_TOOL, which ctest sets); the test is skipped without it."""
    tool = os.environ.get("SOMA_TOOL")
    if not tool:
        pytest.skip("SOMA_TOOL (the soma command) is not set")
    subprocess.run([tool, "compile", str(net), "--emit=bundle", "-o", str(out)] + list(flags),
                   check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return out


@pytest.fixture(scope="session")
def mlp_bundle(tmp_path_factory):
    """examples/mlp.nn compiled into a bundle: DIR/libmlp.so."""
    out = tmp_path_factory.mktemp("mlp-bundle")
    return compile_bundle(os.path.join(EXAMPLES, "mlp.nn"), out) / "libmlp.so"


def cpu_flags():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()
