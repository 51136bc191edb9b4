// Reading and writing NumPy .npy files. The reader trusts nothing: the
// header is parsed with limits and checked against the file size before any
// data is read, so a truncated or hostile file is an error, not a crash.
#pragma once

#include "soma/support/Expected.h"
#include "soma/support/Tensor.h"

#include <string>

namespace soma {

struct NpyArray {
  Tensor tensor;
  /// The dtype the file held ("<f4" or "<f8"); f64 is converted to f32.
  std::string dtype;
};

/// Parses an .npy image held in memory; `what` names it in errors.
Expected<NpyArray> parseNpy(const std::string &bytes, const std::string &what);
/// Reads a regular file of at most kMaxWeightFileBytes (File.h).
Expected<NpyArray> readNpy(const std::string &path);
/// Writes a C-order little-endian f32 array.
Expected<bool> writeNpy(const std::string &path, const Tensor &tensor);

} // namespace soma
