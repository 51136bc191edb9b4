"""soma.compile, Model.run and the model's attributes: the calls an
application makes, their results and shapes."""
import os
import pathlib
import pickle

import numpy as np
import pytest

import soma
from conftest import MULTI

NEURON_TEXT = """network neuron {
  input x: f32[2]
  neuron n(x) { weights = [0.8, 0.6]; bias = 0.2; activation = relu }
  output n
}
"""


def test_compile_file_inspect_and_run(examples):
    m = soma.compile(os.path.join(examples, "neuron.nn"))
    assert m.inputs == {"x": (2,)}
    assert m.outputs == {"n": (1,)}
    assert m.engine == "auto"
    assert m.active_engine in ("vec", "jit")
    assert m.warnings == ""
    assert m.source.endswith("neuron.nn")
    out = m.run(x=np.array([[0.5, 0.3]], np.float32))
    assert list(out) == ["n"]
    assert out["n"].dtype == np.float32 and out["n"].shape == (1, 1)
    assert out["n"][0, 0] == pytest.approx(0.78, abs=1e-6)
    assert repr(m) == ("<soma.Model '%s' inputs x: f32[2], outputs n: f32[1], engine auto>"
                       % m.source)


def test_compile_text_and_pathlike(examples):
    text = soma.compile(NEURON_TEXT, engine="jit")
    assert text.source == "<string>" and text.engine == "jit"
    named = soma.compile(NEURON_TEXT, name="neuron.nn")
    assert named.source == "neuron.nn"
    path = soma.compile(pathlib.Path(examples) / "neuron.nn", engine="interp")
    x = np.array([[0.5, 0.3], [-1, -1], [2, 0]], np.float32)
    expected = np.maximum(x @ np.array([0.8, 0.6], np.float32) + 0.2, 0)[:, None]
    for m in (text, named, path):
        np.testing.assert_allclose(m.run(x=x)["n"], expected, rtol=1e-6)


@pytest.mark.parametrize("engine", ["auto", "jit", "vec", "interp"])
def test_engines_and_threads_agree(examples, rng, engine):
    ref = soma.compile(os.path.join(examples, "mlp.nn"), engine="interp")
    m = soma.compile(os.path.join(examples, "mlp.nn"), engine=engine, threads=1)
    x = rng.uniform(-2, 2, size=(37, 4)).astype(np.float32)
    got, want = m.run(x=x)["probs"], ref.run(x=x)["probs"]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got.sum(axis=1), 1, rtol=1e-5)


def test_wait_for_jit_switches_auto_to_jit(examples):
    m = soma.compile(os.path.join(examples, "mlp.nn"))
    m.wait_for_jit()
    assert m.active_engine == "jit"


def test_one_sample_batches_and_empty_batch():
    m = soma.compile(MULTI, engine="jit")
    assert list(m.inputs.items()) == [("b", (3,)), ("a", (2, 2))]
    assert list(m.outputs.items()) == [("y", (5,)), ("z", (4,))]
    a = np.arange(4, dtype=np.float32).reshape(2, 2)
    b = np.array([1, -1, 0.5], np.float32)
    one = m.run(a=a, b=b)
    assert one["y"].shape == (5,) and one["z"].shape == (4,)
    batch = m.run(a=np.stack([a, -a]), b=np.stack([b, b]))
    assert batch["y"].shape == (2, 5) and batch["z"].shape == (2, 4)
    np.testing.assert_array_equal(batch["y"][0], one["y"])
    # A sample given alone beside a batch of one is a batch of one.
    mixed = m.run(a=a[None], b=b)
    assert mixed["y"].shape == (1, 5)
    empty = m.run(a=np.zeros((0, 2, 2), np.float32), b=np.zeros((0, 3), np.float32))
    assert empty["y"].shape == (0, 5) and empty["z"].shape == (0, 4)


def test_inputs_as_a_dict_for_any_name():
    m = soma.compile(MULTI, engine="vec")
    a = np.ones((3, 2, 2), np.float32)
    b = np.ones((3, 3), np.float32)
    np.testing.assert_array_equal(m.run({"a": a, "b": b})["y"], m.run(a=a, b=b)["y"])
    np.testing.assert_array_equal(m.run({"a": a}, b=b)["y"], m.run(a=a, b=b)["y"])


def test_outputs_are_new_writable_arrays():
    m = soma.compile(NEURON_TEXT, engine="jit")
    x = np.ones((4, 2), np.float32)
    first, second = m.run(x=x)["n"], m.run(x=x)["n"]
    assert first.flags.c_contiguous and first.flags.writeable and first.flags.owndata
    assert not np.shares_memory(first, second)
    first[:] = 7
    np.testing.assert_allclose(second, 1.6, rtol=1e-6)


def test_pickle_compiles_once_per_process(examples, tmp_path):
    for source in (os.path.join(examples, "neuron.nn"), NEURON_TEXT):
        m = soma.compile(source, engine="vec", threads=1)
        data = pickle.dumps(m)
        assert len(data) < 1000  # the source and options, not compiled code
        again = pickle.loads(data)
        assert pickle.loads(data) is again
        assert again.engine == "vec" and again.inputs == m.inputs
        x = np.array([[0.5, 0.3]], np.float32)
        np.testing.assert_array_equal(again.run(x=x)["n"], m.run(x=x)["n"])
    # A path is pickled absolute: unpickled from another directory, it still compiles.
    data = pickle.dumps(soma.compile(os.path.relpath(os.path.join(examples, "neuron.nn"))))
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        assert pickle.loads(data).outputs == {"n": (1,)}
    finally:
        os.chdir(cwd)


def test_version():
    assert soma.__version__.count(".") == 2
