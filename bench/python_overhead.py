#!/usr/bin/python3
"""The cost of one call from Python: a 2-input neuron (examples/neuron.nn,
relu(0.8 x0 + 0.6 x1 + 0.2)) on one sample, through soma's Python module
and through PyTorch eager (torch.nn.Linear(2, 1) and relu, no_grad, one
thread), in the same process and run, so the ratio means something on a
shared machine.

  PYTHONPATH=build/python bench/python_overhead.py [--calls N] [--repeats R] [--markdown]

(bench/run python builds the module and runs this.) Each variant is timed
over N calls in a loop, R times, interleaved; the table gives the median
and the best of the R per-call times. The issue's goal: under 2 us per call
(PyTorch eager about 2.9 us, ONNX Runtime about 8.5 us, measured there).
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
NEURON = os.path.join(HERE, "..", "examples", "neuron.nn")


def soma_variants():
    import soma
    x = np.array([[0.5, 0.3]], np.float32)
    sample = np.array([0.5, 0.3], np.float32)
    variants = {}
    for engine in ("jit", "vec"):
        m = soma.compile(NEURON, engine=engine, threads=1)
        assert abs(m.run(x=x)["n"][0, 0] - 0.78) < 1e-6
        run = m.run
        variants[f"soma {engine}: m.run(x=x)"] = lambda run=run: run(x=x)
        if engine == "jit":
            variants["soma jit: m.run(x=sample), no batch axis"] = lambda run=run: run(x=sample)
            feeds = {"x": x}
            variants["soma jit: m.run({'x': x})"] = lambda run=run: run(feeds)
    return variants


def torch_variants():
    try:
        import torch
    except ImportError:
        return {}
    torch.set_num_threads(1)
    lin = torch.nn.Linear(2, 1)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[0.8, 0.6]]))
        lin.bias.fill_(0.2)
    x = torch.tensor([[0.5, 0.3]])
    relu = torch.nn.functional.relu

    def eager():
        with torch.no_grad():
            return relu(lin(x))

    def from_numpy(xn=np.array([[0.5, 0.3]], np.float32)):
        with torch.no_grad():
            return relu(lin(torch.from_numpy(xn))).numpy()

    assert abs(float(eager()[0, 0]) - 0.78) < 1e-6
    return {"PyTorch eager: relu(linear(x)), no_grad": eager,
            "PyTorch eager, NumPy in and out": from_numpy}


def time_calls(fn, calls):
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls


def busy_share():
    """The cores' busy share over 1 s, from /proc/stat."""
    def read():
        with open("/proc/stat") as f:
            v = [int(t) for t in f.readline().split()[1:]]
        return v[3] + v[4], sum(v)
    idle0, total0 = read()
    time.sleep(1)
    idle1, total1 = read()
    return 1 - (idle1 - idle0) / max(total1 - total0, 1)


def floor_variants():
    # The cheapest call that returns a new array: what any binding pays.
    return {"NumPy: np.empty((1, 1), np.float32), for scale": lambda: np.empty((1, 1), np.float32)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=100000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = ap.parse_args()
    variants = {**soma_variants(), **torch_variants(), **floor_variants()}
    busy = busy_share()
    for fn in variants.values():  # warm-up
        time_calls(fn, 1000)
    times = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, fn in variants.items():
            times[name].append(time_calls(fn, args.calls))
    baseline = statistics.median(times["soma jit: m.run(x=x)"])
    torch_name = "PyTorch eager: relu(linear(x)), no_grad"
    print(f"# Python call overhead: 2-input neuron, one sample, {args.calls} calls x "
          f"{args.repeats} (busy cores before: {100 * busy:.0f}%)")
    if args.markdown:
        print("\n| call | median µs | best µs | × soma jit |\n|---|---:|---:|---:|")
    for name, t in times.items():
        med, best = statistics.median(t) * 1e6, min(t) * 1e6
        ratio = statistics.median(t) / baseline
        if args.markdown:
            print(f"| {name} | {med:.2f} | {best:.2f} | {ratio:.2f} |")
        else:
            print(f"{name:45s} median {med:6.2f} us  best {best:6.2f} us  x{ratio:.2f}")
    if torch_name in times:
        print(f"\nPyTorch eager / soma jit: {statistics.median(times[torch_name]) / baseline:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
