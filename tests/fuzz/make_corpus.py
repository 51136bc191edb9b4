#!/usr/bin/env python3
"""Writes the fuzz harnesses' seed corpora and dictionaries.

make_corpus.py SOURCE_DIR OUT_DIR

OUT_DIR/seeds/<harness>/ gets the seeds: every .nn file under examples/ and
tests/lit/ (the frontend, pipeline and JIT harnesses; those two also take
the .sir files, which they accept as IR text), every .sir file (the IR
harness), every .npy file in the tree plus arrays written here (npy),
safetensors images (safetensors) and ONNX models (onnx: the import tests'
models from tests/tools/onnx_models.py, built with python3-onnx's
onnx.helper, nothing binary in the tree). OUT_DIR/<name>.dict are libFuzzer
dictionaries: the language's keywords, taken from the .def files that
declare them (layers, ops, attributes, activations, schedule fields), and
the ONNX op types the importer names in frontend/onnx/ with their
attributes from ONNX's schemas, so a new keyword or op reaches the fuzzers
without an edit here.
"""
import json
import os
import re
import shutil
import struct
import sys

SRC, OUT = sys.argv[1], sys.argv[2]

DEFS = [
    "frontend/include/soma/frontend/Layers.def",
    "compiler/include/soma/ir/Ops.def",
    "compiler/include/soma/ir/Activations.def",
    "compiler/include/soma/ir/Schedule.def",
    "compiler/include/soma/passes/Passes.def",
]
# Words the parsers match in code rather than in a .def file.
LANGUAGE = """network graph input output as f32 const schedule hints sparsity density
block zero_rows zero_cols prune seed zeros ones uniform normal he kaiming xavier
glorot low high mean stddev npy safetensors tensor elided auto dense sparse none
nan inf true false""".split()
PUNCT = ["{", "}", "(", ")", "[", "]", "<", ">", ":", ";", ",", "=", "%", "#", "\"",
         "@", "->", "-", ".", "e", "1e38", "-0", "0x", "\n", "N"]
NPY_WORDS = ["\x93NUMPY", "\x01\x00", "\x02\x00", "\x03\x00", "{'descr': '<f4', ",
             "'fortran_order': False, ", "'fortran_order': True, ", "'shape': (",
             "descr", "fortran_order", "shape", "<f4", "<f8", ">f4", "|u1", "<i8",
             "True", "False", "(", ")", ",", "'", "{", "}", "\n"]
ST_WORDS = ["dtype", "shape", "data_offsets", "__metadata__", "F32", "F64", "F16",
            "BF16", "I64", "U8", "BOOL", "{", "}", "[", "]", ":", ",", "\"",
            "18446744073709551615", "4294967296", "-1", "1e308"]


def escape(word):
    out = ""
    for ch in word.encode("latin-1"):
        c = chr(ch)
        out += c if 0x20 <= ch < 0x7F and c not in '"\\' else "\\x%02x" % ch
    return out


def write_dict(name, words):
    seen = []
    for w in words:
        if w and w not in seen:
            seen.append(w)
    with open(os.path.join(OUT, name + ".dict"), "w") as f:
        for i, w in enumerate(seen):
            f.write('kw%d="%s"\n' % (i, escape(w)))


def keywords():
    words = []
    for rel in DEFS:
        with open(os.path.join(SRC, rel)) as f:
            text = f.read()
        words += re.findall(r'"([a-z][a-z0-9_\-]*)"', text)
    return words + LANGUAGE + PUNCT


def files(exts, roots=("examples", "tests/lit")):
    for root in roots:
        for dirpath, dirnames, names in os.walk(os.path.join(SRC, root)):
            dirnames.sort()
            for n in sorted(names):
                if n.endswith(exts):
                    yield os.path.join(dirpath, n)


def copy_seeds(harness, paths):
    d = os.path.join(OUT, "seeds", harness)
    os.makedirs(d, exist_ok=True)
    for i, p in enumerate(paths):
        if os.path.getsize(p) <= 64 * 1024:
            shutil.copyfile(p, os.path.join(d, "%04d-%s" % (i, os.path.basename(p))))
    return d


def npy(dtype, shape, values, fortran=False, version=1):
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (
        dtype, fortran, str(tuple(shape)))
    fmt = {"<f4": "<f", "<f8": "<d"}[dtype]
    data = b"".join(struct.pack(fmt, v) for v in values)
    hlen_size = 2 if version == 1 else 4
    pad = (64 - (10 + (hlen_size - 2) + len(header) + 1) % 64) % 64
    header = header + " " * pad + "\n"
    size = struct.pack("<H" if version == 1 else "<I", len(header))
    return b"\x93NUMPY" + bytes([version, 0]) + size + header.encode() + data


def safetensors(tensors):
    header, data = {}, b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


def onnx_words():
    """The op types frontend/onnx/ names, their attribute names (ONNX's
    schemas), and the protobuf fields that carry them: an op type is
    NodeProto field 4 and an attribute name AttributeProto field 1, both
    length-delimited, so "\\x22\\x04Relu" replaces a whole op type."""
    import onnx.defs
    ops, attrs = [], []
    d = os.path.join(SRC, "frontend", "onnx")
    for n in sorted(os.listdir(d)):
        with open(os.path.join(d, n)) as f:
            for w in re.findall(r'"([A-Z][A-Za-z]+)"', f.read()):
                if onnx.defs.has(w) and w not in ops:
                    ops.append(w)
    for op in ops:
        attrs += [a for a in sorted(onnx.defs.get_schema(op).attributes) if a not in attrs]
    words = ops + attrs
    words += ["\x22" + chr(len(w)) + w for w in ops if len(w) < 128]
    words += ["\x0a" + chr(len(w)) + w for w in attrs if len(w) < 128]
    return words + ["ai.onnx", "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID",
                    "location", "offset", "length", "\xff\xff\xff\xff\x0f"]


def onnx_seeds():
    """The import tests' models, serialized (each well under max_len)."""
    sys.path.insert(0, os.path.join(SRC, "tests", "tools"))
    import onnx_models
    d = os.path.join(OUT, "seeds", "onnx")
    os.makedirs(d, exist_ok=True)
    for name, build in onnx_models.MODELS.items():
        made = build()
        model = made[0] if isinstance(made, tuple) else made
        with open(os.path.join(d, name + ".onnx"), "wb") as f:
            f.write(model.SerializeToString())


def main():
    os.makedirs(OUT, exist_ok=True)
    kw = keywords()
    write_dict("network", kw)
    write_dict("npy", NPY_WORDS)
    write_dict("safetensors", ST_WORDS)
    write_dict("onnx", onnx_words())
    onnx_seeds()
    nn = list(files((".nn",)))
    sir = list(files((".sir",)))
    copy_seeds("frontend", nn)
    copy_seeds("ir", sir)
    copy_seeds("pipeline", nn + sir)
    copy_seeds("jit", nn + sir)
    d = copy_seeds("npy", list(files((".npy",), roots=("examples", "tests"))))
    made = {
        "f4-vector.npy": npy("<f4", [3], [1.0, -2.5, 3.25]),
        "f4-matrix.npy": npy("<f4", [2, 3], [float(i) for i in range(6)]),
        "f4-fortran.npy": npy("<f4", [2, 2], [1, 2, 3, 4], fortran=True),
        "f8-matrix.npy": npy("<f8", [2, 2], [0.5, 1e300, -0.0, 2]),
        "f4-scalar.npy": npy("<f4", [], [7.0]),
        "f4-empty.npy": npy("<f4", [0, 4], []),
        "f4-v2.npy": npy("<f4", [2], [1, 2], version=2),
    }
    for name, raw in made.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(raw)
    d = copy_seeds("safetensors", list(files((".safetensors",), roots=("examples", "tests"))))
    f32 = lambda vs: b"".join(struct.pack("<f", v) for v in vs)
    f64 = lambda vs: b"".join(struct.pack("<d", v) for v in vs)
    made = {
        "two.safetensors": safetensors({"w": ("F32", [2, 2], f32([1, 2, 3, 4])),
                                        "b": ("F64", [2], f64([0.5, -1]))}),
        "empty.safetensors": safetensors({"e": ("F32", [0, 3], b"")}),
        "scalar.safetensors": safetensors({"s": ("F32", [], f32([3]))}),
    }
    meta = json.dumps({"__metadata__": {"format": "pt"},
                       "x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    made["meta.safetensors"] = struct.pack("<Q", len(meta)) + meta + f32([2])
    for name, raw in made.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(raw)


main()
