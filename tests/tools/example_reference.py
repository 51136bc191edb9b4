#!/usr/bin/env python3
"""Independent NumPy implementations of the networks in examples/, used to
verify the numbers the tests under tests/lit/run/examples/ expect.

  example_reference.py NAME [--digits=N] --input NAME=V1,V2;V3,V4 ...

prints the outputs of examples/NAME.nn in `soma run`'s format. Nothing here
runs soma or reads soma's parser: each network is written out again by hand
in NumPy, its weights taken from the same sources the .nn file names (the
literal arrays copied, .npy files read with np.load, .safetensors files
parsed here, the seeded initialisers re-implemented from their definition:
SplitMix64, Marsaglia's polar method, xavier/he scaling). Every op computes in float64 and
rounds its result to float32, which is the semantics soma documents.
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples")
f32 = np.float32


# --- seeded initialisers (docs/language.md, "Seeded initialisers") ---------

class SplitMix64:
    MASK = (1 << 64) - 1

    def __init__(self, seed):
        self.state = seed & self.MASK
        self.spare = None

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & self.MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self.MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self.MASK
        return z ^ (z >> 31)

    def uniform(self):  # [0, 1), 53 bits
        return (self.next() >> 11) * 2.0 ** -53

    def normal(self):  # Marsaglia's polar method; the pair's second value is kept
        if self.spare is not None:
            value, self.spare = self.spare, None
            return value
        while True:
            u = 2.0 * self.uniform() - 1.0
            v = 2.0 * self.uniform() - 1.0
            s = u * u + v * v
            if 0.0 < s < 1.0:
                break
        m = math.sqrt(-2.0 * math.log(s) / s)
        self.spare = v * m
        return u * m


def he(units, inputs, seed):
    rng, std = SplitMix64(seed), math.sqrt(2.0 / inputs)
    return np.array([std * rng.normal() for _ in range(units * inputs)], f32).reshape(units, inputs)


def xavier(units, inputs, seed):
    rng, limit = SplitMix64(seed), math.sqrt(6.0 / (inputs + units))
    return np.array([-limit + 2 * limit * rng.uniform() for _ in range(units * inputs)],
                    f32).reshape(units, inputs)


# --- ops: float64 arithmetic, float32 results --------------------------------

def r32(a):
    return np.asarray(a, np.float64).astype(f32)


def linear(x, w):  # x [N, in], w [units, in]
    return r32(x.astype(np.float64) @ w.astype(np.float64).T)


def bias_add(x, b):
    return r32(x.astype(np.float64) + b.astype(np.float64))


def relu(x):
    return r32(np.maximum(x.astype(np.float64), 0))


def leaky_relu(x, alpha):
    x = x.astype(np.float64)
    return r32(np.where(x > 0, x, float(f32(alpha)) * x))


def gelu(x):
    return r32([[0.5 * v * math.erfc(-v / math.sqrt(2)) for v in row] for row in x.astype(np.float64)])


def softmax(x):
    x = x.astype(np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return r32(e / e.sum(axis=-1, keepdims=True))


def batchnorm(x, mean, var, scale, shift, eps):
    x = x.astype(np.float64)
    eps = float(f32(eps))
    return r32((x - mean) / np.sqrt(var.astype(np.float64) + eps) * scale + shift)


def layernorm(x, scale, shift, eps=1e-5):
    x = x.astype(np.float64)
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return r32((x - mean) / np.sqrt(var + float(f32(eps))) * scale + shift)


def dense(x, w, b, act=lambda v: r32(v)):
    return act(bias_add(linear(x, w), b))


def conv2d(x, w, b, pad, groups=1, act=lambda v: r32(v)):
    """Stride 1, `pad` zeros on every side; x [N, C, H, W], w [O, C / groups, K, K]."""
    x = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    o, cg, k, _ = w.shape
    oh, ow = x.shape[2] - k + 1, x.shape[3] - k + 1
    y = np.zeros((x.shape[0], o, oh, ow))
    og = o // groups
    for g in range(groups):
        for i in range(k):
            for j in range(k):
                y[:, g * og:(g + 1) * og] += np.einsum(
                    "nchw,oc->nohw", x[:, g * cg:(g + 1) * cg, i:i + oh, j:j + ow],
                    w[g * og:(g + 1) * og, :, i, j].astype(np.float64))
    return act(y + b.astype(np.float64)[None, :, None, None])


def maxpool2(x):  # 2x2 windows side by side
    n, c, h, w = x.shape
    return x[:, :, :h // 2 * 2, :w // 2 * 2].reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


# --- a hand-written safetensors reader ----------------------------------------

def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        assert e["dtype"] == "F32", e
        b, end = e["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + b:8 + n + end], "<f4").reshape(e["shape"])
    return out


# --- the examples ---------------------------------------------------------------

def neuron(inp):
    w = np.array([[0.8, 0.6]], f32)
    return {"n": dense(inp["x"], w, np.array([0.2], f32), relu)}


def mlp(inp):
    h1 = dense(inp["x"], he(8, 4, 1), np.full(8, 0.1, f32), relu)
    h2 = dense(h1, he(8, 8, 2), np.zeros(8, f32), lambda v: r32(np.tanh(v.astype(np.float64))))
    logits = dense(h2, xavier(3, 8, 3), np.zeros(3, f32))
    return {"probs": softmax(logits)}


def residual(inp):
    ab = np.concatenate([inp["a"], inp["b"]], axis=-1)
    proj = dense(ab, xavier(4, 5, 7), np.zeros(4, f32))
    w = np.array([[0.5, -0.2, 0.1, 0.3, -0.4],
                  [0.0, 0.6, -0.1, 0.2, 0.1],
                  [-0.3, 0.2, 0.4, -0.5, 0.2],
                  [0.1, 0.1, 0.1, 0.1, 0.1]], f32)
    fc = dense(ab, w, np.array([0.05, -0.05, 0.0, 0.1], f32), gelu)
    bn = batchnorm(fc, np.array([0.1, 0.0, -0.1, 0.2], f32), np.array([1.0, 0.5, 2.0, 0.25], f32),
                   np.array([1.0, 1.5, 0.5, 1.0], f32), np.array([0.0, 0.1, 0.0, -0.1], f32), 0.001)
    s = r32(bn.astype(np.float64) + proj.astype(np.float64))
    ln = layernorm(s, np.ones(4, f32), np.zeros(4, f32), 1e-5)
    return {"y": leaky_relu(ln, 0.1)}


def files(inp):
    wdir = os.path.join(EXAMPLES, "weights")
    hidden = dense(inp["x"], np.load(os.path.join(wdir, "hidden_weight.npy")),
                   np.load(os.path.join(wdir, "hidden_bias.npy")), relu)
    st = read_safetensors(os.path.join(wdir, "head.safetensors"))
    norm = layernorm(hidden, st["norm.weight"], st["norm.bias"])
    logits = dense(norm, st["head.weight"], st["head.bias"])
    return {"logits": logits, "probs": softmax(logits)}


def cnn(inp):
    img = inp["img"].reshape(-1, 1, 8, 8)
    c1 = conv2d(img, he(8, 9, 1).reshape(8, 1, 3, 3), np.full(8, 0.1, f32), 1, act=relu)
    p1 = maxpool2(c1)
    dw = conv2d(p1, he(8, 9, 2).reshape(8, 1, 3, 3), np.zeros(8, f32), 1, groups=8)
    r = r32(p1.astype(np.float64) + dw.astype(np.float64))
    logits = linear(r.reshape(r.shape[0], -1), xavier(10, 128, 3))
    return {"out": softmax(bias_add(logits, np.zeros(10, f32)))}


NETWORKS = {"neuron": (neuron, {"x": 2}), "mlp": (mlp, {"x": 4}),
            "residual": (residual, {"a": 3, "b": 2}), "files": (files, {"x": 3}),
            "cnn": (cnn, {"img": 64})}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("name", choices=sorted(NETWORKS))
    ap.add_argument("--input", action="append", default=[])
    ap.add_argument("--digits", type=int, default=0)
    args = ap.parse_args()
    fn, sizes = NETWORKS[args.name]
    inputs = {}
    for spec in args.input:
        name, _, text = spec.partition("=")
        rows = [[float(v) for v in s.split(",")] for s in text.split(";")]
        inputs[name] = np.array(rows, f32).reshape(len(rows), sizes[name])
    for name, value in fn(inputs).items():
        print(f"{name}: f32[{', '.join(map(str, value.shape))}]")
        for n, row in enumerate(value.reshape(value.shape[0], -1)):
            vals = [("%.*g" % (args.digits, v)) if args.digits else repr(float(v)) for v in row]
            print(f"{name}[{n}]: " + " ".join(vals))
    return 0


if __name__ == "__main__":
    sys.exit(main())
