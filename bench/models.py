#!/usr/bin/python3
"""Whole models against ONNX Runtime and PyTorch: the driver of
`bench/run models` (docs/performance.md, "Whole models").

  bench/models.py run [--rounds N] [--min-time S] [--models a,b] [--out JSON]
  bench/models.py torch NAME THREADS INPUT.f32 OUT_PREFIX MIN_SECONDS BATCH...

`run` exports each model with PyTorch (tests/tools/torch_models.py's seeded
architectures, no downloads; ResNet-18 and MobileNetV2 at 3x224x224) to
ONNX (opset 13, batch axis dynamic), writes 32 seeded input samples and a
float64 PyTorch reference, then, in each round, model by model, runs every
implementation at 1 and 2 threads and batch 1 and 32:

- soma: bench/model_bench.cpp (Model::compileFile on the .onnx file,
  Engine::Auto, timed once the JIT is ready; the engine that ran is kept);
- ONNX Runtime: bench/ort_bench.js under node, with the onnxruntime-node
  package bench/run installs in bench/.ort (all graph optimisations, THREADS
  intra-op threads);
- PyTorch eager and TorchScript (traced, frozen, optimize_for_inference):
  `bench/models.py torch`, torch.set_num_threads(THREADS).

Every implementation's output of each batch is checked against the
reference (|got - ref| <= 1e-5 * (|ref| + max |ref|), elementwise: the
numerical contract of docs/passes.md, "reassociating") before
its times count; a mismatch is recorded as a failure. Results go to
bench/results/models.json, which bench/report.py turns into the table.
"""
import argparse
import datetime
import json
import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "tools"))

BATCHES = (1, 32)
THREADS = (1, 2)
RTOL = 1e-5
# name -> per-sample input shape.
SHAPES = {"resnet18": (3, 224, 224), "mobilenet_v2": (3, 224, 224), "mlp784": (784,), "mlp": (12,),
          "residual_mlp": (10,)}


def build(name):
    import torch
    from torch import nn
    import torch_models
    if name == "mlp784":
        torch.manual_seed(5)
        return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                             nn.Linear(512, 10), nn.Softmax(dim=-1)).eval()
    return torch_models.build(name)


def prepare(name, work):
    """Exports NAME to WORK/NAME.onnx, writes its input WORK/NAME-x.f32 (32
    samples) and float64 reference WORK/NAME-ref.npy, once."""
    import numpy as np
    import torch
    import warnings
    onnx_path, x_path, ref_path = (work / f"{name}.onnx", work / f"{name}-x.f32", work / f"{name}-ref.npy")
    if onnx_path.exists() and x_path.exists() and ref_path.exists():
        return onnx_path, x_path, np.load(ref_path)
    model = build(name)
    torch.manual_seed(7)
    x = torch.randn(max(BATCHES), *SHAPES[name])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, x[:2], str(onnx_path), input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, opset_version=13)
    with torch.no_grad():
        ref = model.double()(x.double()).numpy()
    x.numpy().astype(np.float32).tofile(x_path)
    np.save(ref_path, ref)
    return onnx_path, x_path, ref


def check(out_path, ref):
    """(ok, largest error / max |ref|) of the float32 output in out_path."""
    import numpy as np
    got = np.fromfile(out_path, dtype=np.float32).astype(np.float64)
    if got.size != ref.size:
        return False, float("inf")
    got = got.reshape(ref.shape)
    scale = float(np.abs(ref).max()) or 1.0
    err = np.abs(got - ref)
    return bool(np.all(err <= RTOL * (np.abs(ref) + scale))), float(err.max() / scale)


def idle_share(seconds=2.0):
    """The cores' idle share (%) over `seconds`, from /proc/stat."""
    def read():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return v[3], sum(v[:8])
    i0, t0 = read()
    time.sleep(seconds)
    i1, t1 = read()
    return round(100 * (i1 - i0) / max(1, t1 - t0))


def runner_commands(args, name, onnx_path, x_path, prefix, threads):
    batches = [str(b) for b in BATCHES]
    shape = ",".join(str(d) for d in SHAPES[name])
    def common(impl):
        return [str(x_path), f"{prefix}-{impl}", str(args.min_time)]
    return {
        "soma": [str(args.build_dir / "bin" / "soma_model_bench"), str(onnx_path), str(threads)] + common("soma")
        + batches,
        "ort": ["node", str(ROOT / "bench" / "ort_bench.js"), str(onnx_path), str(threads)] + common("ort")
        + [shape] + batches,
        "torch": [sys.executable, str(ROOT / "bench" / "models.py"), "torch", name, str(threads)] + common("py")
        + batches,
    }


def run_one(impl, cmd, ref, name, threads, env):
    """Runs one runner; returns its result records, each checked."""
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    records = []
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))
    if proc.returncode != 0:
        msg = (proc.stderr.strip().splitlines() or ["exit status %d" % proc.returncode])[-1]
        print(f"models: {name} {impl} t{threads}: failed: {msg}", file=sys.stderr)
        if not records:
            records.append({"impl": impl, "threads": threads, "batch": None, "error": msg})
    for r in records:
        r["model"] = name
        if "output" in r:
            ok, rel = check(r["output"], ref[:r["batch"]])
            r["max_error_rel"] = rel
            if not ok:
                r["error"] = f"output mismatch (largest error {rel:.2g} of max |ref|)"
                r["times"] = []
    return records


def run(args):
    work = ROOT / "bench" / "results" / "models"
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, SOMA_ORT_DIR=str(args.ort_dir))
    prepared = {}
    for name in args.models:
        print(f"models: exporting {name}", file=sys.stderr)
        prepared[name] = prepare(name, work)
    rounds = []
    for rnd in range(args.rounds):
        idle = idle_share()
        load = os.getloadavg()
        records = []
        for name in args.models:
            onnx_path, x_path, ref = prepared[name]
            for threads in THREADS:
                for impl, cmd in runner_commands(args, name, onnx_path, x_path,
                                                 work / f"{name}-t{threads}", threads).items():
                    got = run_one(impl, cmd, ref, name, threads, env)
                    for r in got:
                        t = sorted(r.get("times") or [0])
                        print(f"models: round {rnd + 1} {name} t{threads} b{r.get('batch')} {r['impl']}: "
                              + (r["error"] if r.get("error") else f"{t[len(t) // 2] * 1e3:.3f} ms"),
                              file=sys.stderr)
                    records += got
        rounds.append({"idle_before": idle, "load_avg": load, "end_load_avg": os.getloadavg(),
                       "results": records})
    import torch
    import report
    context = dict(report.local_cpu(), num_cpus=os.cpu_count())
    context.update({"suite": "models", "date": datetime.datetime.now().isoformat(timespec="seconds"),
               "commit": args.commit, "torch": torch.__version__, "models": args.models,
               "shapes": {k: list(SHAPES[k]) for k in args.models}, "rtol": RTOL})
    pathlib.Path(args.out).write_text(json.dumps({"context": context, "rounds": rounds}, indent=1))
    print(f"models: wrote {args.out}", file=sys.stderr)


def time_runs(fn, min_seconds):
    fn()
    times, start = [], time.perf_counter()
    while len(times) < 3 or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def torch_main(name, threads, x_path, prefix, min_seconds, batches):
    """PyTorch eager, then TorchScript (traced, frozen, optimize_for_inference)."""
    import numpy as np
    import torch
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    model = build(name)
    x = torch.from_numpy(np.fromfile(x_path, dtype=np.float32).reshape(-1, *SHAPES[name]))
    with torch.no_grad():
        t0 = time.perf_counter()
        script = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model, x[:1])))
        script_ready = time.perf_counter() - t0
        for impl, m, ready in (("torch", model, 0.0), ("torchscript", script, script_ready)):
            for b in batches:
                xb = x[:b].contiguous()
                y = m(xb)
                out = f"{prefix}-{impl}-b{b}.f32"
                y.numpy().astype(np.float32).tofile(out)
                times = time_runs(lambda: m(xb), min_seconds)
                print(json.dumps({"impl": impl, "engine": f"PyTorch {torch.__version__}", "threads": threads,
                                  "compile_s": ready, "ready_s": ready, "batch": b, "output": out,
                                  "times": times}), flush=True)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "torch":
        a = sys.argv[2:]
        torch_main(a[0], int(a[1]), a[2], a[3], float(a[4]), [int(b) for b in a[5:]])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["run"])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--min-time", type=float, default=1.0)
    ap.add_argument("--models", default=",".join(SHAPES))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "models.json"))
    ap.add_argument("--build-dir", type=pathlib.Path, default=ROOT / "build")
    ap.add_argument("--ort-dir", type=pathlib.Path, default=ROOT / "bench" / ".ort")
    ap.add_argument("--commit", default="unknown")
    args = ap.parse_args()
    args.models = args.models.split(",")
    unknown = [m for m in args.models if m not in SHAPES]
    if unknown:
        ap.error(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(SHAPES)}")
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
