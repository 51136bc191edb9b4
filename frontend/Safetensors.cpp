// The safetensors reader. The header is JSON; a small parser with depth and
// size limits reads just what the format needs.
#include "soma/frontend/Safetensors.h"

#include <cctype>
#include <cstring>

namespace soma::frontend {

namespace {

/// A minimal JSON reader for the safetensors header.
class JsonReader {
public:
  explicit JsonReader(std::string_view s) : s(s) {}

  std::string error;

  void space() {
    while (pos < s.size() && std::isspace(static_cast<unsigned char>(s[pos])))
      ++pos;
  }
  bool eat(char c) {
    space();
    if (pos < s.size() && s[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  }
  bool peekIs(char c) {
    space();
    return pos < s.size() && s[pos] == c;
  }
  bool fail(const std::string &msg) {
    if (error.empty())
      error = msg + " at header byte " + std::to_string(pos);
    return false;
  }
  bool string(std::string &out) {
    space();
    if (pos >= s.size() || s[pos] != '"')
      return fail("expected a string");
    ++pos;
    out.clear();
    while (pos < s.size() && s[pos] != '"') {
      char c = s[pos++];
      if (c == '\\') {
        if (pos >= s.size())
          return fail("unterminated string");
        char e = s[pos++];
        switch (e) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'u':
          // Keep \uXXXX escapes verbatim: tensor names are compared as bytes.
          if (pos + 4 > s.size())
            return fail("truncated \\u escape");
          out += "\\u";
          out.append(s.substr(pos, 4));
          pos += 4;
          break;
        default:
          out += e;
        }
      } else {
        out += c;
      }
    }
    if (pos >= s.size())
      return fail("unterminated string");
    ++pos;
    return true;
  }
  bool unsignedInt(uint64_t &out) {
    space();
    size_t start = pos;
    out = 0;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
      if (out > (UINT64_MAX - 9) / 10)
        return fail("integer too large");
      out = out * 10 + static_cast<uint64_t>(s[pos++] - '0');
    }
    if (pos == start)
      return fail("expected a non-negative integer");
    return true;
  }
  /// Skips any JSON value (for __metadata__ and unknown keys).
  bool skipValue(unsigned depth) {
    if (depth > 16)
      return fail("nesting too deep");
    space();
    if (pos >= s.size())
      return fail("unexpected end of header");
    char c = s[pos];
    if (c == '"') {
      std::string tmp;
      return string(tmp);
    }
    if (c == '{' || c == '[') {
      char close = c == '{' ? '}' : ']';
      ++pos;
      if (eat(close))
        return true;
      do {
        if (c == '{') {
          std::string key;
          if (!string(key) || !eat(':'))
            return fail("malformed object");
        }
        if (!skipValue(depth + 1))
          return false;
      } while (eat(','));
      return eat(close) || fail("malformed JSON value");
    }
    while (pos < s.size() && (std::isalnum(static_cast<unsigned char>(s[pos])) || s[pos] == '-' ||
                              s[pos] == '+' || s[pos] == '.'))
      ++pos;
    return true;
  }
  bool intArray(std::vector<uint64_t> &out) {
    if (!eat('['))
      return fail("expected an array");
    out.clear();
    if (eat(']'))
      return true;
    do {
      uint64_t v;
      if (!unsignedInt(v))
        return false;
      if (out.size() > 64)
        return fail("array too long");
      out.push_back(v);
    } while (eat(','));
    return eat(']') || fail("expected ']'");
  }

private:
  std::string_view s;
  size_t pos = 0;

public:
  bool atEnd() {
    space();
    return pos == s.size();
  }
};

size_t dtypeSize(const std::string &dtype) {
  if (dtype == "F64" || dtype == "I64" || dtype == "U64")
    return 8;
  if (dtype == "F32" || dtype == "I32" || dtype == "U32")
    return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16")
    return 2;
  if (dtype == "I8" || dtype == "U8" || dtype == "BOOL" || dtype == "F8_E4M3" || dtype == "F8_E5M2")
    return 1;
  return 0;
}

} // namespace

Expected<SafetensorsFile> SafetensorsFile::parse(std::string bytes, std::string what) {
  return parse(std::make_shared<const std::string>(std::move(bytes)), std::move(what));
}

Expected<SafetensorsFile> SafetensorsFile::parse(std::shared_ptr<const std::string> image,
                                                 std::string what) {
  const std::string &bytes = *image;
  auto fail = [&](const std::string &msg) -> Expected<SafetensorsFile> {
    return Error{"'" + what + "' is not a valid safetensors file: " + msg};
  };
  if (bytes.size() < 8)
    return fail("shorter than its 8-byte header size");
  uint64_t headerLen = 0;
  for (int i = 7; i >= 0; --i)
    headerLen = (headerLen << 8) | static_cast<unsigned char>(bytes[i]);
  if (headerLen > bytes.size() - 8)
    return fail("header size " + std::to_string(headerLen) + " exceeds the file size " +
                std::to_string(bytes.size()));
  SafetensorsFile file;
  file.what = what;
  file.dataStart = 8 + headerLen;
  const uint64_t dataSize = bytes.size() - file.dataStart;

  JsonReader json(std::string_view(bytes).substr(8, headerLen));
  if (!json.eat('{'))
    return fail("header is not a JSON object");
  if (!json.eat('}')) {
    do {
      std::string name;
      if (!json.string(name) || !json.eat(':'))
        return fail(json.error.empty() ? "malformed header" : json.error);
      if (name == "__metadata__") {
        if (!json.skipValue(0))
          return fail(json.error);
        continue;
      }
      SafetensorsEntry entry;
      bool haveDtype = false, haveShape = false, haveOffsets = false;
      if (!json.eat('{'))
        return fail("entry '" + name + "' is not an object");
      if (!json.eat('}')) {
        do {
          std::string key;
          if (!json.string(key) || !json.eat(':'))
            return fail(json.error.empty() ? "malformed entry '" + name + "'" : json.error);
          std::vector<uint64_t> ints;
          if (key == "dtype") {
            if (!json.string(entry.dtype))
              return fail(json.error);
            haveDtype = true;
          } else if (key == "shape") {
            if (!json.intArray(ints))
              return fail(json.error);
            if (ints.size() > kMaxRank)
              return fail("tensor '" + name + "' has rank above " + std::to_string(kMaxRank));
            for (uint64_t d : ints) {
              if (d > static_cast<uint64_t>(kMaxTensorElements))
                return fail("tensor '" + name + "' has a dimension above the limit");
              entry.shape.push_back(static_cast<int64_t>(d));
            }
            haveShape = true;
          } else if (key == "data_offsets") {
            if (!json.intArray(ints) || ints.size() != 2)
              return fail("tensor '" + name + "' needs data_offsets [begin, end]");
            entry.begin = ints[0];
            entry.end = ints[1];
            haveOffsets = true;
          } else if (!json.skipValue(0)) {
            return fail(json.error);
          }
        } while (json.eat(','));
        if (!json.eat('}'))
          return fail("malformed entry '" + name + "'");
      }
      if (!haveDtype || !haveShape || !haveOffsets)
        return fail("tensor '" + name + "' lacks dtype, shape or data_offsets");
      if (entry.begin > entry.end)
        return fail("tensor '" + name + "' has data_offsets [" + std::to_string(entry.begin) +
                    ", " + std::to_string(entry.end) + "] that end before they begin");
      if (entry.end > dataSize)
        return fail("tensor '" + name + "' has data_offsets [" + std::to_string(entry.begin) +
                    ", " + std::to_string(entry.end) + "] outside the " + std::to_string(dataSize) +
                    "-byte data section (truncated file?)");
      int64_t count = 0;
      if (!checkedElementCount(entry.shape, count))
        return fail("tensor '" + name + "' has more than " + std::to_string(kMaxTensorElements) +
                    " elements");
      if (size_t elem = dtypeSize(entry.dtype);
          elem && static_cast<uint64_t>(count) * elem != entry.end - entry.begin)
        return fail("tensor '" + name + "' of shape " + formatDims(entry.shape) + " and dtype " +
                    entry.dtype + " needs " + std::to_string(count * elem) +
                    " bytes, its offsets span " + std::to_string(entry.end - entry.begin));
      file.table.emplace(name, std::move(entry));
    } while (json.eat(','));
    if (!json.eat('}'))
      return fail(json.error.empty() ? "malformed header" : json.error);
  }
  if (!json.atEnd())
    return fail("trailing bytes after the JSON header");
  file.bytes = std::move(image);
  return file;
}

Expected<Tensor> SafetensorsFile::tensor(const std::string &name, bool *converted) const {
  auto it = table.find(name);
  if (it == table.end()) {
    std::string known;
    size_t shown = 0;
    for (auto &[n, e] : table) {
      if (shown++ == 8) {
        known += ", ...";
        break;
      }
      known += (known.empty() ? "" : ", ") + ("'" + n + "'");
    }
    return Error{"'" + what + "' has no tensor named '" + name + "'" +
                 (known.empty() ? " (it holds no tensors)" : "; it holds " + known)};
  }
  const SafetensorsEntry &e = it->second;
  if (e.dtype != "F32" && e.dtype != "F64")
    return Error{"tensor '" + name + "' in '" + what + "' has dtype " + e.dtype +
                 "; soma reads F32 or F64 tensors"};
  Tensor t(e.shape);
  const char *src = bytes->data() + dataStart + e.begin;
  if (t.values.empty()) {
    // nothing to copy
  } else if (e.dtype == "F32") {
    std::memcpy(t.values.data(), src, t.values.size() * 4);
  } else {
    for (size_t i = 0; i < t.values.size(); ++i) {
      double d;
      std::memcpy(&d, src + i * 8, 8);
      t.values[i] = static_cast<float>(d);
    }
  }
  if (converted)
    *converted = e.dtype == "F64";
  return t;
}

} // namespace soma::frontend
