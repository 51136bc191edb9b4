"""soma.load_bundle: a bundle's shared library as a soma.Model, its runs
the JIT's bits with the same interface (and no copies) as a compiled
model's; pickling as the library's bytes; and its errors: a missing file,
a file that is not a bundle's library, and a bundle for another CPU."""
import os
import pickle
import shutil
import threading

import numpy as np
import pytest

import soma
from conftest import compile_bundle, cpu_flags


def test_a_bundle_runs_as_the_jit(mlp_bundle, examples, rng):
    b = soma.load_bundle(mlp_bundle, threads=1)
    jit = soma.compile(os.path.join(examples, "mlp.nn"), engine="jit")
    assert b.inputs == jit.inputs == {"x": (4,)} and b.outputs == jit.outputs
    assert b.bundle and not jit.bundle and b.engine == "jit" and b.source == str(mlp_bundle)
    assert repr(b) == ("<soma.Model '%s' inputs x: f32[4], outputs probs: f32[3], bundle>"
                       % mlp_bundle)
    x = rng.standard_normal((9, 4)).astype(np.float32)
    assert b.run(x=x)["probs"].tobytes() == jit.run(x=x)["probs"].tobytes()
    assert b.run({"x": x[0]})["probs"].shape == (3,)  # one sample, no batch axis
    assert b.run(x=x[:0])["probs"].shape == (0, 3)
    # float64 is converted; f32 is read where it is.
    np.testing.assert_array_equal(b.run(x=x.astype(np.float64))["probs"], b.run(x=x)["probs"])
    before = soma._core.converted_inputs()
    b.run(x=x)
    assert soma._core.converted_inputs() == before
    assert soma._core.last_input_addresses() == [x.ctypes.data]


def test_threads_share_a_loaded_bundle(mlp_bundle, rng):
    b = soma.load_bundle(mlp_bundle)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    want = b.run(x=x)["probs"].tobytes()
    got = []

    def work():
        for _ in range(50):
            got.append(b.run(x=x)["probs"].tobytes())
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 200 and all(g == want for g in got)


def test_a_bundle_pickles_as_its_bytes(mlp_bundle, tmp_path, rng):
    # The copy loads with the file gone: it travels as the library's bytes.
    library = tmp_path / "libmlp.so"
    shutil.copy(mlp_bundle, library)
    b = soma.load_bundle(library, threads=1)
    data = pickle.dumps(b)
    assert len(data) > os.path.getsize(library)
    os.remove(library)
    copy = pickle.loads(data)
    assert copy is not b and copy.bundle and copy.source == str(library)
    assert pickle.loads(data) is copy  # loaded once per process
    x = rng.standard_normal((5, 4)).astype(np.float32)
    assert copy.run(x=x)["probs"].tobytes() == b.run(x=x)["probs"].tobytes()
    with pytest.raises(soma.Error, match=r"libmlp\.so: error: input 'x' must have shape"):
        copy.run(x=np.zeros((2, 3), np.float32))


def test_external_weights_travel_with_the_bundle(examples, tmp_path, rng):
    out = compile_bundle(os.path.join(examples, "mlp.nn"), tmp_path / "ext", "--weights=external")
    b = soma.load_bundle(out / "libmlp.so")  # NET.weights found next to it
    x = rng.standard_normal((5, 4)).astype(np.float32)
    want = b.run(x=x)["probs"].tobytes()
    data = pickle.dumps(b)
    moved = tmp_path / "elsewhere.weights"
    os.rename(out / "mlp.weights", moved)
    with pytest.raises(soma.Error, match=r"cannot open weights file '.*mlp\.weights'"):
        soma.load_bundle(out / "libmlp.so")
    assert soma.load_bundle(out / "libmlp.so", weights=moved).run(x=x)["probs"].tobytes() == want
    assert pickle.loads(data).run(x=x)["probs"].tobytes() == want


def test_what_is_not_a_bundle_is_an_error(mlp_bundle, tmp_path, examples):
    with pytest.raises(soma.Error, match=r"^.*/missing/libmlp\.so: error: cannot open the bundle: "
                                         r"No such file or directory$"):
        soma.load_bundle(tmp_path / "missing" / "libmlp.so")
    text = tmp_path / "libtext.so"
    shutil.copy(os.path.join(examples, "mlp.nn"), text)
    with pytest.raises(soma.Error, match=r"libtext\.so: error: not a bundle's shared library \("):
        soma.load_bundle(text)
    # A bundle's library asked for another network's bundle.
    with pytest.raises(soma.Error, match=r"error: not a bundle of network 'other': the library "
                                         r"defines no soma_other_bundle"):
        soma.load_bundle(mlp_bundle, name="other")
    with pytest.raises(soma.Error, match=r"cannot tell the bundle's network from the file name"):
        soma.load_bundle(examples + "/mlp.nn")
    with pytest.raises(soma.Error, match=r"threads must be 0 or more, got -1"):
        soma.load_bundle(mlp_bundle, threads=-1)
    with pytest.raises(TypeError):
        soma.load_bundle(3)


def test_a_bundle_for_another_cpu_is_refused(examples, tmp_path):
    # bdver1 (AMD's FMA4 and XOP): no Intel CPU and no AMD one since Zen has them.
    if {"fma4", "xop"} & cpu_flags():
        pytest.skip("this CPU has FMA4 or XOP")
    out = compile_bundle(os.path.join(examples, "mlp.nn"), tmp_path / "bdver1", "--mcpu=bdver1")
    with pytest.raises(soma.Error) as e:
        soma.load_bundle(out / "libmlp.so")
    message = str(e.value)
    assert message.startswith("%s: error: bundle 'mlp' was compiled for CPU 'bdver1' (x86_64), "
                              "and this CPU (" % (out / "libmlp.so")), message
    assert "fma4" in message and "xop" in message and "--mcpu=x86-64-v3" in message, message
