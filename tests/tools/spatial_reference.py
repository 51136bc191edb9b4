#!/usr/bin/env python3
"""Checks soma's convolution, pooling and reshape layers against NumPy.

  spatial_reference.py SOMA WORKDIR [--cases=N] [--seed=S] [--engines=interp,vec,jit]

Writes seeded random networks (one or two spatial layers each: conv1d and
conv2d with every stride, padding, dilation, group and activation variant,
odd sizes, maxpool and avgpool with and without the padding counted,
global_avgpool, flatten, reshape, a residual add of spatial values, and a
batchnorm and scaleshift per channel after them), their
weights and inputs as .npy files, and the outputs NumPy computes for them
here, independently: float64 arithmetic on the float32 weights and inputs,
each layer's result rounded to float32 once (the semantics docs/language.md
gives). Nothing here reads soma's code or output to compute a number.

Then runs `soma run NET --engine=E --input x=IN.npy --expect y=OUT.npy` for
every case and engine. The interpreter (double accumulation, one rounding)
must agree to 2 ulp (rtol 2.4e-7), plus 2^-21 of the largest sum of
|products| + |bias| (an intermediate value may round the other way, and a
later layer or a cancelling residual add carries that on); the other engines may sum in float32, so
they get a bound derived per case: (taps * channels + 2) * 2^-24 times the
largest sum of |products| + |bias|, plus the activations' 1e-6 relative
contract. step, which a rounding can flip, is checked on the interpreter only.
Prints one line per failure and a summary; exits 1 on any failure.
"""
import argparse
import math
import os
import subprocess
import sys

import numpy as np

f32 = np.float32
ACTS = ["identity", "relu", "leaky_relu(alpha = 0.2)", "sigmoid", "tanh", "gelu", "silu",
        "elu(alpha = 0.5)", "softplus", "hard_sigmoid", "step(threshold = 0.1)"]


def activation(name, x):
    with np.errstate(over="ignore", invalid="ignore"):
        if name == "identity":
            return x
        if name == "relu":
            return np.where(x > 0, x, 0.0)
        if name.startswith("leaky_relu"):
            return np.where(x > 0, x, 0.2 * x)
        if name == "sigmoid":
            return 1.0 / (1.0 + np.exp(-x))
        if name == "tanh":
            return np.tanh(x)
        if name == "gelu":
            return 0.5 * x * np.vectorize(math.erfc)(-x / math.sqrt(2.0))
        if name == "silu":
            return x / (1.0 + np.exp(-x))
        if name.startswith("elu"):
            return np.where(x > 0, x, 0.5 * np.expm1(x))
        if name == "softplus":
            return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))
        if name == "hard_sigmoid":
            return np.clip(x / 6.0 + 0.5, 0.0, 1.0)
        if name.startswith("step"):
            return np.where(x > 0.1, 1.0, 0.0)
    raise ValueError(name)


def windows(xp, k, s, d, out):
    """xp [N, C, H, W] (padded): for each tap (kh, kw), the strided view of
    the inputs it meets, [N, C, OH, OW]."""
    for kh in range(k[0]):
        for kw in range(k[1]):
            h0, w0 = kh * d[0], kw * d[1]
            yield kh, kw, xp[:, :, h0:h0 + (out[0] - 1) * s[0] + 1:s[0],
                             w0:w0 + (out[1] - 1) * s[1] + 1:s[1]]


def out_size(size, pb, pe, span, stride):
    return (size + pb + pe - span) // stride + 1


def conv(x, w, b, s, p, d, groups):
    """x [N, C, H, W], w [O, C/g, KH, KW], p [top, left, bottom, right]; float64
    sums, with the largest sum of |products| + |bias| for the error bound."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[2]), (p[1], p[3])))
    out = (out_size(h, p[0], p[2], d[0] * (kh - 1) + 1, s[0]),
           out_size(wd, p[1], p[3], d[1] * (kw - 1) + 1, s[1]))
    y = np.zeros((n, o) + out)
    mag = np.zeros_like(y)
    og = o // groups
    for g in range(groups):
        xs = xp[:, g * cg:(g + 1) * cg]
        ws = w[g * og:(g + 1) * og]
        for i, j, view in windows(xs, (kh, kw), s, d, out):
            y[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", view, ws[:, :, i, j])
            mag[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", np.abs(view),
                                                     np.abs(ws[:, :, i, j]))
    y += b[None, :, None, None]
    mag += np.abs(b)[None, :, None, None]
    return y, float(mag.max()) if mag.size else 0.0, cg * kh * kw


def pool(x, kind, k, s, p, include):
    n, c, h, wd = x.shape
    out = (out_size(h, p[0], p[2], k[0], s[0]), out_size(wd, p[1], p[3], k[1], s[1]))
    pads = ((0, 0), (0, 0), (p[0], p[2]), (p[1], p[3]))
    if kind == "max":
        xp = np.pad(x, pads, constant_values=-np.inf)
        y = np.full((n, c) + out, -np.inf)
        for _, _, view in windows(xp, k, s, (1, 1), out):
            y = np.maximum(y, view)
        return y
    xp = np.pad(x, pads)
    ones = np.pad(np.ones((1, 1, h, wd)), pads)
    y = np.zeros((n, c) + out)
    count = np.zeros((1, 1) + out)
    for _, _, view in windows(xp, k, s, (1, 1), out):
        y += view
    for _, _, view in windows(ones, k, s, (1, 1), out):
        count += view
    return y / (k[0] * k[1] if include else count)


class Case:
    def __init__(self, rng, index, workdir):
        self.rng, self.dir = rng, os.path.join(workdir, "case%03d" % index)
        os.makedirs(self.dir, exist_ok=True)
        self.lines, self.files = [], 0
        self.bound = 0.0  # absolute error bound for float32-summing engines
        # ... and for the interpreter: its double sums, in another order than
        # NumPy's, may round an intermediate value to the neighbouring f32,
        # which a later sum or a cancelling residual add carries on.
        self.interp_bound = 0.0
        self.interp_only = False

    def npy(self, array):
        self.files += 1
        name = "t%d.npy" % self.files
        np.save(os.path.join(self.dir, name), np.asarray(array, dtype=f32))
        return 'npy("%s")' % name

    def rand(self, *shape):
        return self.rng.uniform(-1, 1, size=shape).astype(f32)


def same_pads(rank, k, d, s, sizes):
    """ONNX's SAME_UPPER: ceil(size / stride) outputs, the odd pad at the end."""
    pads = []
    for a in range(rank):
        out = -(-sizes[a] // s[a])
        total = max((out - 1) * s[a] + d[a] * (k[a] - 1) + 1 - sizes[a], 0)
        pads.append((total // 2, total - total // 2))
    return [pb for pb, _ in pads] + [pe for _, pe in pads]


def padding_text(rng, rank, k, d, s, sizes):
    """A padding attribute in one of its forms and the pads it means,
    [begin per axis, end per axis]."""
    form = rng.randint(5)
    if form == 0:
        return None, [0] * (2 * rank)
    if form == 1:
        return "same", same_pads(rank, k, d, s, sizes)
    if form == 2:
        v = int(rng.randint(0, 3))
        return str(v), [v] * (2 * rank)
    if form == 3:
        per = [int(v) for v in rng.randint(0, 3, size=rank)]
        return "[%s]" % ", ".join(map(str, per)), per + per
    sides = [int(v) for v in rng.randint(0, 3, size=2 * rank)]
    return "[%s]" % ", ".join(map(str, sides)), sides


def as2d(rank, values, one):
    return values if rank == 2 else [one] + values


def pads2d(rank, pads):
    return pads if rank == 2 else [0, pads[0], 0, pads[1]]


def add_conv(case, x, name, src, keep_shape=False):
    """A conv layer on x ([N, C, ...] float64 values of `src`); returns its
    result, of x's shape when keep_shape (stride 1, same padding)."""
    rng = case.rng
    rank = x.ndim - 2
    c = x.shape[1]
    groups = int(rng.choice([g for g in (1, 2, 3, c) if c % g == 0]))
    filters = c if keep_shape else groups * int(rng.randint(1, 4))
    sizes = list(x.shape[2:])
    k = [int(rng.randint(1, min(4, sizes[a] + 1) + 1)) for a in range(rank)]
    d = [int(rng.choice([1, 1, 2])) for _ in range(rank)]
    s = [1] * rank if keep_shape else [int(rng.choice([1, 1, 2, 3])) for _ in range(rank)]
    ptext, pads = padding_text(rng, rank, k, d, s, sizes)
    if keep_shape:
        ptext, pads = "same", same_pads(rank, k, d, s, sizes)
    for a in range(rank):  # same always fits; shrink the others' windows to fit
        while d[a] * (k[a] - 1) + 1 > sizes[a] + pads[a] + pads[rank + a]:
            if d[a] > 1:
                d[a] = 1
            else:
                k[a] -= 1
    # step, which only the interpreter is checked on, one time in 20.
    act = ACTS[-1] if rng.randint(20) == 0 else ACTS[rng.randint(len(ACTS) - 1)]
    case.interp_only |= act.startswith("step")
    w = case.rand(filters, c // groups, *k)
    b = case.rand(filters)
    attrs = ["filters = %d" % filters, "kernel = %s" % (k[0] if len(set(k)) == 1 and rng.randint(2)
                                                        else "[%s]" % ", ".join(map(str, k)))]
    if s != [1] * rank or rng.randint(2):
        attrs.append("stride = [%s]" % ", ".join(map(str, s)))
    if d != [1] * rank:
        attrs.append("dilation = [%s]" % ", ".join(map(str, d)))
    if groups != 1:
        attrs.append("groups = %d" % groups)
    if ptext is not None:
        attrs.append("padding = %s" % ptext)
    attrs += ["weights = %s" % case.npy(w), "bias = %s" % case.npy(b), "activation = %s" % act]
    case.lines.append("  conv%dd %s(%s) { %s }" % (rank, name, src, "; ".join(attrs)))
    x4 = x if rank == 2 else x[:, :, None, :]
    w4 = w.astype(np.float64) if rank == 2 else w.astype(np.float64)[:, :, None, :]
    y, mag, terms = conv(x4, w4, b.astype(np.float64), as2d(rank, s, 1), pads2d(rank, pads),
                         as2d(rank, d, 1), groups)
    case.bound = max(case.bound, (terms + 2) * 2.0 ** -24 * mag)
    case.interp_bound = max(case.interp_bound, 2.0 ** -21 * mag)
    y = activation(act, y).astype(f32).astype(np.float64)
    return y if rank == 2 else y[:, :, 0, :]


def add_pool(case, x, name, src):
    rng = case.rng
    rank = x.ndim - 2
    sizes = list(x.shape[2:])
    kind = "max" if rng.randint(2) else "avg"
    k = [int(rng.randint(1, min(3, sizes[a]) + 1)) for a in range(rank)]
    s = k if rng.randint(2) else [int(rng.randint(1, 3)) for _ in range(rank)]
    pads = [int(rng.randint(0, k[a % rank])) for a in range(2 * rank)]
    include = bool(rng.randint(2))
    attrs = ["kernel = [%s]" % ", ".join(map(str, k))]
    if s != k:
        attrs.append("stride = [%s]" % ", ".join(map(str, s)))
    if any(pads):
        attrs.append("padding = [%s]" % ", ".join(map(str, pads)))
    if kind == "avg":
        attrs.append("count_include_pad = %s" % ("true" if include else "false"))
    case.lines.append("  %spool %s(%s) { %s }" % (kind, name, src, "; ".join(attrs)))
    x4 = x if rank == 2 else x[:, :, None, :]
    y = pool(x4, kind, as2d(rank, k, 1), as2d(rank, s, 1), pads2d(rank, pads), include)
    y = y.astype(f32).astype(np.float64)
    return y if rank == 2 else y[:, :, 0, :]


def add_channel_norm(case, y, src):
    """A batchnorm per channel (axis = 0) of y ([N, C, ...]), then, half the
    time, a scaleshift per channel or per element of the last axis."""
    rng, c = case.rng, y.shape[1]
    mean, scale, shift = case.rand(c), case.rand(c), case.rand(c)
    var = rng.uniform(0.5, 2, size=c).astype(f32)
    eps = f32(1e-3)
    case.lines.append("  batchnorm n(%s) { mean = %s; variance = %s; scale = %s; shift = %s; "
                      "epsilon = 0.001; axis = 0 }"
                      % (src, case.npy(mean), case.npy(var), case.npy(scale), case.npy(shift)))
    per = [1, c] + [1] * (y.ndim - 2)
    s = (scale.astype(np.float64) / np.sqrt(var.astype(np.float64) + np.float64(eps)))
    y = ((y - mean.astype(np.float64).reshape(per)) * s.reshape(per)
         + shift.astype(np.float64).reshape(per)).astype(f32).astype(np.float64)
    # An error in y is scaled by |s|; the result's own rounding is in the rtol.
    case.bound *= float(np.abs(s).max())
    case.interp_bound *= float(np.abs(s).max())
    if rng.randint(2):
        return y, "n"
    last = rng.randint(2) == 0
    n = y.shape[-1] if last else c
    k, t = case.rand(n), case.rand(n)
    shape = [1] * (y.ndim - 1) + [n] if last else per
    case.lines.append("  scaleshift m(n) { scale = %s; shift = %s; axis = %d }"
                      % (case.npy(k), case.npy(t), -1 if last else 0))
    y = (y * k.astype(np.float64).reshape(shape)
         + t.astype(np.float64).reshape(shape)).astype(f32).astype(np.float64)
    case.bound *= float(np.abs(k).max())
    case.interp_bound *= float(np.abs(k).max())
    return y, "m"


def make_case(rng, index, workdir):
    case = Case(rng, index, workdir)
    rank = int(rng.randint(1, 3))
    c = int(rng.choice([1, 2, 3, 4, 6]))
    sizes = [int(v) for v in rng.randint(1 if rank == 2 else 2, 10, size=rank)]
    batch = int(rng.choice([1, 2, 3]))
    x = case.rand(batch, c, *sizes)
    case.input = x
    case.lines.append("  input x: f32[%s]" % ", ".join(map(str, [c] + sizes)))
    y = add_conv(case, x.astype(np.float64), "a", "x")
    tail = rng.randint(6)
    out = "a"
    if tail == 1:
        y = add_pool(case, y, "p", "a")
        out = "p"
    elif tail == 2:
        y2 = add_conv(case, y, "b", "a", keep_shape=True)
        if y2.shape == y.shape:  # a residual add of two spatial values
            case.lines.append("  add r(a, b)")
            y = (y + y2).astype(f32).astype(np.float64)
            out = "r"
        else:
            y, out = y2, "b"
    elif tail == 3:
        case.lines.append("  global_avgpool g(a)")
        y = y.reshape(y.shape[0], y.shape[1], -1).mean(axis=2).astype(f32).astype(np.float64)
        out = "g"
    elif tail == 4:
        flat = y.reshape(y.shape[0], -1)
        w = case.rand(3, flat.shape[1])
        case.lines.append("  flatten f(a)")
        case.lines.append("  dense d(f) { units = 3; weights = %s }" % case.npy(w))
        mag = float((np.abs(flat) @ np.abs(w.astype(np.float64)).T).max())
        case.bound = max(case.bound, (flat.shape[1] + 2) * 2.0 ** -24 * mag)
        case.interp_bound = max(case.interp_bound, 2.0 ** -21 * mag)
        y = (flat @ w.astype(np.float64).T).astype(f32).astype(np.float64)
        out = "d"
    elif tail == 5:
        case.lines.append("  reshape r(a) { shape = [-1] }")
        y, out = y.reshape(y.shape[0], -1), "r"
    if y.ndim >= 3 and rng.randint(3) == 0:
        y, out = add_channel_norm(case, y, out)
    case.lines.append("  output %s" % out)
    case.output, case.expected = out, y.astype(f32)
    with open(os.path.join(case.dir, "net.nn"), "w") as f:
        f.write("network case%03d {\n%s\n}\n" % (index, "\n".join(case.lines)))
    np.save(os.path.join(case.dir, "x.npy"), case.input)
    np.save(os.path.join(case.dir, "want.npy"), case.expected)
    return case


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("soma")
    ap.add_argument("workdir")
    ap.add_argument("--cases", type=int, default=60)
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--engines", default="interp,vec,jit")
    args = ap.parse_args()
    rng = np.random.RandomState(args.seed)
    failures, runs = 0, 0
    for i in range(args.cases):
        case = make_case(rng, i, args.workdir)
        for engine in args.engines.split(","):
            if engine != "interp" and case.interp_only:
                continue
            if engine == "interp":
                tol = ["--rtol=2.4e-7", "--atol=%.3g" % max(case.interp_bound, 1e-9)]
            else:
                tol = ["--rtol=2e-6", "--atol=%.3g" % max(case.bound, 1e-9)]
            cmd = [args.soma, "run", "net.nn", "--engine=" + engine, "--input", "x=x.npy",
                   "--expect", "%s=want.npy" % case.output] + tol
            proc = subprocess.run(cmd, cwd=case.dir, capture_output=True, text=True)
            runs += 1
            if proc.returncode != 0:
                failures += 1
                print("FAIL case%03d (seed %d) on %s:\n%s\n%s" %
                      (i, args.seed, engine, "\n".join(case.lines), proc.stderr.strip()))
    print("%d cases, %d runs, %d failures" % (args.cases, runs, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
