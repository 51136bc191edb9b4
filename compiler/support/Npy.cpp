// The .npy format (versions 1.0, 2.0 and 3.0): a magic string, a header
// length, a Python-literal dict {'descr', 'fortran_order', 'shape'}, then
// the raw data. Only little-endian f32 and f64 are accepted.
#include "soma/support/Npy.h"
#include "soma/support/File.h"

#include <bit>
#include <cctype>
#include <cstring>
#include <fstream>
#include <sstream>

namespace soma {

namespace {

/// A cursor over the header dict text.
struct HeaderScanner {
  std::string_view s;
  size_t pos = 0;

  void skipSpace() {
    while (pos < s.size() && std::isspace(static_cast<unsigned char>(s[pos])))
      ++pos;
  }
  bool eat(char c) {
    skipSpace();
    if (pos < s.size() && s[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  }
  /// True when the next non-space character is `c`, without consuming it.
  bool at(char c) {
    skipSpace();
    return pos < s.size() && s[pos] == c;
  }
  bool string(std::string &out) {
    skipSpace();
    if (pos >= s.size() || (s[pos] != '\'' && s[pos] != '"'))
      return false;
    char q = s[pos++];
    size_t end = s.find(q, pos);
    if (end == std::string_view::npos)
      return false;
    out = std::string(s.substr(pos, end - pos));
    pos = end + 1;
    return true;
  }
  bool word(std::string &out) {
    skipSpace();
    size_t start = pos;
    while (pos < s.size() && std::isalpha(static_cast<unsigned char>(s[pos])))
      ++pos;
    out = std::string(s.substr(start, pos - start));
    return !out.empty();
  }
  bool integer(int64_t &out) {
    skipSpace();
    size_t start = pos;
    int64_t v = 0;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
      if (v > (INT64_MAX - 9) / 10)
        return false;
      v = v * 10 + (s[pos] - '0');
      ++pos;
    }
    // Python 2 era writers may append 'L' to longs.
    if (pos < s.size() && s[pos] == 'L')
      ++pos;
    out = v;
    return pos != start;
  }
};

} // namespace

Expected<NpyArray> parseNpy(const std::string &bytes, const std::string &what) {
  auto fail = [&](const std::string &msg) -> Expected<NpyArray> {
    return Error{"'" + what + "' is not a valid .npy file: " + msg};
  };
  static const char magic[] = "\x93NUMPY";
  if (bytes.size() < 10 || std::memcmp(bytes.data(), magic, 6) != 0)
    return fail("missing the \\x93NUMPY magic string");
  unsigned major = static_cast<unsigned char>(bytes[6]);
  size_t headerLen = 0, headerStart = 0;
  if (major == 1) {
    headerLen = static_cast<unsigned char>(bytes[8]) |
                (static_cast<size_t>(static_cast<unsigned char>(bytes[9])) << 8);
    headerStart = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12)
      return fail("truncated header");
    for (int i = 3; i >= 0; --i)
      headerLen = (headerLen << 8) | static_cast<unsigned char>(bytes[8 + i]);
    headerStart = 12;
  } else {
    return fail("unsupported format version " + std::to_string(major));
  }
  if (headerLen > bytes.size() - headerStart)
    return fail("header length " + std::to_string(headerLen) + " exceeds the file size " +
                std::to_string(bytes.size()));

  HeaderScanner sc{std::string_view(bytes).substr(headerStart, headerLen)};
  std::string descr;
  bool fortran = false, haveDescr = false, haveShape = false;
  std::vector<int64_t> shape;
  if (!sc.eat('{'))
    return fail("header is not a dict");
  while (!sc.eat('}')) {
    std::string key;
    if (!sc.string(key) || !sc.eat(':'))
      return fail("malformed header dict");
    if (key == "descr") {
      if (!sc.string(descr))
        return fail("malformed 'descr'");
      haveDescr = true;
    } else if (key == "fortran_order") {
      std::string w;
      if (!sc.word(w) || (w != "True" && w != "False"))
        return fail("malformed 'fortran_order'");
      fortran = w == "True";
    } else if (key == "shape") {
      if (!sc.eat('('))
        return fail("malformed 'shape'");
      while (!sc.eat(')')) {
        int64_t d;
        if (!sc.integer(d))
          return fail("malformed 'shape'");
        if (shape.size() == kMaxRank)
          return fail("rank exceeds the limit of " + std::to_string(kMaxRank));
        shape.push_back(d);
        // Dimensions are separated by ',' (a trailing one is allowed).
        if (!sc.eat(',') && !sc.at(')'))
          return fail("malformed 'shape'");
      }
      haveShape = true;
    } else {
      return fail("unexpected header key '" + key + "'");
    }
    sc.eat(',');
    if (sc.pos >= sc.s.size())
      return fail("unterminated header dict");
  }
  if (!haveDescr || !haveShape)
    return fail("header lacks 'descr' or 'shape'");

  size_t elemSize;
  if (descr == "<f4" || descr == "=f4" || descr == "f4")
    elemSize = 4;
  else if (descr == "<f8" || descr == "=f8" || descr == "f8")
    elemSize = 8;
  else
    return Error{"'" + what + "' has dtype '" + descr +
                 "'; soma reads float32 ('<f4') or float64 ('<f8') arrays"};

  int64_t count = 0;
  if (!checkedElementCount(shape, count))
    return Error{"'" + what + "' has shape " + formatDims(shape) + ", more than the limit of " +
                 std::to_string(kMaxTensorElements) + " elements"};
  size_t dataStart = headerStart + headerLen;
  size_t need = static_cast<size_t>(count) * elemSize;
  if (bytes.size() - dataStart < need)
    return Error{"'" + what + "' is truncated: shape " + formatDims(shape) + " needs " +
                 std::to_string(need) + " bytes of data, the file has " +
                 std::to_string(bytes.size() - dataStart)};

  NpyArray out;
  out.dtype = descr;
  out.tensor = Tensor(shape);
  const char *src = bytes.data() + dataStart;
  float *dst = out.tensor.values.data();
  for (int64_t i = 0; i < count; ++i) {
    if (elemSize == 4) {
      std::memcpy(&dst[i], src + i * 4, 4);
    } else {
      double d;
      std::memcpy(&d, src + i * 8, 8);
      dst[i] = static_cast<float>(d);
    }
  }
  if (fortran && shape.size() > 1) {
    // Column-major on disk: element (i0..ik) sits at sum(i_j * stride_j)
    // with strides growing from the first axis. Reorder to row-major.
    AlignedVector<float> rowMajor(out.tensor.values.size());
    std::vector<int64_t> idx(shape.size(), 0);
    for (int64_t flat = 0; flat < count; ++flat) {
      int64_t colOffset = 0, stride = 1;
      for (size_t a = 0; a < shape.size(); ++a) {
        colOffset += idx[a] * stride;
        stride *= shape[a];
      }
      rowMajor[flat] = out.tensor.values[colOffset];
      for (size_t a = shape.size(); a-- > 0;) {
        if (++idx[a] < shape[a])
          break;
        idx[a] = 0;
      }
    }
    out.tensor.values = std::move(rowMajor);
  }
  return out;
}

Expected<NpyArray> readNpy(const std::string &path) {
  Expected<std::string> bytes = readRegularFile(path, kMaxWeightFileBytes);
  if (!bytes)
    return Error{bytes.error()};
  return parseNpy(*bytes, path);
}

Expected<bool> writeNpy(const std::string &path, const Tensor &tensor) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < tensor.dims.size(); ++i)
    header += std::to_string(tensor.dims[i]) + (tensor.dims.size() == 1       ? ",)"
                                                : i + 1 == tensor.dims.size() ? ")"
                                                                              : ", ");
  if (tensor.dims.empty())
    header += ")";
  header += ", }";
  // Pad so the data starts on a 64-byte boundary, as NumPy does.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  if (!out)
    return Error{"cannot write '" + path + "': " + std::strerror(errno)};
  out.write("\x93NUMPY\x01\x00", 8);
  char len[2] = {static_cast<char>(header.size() & 0xff), static_cast<char>(header.size() >> 8)};
  out.write(len, 2);
  out << header;
  static_assert(std::endian::native == std::endian::little, "soma writes little-endian .npy");
  out.write(reinterpret_cast<const char *>(tensor.values.data()),
            static_cast<std::streamsize>(tensor.values.size() * sizeof(float)));
  // A full disk fails in the flush or the close, not in the writes above.
  out.flush();
  out.close();
  if (!out)
    return Error{"cannot write '" + path + "': " + std::strerror(errno)};
  return true;
}

} // namespace soma
