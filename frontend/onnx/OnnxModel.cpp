// Reading an ONNX model: the protobuf (up to 2 GiB), its opset, its
// tensors (raw or typed fields, external data files beside the model) and
// its graph inputs. The importer stops at the first problem with an
// ImportError (one failure ends an import, so an exception spares every
// helper an error path); importOnnx turns it into an Error.
#include "Importer.h"
#include "soma/frontend/OnnxImport.h"
#include "soma/support/File.h"

#include "onnx/defs/schema.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>

namespace soma::frontend {
namespace onnximport {

int64_t ConstTensor::count() const {
  // Saturates: each dimension is at most kMaxDim, but a few of them
  // multiply past int64 (a fuzzed initializer's dims), and every caller
  // compares the count with a size or a limit.
  int64_t n = 1;
  bool huge = false;
  for (int64_t d : dims) {
    if (d == 0)
      return 0;
    if (!huge && __builtin_mul_overflow(n, d, &n))
      huge = true;
  }
  return huge ? std::numeric_limits<int64_t>::max() : n;
}

void Importer::load() {
  // Streamed from the file in blocks: the protobuf's own copy of the
  // weights is the only one held while parsing.
  Expected<int> fd = openRegularFile(path, std::numeric_limits<int32_t>::max());
  if (!fd)
    throw ImportError(fd.error());
  google::protobuf::io::FileInputStream file(*fd, 1 << 20);
  file.SetCloseOnDelete(true);
  bool parsed;
  {
    google::protobuf::io::CodedInputStream stream(&file);
    stream.SetTotalBytesLimit(std::numeric_limits<int32_t>::max());
    parsed = model.ParseFromCodedStream(&stream) && stream.ConsumedEntireMessage();
  }
  if (file.GetErrno() != 0)
    throw ImportError("cannot read '" + path + "': " + std::strerror(file.GetErrno()));
  if (!parsed)
    throw ImportError("'" + path + "' is not a valid ONNX model (its protobuf does not parse)");
  for (const onnx::OperatorSetIdProto &set : model.opset_import())
    if (set.domain().empty() || set.domain() == "ai.onnx")
      opset = set.version();
  if (opset == 0 && model.opset_import_size() == 0)
    opset = 1; // IR version 1 models carry no opset: the first one
  if (opset < 1 || opset > 17)
    throw ImportError("'" + path + "' uses ONNX opset " + std::to_string(opset) +
                      "; soma imports opsets 7 to 17");
  if (!model.has_graph())
    throw ImportError("'" + path + "' holds no graph");
  // An older opset is read as opset 7 when each of its ops is defined
  // there as in opset 7 (ONNX's schema registry says since which version).
  if (opset < 7)
    for (const onnx::NodeProto &n : model.graph().node()) {
      const onnx::OpSchema *old = onnx::OpSchemaRegistry::Schema(n.op_type(), opset, "");
      const onnx::OpSchema *seven = onnx::OpSchemaRegistry::Schema(n.op_type(), 7, "");
      if (!old || !seven || old->SinceVersion() != seven->SinceVersion())
        throw ImportError("'" + path + "' uses ONNX opset " + std::to_string(opset) + ", whose " +
                          n.op_type() +
                          " differs from opset 7's; soma imports opsets 7 to 17, and older "
                          "ones whose ops are opset 7's");
    }
}

namespace {
/// The bytes of a tensor stored in an external file (ONNX's external data:
/// location, offset and length keys, the path relative to the model).
std::string externalBytes(const onnx::TensorProto &t, const std::string &modelPath,
                          const std::string &what) {
  std::string location;
  int64_t offset = 0, length = -1;
  auto number = [&](const std::string &key, const std::string &text) {
    char *end = nullptr;
    long long v = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || v < 0)
      throw ImportError(what + " has external data " + key + " '" + text + "', not a byte count");
    return static_cast<int64_t>(v);
  };
  for (const onnx::StringStringEntryProto &kv : t.external_data()) {
    if (kv.key() == "location")
      location = kv.value();
    else if (kv.key() == "offset")
      offset = number("offset", kv.value());
    else if (kv.key() == "length")
      length = number("length", kv.value());
  }
  if (location.empty() || location[0] == '/' || location.find("..") != std::string::npos)
    throw ImportError(what + " names external data '" + location +
                      "'; soma reads a relative path beside the model, without '..'");
  size_t slash = modelPath.find_last_of('/');
  std::string file =
      (slash == std::string::npos ? std::string() : modelPath.substr(0, slash + 1)) + location;
  Expected<std::string> bytes = readRegularFile(file, kMaxWeightFileBytes);
  if (!bytes)
    throw ImportError(what + ": " + bytes.error());
  if (offset < 0 || offset > static_cast<int64_t>(bytes->size()))
    throw ImportError(what + ": offset " + std::to_string(offset) + " is outside '" + file + "'");
  if (length < 0)
    length = static_cast<int64_t>(bytes->size()) - offset;
  if (length > static_cast<int64_t>(bytes->size()) - offset)
    throw ImportError(what + ": " + std::to_string(length) + " bytes from offset " +
                      std::to_string(offset) + " run past the end of '" + file + "'");
  return bytes->substr(offset, length);
}

template <class T>
std::vector<T> fromRaw(const std::string &raw, int64_t n, const std::string &what) {
  if (static_cast<int64_t>(raw.size()) != n * static_cast<int64_t>(sizeof(T)))
    throw ImportError(what + " holds " + std::to_string(raw.size()) + " bytes for " +
                      std::to_string(n) + " elements");
  std::vector<T> out(n);
  if (n)
    std::memcpy(out.data(), raw.data(), raw.size());
  return out;
}
} // namespace

ConstTensor Importer::toConst(const onnx::TensorProto &t, const std::string &what) const {
  ConstTensor c;
  for (int64_t d : t.dims()) {
    if (d < 0 || d > kMaxDim)
      throw ImportError(what + " has dimension " + std::to_string(d));
    c.dims.push_back(d);
  }
  if (c.count() > (int64_t(1) << 28))
    throw ImportError(what + " has shape " + shapeText(c.dims) +
                      ", above soma's limit of 268435456 elements per tensor");
  int64_t n = c.count();
  bool external = t.data_location() == onnx::TensorProto::EXTERNAL;
  std::string externalData; // the raw data of an external tensor; else raw_data() itself
  if (external)
    externalData = externalBytes(t, path, what);
  const std::string &raw = external ? externalData : t.raw_data();
  bool hasRaw = external || t.has_raw_data();
  auto check = [&](int64_t got) {
    if (got != n)
      throw ImportError(what + " holds " + std::to_string(got) + " values for shape " +
                        shapeText(c.dims));
  };
  switch (t.data_type()) {
  case onnx::TensorProto::FLOAT:
    if (hasRaw)
      c.values = fromRaw<float>(raw, n, what);
    else
      c.values.assign(t.float_data().begin(), t.float_data().end());
    check(static_cast<int64_t>(c.values.size()));
    return c;
  case onnx::TensorProto::DOUBLE: {
    std::vector<double> d =
        hasRaw ? fromRaw<double>(raw, n, what)
               : std::vector<double>(t.double_data().begin(), t.double_data().end());
    check(static_cast<int64_t>(d.size()));
    c.values.assign(d.begin(), d.end());
    return c;
  }
  case onnx::TensorProto::INT64:
  case onnx::TensorProto::INT32: {
    if (t.data_type() == onnx::TensorProto::INT64)
      c.ints = hasRaw ? fromRaw<int64_t>(raw, n, what)
                      : std::vector<int64_t>(t.int64_data().begin(), t.int64_data().end());
    else if (hasRaw) {
      std::vector<int32_t> i = fromRaw<int32_t>(raw, n, what);
      c.ints.assign(i.begin(), i.end());
    } else
      c.ints.assign(t.int32_data().begin(), t.int32_data().end());
    check(static_cast<int64_t>(c.ints.size()));
    c.isInt = true;
    c.values.assign(c.ints.begin(), c.ints.end());
    return c;
  }
  default:
    throw ImportError(what + " has ONNX data type " + std::to_string(t.data_type()) +
                      "; soma reads float, double, int32 and int64 tensors");
  }
}

void Importer::readInputs() {
  const onnx::GraphProto &g = model.graph();
  for (const onnx::TensorProto &init : g.initializer()) {
    Value v;
    v.isConst = true;
    v.c = toConst(init, "'" + path + "': initializer '" + init.name() + "'");
    values[init.name()] = std::move(v);
  }
  for (const onnx::ValueInfoProto &in : g.input()) {
    if (values.count(in.name()))
      continue; // an initializer listed as an input (IR version < 4)
    std::string what = "input '" + in.name() + "'";
    if (!in.type().has_tensor_type() ||
        in.type().tensor_type().elem_type() != onnx::TensorProto::FLOAT)
      throw ImportError("'" + path + "': " + what +
                        " is not a float tensor; soma's inputs are f32");
    const onnx::TensorShapeProto &shape = in.type().tensor_type().shape();
    if (shape.dim_size() < (wholeSample ? 1 : 2))
      throw ImportError("'" + path + "': " + what + " has " + std::to_string(shape.dim_size()) +
                        " axes; soma needs the batch axis and at least one more");
    Value v;
    v.shape.push_back(-1); // axis 0 is the batch, dynamic or not
    for (int i = wholeSample ? 0 : 1; i < shape.dim_size(); ++i) {
      const onnx::TensorShapeProto::Dimension &d = shape.dim(i);
      if (d.has_dim_value() && (d.dim_value() > kMaxDim || d.dim_value() < 1))
        throw ImportError("'" + path + "': " + what + " has dimension " +
                          std::to_string(d.dim_value()) + " at axis " + std::to_string(i) +
                          "; soma's dimensions are 1 to 268435456");
      if (!d.has_dim_value())
        throw ImportError("'" + path + "': " + what + " has a dynamic dimension at axis " +
                          std::to_string(i) +
                          (d.has_dim_param() ? " ('" + d.dim_param() + "')" : std::string()) +
                          "; soma needs every axis but the batch axis (0) fixed");
      v.shape.push_back(d.dim_value());
    }
    int64_t elements = 1;
    for (size_t i = 1; i < v.shape.size(); ++i)
      if ((elements *= v.shape[i]) > kMaxDim)
        throw ImportError("'" + path + "': " + what + " holds " + shapeText(v.shape) +
                          " per sample, above soma's limit of 268435456 elements");
    std::string name = sanitizeName(in.name());
    while (takenNames.count(name) || reservedNames.count(name))
      name += "_";
    takenNames.insert(name);
    v.layer = name;
    inputs.push_back({name, std::vector<int64_t>(v.shape.begin() + 1, v.shape.end())});
    values[in.name()] = std::move(v);
  }
  if (inputs.empty())
    throw ImportError("'" + path + "' has no input that is not an initializer");
}

void Importer::run() {
  load();
  const onnx::GraphProto &g = model.graph();
  for (const onnx::ValueInfoProto &out : g.output()) {
    reservedNames.insert(sanitizeName(out.name()));
    ++uses[out.name()];
  }
  for (int i = 0; i < g.node_size(); ++i) {
    // The patterns read a node's first output before the node is imported.
    if (g.node(i).output_size() == 0)
      fail(g.node(i), "has no output; every ONNX op has one");
    for (const std::string &in : g.node(i).input())
      if (!in.empty()) {
        ++uses[in];
        consumers[in].push_back(static_cast<size_t>(i));
      }
  }
  readInputs();
  for (int i = 0; i < g.node_size(); ++i)
    if (!consumed.count(static_cast<size_t>(i)))
      importNode(static_cast<size_t>(i));
  for (const onnx::ValueInfoProto &out : g.output()) {
    auto it = values.find(out.name());
    if (it == values.end())
      throw ImportError("'" + path + "': output '" + out.name() + "' is never computed");
    if (it->second.isConst)
      throw ImportError("'" + path + "': output '" + out.name() +
                        "' is a constant; soma's outputs are computed from the inputs");
  }
}

std::string shapeText(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + (shape[i] < 0 ? std::string("N") : std::to_string(shape[i]));
  return s + "]";
}

std::string intsText(const std::vector<int64_t> &v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i)
    s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

std::string numberText(float v) {
  if (std::isnan(v))
    return "nan";
  if (std::isinf(v))
    return v > 0 ? "inf" : "-inf";
  char buf[32];
  for (int digits = 1; digits <= 9; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, static_cast<double>(v));
    if (std::strtof(buf, nullptr) == v)
      break;
  }
  return buf;
}

std::string sanitizeName(const std::string &name) {
  std::string s;
  for (char ch : name) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
    if (ok)
      s += ch;
    else if (!s.empty() && s.back() != '_')
      s += '_';
  }
  while (!s.empty() && s.back() == '_')
    s.pop_back();
  if (s.empty() || (s[0] >= '0' && s[0] <= '9'))
    s = "v" + s;
  return s;
}

} // namespace onnximport

bool isOnnxPath(const std::string &path) {
  return path.size() > 5 && path.compare(path.size() - 5, 5, ".onnx") == 0;
}

Expected<ImportedModel> importOnnx(const std::string &path, const std::string &weightsName,
                                   WeightsAs as) {
  std::string firstError;
  // Axis 0 as the batch first; for a model with fixed shapes that does not
  // import so, each input whole as one sample. The first error is the one
  // reported.
  for (bool whole : {false, true}) {
    onnximport::Importer importer(path, weightsName);
    importer.wholeSample = whole;
    try {
      importer.run();
      ImportedModel model{importer.text(), {}, {}};
      if (as == WeightsAs::Image)
        model.weights = importer.weightsImage();
      else
        model.tensors = importer.weightTensors();
      return model;
    } catch (const onnximport::ImportError &e) {
      if (firstError.empty())
        firstError = e.what();
    } catch (const std::bad_alloc &) {
      return Error{"'" + path + "': out of memory while importing"};
    }
  }
  return Error{firstError};
}

} // namespace soma::frontend
