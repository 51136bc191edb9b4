#!/usr/bin/env python3
"""Checks soma's activation functions against values computed here, in
float64, independently of soma (Python's math module and NumPy only).

  check_activation.py inputs OUT.npy
      writes the standard sweep: a float32 batch [N, 1] covering -20..20 in
      steps of 0.1, large magnitudes (+-25 .. +-1e30, +-FLT_MAX), tiny and
      subnormal values, +-0, NaN and +-inf.

  check_activation.py rows OUT.npy
      writes float32 rows [R, 4] for softmax: ordinary rows, rows of equal
      and of huge values, rows holding NaN, -inf and +inf.

  check_activation.py check NAME [--param P] [--param2 Q] IN.npy OUT.npy
      recomputes NAME (identity, relu, leaky_relu, sigmoid, tanh, softmax,
      log_softmax, gelu, gelu_tanh, silu, elu, selu, softplus, softsign,
      hard_sigmoid, clip, step) on the float32 inputs in IN.npy and compares soma's
      output OUT.npy element by element. P and Q are the activation's
      parameters (alpha, threshold or softplus's beta; selu's alpha and gamma, hard_sigmoid's
      alpha and beta, clip's min and max; default:
      soma's defaults), rounded to f32 as soma stores them.

Comparison: an expected NaN needs a NaN, an expected infinity the same
infinity; otherwise |got - want| <= 1e-6 * |want|, with an absolute floor of
2^-149 (the smallest f32 step) so that results in f32's subnormal range,
which cannot carry 1e-6 relative precision, are held to correct rounding.
+0 and -0 compare equal. Exits 1 naming every mismatch (up to 20).
"""
import argparse
import math
import sys

import numpy as np

REL_TOL = 1e-6
ABS_FLOOR = 2.0 ** -149
FLT_MAX = float(np.finfo(np.float32).max)
FLT_MIN_NORMAL = float(np.finfo(np.float32).tiny)

DEFAULT_PARAM = {"leaky_relu": 0.01, "elu": 1.0, "step": 0.0, "selu": 1.6732632423543772,
                 "hard_sigmoid": 1.0 / 6.0, "clip": -math.inf, "softplus": 1.0}
DEFAULT_PARAM2 = {"selu": 1.0507009873554805, "hard_sigmoid": 0.5, "clip": math.inf}
ROWWISE = ("softmax", "log_softmax")


def sweep():
    grid = [i / 10 for i in range(-200, 201)]  # -20 .. 20 in steps of 0.1
    extra = [
        0.0, -0.0, 1e-30, -1e-30, 1e-45, -1e-45, 1e-38, -1e-38,
        0.5, -0.5, 2.9999, 3.0, 3.0001, -2.9999, -3.0, -3.0001,
        25, -25, 30, -30, 40, -40, 50, -50, 88, -88, 89, -89, 100, -100,
        104, -104, 200, -200, 700, -700, 1e3, -1e3, 1e4, -1e4, 1e6, -1e6,
        1e30, -1e30, FLT_MAX, -FLT_MAX,
        math.nan, math.inf, -math.inf,
    ]
    return np.array(grid + extra, dtype=np.float32).reshape(-1, 1)


def softmax_rows():
    nan, inf = math.nan, math.inf
    rows = [
        [1, 2, 3, 4],
        [0, 0, 0, 0],
        [-1, 0, 1, 0.5],
        [1000, 1000, 1000, 1000],          # equal and large: no overflow
        [1e4, 1e4 - 1, -1e4, 0],
        [-20, 0, 20, 10],
        [-1e4, -1e4, -1e4 + 1, -1e4 - 1],  # large negative: no 0 / 0
        [88, 89, 90, -90],
        [FLT_MAX, -FLT_MAX, 0, 1],
        [nan, 1, 2, 3],                    # a NaN anywhere: the row is NaN
        [1, 2, nan, nan],
        [-inf, 0, 1, 2],                   # -inf contributes exp(-inf) = 0
        [-inf, -inf, 5, -inf],
        [inf, 0, 1, 2],                    # +inf: inf - inf is NaN, row NaN
        [-inf, -inf, -inf, -inf],          # all -inf: 0 / 0, row NaN
    ]
    return np.array(rows, dtype=np.float32)


# --- the reference functions: float64, one element at a time --------------

def sigmoid(x):
    if math.isnan(x):
        return x
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)  # cannot overflow for x < 0
    return e / (1.0 + e)


def reference(name, p, x, q=0.0):
    """The expected value of activation `name` (parameters p, q) at x."""
    nan = math.isnan(x)
    if name == "identity":
        return x
    if name == "relu":
        return x if (nan or x > 0) else 0.0
    if name == "leaky_relu":
        if nan or x > 0:
            return x
        if math.isinf(x):  # the limit of p * x as x -> -inf
            return 0.0 if p == 0 else math.copysign(math.inf, -p)
        return p * x
    if name == "sigmoid":
        return sigmoid(x)
    if name == "tanh":
        return math.tanh(x)
    if name == "gelu":
        # x * Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2. For x < 0 the same
        # quantity is erfc(-x / sqrt 2) / 2, which keeps its digits where
        # 1 + erf(...) cancels.
        if nan:
            return x
        if math.isinf(x):
            return x if x > 0 else 0.0
        if x >= 0:
            return 0.5 * x * (1.0 + math.erf(x / math.sqrt(2.0)))
        return 0.5 * x * math.erfc(-x / math.sqrt(2.0))
    if name == "silu":
        if nan:
            return x
        if math.isinf(x):
            return x if x > 0 else 0.0
        return x * sigmoid(x)
    if name == "elu":
        if nan or x > 0:
            return x
        return p * math.expm1(x)  # expm1(-inf) = -1
    if name == "softplus":
        if nan:
            return x
        y = p * x  # log(1 + e^y) / p, p = beta
        if y > 40:  # log(1 + e^y) = y + log1p(e^-y) and e^-y < 5e-18
            return x + math.exp(-y) / p
        return math.log1p(math.exp(y)) / p
    if name == "hard_sigmoid":
        if nan:
            return x
        if p == float(np.float32(1.0 / 6.0)) and q == 0.5:
            # the default, PyTorch's definition: relu6(x + 3) / 6.
            return min(max(x + 3.0, 0.0), 6.0) / 6.0
        if p == 0:
            return min(max(q, 0.0), 1.0)
        return min(max(p * x + q, 0.0), 1.0)  # p * x is exact in float64
    if name == "clip":
        if nan:
            return x
        return p if x < p else q if x > q else x
    if name == "step":
        if nan:
            return x
        return 1.0 if x > p else 0.0
    if name == "selu":
        if nan or x > 0:
            return q * x
        return q * p * math.expm1(x)
    if name == "softsign":
        if nan:
            return x
        if math.isinf(x):
            return math.copysign(1.0, x)
        return x / (1.0 + abs(x))
    if name == "gelu_tanh":
        # x (1 + tanh u) / 2 = x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3):
        # the sigmoid form keeps the negative tail's digits.
        if nan:
            return x
        if math.isinf(x):
            return x if x > 0 else 0.0
        if abs(x) > 1e100:  # x^3 would overflow; sigmoid(2u) is 0 or 1
            return x if x > 0 else 0.0
        u = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)
        return x * sigmoid(2.0 * u)
    raise SystemExit(f"check_activation: unknown activation '{name}'")


def softmax_reference(row):
    row = [float(v) for v in row]
    if any(math.isnan(v) for v in row):
        return [math.nan] * len(row)
    m = max(row)
    if math.isinf(m):
        # A +inf element (inf - inf is NaN) or a row of -inf only (0 / 0):
        # soma's documented result, as in PyTorch and NumPy, is a NaN row.
        return [math.nan] * len(row)
    exps = [math.exp(v - m) for v in row]
    total = math.fsum(exps)
    return [e / total for e in exps]


def log_softmax_reference(row):
    """x_i - m - log(sum_j exp(x_j - m)); the log as log1p of the sum less
    the maxima's exact 1 each, so that log(1 + tiny) keeps its digits."""
    row = [float(v) for v in row]
    if any(math.isnan(v) for v in row):
        return [math.nan] * len(row)
    m = max(row)
    if math.isinf(m):
        return [math.nan] * len(row)
    count = sum(1 for v in row if v == m)
    rest = math.fsum(math.exp(v - m) for v in row if v != m)
    log_sum = math.log1p((count - 1) + rest)
    return [(v - m) - log_sum for v in row]


F32_OVERFLOW = float.fromhex("0x1.ffffffp127")  # FLT_MAX plus half an ulp


def close(got, want):
    if math.isnan(want):
        return math.isnan(got)
    if abs(want) >= F32_OVERFLOW:  # rounds to an infinity in f32
        want = math.copysign(math.inf, want)
    if math.isinf(want):
        return got == want
    if math.isnan(got) or math.isinf(got):
        return False
    return abs(got - want) <= max(REL_TOL * abs(want), ABS_FLOOR)


def fail(msg):
    print(f"check_activation: FAIL: {msg}", file=sys.stderr)
    return 1


def check(args):
    x = np.load(args.inputs)
    y = np.load(args.outputs)
    if x.dtype != np.float32 or y.dtype != np.float32:
        return fail(f"expected float32 arrays, got {x.dtype} and {y.dtype}")
    if x.shape != y.shape:
        return fail(f"shape mismatch: inputs {x.shape}, outputs {y.shape}")
    name = args.name
    p = args.param if args.param is not None else DEFAULT_PARAM.get(name, 0.0)
    p = float(np.float32(p))  # soma stores the parameter as f32
    q = args.param2 if args.param2 is not None else DEFAULT_PARAM2.get(name, 0.0)
    q = float(np.float32(q))
    width = x.shape[-1]
    if name in ROWWISE:
        ref = softmax_reference if name == "softmax" else log_softmax_reference
        want = [v for row in x.reshape(-1, width) for v in ref(row)]
    else:
        want = [reference(name, p, float(v), q) for v in x.reshape(-1)]
    got = [float(v) for v in y.reshape(-1)]
    xs = x.reshape(-1)
    bad = []
    worst = 0.0
    for i, (g, w) in enumerate(zip(got, want)):
        if not close(g, w):
            bad.append(i)
        elif math.isfinite(w) and abs(w) >= FLT_MIN_NORMAL:
            worst = max(worst, abs(g - w) / abs(w))
    if bad:
        lines = [f"{name}: {len(bad)} of {len(got)} values differ from the float64 reference:"]
        for i in bad[:20]:
            if name in ROWWISE:
                where = f"row {i // width} {list(map(float, x.reshape(-1, width)[i // width]))} col {i % width}"
            else:
                where = f"x = {float(xs[i])!r}"
            lines.append(f"  [{i}] {where}: soma gave {g_repr(got[i])}, expected {want[i]!r}")
        return fail("\n".join(lines))
    print(f"{name}: {len(got)} values match "
          f"(max relative error {worst:.3g} where the result is a normal f32)")
    return 0


def g_repr(v):
    return repr(float(np.float32(v)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("inputs", help="write the scalar sweep [N, 1]")
    g.add_argument("out")
    r = sub.add_parser("rows", help="write softmax rows [R, 4]")
    r.add_argument("out")
    c = sub.add_parser("check", help="compare soma's output with the reference")
    c.add_argument("name")
    c.add_argument("--param", type=float)
    c.add_argument("--param2", type=float)
    c.add_argument("inputs")
    c.add_argument("outputs")
    args = ap.parse_args()
    if args.cmd == "inputs":
        np.save(args.out, sweep())
        return 0
    if args.cmd == "rows":
        np.save(args.out, softmax_rows())
        return 0
    return check(args)


if __name__ == "__main__":
    sys.exit(main())
