#!/usr/bin/python3
"""Batch scoring throughput with soma.dask.predict on a LocalCluster: the
784-512-512-10 MLP (seeded weights, relu, softmax) over 10^6 samples, with
1 worker process and then 2 (one thread each, models compiled with
threads=1), in the same run.

  PYTHONPATH=build/python bench/dask_throughput.py [--samples N] [--chunk C] [--repeats R]
      [--model compiled|bundle] [--soma build/bin/soma]

(bench/run dask builds the module and runs this.) The inputs are generated
on the workers and held in their memory (persist) before the clock starts,
so the time is scoring alone: predict, and the sum of each chunk's scores
sent back (the scores themselves stay on the workers). Each worker compiles
the model once, in a warm-up pass over one chunk per worker; with --model
bundle, the MLP is compiled into a bundle (soma compile --emit=bundle,
with --soma) and loaded with soma.load_bundle, and each worker gets the
bundle's bytes and loads it once instead. The issue's
goal: 2 workers reach at least 1.7x the throughput of 1. The workers' CPU
time over the timed runs is printed too: on a busy machine the wall-clock
ratio says how many cores were free, samples per CPU-second whether the
work itself split without overhead.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np


def mlp_text():
    layers = [("fc1", "x", 512, "relu"), ("fc2", "fc1", 512, "relu"),
              ("fc3", "fc2", 10, "softmax")]
    lines = ["network mlp784 {", "  input x: f32[784]"]
    for seed, (name, src, units, act) in enumerate(layers, 1):
        lines.append(f"  dense {name}({src}) {{ units = {units}; weights = he(seed = {seed}); "
                     f"bias = 0.01; activation = {act} }}")
    lines += ["  output fc3", "}", ""]
    return "\n".join(lines)


def make_inputs(block_info=None):
    # One chunk of uniform inputs in [0, 1), seeded by its position.
    (start, stop), _ = block_info[None]["array-location"]
    rng = np.random.default_rng(start)
    return rng.random((stop - start, 784), dtype=np.float32)


def _cpu_seconds():
    # This worker process's CPU time (user + system), run on each worker.
    t = os.times()
    return t.user + t.system


def busy_share(seconds=1.0):
    def read():
        with open("/proc/stat") as f:
            v = [int(t) for t in f.readline().split()[1:]]
        return v[3] + v[4], sum(v)
    idle0, total0 = read()
    time.sleep(seconds)
    idle1, total1 = read()
    return 1 - (idle1 - idle0) / max(total1 - total0, 1)


def measure(workers, args, model):
    import dask.array as da
    from distributed import Client, LocalCluster, wait

    import soma.dask
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      memory_limit=0, dashboard_address=None) as cluster, Client(cluster) as client:
        x = da.map_blocks(make_inputs, dtype=np.float32,
                          chunks=((args.chunk,) * (args.samples // args.chunk), (784,)))
        x = client.persist(x)
        wait(x)
        # How the chunks are spread: the tasks run where their chunk is.
        held = sorted(len(keys) for keys in client.has_what().values())
        # Warm-up: every worker compiles the model (a chunk each).
        warm = soma.dask.predict(model, x[:args.chunk * workers].rechunk((args.chunk, 784)))
        warm.sum().compute()
        times, cpu = [], []
        for _ in range(args.repeats):
            c0 = sum(client.run(_cpu_seconds).values())
            t0 = time.perf_counter()
            total = soma.dask.predict(model, x).sum().compute()
            times.append(time.perf_counter() - t0)
            cpu.append(sum(client.run(_cpu_seconds).values()) - c0)
        # Softmax rows sum to 1: the checksum is the number of samples.
        assert abs(total - args.samples) < 1e-3 * args.samples, total
        return times, cpu, held


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=10 ** 6)
    ap.add_argument("--chunk", type=int, default=10 ** 4)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--model", choices=("compiled", "bundle"), default="compiled",
                    help="a model compiled from the network's text, or its bundle")
    ap.add_argument("--soma", default="build/bin/soma", help="the soma command (--model bundle)")
    args = ap.parse_args()
    if args.samples % args.chunk:
        ap.error("--samples must be a multiple of --chunk")
    import soma
    with tempfile.TemporaryDirectory() as scratch:
        if args.model == "bundle":
            net = os.path.join(scratch, "mlp784.nn")
            with open(net, "w") as f:
                f.write(mlp_text())
            subprocess.run([args.soma, "compile", net, "--emit=bundle", "-o", scratch], check=True)
            model = soma.load_bundle(os.path.join(scratch, "libmlp784.so"), threads=1)
        else:
            model = soma.compile(mlp_text(), name="mlp784.nn", engine="jit", threads=1)
        return run(args, model)


def run(args, model):
    print(f"# soma.dask.predict: 784-512-512-10 MLP ({args.model}), {args.samples} samples in "
          f"chunks of {args.chunk}, {os.cpu_count()} cores, best of {args.repeats}")
    results = {}
    for workers in (1, 2):
        busy = busy_share()
        times, cpu, held = measure(workers, args, model)
        results[workers] = min(times)
        print(f"{workers} worker(s): {args.samples / min(times):10.0f} samples/s "
              f"(best {min(times):.2f} s, median {statistics.median(times):.2f} s; "
              f"workers' CPU {min(cpu):.2f} s, {args.samples / min(cpu):.0f} samples per CPU-s; "
              f"chunks per worker {held}; cores busy before: {100 * busy:.0f}%)")
    print(f"2 workers / 1 worker: {results[1] / results[2]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
