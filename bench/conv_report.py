"""The conv suite of bench/report.py (soma_conv_bench's JSON, bench/run conv).

Names: peak/fma/t<T>, conv/<case>/b<B>/<impl>/t<T> (impl soma, vec, onednn),
conv/<case>/b<B>/readbound/t<T> (depthwise cases). Writes, between
<!-- conv-bench:begin --> and <!-- conv-bench:end --> of the doc, the CPU and
run, a table of time · GFLOP/s · % of the FMA peak at the same thread count
for soma's JIT, soma's vec engine and oneDNN, soma/oneDNN and vec/oneDNN,
the depthwise rows against the measured read bound, and issue 16's goals met
or missed by how much; the plot (docs/images/conv-bench.png) shows GFLOP/s
per case at batch 32 and 1 against the FMA peak.
"""
import report

BEGIN = "<!-- conv-bench:begin -->"
END = "<!-- conv-bench:end -->"
IMPLS = ["soma", "vec", "onednn"]
LABELS = {"soma": "soma (JIT)", "vec": "soma vec", "onednn": "oneDNN"}


def conv_cases(results):
    """(case, batch) in the order they ran."""
    seen = []
    for key in results:
        if key[0] == "conv" and key[1:3] not in seen:
            seen.append(key[1:3])
    return seen


def kind_of(case):
    return case.split("-")[0]


def case_label(case, sep=" "):
    """'3x3-64-64-56' -> '3×3 64→64 at 56×56'; with sep='\n', the three parts
    on lines of their own (the plot's axis labels)."""
    kind, c, o, size = case.split("-")
    names = {"3x3": "3×3", "1x1": "1×1", "dw3x3": "depthwise 3×3", "dw3x3s2": "depthwise 3×3 stride 2",
             "stem7x7s2": "stem 7×7 stride 2", "block": "basic block 3×3"}
    chans = f"{c}" if kind.startswith("dw") else f"{c}→{o}"
    return sep.join([names.get(kind, kind), chans, ("at " if sep == " " else "") + f"{size}×{size}"])


def get(results, case, batch, impl, t):
    r = results.get(("conv", case, batch, impl, f"t{t}"))
    return r if r and r.time and not r.error else None


def cell(results, case, batch, impl, t, peak):
    r = results.get(("conv", case, batch, impl, f"t{t}"))

    def text(r):
        pct = f" · {100 * r.gflops / peak[t]:.0f}%" if peak.get(t) else ""
        return f"{report.fmt_time(r.time)} · {r.gflops:.1f}{pct}"
    return report.result_cell(r, text, impl == "soma")


def ratio(a, b):
    return f"{a.time / b.time:.2f}" if a and b else "—"


def table(results, peak):
    out = ["| case | batch | threads | soma (JIT) | soma vec | oneDNN | soma/oneDNN | vec/oneDNN | "
           "depthwise: read bound, soma/bound |", "|---|---|---|---|---|---|---|---|---|"]
    for case, b in conv_cases(results):
        for t in (1, 2):
            s, v, o = (get(results, case, b, i, t) for i in IMPLS)
            rb = get(results, case, b, "readbound", t)
            bound = (f"{report.fmt_time(rb.time)} · {rb.bytes / rb.time / 1e9:.0f} GB/s, {ratio(s, rb)}"
                     if rb else "")
            out.append(f"| {case_label(case)} | {b[1:]} | {t} | "
                       + " | ".join(cell(results, case, b, i, t, peak) for i in IMPLS)
                       + f" | {ratio(s, o)} | {ratio(v, o)} | {bound} |")
    return out


def goals(results, peak):
    rows = []

    def mark(*rs):
        return " †" if any(r.disturbed for r in rs if r) else ""

    def verdict(ok, text):
        return ("met" if ok else "**missed**") + f" ({text})"

    for case, b in conv_cases(results):
        kind = kind_of(case)
        for t in (1, 2):
            s, o = get(results, case, b, "soma", t), get(results, case, b, "onednn", t)
            name = f"{case_label(case)}, batch {b[1:]}, {t} thr"
            if not (s and o):
                rows.append((name, "not measured (a result failed or is missing)"))
                continue
            q = s.time / o.time
            faster = verdict(q <= 1, f"soma/oneDNN {q:.2f}{mark(s, o)}")
            if kind in ("3x3", "1x1") and b == "b32":
                pct = 100 * s.gflops / peak[t] if peak.get(t) else 0
                rows.append((f"{name}: soma ≤ oneDNN", faster))
                rows.append((f"{name}: ≥ 85% of the FMA peak", verdict(pct >= 85, f"{pct:.0f}%")))
            elif kind.startswith("dw"):
                rb = get(results, case, b, "readbound", t)
                share = 100 * rb.time / s.time if rb else 0
                rows.append((f"{name}: ≥ 80% of the read bandwidth",
                             verdict(share >= 80, f"{share:.0f}% of the read bound{mark(s)}")))
                rows.append((f"{name}: ≤ oneDNN's time", faster))
            elif kind == "block":
                rows.append((f"{name}: faster than oneDNN's primitives one after another", faster))
            if b == "b1" and kind in ("3x3", "1x1", "stem7x7s2"):
                rows.append((f"{name}: faster than oneDNN", faster))
    return rows


def build(context, results, plot_rel):
    peak = {t: (results[("peak", "fma", f"t{t}")].gflops if ("peak", "fma", f"t{t}") in results else None)
            for t in (1, 2)}
    out = report.header_lines(context, results, "bench/conv_bench.cpp")
    out.append(f"- Anchor: oneDNN {context.get('onednn', '?')}, convolution_direct, every layout "
               "`format_tag::any`, bias and relu (block: conv2 with sum and relu after a copy of the input into its destination) as post-ops, filters "
               "reordered once; its implementation per row is in the JSON's labels.")
    out.append("- soma: `CompileOptions::threads` = 1 or 2, `engine` = `Engine::Jit` or `Engine::Vec`, "
               "`-O2`; input and output NCHW through `Model::run` (oneDNN's reorders from and to NCHW "
               "are outside its timing).")
    if peak.get(1):
        out.append(f"- FMA peak (the AVX-512 FMA loop): {peak[1]:.1f} GFLOP/s at 1 thread"
                   + (f", {peak[2]:.1f} GFLOP/s at 2 threads." if peak.get(2) else "."))
    out += ["", "Each cell: time per call · GFLOP/s · % of the FMA peak at the same thread count; "
            "soma/oneDNN below 1: soma is faster. † marks a result whose calling thread was off the CPU "
            "for more than 10% of its wall time (other jobs took the core).", ""]
    out += table(results, peak)
    out += ["", f"![GFLOP/s per convolution, soma against oneDNN and the FMA peak]({plot_rel})", "",
            "Goals of issue 16, as measured in this run († : a result involved was disturbed by other jobs):",
            "", "| goal | result |", "|---|---|"]
    out += [f"| {g} | {r} |" for g, r in goals(results, peak)]
    return "\n".join(out)


def plot(results, peak, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    batches = [b for b in ("b32", "b1") if any(cb == b for _, cb in conv_cases(results))]
    fig, axes = plt.subplots(len(batches), 1, figsize=(13, 4.5 * len(batches)), squeeze=False)
    colors = {"soma": "#d62728", "vec": "#ff9896", "onednn": "#1f77b4"}
    for bi, b in enumerate(batches):
        ax = axes[bi][0]
        cs = [c for c, cb in conv_cases(results) if cb == b]
        width = 0.13
        for ii, impl in enumerate(IMPLS):
            for t in (1, 2):
                xs = [i + (ii * 2 + t - 1 - 2.5) * width for i in range(len(cs))]
                ys = [(get(results, c, b, impl, t).gflops if get(results, c, b, impl, t) else 0) for c in cs]
                ax.bar(xs, ys, width, color=colors[impl], alpha=1.0 if t == 1 else 0.55,
                       label=f"{LABELS[impl]}, {t} thr")
        for t, style in ((1, "-"), (2, "--")):
            if peak.get(t):
                ax.axhline(peak[t], color="black", linestyle=style, linewidth=1, label=f"FMA peak, {t} thr")
        ax.set_xticks(range(len(cs)))
        ax.set_xticklabels([case_label(c, "\n") for c in cs], fontsize=7)
        ax.set_ylabel("GFLOP/s")
        ax.set_title(f"batch {b[1:]}")
        ax.grid(alpha=0.3, axis="y")
    axes[0][0].legend(fontsize=7, ncol=4)
    fig.suptitle("Convolutions: soma (JIT, vec) against oneDNN; dark 1 thread, light 2 threads")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


def write(context, results, doc, png, plot_rel):
    peak = {t: (results[("peak", "fma", f"t{t}")].gflops if ("peak", "fma", f"t{t}") in results else None)
            for t in (1, 2)}
    report.replace_between(doc, BEGIN, END, build(context, results, plot_rel))
    plot(results, peak, png)
