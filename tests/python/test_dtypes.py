"""Input values: a C-contiguous, aligned, native f32 array is read in place
(soma is handed the array's own address, soma._core.last_input_addresses(),
and soma._core.converted_inputs() does not move); anything else is
converted to f32 once, and gives the results of its f32 conversion."""
import numpy as np
import pytest

import soma
from conftest import MULTI
from soma import _core

NET = """network wide {
  input x: f32[6]
  dense y(x) { units = 3; weights = he(seed = 4); bias = 0.25; activation = tanh }
  output y
}
"""


@pytest.fixture(scope="module")
def model():
    return soma.compile(NET, engine="jit")


def run_counting(model, x):
    before = _core.converted_inputs()
    y = model.run(x=x)["y"]
    return y, _core.converted_inputs() - before


def test_contiguous_f32_is_not_copied(model, rng):
    base = rng.uniform(-1, 1, size=(5, 6)).astype(np.float32)
    y, copies = run_counting(model, base)
    assert copies == 0
    # Also when the array is a read-only view, or a contiguous slice of a
    # larger buffer (rows 1..3): soma reads the caller's memory.
    view = base.view()
    view.flags.writeable = False
    for x, rows in ((view, slice(None)), (base[1:4], slice(1, 4))):
        got, copies = run_counting(model, x)
        assert copies == 0
        np.testing.assert_array_equal(got, y[rows])


def test_soma_gets_the_callers_buffer(model, rng):
    # The address soma was handed is the array's own memory; a converted
    # input's is not.
    x = rng.uniform(-1, 1, size=(3, 6)).astype(np.float32)
    model.run(x=x)
    assert _core.last_input_addresses() == [x.ctypes.data]
    model.run(x=x[1:])
    assert _core.last_input_addresses() == [x[1:].ctypes.data]
    x64 = x.astype(np.float64)
    model.run(x=x64)
    assert _core.last_input_addresses() != [x64.ctypes.data]
    # f32 but unaligned: copied to an aligned buffer.
    unaligned = np.frombuffer(b"\0" + x.tobytes(), np.float32, offset=1).reshape(x.shape)
    model.run(x=unaligned)
    (address,) = _core.last_input_addresses()
    assert address != unaligned.ctypes.data and address % 4 == 0
    # Several inputs: each one's own buffer, in the model's order.
    multi = soma.compile(MULTI, engine="vec")
    a, b = np.ones((2, 2, 2), np.float32), np.ones((2, 3), np.float32)
    multi.run(a=a, b=b)
    assert _core.last_input_addresses() == [b.ctypes.data, a.ctypes.data]


def test_no_copy_is_kept_between_calls(model):
    # The same array, changed in place between two runs, gives the new
    # answer: the binding keeps no copy of its own.
    x = np.zeros((2, 6), np.float32)
    first = model.run(x=x)["y"]
    x[1] = 1
    second = model.run(x=x)["y"]
    np.testing.assert_array_equal(first[0], second[0])
    assert not np.array_equal(first[1], second[1])


def converted_forms(x32):
    """Values that need a conversion, each equal to x32 after it."""
    big_endian = x32.astype(">f4")
    fortran = np.asfortranarray(x32)
    strided = np.repeat(x32, 2, axis=1)[:, ::2]
    wide = np.zeros((x32.shape[0], 12), np.float32)
    wide[:, ::2] = x32
    unaligned = np.frombuffer(b"\0" + x32.tobytes(), np.float32, offset=1).reshape(x32.shape)
    return {
        "f64": x32.astype(np.float64),
        "f16": x32.astype(np.float16),
        "big-endian f32": big_endian,
        "fortran order": fortran,
        "strided": strided,
        "every other column": wide[:, ::2],
        "unaligned": unaligned,
        "list": x32.tolist(),
    }


def test_other_values_are_converted(model, rng):
    x32 = rng.uniform(-1, 1, size=(4, 6)).astype(np.float32)
    y, _ = run_counting(model, x32)
    for label, x in converted_forms(x32).items():
        if label == "f16":
            # f16 is lossy: compare with its own f32 conversion.
            want = model.run(x=x.astype(np.float32))["y"]
        else:
            want = y
        got, copies = run_counting(model, x)
        assert copies == 1, label
        np.testing.assert_array_equal(got, want, err_msg=label)


def test_f64_is_rounded_to_f32(model):
    # 1 + 2^-30 is not an f32: the input is rounded to 1 before the run.
    x = np.full((1, 6), 1 + 2.0 ** -30)
    np.testing.assert_array_equal(model.run(x=x)["y"], model.run(x=np.ones((1, 6), np.float32))["y"])


def test_integers_and_booleans(model):
    ints = np.arange(12, dtype=np.int64).reshape(2, 6) - 6
    np.testing.assert_array_equal(model.run(x=ints)["y"],
                                  model.run(x=ints.astype(np.float32))["y"])
    flags = np.array([[True, False] * 3])
    np.testing.assert_array_equal(model.run(x=flags)["y"],
                                  model.run(x=flags.astype(np.float32))["y"])


def test_a_conversion_out_of_memory_is_a_memory_error(model):
    # A broadcast view of 10^12 samples reads 8 bytes; its f32 copy would
    # need 8 TB.
    with pytest.raises(MemoryError):
        model.run(x=np.broadcast_to(np.float32(1), (10 ** 12, 6)))
