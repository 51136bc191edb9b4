#!/usr/bin/python3
"""ONNX models for soma's import tests, built with python3-onnx's onnx.helper
(no downloads, nothing binary in the repository), with NumPy references
computed independently of soma, in float64.

  onnx_models.py make NAME DIR      writes DIR/NAME.onnx (and, for a model
                                    with a reference, DIR/x.npy, DIR/ref.npy)
  onnx_models.py run NAME DIR SOMA  makes NAME, runs it with `SOMA run` on
                                    each engine (interp, vec, jit) and checks
                                    the output against the reference within
                                    the numerical contract
  onnx_models.py list               the models

The contract (docs/passes.md): |got - ref| <= rtol * (|ref| + scale), scale
the largest magnitude of the output; the import folds constants into
weights ('reassociating', rtol 1e-5), and f32 sums against a float64
reference add a few roundings per weight, hence rtol 1e-5 with `scale`.
"""
import math
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

RTOL = 1e-5
RNG = np.random.default_rng(17)


def rand(*shape, scale=1.0):
    return (RNG.uniform(-1, 1, size=shape) * scale).astype(np.float32)


class Builder:
    """Collects nodes and initializers; names each value v0, v1, ..."""

    def __init__(self, opset=13):
        self.nodes, self.inits, self.opset, self.count = [], [], opset, 0

    def const(self, array, name=None):
        name = name or f"c{len(self.inits)}"
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op, inputs, outputs=1, name=None, **attrs):
        outs = []
        for _ in range(outputs):
            outs.append(f"v{self.count}")
            self.count += 1
        self.nodes.append(helper.make_node(op, inputs, outs, name=name or f"{op.lower()}{self.count}", **attrs))
        return outs[0] if outputs == 1 else outs

    def model(self, inputs, outputs):
        ins = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs]
        outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outputs]
        graph = helper.make_graph(self.nodes, "test", ins, outs, self.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])
        m.producer_name = "soma-tests"
        return m


def rename_output(b, value, name):
    """Gives the last node's output `value` the graph output name `name`."""
    for n in b.nodes:
        for i, o in enumerate(n.output):
            if o == value:
                n.output[i] = name
        for i, o in enumerate(n.input):
            if o == value:
                n.input[i] = name
    return name


# NumPy references (float64).
def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def erf(x):
    return np.vectorize(math.erf)(x)


def conv(x, w, b, stride, pads, dilation=(1, 1), group=1):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    oh = (h + pads[0] + pads[2] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + pads[1] + pads[3] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    y = np.zeros((n, o, oh, ow))
    per = o // group
    for f in range(o):
        g = f // per
        for i in range(oh):
            for j in range(ow):
                patch = xp[:, g * cg:(g + 1) * cg,
                           i * stride[0]:i * stride[0] + dilation[0] * (kh - 1) + 1:dilation[0],
                           j * stride[1]:j * stride[1] + dilation[1] * (kw - 1) + 1:dilation[1]]
                y[:, f, i, j] = (patch * w[f]).sum(axis=(1, 2, 3)) + (b[f] if b is not None else 0)
    return y


def pool(x, k, stride, pads, mode, count_include_pad=False):
    n, c, h, w = x.shape
    fill = -np.inf if mode == "max" else 0
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])), constant_values=fill)
    ones = np.pad(np.ones((h, w)), ((pads[0], pads[2]), (pads[1], pads[3])))
    oh = (h + pads[0] + pads[2] - k[0]) // stride[0] + 1
    ow = (w + pads[1] + pads[3] - k[1]) // stride[1] + 1
    y = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            sl = (slice(i * stride[0], i * stride[0] + k[0]), slice(j * stride[1], j * stride[1] + k[1]))
            patch = xp[:, :, sl[0], sl[1]]
            if mode == "max":
                y[:, :, i, j] = patch.max(axis=(2, 3))
            else:
                count = k[0] * k[1] if count_include_pad else ones[sl].sum()
                y[:, :, i, j] = patch.sum(axis=(2, 3)) / count
    return y


# Models: each returns (model, x, reference) or just a model (diagnostics).
def mlp_gemm():
    b = Builder(opset=13)
    x = rand(5, 8)
    w1, b1, w2, b2 = rand(16, 8), rand(16), rand(16, 4), rand(4)
    h = b.node("Gemm", ["x", b.const(w1), b.const(b1)], transB=1, alpha=0.5, beta=2.0)
    h = b.node("Relu", [h])
    y = b.node("Gemm", [h, b.const(w2), b.const(b2.reshape(1, 4))])
    y = rename_output(b, b.node("Softmax", [y]), "y")
    x64 = x.astype(np.float64)
    r = np.maximum(0.5 * x64 @ w1.T.astype(np.float64) + 2.0 * b1, 0)
    return b.model([("x", ["N", 8])], [y]), x, softmax(r @ w2.astype(np.float64) + b2)


def mlp_matmul():
    """MatMul + Add (folded into the bias) and the other activations."""
    b = Builder(opset=11)
    x = rand(3, 6, scale=2)
    acts = [("LeakyRelu", {"alpha": 0.2}, lambda v: np.where(v > 0, v, 0.2 * v)),
            ("Tanh", {}, np.tanh),
            ("Elu", {"alpha": 0.7}, lambda v: np.where(v > 0, v, 0.7 * np.expm1(v))),
            ("Softplus", {}, lambda v: np.log1p(np.exp(v))),
            ("HardSigmoid", {"alpha": 1 / 6}, lambda v: np.clip(v / 6 + 0.5, 0, 1)),
            ("Sigmoid", {}, sigmoid)]
    h, r = "x", x.astype(np.float64)
    for op, attrs, fn in acts:
        w, bias = rand(6, 6), rand(6)
        h = b.node("MatMul", [h, b.const(w)])
        h = b.node("Add", [h, b.const(bias)])
        h = b.node(op, [h], **attrs)
        r = fn(r @ w.astype(np.float64) + bias)
    return b.model([("x", ["batch", 6])], [rename_output(b, h, "y")]), x, r


def elementwise():
    """Add, Sub, Mul, Div with a constant side and with two values; Concat."""
    b = Builder(opset=13)
    x = rand(4, 5)
    c, d = rand(5), rand(1, 5) + 2
    a1 = b.node("Mul", [b.const(c), "x"])          # const first
    a2 = b.node("Div", ["x", b.const(d)])
    a3 = b.node("Sub", [b.const(np.float32(0.25)), "x"])
    s = b.node("Add", [a1, a2])
    t = b.node("Sub", [s, a3])
    m = b.node("Mul", [t, a2])
    y = b.node("Concat", [m, s, a3], axis=-1)
    x64 = x.astype(np.float64)
    r1, r2, r3 = c * x64, x64 / d, 0.25 - x64
    r = np.concatenate([(r1 + r2 - r3) * r2, r1 + r2, r3], axis=-1)
    return b.model([("x", ["N", 5])], [rename_output(b, y, "y")]), x, r


def patterns():
    """PyTorch's GELU (erf form, 5 nodes) and SiLU (2 nodes) become one op."""
    b = Builder(opset=13)
    x = rand(4, 6, scale=3)
    w = rand(6, 6)
    h = b.node("MatMul", ["x", b.const(w)], name="/fc/MatMul")
    d = b.node("Div", [h, b.const(np.float32(math.sqrt(2)))], name="/gelu/Div")
    e = b.node("Erf", [d], name="/gelu/Erf")
    a = b.node("Add", [e, b.const(np.float32(1))], name="/gelu/Add")
    m = b.node("Mul", [h, a], name="/gelu/Mul")
    g = b.node("Mul", [m, b.const(np.float32(0.5))], name="/gelu/Mul_1")
    s = b.node("Sigmoid", [g], name="/silu/Sigmoid")
    y = b.node("Mul", [g, s], name="/silu/Mul")
    r = x.astype(np.float64) @ w.astype(np.float64)
    r = r * 0.5 * (1 + erf(r / math.sqrt(2)))
    return b.model([("x", ["N", 6])], [rename_output(b, y, "y")]), x, r * sigmoid(r)


def activations():
    """Selu with its attributes, Softsign, GELU's tanh form with x^3 as
    Pow(x, 3) (PyTorch writes Mul(x, Mul(x, x)): tests/tools/torch_models.py),
    and LogSoftmax, which folds into the MatMul before it."""
    b = Builder(opset=13)
    x = rand(4, 6, scale=3)
    w1, w2 = rand(6, 6), rand(6, 5)
    h = b.node("MatMul", ["x", b.const(w1)], name="/fc1/MatMul")
    h = b.node("Selu", [h], name="/selu", alpha=1.5, gamma=0.75)
    h = b.node("Softsign", [h], name="/softsign")
    p = b.node("Pow", [h, b.const(np.float32(3))], name="/gelu/Pow")
    k = b.node("Mul", [b.const(np.float32(0.044715)), p], name="/gelu/Mul")
    a = b.node("Add", [h, k], name="/gelu/Add")
    i = b.node("Mul", [a, b.const(np.float32(math.sqrt(2 / math.pi)))], name="/gelu/Mul_1")
    t = b.node("Tanh", [i], name="/gelu/Tanh")
    o = b.node("Add", [b.const(np.float32(1)), t], name="/gelu/Add_1")
    m = b.node("Mul", [h, o], name="/gelu/Mul_2")
    g = b.node("Mul", [b.const(np.float32(0.5)), m], name="/gelu/Mul_3")
    h = b.node("MatMul", [g, b.const(w2)], name="/fc2/MatMul")
    y = b.node("LogSoftmax", [h], name="/log_softmax", axis=-1)
    r = x.astype(np.float64) @ w1.astype(np.float64)
    alpha, gamma = float(np.float32(1.5)), float(np.float32(0.75))
    r = gamma * np.where(r > 0, r, alpha * np.expm1(np.minimum(r, 0)))
    r = r / (1 + np.abs(r))
    r = 0.5 * r * (1 + np.tanh(math.sqrt(2 / math.pi) * (r + 0.044715 * r ** 3)))
    r = r @ w2.astype(np.float64)
    r = r - r.max(-1, keepdims=True)
    r = r - np.log(np.exp(r).sum(-1, keepdims=True))
    return b.model([("x", ["N", 6])], [rename_output(b, y, "y")]), x, r


def cnn():
    """Conv + BatchNormalization (folded) + Relu, MaxPool, a grouped Conv
    with SAME_UPPER padding, AveragePool, GlobalAveragePool, Flatten, Gemm."""
    b = Builder(opset=13)
    x = rand(2, 3, 9, 9)
    w1, b1 = rand(4, 3, 3, 3), rand(4)
    scale, shift, mean, var = rand(4) + 1.5, rand(4), rand(4), rand(4) + 1.2
    h = b.node("Conv", ["x", b.const(w1), b.const(b1)], pads=[1, 0, 1, 2], strides=[1, 2])
    h = b.node("BatchNormalization", [h, b.const(scale), b.const(shift), b.const(mean), b.const(var)],
               epsilon=1e-3)
    h = b.node("Relu", [h])
    h = b.node("MaxPool", [h], kernel_shape=[2, 2], strides=[1, 1])
    w2 = rand(4, 2, 3, 3)
    h = b.node("Conv", [h, b.const(w2)], group=2, auto_pad="SAME_UPPER", kernel_shape=[3, 3])
    h = b.node("AveragePool", [h], kernel_shape=[3, 2], pads=[1, 1, 1, 0], strides=[2, 1])
    h = b.node("GlobalAveragePool", [h])
    h = b.node("Flatten", [h])
    w3 = rand(3, 4)
    y = b.node("Gemm", [h, b.const(w3)], transB=1)
    x64 = x.astype(np.float64)
    r = conv(x64, w1, b1, (1, 2), (1, 0, 1, 2))
    sh = (1, 4, 1, 1)
    r = (r - mean.reshape(sh)) / np.sqrt(var.reshape(sh) + 1e-3) * scale.reshape(sh) + shift.reshape(sh)
    r = pool(np.maximum(r, 0), (2, 2), (1, 1), (0, 0, 0, 0), "max")
    r = conv(r, w2, None, (1, 1), (1, 1, 1, 1), group=2)
    r = pool(r, (3, 2), (2, 1), (1, 1, 1, 0), "avg")
    r = r.mean(axis=(2, 3))
    return b.model([("x", ["N", 3, 9, 9])], [rename_output(b, y, "y")]), x, r @ w3.T.astype(np.float64)


def shapes():
    """Identity, Dropout, Constant, Reshape (0 and -1), BatchNormalization
    over [N, C], a scalar Mul after a convolution folded into it."""
    b = Builder(opset=13)
    x = rand(3, 2, 6)
    h = b.node("Identity", ["x"])
    w = rand(3, 2, 3)
    h = b.node("Conv", [h, b.const(w)])
    h = b.node("Mul", [h, b.const(np.float32(1.5))])
    shape = b.node("Constant", [], value=numpy_helper.from_array(np.array([0, -1], np.int64)))
    h = b.node("Reshape", [h, shape])
    h = b.node("Dropout", [h], ratio=0.3)
    scale, shift, mean, var = rand(12) + 1.5, rand(12), rand(12), rand(12) + 1.2
    y = b.node("BatchNormalization", [h, b.const(scale), b.const(shift), b.const(mean), b.const(var)])
    x64 = x.astype(np.float64)
    r = np.zeros((3, 3, 4))
    for o in range(3):
        for i in range(4):
            r[:, o, i] = (x64[:, :, i:i + 3] * w[o]).sum(axis=(1, 2))
    r = (1.5 * r).reshape(3, 12)
    r = (r - mean) / np.sqrt(var + 1e-5) * scale + shift
    return b.model([("x", ["N", 2, 6])], [rename_output(b, y, "y")]), x, r


def more_ops():
    """LayerNormalization (opset 17), HardSwish, PRelu with one slope,
    Clip(0, inf), Unsqueeze, Transpose moving an axis of size 1, Squeeze,
    and a constant Transpose feeding MatMul."""
    b = Builder(opset=17)
    x = rand(4, 6, scale=4)
    w = rand(6, 6)
    wt = b.node("Transpose", [b.const(w.T.copy())], perm=[1, 0])
    h = b.node("MatMul", ["x", wt])
    scale, shift = rand(6) + 1.5, rand(6)
    h = b.node("LayerNormalization", [h, b.const(scale), b.const(shift)], epsilon=1e-3)
    h = b.node("HardSwish", [h])
    h = b.node("PRelu", [h, b.const(np.array([0.3], np.float32))])
    h = b.node("Unsqueeze", [h, b.const(np.array([1], np.int64))])
    h = b.node("Transpose", [h], perm=[0, 2, 1])
    h = b.node("Squeeze", [h, b.const(np.array([2], np.int64))])
    h = b.node("Clip", [h, b.const(np.float32(0))])
    x64 = x.astype(np.float64)
    r = x64 @ w.astype(np.float64)
    r = (r - r.mean(-1, keepdims=True)) / np.sqrt(r.var(-1, keepdims=True) + 1e-3) * scale + shift
    r = r * np.clip(r / 6 + 0.5, 0, 1)
    r = np.where(r > 0, r, 0.3 * r)
    return b.model([("x", ["N", 6])], [rename_output(b, h, "y")]), x, np.maximum(r, 0)


def channels():
    """Per-channel constants and BatchNormalization with no Conv before them
    (a depthwise 1x1 convolution), then folded into it; 1-D too."""
    b = Builder(opset=13)
    x = rand(2, 3, 4, 5)
    k, c = rand(3, 1, 1) + 2, rand(1, 3, 1, 1)
    scale, shift, mean, var = rand(3) + 1.5, rand(3), rand(3), rand(3) + 1.2
    h = b.node("Mul", ["x", b.const(k)])
    h = b.node("BatchNormalization", [h, b.const(scale), b.const(shift), b.const(mean), b.const(var)])
    h = b.node("Relu", [h])
    h = b.node("Sub", [h, b.const(c)])
    h = b.node("Reshape", [h, b.const(np.array([0, 3, 20], np.int64))])
    d = rand(3, 1)
    y = b.node("Div", [h, b.const(d + 3)])
    x64 = x.astype(np.float64)
    sh = (1, 3, 1, 1)
    r = x64 * k
    r = (r - mean.reshape(sh)) / np.sqrt(var.reshape(sh) + 1e-5) * scale.reshape(sh) + shift.reshape(sh)
    r = (np.maximum(r, 0) - c).reshape(2, 3, 20) / (d + 3)
    return b.model([("x", ["N", 3, 4, 5])], [rename_output(b, y, "y")]), x, r


def softplus_beta():
    """PyTorch's Softplus(beta = 2) export, Div(Softplus(Mul(x, 2)), 2),
    which becomes softplus(beta = 2); then the near miss Mul by 0.5 and Div
    by 2, three ops as written."""
    b = Builder(opset=13)
    x = rand(4, 6, scale=8)
    h = b.node("Mul", ["x", b.const(np.float32(2))], name="/sp/Mul")
    h = b.node("Softplus", [h], name="/sp/Softplus")
    h = b.node("Div", [h, b.const(np.float32(2))], name="/sp/Div")
    h = b.node("Mul", [h, b.const(np.float32(0.5))], name="/miss/Mul")
    h = b.node("Softplus", [h], name="/miss/Softplus")
    h = b.node("Div", [h, b.const(np.float32(2))], name="/miss/Div")
    r = np.logaddexp(0, 2 * x.astype(np.float64)) / 2
    r = np.logaddexp(0, 0.5 * r) / 2
    return b.model([("x", ["N", 6])], [rename_output(b, h, "y")]), x, r


def prelu_channels():
    """PRelu with a slope per channel of [N, C, H, W] as PyTorch's PReLU(C)
    exports it ([C, 1, 1]) and as [1, C, 1, 1], after a Conv; then one per
    feature of [N, K] ([K]) after a MatMul."""
    b = Builder(opset=13)
    x = rand(2, 3, 5, 6)
    w, bias = rand(8, 3, 3, 3), rand(8)
    s1, s2, s3 = rand(8, 1, 1), rand(1, 8, 1, 1), rand(7)
    wd = rand(8 * 5 * 6, 7)
    h = b.node("Conv", ["x", b.const(w), b.const(bias)], pads=[1, 1, 1, 1], name="/conv/Conv")
    h = b.node("PRelu", [h, b.const(s1)], name="/prelu1/PRelu")
    h = b.node("PRelu", [h, b.const(s2)], name="/prelu2/PRelu")
    h = b.node("Flatten", [h], axis=1)
    h = b.node("MatMul", [h, b.const(wd)], name="/fc/MatMul")
    y = b.node("PRelu", [h, b.const(s3)], name="/prelu3/PRelu")
    r = conv(x.astype(np.float64), w.astype(np.float64), bias.astype(np.float64), (1, 1), (1, 1, 1, 1))
    r = np.where(r > 0, r, s1.astype(np.float64) * r)
    r = np.where(r > 0, r, s2.astype(np.float64) * r)
    r = r.reshape(2, -1) @ wd.astype(np.float64)
    r = np.where(r > 0, r, s3.astype(np.float64) * r)
    return b.model([("x", ["N", 3, 5, 6])], [rename_output(b, y, "y")]), x, r


# Models that must be refused (tests/lit/onnx/errors).
def prelu_broadcast():
    b = Builder()
    y = b.node("PRelu", ["x", b.const(rand(3, 4, 1))], name="/act/PRelu")
    return b.model([("x", ["N", 3, 4, 5])], [rename_output(b, y, "y")])


def unsupported_op():
    b = Builder()
    return b.model([("x", ["N", 4])], [rename_output(b, b.node("Cos", ["x"], name="/act/Cos"), "y")])


def unsupported_attr():
    b = Builder()
    y = b.node("Gemm", ["x", b.const(rand(4, 2))], name="/fc/Gemm", transA=0, extra=3)
    return b.model([("x", ["N", 4])], [rename_output(b, y, "y")])


def gemm_trans_a():
    b = Builder()
    y = b.node("Gemm", ["x", b.const(rand(4, 2))], name="/fc/Gemm", transA=1)
    return b.model([("x", ["N", 4])], [rename_output(b, y, "y")])


def dynamic_dim():
    b = Builder()
    return b.model([("tokens", ["N", "seq"])], [rename_output(b, b.node("Relu", ["tokens"]), "y")])


def old_opset():
    """Opset 6's Add (with its broadcast attribute) is not opset 7's."""
    b = Builder(opset=6)
    y = b.node("Add", ["x", b.const(rand(4))], broadcast=1)
    return b.model([("x", ["N", 4])], [rename_output(b, y, "y")])


def old_opset_same():
    """Opset 6's Relu and Elu are opset 7's: read as opset 7."""
    b = Builder(opset=6)
    y = b.node("Elu", [b.node("Relu", ["x"])], alpha=0.5)
    return b.model([("x", ["N", 4])], [rename_output(b, y, "y")])


def softmax_axis():
    b = Builder()
    y = b.node("Softmax", ["x"], name="sm", axis=1)
    return b.model([("x", ["N", 3, 4])], [rename_output(b, y, "y")])


def reduce_mean():
    """A ReduceMean that is not a LayerNorm's."""
    b = Builder()
    y = b.node("ReduceMean", ["x"], name="mean", axes=[-1])
    return b.model([("x", ["N", 4])], [rename_output(b, y, "y")])


def abs_alone():
    """An Abs that is not a Softsign's: Div(x, Add(Abs(x), 2))."""
    b = Builder()
    a = b.node("Abs", ["x"], name="abs")
    a = b.node("Add", [a, b.const(np.float32(2))], name="add")
    y = b.node("Div", ["x", a], name="div")
    return b.model([("x", ["N", 4])], [rename_output(b, y, "y")])


def pow_alone():
    """A Pow that is not GELU's x^3 (its Mul by 0.044715 is missing)."""
    b = Builder()
    y = b.node("Pow", ["x", b.const(np.float32(3))], name="cube")
    return b.model([("x", ["N", 4])], [rename_output(b, y, "y")])


def weight_input():
    """Gemm's B as a graph input rather than an initializer."""
    b = Builder()
    y = b.node("Gemm", ["x", "w"], name="/fc/Gemm")
    return b.model([("x", ["N", 4]), ("w", [4, 2])], [rename_output(b, y, "y")])


def huge_initializer():
    """An initializer of shape [2^28, 2^28, 2^28] and no data: each
    dimension within soma's limit, their product past int64 (found by
    fuzz_onnx: the element count overflowed)."""
    b = Builder()
    w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1 << 28] * 3)
    b.inits.append(w)
    y = b.node("Gemm", ["x", "w"], name="/fc/Gemm")
    return b.model([("x", ["N", 4])], [rename_output(b, y, "y")])


def no_output():
    """A Mul ending the GELU pattern with no output (found by fuzz_onnx:
    the pattern read its first output)."""
    b = Builder()
    d = b.node("Div", ["x", b.const(np.float32(math.sqrt(2.0)))])
    e = b.node("Erf", [d])
    a = b.node("Add", [e, b.const(np.float32(1.0))])
    b.nodes.append(helper.make_node("Mul", ["x", a], [], name="/gelu/Mul"))
    return b.model([("x", ["N", 4])], [])


def clip_six():
    """ReLU6, Clip(0, 6), on its own; Clip(-1, 2.5) after a MatMul; Clip
    with only a min (-0.5, max absent: +inf), and with only a max (an empty
    name for min: -inf); HardSigmoid with ONNX's default alpha 0.2."""
    b = Builder(opset=13)
    x = rand(6, 8, scale=10)
    w = rand(8, 8)
    h = b.node("Clip", ["x", b.const(np.float32(0)), b.const(np.float32(6))], name="/relu6")
    h = b.node("MatMul", [h, b.const(w)])
    h = b.node("Clip", [h, b.const(np.float32(-1)), b.const(np.float32(2.5))], name="/clip")
    h = b.node("Clip", [h, b.const(np.float32(-0.5))], name="/clip_min")
    h = b.node("Clip", [h, "", b.const(np.float32(2))], name="/clip_max")
    y = b.node("HardSigmoid", [h], name="/hard_sigmoid")
    r = np.clip(np.clip(x.astype(np.float64), 0, 6) @ w.astype(np.float64), -1, 2.5)
    r = np.clip(np.maximum(r, -0.5), None, 2)
    r = np.clip(float(np.float32(0.2)) * r + 0.5, 0, 1)
    return b.model([("x", ["N", 8])], [rename_output(b, y, "y")]), x, r


def clip_range():
    b = Builder()
    y = b.node("Clip", ["x", b.const(np.float32(1)), b.const(np.float32(-1))], name="/clip")
    return b.model([("x", ["N", 4])], [rename_output(b, y, "y")])


def transpose_value():
    b = Builder()
    y = b.node("Transpose", ["x"], name="t", perm=[0, 2, 1])
    return b.model([("x", ["N", 2, 2])], [rename_output(b, y, "y")])


MODELS = {f.__name__: f for f in [mlp_gemm, mlp_matmul, elementwise, patterns, activations, cnn, shapes,
                                  more_ops, channels, softplus_beta, prelu_channels, prelu_broadcast, clip_six, clip_range, transpose_value,
                                  unsupported_op, unsupported_attr, gemm_trans_a, dynamic_dim,
                                  old_opset, old_opset_same, softmax_axis, reduce_mean, abs_alone, pow_alone,
                                  weight_input, huge_initializer, no_output]}


def make(name, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    made = MODELS[name]()
    model = made[0] if isinstance(made, tuple) else made
    onnx.save(model, os.path.join(out_dir, name + ".onnx"))
    if isinstance(made, tuple):
        np.save(os.path.join(out_dir, "x.npy"), made[1])
        np.save(os.path.join(out_dir, "ref.npy"), made[2])
    return made


def run(name, out_dir, soma):
    make(name, out_dir)
    ref = np.load(os.path.join(out_dir, "ref.npy"))
    ok = True
    for engine in ["interp", "vec", "jit"]:
        got_path = os.path.join(out_dir, f"got-{engine}.npy")
        proc = subprocess.run([soma, "run", os.path.join(out_dir, name + ".onnx"), "-q",
                               f"--engine={engine}", "--input", "x=" + os.path.join(out_dir, "x.npy"),
                               "--output", "y=" + got_path], capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{name}: engine {engine}: soma failed ({proc.returncode}):\n{proc.stderr}")
            ok = False
            continue
        got = np.load(got_path).astype(np.float64)
        if got.shape != ref.shape:
            print(f"{name}: engine {engine}: shape {got.shape}, reference {ref.shape}")
            ok = False
            continue
        scale = np.abs(ref).max()
        err = np.abs(got - ref)
        bound = RTOL * (np.abs(ref) + scale)
        worst = int(np.argmax(err - bound))
        good = bool(np.all(err <= bound))
        ok &= good
        print(f"{name}: engine {engine}: {'ok' if good else 'MISMATCH'} "
              f"(largest error {err.max():.3g}, {int((err > bound).sum())} elements beyond "
              f"rtol {RTOL} * (|ref| + {scale:.3g}); worst at {worst}: "
              f"got {got.flat[worst]:.9g}, reference {ref.flat[worst]:.9g})")
    return ok


def mutate(out_dir, soma, count, seed=1):
    """Imports `count` corrupted copies of the test models (bytes flipped,
    dropped or repeated, seeded) with `soma check`: each must end with exit
    status 0 or 1, never a signal, and within 10 s. Prints a summary."""
    import random
    rng = random.Random(seed)
    os.makedirs(out_dir, exist_ok=True)
    sources = []
    for name in ["mlp_gemm", "cnn", "patterns", "shapes", "more_ops", "channels"]:
        made = MODELS[name]()
        sources.append((made[0] if isinstance(made, tuple) else made).SerializeToString())
    statuses = {}
    for i in range(count):
        data = bytearray(rng.choice(sources))
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(len(data))
            kind = rng.randrange(3)
            if kind == 0:
                data[pos] = rng.randrange(256)
            elif kind == 1:
                del data[pos:pos + rng.randint(1, 16)]
            else:
                data[pos:pos] = data[pos:pos + rng.randint(1, 16)]
        path = os.path.join(out_dir, f"m{i}.onnx")
        with open(path, "wb") as f:
            f.write(data)
        try:
            proc = subprocess.run([soma, "check", "-q", path], capture_output=True, timeout=10)
        except subprocess.TimeoutExpired:
            print(f"mutant {i} (seed {seed}): timed out")
            return False
        if proc.returncode not in (0, 1):
            print(f"mutant {i} (seed {seed}): exit status {proc.returncode}\n{proc.stderr.decode()}")
            return False
        statuses[proc.returncode] = statuses.get(proc.returncode, 0) + 1
    print(f"{count} mutants: {statuses.get(0, 0)} import, {statuses.get(1, 0)} refused, no crash")
    return True


def main(argv):
    if len(argv) == 5 and argv[1] == "mutate":
        return 0 if mutate(argv[2], argv[3], int(argv[4])) else 1
    if len(argv) >= 2 and argv[1] == "list":
        print("\n".join(MODELS))
        return 0
    if len(argv) == 4 and argv[1] == "make" and argv[2] in MODELS:
        make(argv[2], argv[3])
        return 0
    if len(argv) == 5 and argv[1] == "run" and argv[2] in MODELS:
        return 0 if run(argv[2], argv[3], argv[4]) else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
