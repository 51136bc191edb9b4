"""Every mistake raises soma.Error (a RuntimeError) carrying soma's
diagnostics, or TypeError for a call Python itself would refuse; nothing
crashes."""
import numpy as np
import pytest

import soma
from conftest import MULTI

BAD = """network bad {
  input x: f32[2]
  neuron a(y) { weights = [1, 2] }
  output a
}
"""

NEURON = """network neuron {
  input x: f32[2]
  neuron n(x) { weights = [0.8, 0.6]; bias = 0.2; activation = relu }
  output n
}
"""


def message(excinfo):
    return str(excinfo.value)


def test_compile_errors_carry_the_diagnostics():
    with pytest.raises(soma.Error) as e:
        soma.compile(BAD, name="bad.nn")
    assert message(e) == ("bad.nn:3:12: error: unknown name 'y'; did you mean 'x'?\n"
                          "  neuron a(y) { weights = [1, 2] }\n"
                          "           ^")
    assert isinstance(e.value, RuntimeError)
    assert type(e.value).__module__ == "soma" and type(e.value).__name__ == "Error"


def test_missing_file_and_bad_options(tmp_path):
    with pytest.raises(soma.Error, match=r"^soma: error: .*nothing-here\.nn"):
        soma.compile(str(tmp_path / "nothing-here.nn"))
    with pytest.raises(soma.Error, match=r"^soma: error: unknown engine 'fast' "):
        soma.compile(NEURON, engine="fast")
    with pytest.raises(soma.Error, match=r"^soma: error: unknown sparsity 'some' "):
        soma.compile(NEURON, sparsity="some")
    with pytest.raises(soma.Error, match=r"^soma: error: thread count -1 is not in 0\.\.1024"):
        soma.compile(NEURON, threads=-1)
    with pytest.raises(soma.Error, match=r"^soma: error: optimisation level 5 is not in 0\.\.3"):
        soma.compile(NEURON, opt_level=5)
    with pytest.raises(TypeError):
        soma.compile(b"network")
    with pytest.raises(TypeError):
        soma.compile(NEURON, threads="two")


@pytest.fixture
def multi():
    return soma.compile(MULTI, name="multi.nn", engine="jit")


def test_run_errors_name_the_model(multi):
    a = np.zeros((2, 2, 2), np.float32)
    b = np.zeros((2, 3), np.float32)
    cases = [
        (dict(a=a), "multi.nn: error: missing input 'b' of shape f32[N, 3]"),
        (dict(a=a, b=b, c=b), "multi.nn: error: the model has no input named 'c'; its inputs are 'b', 'a'"),
        (dict(a=a, b=b[:, :2]), "multi.nn: error: input 'b' must have shape f32[N, 3], got [2, 2]"),
        (dict(a=a, b=b[:1]), "multi.nn: error: input 'a' has batch size 2, but other buffers have 1"),
        (dict(a=a[0, 0], b=b), "multi.nn: error: input 'a' must have shape f32[N, 2, 2], got [2]"),
        (dict(a=a, b=np.zeros((2, 3), np.complex64)),
         "multi.nn: error: input 'b' has dtype complex64, which does not convert to f32"),
        (dict(a=a, b=np.array([["x"] * 3] * 2)),
         "multi.nn: error: input 'b' has dtype <U1, which does not convert to f32"),
        (dict(a=a, b=object()), "multi.nn: error: input 'b' has dtype object, which does not convert to f32"),
        (dict(a=a, b=[[1, 2, 3], [4, 5]]),
         "multi.nn: error: input 'b' is not an array of numbers (got a value of type 'list')"),
    ]
    for kwargs, expected in cases:
        with pytest.raises(soma.Error) as e:
            multi.run(**kwargs)
        assert message(e) == expected, kwargs


def test_run_errors_with_the_python_call(multi):
    with pytest.raises(TypeError, match="one dict of inputs"):
        multi.run({}, {})
    with pytest.raises(TypeError, match="must be a dict"):
        multi.run([np.zeros(3)])
    with pytest.raises(TypeError, match="names must be strings"):
        multi.run({1: np.zeros(3)})
    with pytest.raises(soma.Error, match="missing input 'b'"):
        multi.run()


def test_a_failed_run_leaves_the_model_usable(multi):
    with pytest.raises(soma.Error):
        multi.run(a=np.zeros((1, 2, 2)))
    out = multi.run(a=np.zeros((1, 2, 2)), b=np.zeros((1, 3)))
    assert out["y"].shape == (1, 5)
