#!/usr/bin/python3
"""ONNX's own backend node tests for the ops soma imports, generated at test
time from Debian's python3-onnx (1.12 ships the generators, not the data),
run through `soma run --expect` on every engine.

  onnx_node_tests.py SOMA WORKDIR --expected FILE   run, compare each test's
                                                    result with FILE
  onnx_node_tests.py SOMA WORKDIR --write FILE      run, write the results
  onnx_node_tests.py SOMA WORKDIR --table           run, print the per-op table
                                                    of docs/onnx.md

Each node test is one node with its inputs and expected outputs. Many pass
weights (Gemm's B, Conv's W, BatchNormalization's statistics) as graph
inputs; as TVM's freeze_params does, the runner freezes such inputs into
initializers holding the test's own data. The data inputs stay inputs:
input 0 of every node, and for Add, Sub, Mul, Div and Concat every input of
input 0's shape. Axis 0 of each data input is the batch. A test passes when
soma imports it and every engine's outputs are within the test's own rtol
and atol (1e-3 and 1e-7 for all of them). The `_expanded` variants (the op
written as the nodes of its ONNX function) are not counted.
"""
import os
import subprocess
import sys
import warnings

import numpy as np

# ONNX 1.12's generators still use the aliases NumPy 1.24 removed.
for _alias, _type in [("bool", bool), ("object", object), ("int", int), ("float", float),
                      ("complex", complex), ("str", str)]:
    if _alias not in np.__dict__:
        setattr(np, _alias, _type)

import onnx  # noqa: E402
from onnx import numpy_helper  # noqa: E402

SUPPORTED = [
    "Add", "AveragePool", "BatchNormalization", "Clip", "Concat", "Constant", "Conv", "Div",
    "Dropout", "Elu", "Flatten", "Gemm", "GlobalAveragePool", "HardSigmoid", "HardSwish",
    "Identity", "LayerNormalization", "LeakyRelu", "LogSoftmax", "MatMul", "MaxPool", "Mul", "Pad",
    "PRelu", "Relu", "Reshape", "Selu", "Sigmoid", "Softmax", "Softplus", "Softsign", "Squeeze",
    "Sub", "Tanh", "Transpose",
    "Unsqueeze",
]
ALL_DATA = {"Add", "Sub", "Mul", "Div", "Concat"}


def sanitize(name):
    """soma's identifier for an ONNX name (frontend/onnx: sanitizeName)."""
    out = ""
    for ch in name:
        if ch.isascii() and ch.isalnum():
            out += ch
        elif out and out[-1] != "_":
            out += "_"
    out = out.rstrip("_")
    if not out or out[0].isdigit():
        out = "v" + out
    return out


def collect():
    import onnx.backend.test.case.node as node_test
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = node_test.collect_testcases(None)
    picked = []
    for case in cases:
        nodes = case.model.graph.node
        if case.name.endswith("_expanded") or len(nodes) != 1:
            continue
        if nodes[0].op_type in SUPPORTED:
            picked.append((nodes[0].op_type, case))
    return sorted(picked, key=lambda p: (p[0], p[1].name))


def freeze(case):
    """The model with its weight inputs made initializers, and its data
    inputs: (model, [(name, array)])."""
    model = onnx.ModelProto()
    model.CopyFrom(case.model)
    node = model.graph.node[0]
    inputs, _ = case.data_sets[0]
    names = [vi.name for vi in model.graph.input]
    arrays = dict(zip(names, inputs))
    first = arrays.get(node.input[0]) if node.input else None
    data = []
    keep = []
    for i, vi in enumerate(model.graph.input):
        arr = np.asarray(arrays[vi.name])
        is_data = vi.name == node.input[0] or (
            node.op_type in ALL_DATA and first is not None and arr.shape == np.asarray(first).shape)
        if is_data:
            keep.append(vi)
            data.append((vi.name, arr))
        else:
            model.graph.initializer.append(numpy_helper.from_array(arr, vi.name))
    del model.graph.input[:]
    model.graph.input.extend(keep)
    return model, data


def run_case(soma, workdir, case):
    out_dir = os.path.join(workdir, case.name)
    os.makedirs(out_dir, exist_ok=True)
    model, data = freeze(case)
    path = os.path.join(out_dir, "model.onnx")
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    args = [soma, "run", path, "-q", f"--rtol={case.rtol}", f"--atol={case.atol}"]
    for name, arr in data:
        file = os.path.join(out_dir, f"in_{sanitize(name)}.npy")
        np.save(file, arr)
        args += ["--input", f"{sanitize(name)}={file}"]
    _, outputs = case.data_sets[0]
    for vi, arr in zip(model.graph.output, outputs):
        file = os.path.join(out_dir, f"out_{sanitize(vi.name)}.npy")
        np.save(file, np.asarray(arr))
        args += ["--expect", f"{sanitize(vi.name)}={file}"]
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode == 0:
        return "pass"
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    reason = lines[0] if lines else f"exit status {proc.returncode}"
    reason = reason.replace(f"'{path}': ", "").replace(f"'{path}'", "the model")
    reason = reason.replace(out_dir + "/", "")
    if reason.startswith("soma: error: "):
        reason = reason[len("soma: error: "):]
    return "FAIL " + reason


def table(results):
    """docs/onnx.md's conformance table and list of failures."""
    ops = {}
    for op, name, result in results:
        ops.setdefault(op, []).append((name, result))
    lines = ["| op | pass | tests |", "|---|---|---|"]
    failures = []
    total = passed = 0
    for op in sorted(ops):
        good = sum(1 for _, r in ops[op] if r == "pass")
        total += len(ops[op])
        passed += good
        lines.append(f"| {op} | {good} | {len(ops[op])} |")
        failures += [f"- `{n}` ({op}): {r[5:]}" for n, r in ops[op] if r != "pass"]
    lines.append(f"| **all** | **{passed}** | **{total}** |")
    return "\n".join(lines) + "\n\nThe tests that do not pass, each with soma's reason:\n\n" + "\n".join(failures)


def main(argv):
    if len(argv) != 4 and not (len(argv) == 5 and argv[3] in ("--expected", "--write")):
        print(__doc__, file=sys.stderr)
        return 2
    soma, workdir, mode = argv[1], argv[2], argv[3]
    results = [(op, case.name, run_case(soma, workdir, case)) for op, case in collect()]
    lines = [f"{name}: {result}" for _, name, result in results]
    if mode == "--table":
        print(table(results))
        return 0
    if mode == "--write":
        with open(argv[4], "w") as f:
            f.write("\n".join(lines) + "\n")
        return 0
    with open(argv[4]) as f:
        expected = [line.rstrip("\n") for line in f if line.strip()]
    passed = sum(1 for _, _, r in results if r == "pass")
    print(f"onnx node tests: {passed} of {len(results)} pass")
    if lines != expected:
        import difflib
        print("results differ from " + argv[4] + ":")
        for d in difflib.unified_diff(expected, lines, "expected", "got", lineterm=""):
            print(d)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
