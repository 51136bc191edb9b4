#!/usr/bin/env python3
"""Writes the weight files of examples/files.nn into this directory:

  hidden_weight.npy   [4, 3] float32, Fortran order (see below)
  hidden_bias.npy     [4]    float32
  head.safetensors    norm.weight [4], norm.bias [4], head.weight [2, 4],
                      head.bias [2], all F32

The values are written out below, so the files can be regenerated exactly:
  /usr/bin/python3 examples/weights/make_weights.py
Needs only NumPy; the safetensors file is written by hand (an 8-byte
little-endian header length, a JSON header, then the raw little-endian data),
as the format specifies, so no safetensors package is needed.
"""
import json
import os
import struct

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

# The hidden layer's weights as a trainer might hold them: [inputs, units].
HIDDEN_IN_OUT = np.array([[0.5, -0.5, 0.25, 1.0],
                          [-0.25, 0.5, 0.75, -1.0],
                          [0.75, 0.25, -0.5, 0.5]], dtype=np.float32)
HIDDEN_BIAS = np.array([0.1, -0.2, 0.0, 0.05], dtype=np.float32)

HEAD = {
    "norm.weight": np.array([1.0, 0.5, 2.0, 1.5], dtype=np.float32),
    "norm.bias": np.array([0.0, 0.1, -0.1, 0.2], dtype=np.float32),
    "head.weight": np.array([[0.3, -0.6, 0.9, 0.2],
                             [-0.4, 0.8, 0.1, -0.7]], dtype=np.float32),
    "head.bias": np.array([0.05, -0.05], dtype=np.float32),
}


def write_safetensors(path, tensors, metadata=None):
    header = {}
    if metadata:
        header["__metadata__"] = metadata
    blobs, offset = [], 0
    for name, arr in tensors.items():
        assert arr.dtype == np.float32
        raw = np.ascontiguousarray(arr).astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)  # pad so the data is 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        f.write(b"".join(blobs))


def main():
    # soma wants [units, inputs] (PyTorch's nn.Linear layout): the transpose.
    # A transposed array is column-major in memory, so np.save writes it with
    # fortran_order: True, and soma must (and does) reorder it.
    weight = HIDDEN_IN_OUT.T
    assert weight.flags.f_contiguous and not weight.flags.c_contiguous
    np.save(os.path.join(HERE, "hidden_weight.npy"), weight)
    np.save(os.path.join(HERE, "hidden_bias.npy"), HIDDEN_BIAS)
    write_safetensors(os.path.join(HERE, "head.safetensors"), HEAD, {"format": "pt"})
    for name in ("hidden_weight.npy", "hidden_bias.npy", "head.safetensors"):
        size = os.path.getsize(os.path.join(HERE, name))
        assert size < 2048, f"{name} is {size} bytes"
        print(f"wrote {name} ({size} bytes)")


if __name__ == "__main__":
    main()
