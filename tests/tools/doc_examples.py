#!/usr/bin/env python3
"""Runs every example in a Markdown file against soma, so the documentation
cannot drift from the code.

  doc_examples.py --soma PATH --soma-opt PATH [--examples DIR] FILE.md

Fenced code blocks, by their info string:

  ```soma        a complete network. `soma check` must succeed; then, when
                 the network declares inputs (`input NAME: f32[dims]`),
                 `soma run` must succeed on a generated batch of 2 samples
                 for every input (deterministic values in [-1, 1]).
  ```soma-error  a network that must FAIL `soma check` (exit status 1 with
                 an `error:` diagnostic, and no crash).
  ```console     a shell session: lines starting with `$ ` are commands,
                 the lines after each command are its expected output
                 (stdout and stderr together, compared line by line after
                 stripping trailing blanks). A line holding only `...`
                 matches any number of lines. A command whose expected
                 output contains an `error:` line must exit non-zero; any
                 other command must exit 0. Commands are split like a shell
                 would (no pipes or redirections); the programs allowed are
                 soma, soma-opt and python3 (`build/bin/soma` and
                 `build/bin/soma-opt`, as the README writes them, are
                 soma and soma-opt).
  anything else  (text, ebnf, ...) is not run; but a block that holds a
                 complete `network NAME {` program must be tagged soma or
                 soma-error, so that no complete example escapes the check.

All blocks of one file run in order in one scratch directory, like a
notebook: a file written by one block is there for the next. The directory
holds `examples/`, a link to the repository's examples.

Annotations: HTML comments on the lines just above a block (blank lines
allowed in between) configure it:

  <!-- file: NAME.nn -->
      save this soma / soma-error block as NAME.nn (default:
      block-L<line>.nn), so a later console block can use it. On a block
      of any other kind (```python), the block is saved and not run.
  <!-- error: TEXT -->
      (soma-error) the diagnostics must contain TEXT.
  <!-- checked-by: PATH -->
      (console) the session runs a program that another test builds, and
      PATH (a file of the repository, which must exist and name the
      session's program) runs it and checks that the page shows what it
      prints; it is not run here.
  <!-- files: SPEC; SPEC; ... -->
      write data files before the block runs. A SPEC is
        NAME.npy = TENSOR [fortran]
        NAME.safetensors = TENSOR_NAME: TENSOR, TENSOR_NAME: TENSOR, ...
      where TENSOR is DTYPE[d0, d1, ...] optionally followed by {v0, v1, ...}
      (the values, row-major). DTYPE is f32 or f64. Without explicit values,
      element i is ((7 * i) mod 13 - 6) / 8, exact in f32. `fortran` writes
      the .npy file in column-major (Fortran) order.

Failures name the block by its line number in FILE.md; the script exits 1
when any block fails.
"""
import argparse
import json
import os
import re
import shlex
import struct
import subprocess
import sys
import tempfile

import numpy as np

FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)\s*$")
ANNOTATION = re.compile(r"^\s*<!--\s*([\w-]+)\s*:\s*(.*?)\s*-->\s*$")
INPUT_DECL = re.compile(r"\binput\s+([A-Za-z_]\w*)\s*:\s*f32\s*\[([^\]]*)\]")
NETWORK_START = re.compile(r"^\s*network\s+[A-Za-z_]\w*\s*\{", re.M)
TIMEOUT = 60


class Block:
    def __init__(self, lang, line, text, notes):
        self.lang = lang    # info string
        self.line = line    # 1-based line of the opening fence
        self.text = text
        self.notes = notes  # annotation key -> value


def parse_blocks(path):
    """Fenced blocks with the annotations just above each."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    blocks = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = m.group(1), m.group(2), m.group(3)
        start = i
        body = []
        i += 1
        while i < len(lines) and not (lines[i].strip().startswith(fence[0] * len(fence))
                                      and lines[i].strip().strip(fence[0]) == ""):
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
            i += 1
        if i == len(lines):
            raise SystemExit(f"{path}:{start + 1}: unterminated code block")
        i += 1
        notes = {}
        j = start - 1
        while j >= 0:
            if not lines[j].strip():
                j -= 1
                continue
            a = ANNOTATION.match(lines[j])
            if not a:
                break
            notes.setdefault(a.group(1), a.group(2))
            j -= 1
        blocks.append(Block(lang, start + 1, "\n".join(body) + "\n", notes))
    return blocks


def strip_comments(text):
    # Comments run from '#' or '//' to the end of the line, outside strings.
    out = []
    for line in text.split("\n"):
        in_str = False
        k = 0
        while k < len(line):
            c = line[k]
            if c == '"' and (k == 0 or line[k - 1] != "\\"):
                in_str = not in_str
            elif not in_str and (c == "#" or line.startswith("//", k)):
                line = line[:k]
                break
            k += 1
        out.append(line)
    return "\n".join(out)


# --- data files ------------------------------------------------------------

def split_top(text, sep):
    """Splits on `sep` outside [] and {}."""
    parts, depth, cur = [], 0, ""
    for c in text:
        if c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        if c == sep and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += c
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


TENSOR = re.compile(r"^(f32|f64)\s*\[([^\]]*)\]\s*(?:\{([^}]*)\})?\s*(fortran)?$", re.I)


def make_tensor(spec):
    m = TENSOR.match(spec.strip())
    if not m:
        raise ValueError(f"bad tensor '{spec}'; expected DTYPE[d0, ...] with DTYPE f32 or f64")
    dtype = np.float32 if m.group(1).lower() == "f32" else np.float64
    shape = tuple(int(d) for d in m.group(2).split(",") if d.strip())
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if m.group(3) is not None:
        values = [float(v) for v in m.group(3).split(",") if v.strip()]
        if len(values) != count:
            raise ValueError(f"'{spec}' gives {len(values)} values for {count} elements")
    else:
        values = [((7 * i) % 13 - 6) / 8 for i in range(count)]
    return np.array(values, dtype=np.float64).astype(dtype).reshape(shape), bool(m.group(4))


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, arr in tensors:
        raw = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": "F32" if arr.dtype == np.float32 else "F64",
                        "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def write_files(spec, workdir):
    for item in split_top(spec, ";"):
        name, _, rest = item.partition("=")
        name = name.strip()
        if not rest or "/" in name or name.startswith("."):
            raise ValueError(f"bad file spec '{item}'; expected NAME = ...")
        path = os.path.join(workdir, name)
        if name.endswith(".npy"):
            arr, fortran = make_tensor(rest)
            np.save(path, np.asfortranarray(arr) if fortran else arr)
        elif name.endswith(".safetensors"):
            tensors = []
            for t in split_top(rest, ","):
                tname, _, tspec = t.rpartition(":")
                if not tname.strip():
                    raise ValueError(f"bad safetensors entry '{t}'; expected NAME: TENSOR")
                arr, fortran = make_tensor(tspec)
                if fortran:
                    raise ValueError("safetensors has no Fortran order")
                tensors.append((tname.strip(), arr))
            write_safetensors(path, tensors)
        else:
            raise ValueError(f"'{name}': only .npy and .safetensors files can be generated")


# --- running ---------------------------------------------------------------

class Checker:
    def __init__(self, args, workdir):
        self.args = args
        self.workdir = workdir
        self.failures = []
        self.counts = {}

    def fail(self, block, msg):
        self.failures.append(f"{self.args.file}:{block.line}: ```{block.lang} block: {msg}")

    def run(self, argv):
        try:
            p = subprocess.run(argv, cwd=self.workdir, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            return None, f"timed out after {TIMEOUT} s"
        return p.returncode, p.stdout.decode("utf-8", "replace")

    def save(self, block):
        name = block.notes.get("file", f"block-L{block.line}.nn")
        with open(os.path.join(self.workdir, name), "w", encoding="utf-8") as f:
            f.write(block.text)
        return name

    def check_network(self, block):
        name = self.save(block)
        rc, out = self.run([self.args.soma, "check", name])
        if rc != 0:
            self.fail(block, f"`soma check` failed (exit {rc}):\n{indent(out)}")
            return
        inputs = INPUT_DECL.findall(strip_comments(block.text))
        if not inputs:
            return
        argv = [self.args.soma, "run", name]
        os.makedirs(os.path.join(self.workdir, "_inputs"), exist_ok=True)
        for input_name, dims in inputs:
            try:
                shape = [2] + [int(d) for d in dims.split(",")]
            except ValueError:
                self.fail(block, f"cannot read the shape of input '{input_name}': [{dims}]")
                return
            count = int(np.prod(shape))
            values = np.sin(np.arange(count, dtype=np.float64) * 0.7 + 0.3)
            path = os.path.join("_inputs", f"L{block.line}-{input_name}.npy")
            np.save(os.path.join(self.workdir, path), values.astype(np.float32).reshape(shape))
            argv += ["--input", f"{input_name}={path}"]
        rc, out = self.run(argv)
        if rc != 0:
            self.fail(block, f"`soma run` failed (exit {rc}) on generated inputs:\n"
                             f"  $ {' '.join(argv[1:])}\n{indent(out)}")

    def check_error(self, block):
        name = self.save(block)
        rc, out = self.run([self.args.soma, "check", name])
        if rc == 0:
            self.fail(block, "expected `soma check` to fail, but it succeeded")
        elif rc != 1 or "error:" not in out:
            self.fail(block, f"expected an error diagnostic and exit 1, got exit {rc}:\n{indent(out)}")
        elif "error" in block.notes and block.notes["error"] not in out:
            self.fail(block, f"the diagnostics do not contain '{block.notes['error']}':\n{indent(out)}")

    def check_console(self, block):
        sessions = []
        for k, line in enumerate(block.text.rstrip("\n").split("\n")):
            if line.startswith("$ "):
                sessions.append((block.line + 1 + k, line[2:], []))
            elif sessions:
                sessions[-1][2].append(line.rstrip())
            elif line.strip():
                self.fail(block, "a console block must start with a `$ ` command line")
                return
        programs = {"soma": self.args.soma, "soma-opt": self.args.soma_opt,
                    "python3": sys.executable}
        for line, command, expected in sessions:
            argv = shlex.split(command)
            if argv and argv[0].startswith("build/bin/"):
                argv[0] = argv[0][len("build/bin/"):]
            if not argv or argv[0] not in programs:
                self.fail(block, f"line {line}: only soma, soma-opt and python3 can be run: {command}")
                continue
            if any(a in ("|", ">", "<", "&&", ";") for a in argv):
                self.fail(block, f"line {line}: pipes and redirections are not supported: {command}")
                continue
            while expected and not expected[-1]:
                expected.pop()
            rc, out = self.run([programs[argv[0]]] + argv[1:])
            if rc is None:
                self.fail(block, f"line {line}: `{command}` {out}")
                continue
            got = [l.rstrip() for l in out.rstrip("\n").split("\n")] if out.strip() else []
            want_error = any(re.search(r"(^|: )error: ", l) for l in expected)
            if want_error and rc == 0:
                self.fail(block, f"line {line}: `{command}` should fail but exited 0")
            elif not want_error and rc != 0:
                self.fail(block, f"line {line}: `{command}` exited {rc}:\n{indent(out)}")
            elif not lines_match(expected, got):
                self.fail(block, f"line {line}: `{command}` printed something else.\n"
                                 f"  expected:\n{indent(chr(10).join(expected), 4)}\n"
                                 f"  got:\n{indent(chr(10).join(got), 4)}")

    def check_elsewhere(self, block):
        path = os.path.join(os.path.dirname(os.path.abspath(self.args.examples)),
                            block.notes["checked-by"])
        first = block.text.split("\n", 1)[0]
        program = os.path.basename(shlex.split(first[2:])[0]) if first.startswith("$ ") else ""
        try:
            with open(path) as f:
                checker = f.read()
        except OSError as e:
            self.fail(block, f"checked-by: {e}")
            return
        if not program or program not in checker:
            self.fail(block, f"checked-by: {block.notes['checked-by']} does not name "
                             f"the session's program {program!r}")

    def check(self, block):
        if "files" in block.notes:
            try:
                write_files(block.notes["files"], self.workdir)
            except (ValueError, OSError) as e:
                self.fail(block, f"files annotation: {e}")
                return
        self.counts[block.lang] = self.counts.get(block.lang, 0) + 1
        if block.lang == "soma":
            self.check_network(block)
        elif block.lang == "soma-error":
            self.check_error(block)
        elif block.lang == "console" and "checked-by" in block.notes:
            self.check_elsewhere(block)
        elif block.lang == "console":
            self.check_console(block)
        elif "file" in block.notes:
            self.save(block)
        elif NETWORK_START.search(strip_comments(block.text)):
            self.fail(block, "holds a complete network; tag it ```soma (or ```soma-error) "
                             "so that it is checked")


def lines_match(expected, got):
    """Line-by-line equality, where a `...` line matches any run of lines."""
    if not expected:
        return not got
    if expected[0] == "...":
        return any(lines_match(expected[1:], got[k:]) for k in range(len(got) + 1))
    return bool(got) and expected[0] == got[0] and lines_match(expected[1:], got[1:])


def indent(text, n=2):
    return "\n".join(" " * n + l for l in text.rstrip("\n").split("\n"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--soma", required=True)
    ap.add_argument("--soma-opt", required=True)
    ap.add_argument("--examples", help="the examples directory (default: ../examples next to FILE)")
    ap.add_argument("file")
    args = ap.parse_args()
    args.soma = os.path.abspath(args.soma)
    args.soma_opt = os.path.abspath(args.soma_opt)
    examples = args.examples or os.path.join(os.path.dirname(os.path.abspath(args.file)),
                                             "..", "examples")
    blocks = parse_blocks(args.file)
    with tempfile.TemporaryDirectory(prefix="soma-doc-") as workdir:
        if os.path.isdir(examples):
            os.symlink(os.path.abspath(examples), os.path.join(workdir, "examples"))
        checker = Checker(args, workdir)
        for block in blocks:
            checker.check(block)
    summary = ", ".join(f"{n} {lang or 'untagged'}" for lang, n in sorted(checker.counts.items()))
    if checker.failures:
        for f in checker.failures:
            print(f, file=sys.stderr)
        print(f"{args.file}: {len(checker.failures)} example(s) failed ({summary} blocks)",
              file=sys.stderr)
        return 1
    print(f"{args.file}: all examples pass ({summary} blocks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
