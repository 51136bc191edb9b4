// Reading tensors from .safetensors files: an 8-byte little-endian header
// size, a JSON header {name: {dtype, shape, data_offsets}}, then the data.
// Every offset and shape is checked against the file before it is used.
#pragma once

#include "soma/support/Expected.h"
#include "soma/support/Tensor.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace soma::frontend {

struct SafetensorsEntry {
  std::string dtype; // "F32", "F64", ...
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0; // byte offsets into the data section
};

class SafetensorsFile {
public:
  /// Parses and validates the header of an image held in memory.
  static Expected<SafetensorsFile> parse(std::string bytes, std::string what);
  /// The same, for an image shared with its owner (not copied).
  static Expected<SafetensorsFile> parse(std::shared_ptr<const std::string> bytes,
                                         std::string what);

  const std::map<std::string, SafetensorsEntry> &entries() const { return table; }
  /// The tensor as f32 (F64 converted; `converted` set when it was).
  Expected<Tensor> tensor(const std::string &name, bool *converted = nullptr) const;
  const std::string &path() const { return what; }

private:
  std::shared_ptr<const std::string> bytes;
  std::string what;
  size_t dataStart = 0;
  std::map<std::string, SafetensorsEntry> table;
};

} // namespace soma::frontend
