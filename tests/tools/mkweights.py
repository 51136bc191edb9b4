#!/usr/bin/env python3
"""Writes .npy and .safetensors weight files for the lit tests: good ones,
and deliberately broken ones (truncated, wrong dtype, lying headers), so no
binary fixture has to live in the repository.

  mkweights.py npy OUT [--shape 2,3] [--dtype <f4] [--values 1,2,...]
                       [--fortran] [--magic TEXT] [--version N]
                       [--header TEXT] [--header-len N] [--truncate N]
  mkweights.py safetensors OUT [NAME:DTYPE:SHAPE[:BEGIN,END] ...]
                       [--header TEXT] [--header-size N] [--truncate N]

Values default to 0.1, 0.2, 0.3, ... in row-major order. A tensor spec such
as `fc.weight:F32:2,3` gives a safetensors tensor; `:0,999` after the shape
overrides its data_offsets. --header replaces the header text (the .npy dict
or the safetensors JSON) verbatim; --header-len / --header-size override the
length field that precedes it; --truncate drops bytes from the end of the
file; --magic replaces the 6-byte .npy magic string.
"""
import argparse
import json
import struct
import sys

import numpy as np

SAFETENSORS_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2",
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
    "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "u1",
}


def parse_shape(text):
    return tuple(int(d) for d in text.split(",") if d.strip())


def make_values(shape, dtype, values):
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if values is not None:
        data = [float(v) for v in values.split(",") if v.strip()]
    else:
        data = [(i + 1) / 10 for i in range(count)]
    return np.asarray(data, dtype=np.float64).astype(dtype)


def finish(blob, args):
    if args.truncate:
        blob = blob[:-args.truncate]
    with open(args.out, "wb") as f:
        f.write(blob)


def write_npy(args):
    shape = parse_shape(args.shape)
    dtype = np.dtype(args.dtype)
    arr = make_values(shape, dtype, args.values)
    if args.values is None or arr.size == int(np.prod(shape, dtype=np.int64)):
        arr = arr.reshape(shape)
    data = arr.tobytes(order="F" if args.fortran else "C")
    if args.header is not None:
        header = args.header.encode("latin-1")
    else:
        dims = ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "")
        text = "{'descr': '%s', 'fortran_order': %s, 'shape': (%s), }" % (
            args.dtype, "True" if args.fortran else "False", dims)
        pad = (64 - (10 + len(text) + 1) % 64) % 64
        header = (text + " " * pad + "\n").encode("latin-1")
    length = len(header) if args.header_len is None else args.header_len
    magic = b"\x93NUMPY" if args.magic is None else args.magic.encode("latin-1")
    if args.version == 1:
        prefix = magic + bytes([1, 0]) + struct.pack("<H", length)
    else:
        prefix = magic + bytes([args.version, 0]) + struct.pack("<I", length)
    finish(prefix + header + data, args)


def write_safetensors(args):
    header = {}
    data = b""
    for spec in args.tensors:
        parts = spec.split(":")
        if len(parts) not in (3, 4):
            sys.exit(f"mkweights.py: bad tensor spec '{spec}'; use NAME:DTYPE:SHAPE[:BEGIN,END]")
        name, dtype, shape = parts[0], parts[1], parse_shape(parts[2])
        raw = make_values(shape, np.dtype(SAFETENSORS_DTYPES.get(dtype, "<f4")), None).tobytes()
        offsets = [len(data), len(data) + len(raw)]
        if len(parts) == 4:
            offsets = [int(v) for v in parts[3].split(",")]
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": offsets}
        data += raw
    if args.header is not None:
        text = args.header.encode("utf-8")
    else:
        text = json.dumps(header, separators=(",", ":")).encode("utf-8")
        text += b" " * ((8 - len(text) % 8) % 8)
    size = len(text) if args.header_size is None else args.header_size
    finish(struct.pack("<Q", size) + text + data, args)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="format", required=True)

    npy = sub.add_parser("npy")
    npy.add_argument("out")
    npy.add_argument("--shape", default="")
    npy.add_argument("--dtype", default="<f4", help="NumPy descr: <f4, <f8, <i4, >f4, ...")
    npy.add_argument("--values", help="comma-separated values (default 0.1, 0.2, ...)")
    npy.add_argument("--fortran", action="store_true")
    npy.add_argument("--magic")
    npy.add_argument("--version", type=int, default=1)
    npy.add_argument("--header")
    npy.add_argument("--header-len", type=int)
    npy.add_argument("--truncate", type=int, default=0)
    npy.set_defaults(write=write_npy)

    st = sub.add_parser("safetensors")
    st.add_argument("out")
    st.add_argument("tensors", nargs="*")
    st.add_argument("--header")
    st.add_argument("--header-size", type=int)
    st.add_argument("--truncate", type=int, default=0)
    st.set_defaults(write=write_safetensors)

    args = parser.parse_args()
    args.write(args)


if __name__ == "__main__":
    main()
