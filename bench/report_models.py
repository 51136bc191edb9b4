"""The "Whole models" table of docs/performance.md from bench/results/models.json
(bench/models.py): used by bench/report.py when the results' context says
suite "models".

Each round of the run timed every implementation on every case; a case's
time in a round is the median of its timed runs, and the table gives the
median over the rounds, with soma/best per round (best: the fastest of ONNX
Runtime, PyTorch eager and TorchScript in that round), so that the spread
between rounds shows.
"""
import datetime
import statistics

from report import fmt_time

BEGIN = "<!-- models-bench:begin -->"
END = "<!-- models-bench:end -->"
IMPLS = ["soma", "ort", "torch", "torchscript"]
LABELS = {"soma": "soma", "ort": "ONNX Runtime", "torch": "PyTorch eager", "torchscript": "TorchScript"}
OTHERS = IMPLS[1:]
MODEL_LABELS = {"resnet18": "ResNet-18", "mobilenet_v2": "MobileNetV2", "mlp784": "MLP 784-512-512-10",
                "mlp": "MLP, 10 activations (12 wide)", "residual_mlp": "residual MLP (16 wide)"}
GOAL_MODELS = ("resnet18", "mobilenet_v2")


def index(rounds):
    """{(model, batch, threads, impl): [record per round]} and the case keys in run order."""
    got, cases = {}, []
    for rnd in rounds:
        for r in rnd["results"]:
            if r.get("batch") is None:
                continue
            case = (r["model"], r["batch"], r["threads"])
            if case not in cases:
                cases.append(case)
            got.setdefault(case + (r["impl"],), []).append(r)
    return got, cases


def round_time(r):
    return statistics.median(r["times"]) if r.get("times") and not r.get("error") else None


def per_round(got, case, impl, n):
    """The case's time in each round (None where it failed or did not run)."""
    recs = got.get(case + (impl,), [])
    return [round_time(recs[i]) if i < len(recs) else None for i in range(n)]


def median_time(ts):
    ts = [t for t in ts if t is not None]
    return statistics.median(ts) if ts else None


def best_other(got, case, n):
    """Per round: (impl, time) of the fastest other implementation."""
    out = []
    for i in range(n):
        cands = [(impl, per_round(got, case, impl, n)[i]) for impl in OTHERS]
        cands = [c for c in cands if c[1] is not None]
        out.append(min(cands, key=lambda c: c[1]) if cands else None)
    return out


def error_of(got, case, impl):
    for r in got.get(case + (impl,), []):
        if r.get("error"):
            return r["error"]
    return None


def cell(got, case, impl, n):
    t = median_time(per_round(got, case, impl, n))
    if t is None:
        err = error_of(got, case, impl)
        return "**failed**: " + err.replace("|", "/") if err else "not run"
    return f"**{fmt_time(t)}**" if impl == "soma" else fmt_time(t)


def soma_ratios(got, case, n):
    s = per_round(got, case, "soma", n)
    b = best_other(got, case, n)
    return [s[i] / b[i][1] if s[i] is not None and b[i] else None for i in range(n)]


def build(context, rounds, cpu_line):
    n = len(rounds)
    got, cases = index(rounds)
    date = context.get("date", "")
    try:
        date = datetime.datetime.fromisoformat(date).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        pass
    engines = sorted({r["engine"] for recs in got.values() for r in recs if r["impl"] == "soma" and "engine" in r})
    ort = sorted({r["engine"] for recs in got.values() for r in recs if r["impl"] == "ort" and "engine" in r})
    shapes = context.get("shapes", {})
    w = [cpu_line, "",
         f"Measured {date} by `bench/run models` (`bench/models.py`), {n} round{'s' if n > 1 else ''}"
         + (f" at commit `{context['commit']}`" if context.get("commit") else "") + ".", ""]
    for i, rnd in enumerate(rounds):
        w.append(f"- Round {i + 1}: the cores were {rnd['idle_before']}% idle in the 2 s before it; load "
                 f"average {', '.join(f'{x:.2f}' for x in rnd['load_avg'])} at its start, "
                 f"{', '.join(f'{x:.2f}' for x in rnd['end_load_avg'])} at its end.")
    w.append("- Models: " + ", ".join(f"{MODEL_LABELS.get(m, m)} (input {'×'.join(map(str, shapes.get(m, [])))})"
                                      for m in context.get("models", [])) + "; exported by PyTorch "
             f"{context.get('torch', '?')} to ONNX opset 13 with seeded random weights, batch axis dynamic.")
    w.append(f"- soma: `Model::compileFile` on the .onnx file, `Engine::Auto`, `threads` = 1 or 2, timed once the "
             f"background JIT is ready (the engine that ran: {', '.join(engines) or '?'}).")
    w.append(f"- ONNX Runtime: {', '.join(ort) or '?'} (onnxruntime-node from npm), the same .onnx file, "
             "graph optimisation level `all`, intra-op threads 1 or 2, sequential execution.")
    w.append("- PyTorch: eager under `torch.no_grad()`, and TorchScript (`torch.jit.trace`, `freeze`, "
             "`optimize_for_inference`), `torch.set_num_threads` 1 or 2.")
    w.append(f"- Every output (the first run of each case) is checked against a float64 PyTorch reference, "
             f"|got − ref| ≤ {context.get('rtol', 1e-5):g} · (|ref| + max |ref|) elementwise, before its times count.")
    w.append("")
    w.append("Time per call: the median over the rounds of each round's median (at least 3 timed runs and 1 s "
             "per case and round, after the checked run). best: the fastest of ONNX Runtime, PyTorch eager and "
             "TorchScript; soma/best below 1: soma is faster than all three (one value per round).")
    w.append("")
    head = ["model", "batch", "threads"] + [LABELS[i] for i in IMPLS] + ["best", "soma/best"]
    w.append("| " + " | ".join(head) + " |")
    w.append("|" + "|".join("---" for _ in head) + "|")
    for case in cases:
        row = [MODEL_LABELS.get(case[0], case[0]), str(case[1]), str(case[2])]
        row += [cell(got, case, i, n) for i in IMPLS]
        bests = [b for b in best_other(got, case, n) if b]
        impls = sorted({b[0] for b in bests})
        row.append(", ".join(LABELS[i] for i in impls) if impls else "—")
        ratios = soma_ratios(got, case, n)
        row.append(" / ".join(f"{x:.2f}" if x is not None else "—" for x in ratios))
        w.append("| " + " | ".join(row) + " |")
    w.append("")
    w += compile_lines(got, n)
    w += goal_lines(got, cases, n)
    return "\n".join(w)


def compile_lines(got, n):
    case = ("resnet18", 1, 1)
    soma = got.get(case + ("soma",), [])
    ort = got.get(case + ("ort",), [])
    ts = got.get(case + ("torchscript",), [])
    if not soma or not ort:
        return []

    def med(recs, key):
        v = [r[key] for r in recs if key in r]
        return statistics.median(v) if v else None

    first, ready, create = med(soma, "compile_s"), med(soma, "ready_s"), med(ort, "compile_s")
    w = ["Import and compile, ResNet-18, 1 thread (median over the rounds, one process each; wall time):", "",
         "| what | time |", "|---|---|",
         f"| soma: `Model::compileFile` (ONNX import, passes, vec engine ready; the JIT then compiles in the "
         f"background) | {fmt_time(first)} |",
         f"| soma: until the JIT is ready (`waitForJit`) | {fmt_time(ready)} |",
         f"| ONNX Runtime: `InferenceSession.create`, all optimisations | {fmt_time(create)} |"]
    if ts:
        w.append(f"| TorchScript: trace, freeze, optimize_for_inference | {fmt_time(med(ts, 'compile_s'))} |")
    w.append("")
    verdict = "met" if first is not None and create is not None and first < create else "**missed**"
    jit = "met" if ready is not None and create is not None and ready < create else "**missed**"
    w.append(f"Goal: importing and compiling ResNet-18 takes less time than ONNX Runtime's session creation: "
             f"{verdict} for the first runnable model ({first / create:.2f}×), {jit} until the JIT is ready "
             f"({ready / create:.2f}×).")
    w.append("")
    return w


def goal_lines(got, cases, n):
    w = ["Goal of issue 17: ResNet-18 and MobileNetV2 faster than ONNX Runtime and PyTorch (eager and "
         "TorchScript) at batch 1 and 32, on 1 and 2 threads; soma/best per round:", "",
         "| model | batch | threads | result |", "|---|---|---|---|"]
    met = total = 0
    for case in cases:
        if case[0] not in GOAL_MODELS:
            continue
        ratios = [x for x in soma_ratios(got, case, n) if x is not None]
        if not ratios:
            w.append(f"| {MODEL_LABELS[case[0]]} | {case[1]} | {case[2]} | not measured |")
            continue
        total += 1
        ok = all(x < 1 for x in ratios)
        met += ok
        w.append(f"| {MODEL_LABELS[case[0]]} | {case[1]} | {case[2]} | "
                 + ("met" if ok else "**missed**") + " (" + " / ".join(f"{x:.2f}" for x in ratios) + ") |")
    w.append("")
    w.append(f"Met in {met} of {total} cases.")
    return w


def write(doc, context, rounds, cpu_line, replace_between):
    replace_between(doc, BEGIN, END, build(context, rounds, cpu_line))
