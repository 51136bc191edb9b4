"""soma against NumPy computing the same network in float64: a network
with .npy weights, and an ONNX model built with onnx.helper."""
import numpy as np
import pytest

import soma

# The numerical contract for a few f32 layers against a float64 reference
# (docs/passes.md): relative to the output's scale.
RTOL = 1e-5


def close(got, ref):
    scale = np.abs(ref).max()
    assert np.all(np.abs(got - ref) <= RTOL * (np.abs(ref) + scale)), np.abs(got - ref).max()


def gelu(z):
    from math import erf, sqrt
    return 0.5 * z * (1 + np.vectorize(erf)(z / sqrt(2)))


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("engine", ["jit", "vec", "interp"])
def test_mlp_with_npy_weights_matches_numpy(tmp_path, rng, engine):
    w1 = rng.normal(0, 0.3, size=(32, 20)).astype(np.float32)
    b1 = rng.normal(0, 0.1, size=32).astype(np.float32)
    w2 = rng.normal(0, 0.3, size=(7, 32)).astype(np.float32)
    for name, array in (("w1", w1), ("b1", b1), ("w2", w2)):
        np.save(tmp_path / f"{name}.npy", array)
    (tmp_path / "mlp.nn").write_text("""network mlp {
  input x: f32[20]
  dense h(x) { units = 32; weights = npy("w1.npy"); bias = npy("b1.npy"); activation = gelu }
  dense logits(h) { units = 7; weights = npy("w2.npy"); bias = -0.5 }
  activation p(logits) { activation = softmax }
  output p
  output logits
}
""")
    m = soma.compile(tmp_path / "mlp.nn", engine=engine)
    x = rng.uniform(-2, 2, size=(50, 20)).astype(np.float32)
    out = m.run(x=x)
    h = gelu(x.astype(np.float64) @ w1.T.astype(np.float64) + b1)
    logits = h @ w2.T.astype(np.float64) - 0.5
    close(out["logits"], logits)
    close(out["p"], softmax(logits))


def test_onnx_model_matches_numpy(tmp_path, rng):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    w = rng.normal(0, 0.5, size=(8, 5)).astype(np.float32)   # Gemm with transB: [out, in]
    b = rng.normal(0, 0.1, size=8).astype(np.float32)
    w2 = rng.normal(0, 0.5, size=(8, 3)).astype(np.float32)  # MatMul: [in, out]
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["input.1", "w", "b"], ["g"], transB=1),
         helper.make_node("Relu", ["g"], ["r"]),
         helper.make_node("MatMul", ["r", "w2"], ["m"]),
         helper.make_node("Sigmoid", ["m"], ["score"])],
        "scorer",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["N", 5])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b"),
         numpy_helper.from_array(w2, "w2")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.save(model, str(tmp_path / "scorer.onnx"))

    m = soma.compile(str(tmp_path / "scorer.onnx"), engine="jit")
    # ONNX names become names of the language: input.1 is input_1.
    assert m.inputs == {"input_1": (5,)} and m.outputs == {"score": (3,)}
    x = rng.uniform(-1, 1, size=(9, 5)).astype(np.float32)
    got = m.run({"input_1": x})["score"]
    r = np.maximum(x.astype(np.float64) @ w.T.astype(np.float64) + b, 0)
    close(got, 1 / (1 + np.exp(-(r @ w2.astype(np.float64)))))


def test_onnx_errors_carry_the_importers_diagnostics(tmp_path):
    (tmp_path / "broken.onnx").write_bytes(b"this is not protobuf")
    with pytest.raises(soma.Error, match=r"^soma: error: '.*broken\.onnx' is not a valid ONNX model"):
        soma.compile(str(tmp_path / "broken.onnx"))
