// The ONNX importer's state, shared by its files (private to soma_onnx):
// OnnxModel.cpp reads the protobuf and its tensors, OnnxOps.cpp and
// OnnxSpatialOps.cpp turn nodes into soma layers, folding what they can
// into the layer before, and OnnxEmit.cpp writes the text and the
// safetensors image. Only this library sees ONNX's and protobuf's headers.
#pragma once

#include "onnx/onnx_pb.h"
#include "soma/support/Expected.h"
#include "soma/support/Tensor.h"

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace soma::frontend::onnximport {

/// soma's largest dimension and tensor: 2^28 elements.
inline constexpr int64_t kMaxDim = int64_t(1) << 28;

/// A constant: an initializer, a Constant node or a folded value. Float
/// tensors keep `values`; integer ones (shapes, axes) `ints` as well.
struct ConstTensor {
  std::vector<int64_t> dims;
  std::vector<float> values;
  std::vector<int64_t> ints;
  bool isInt = false;
  int64_t count() const;
};

/// What an ONNX value name stands for: a constant, or a value computed at
/// run time by the soma layer (or input) `layer`, of ONNX shape `shape`
/// (batch axis first, -1 while dynamic).
struct Value {
  bool isConst = false;
  ConstTensor c;
  std::string layer;
  std::vector<int64_t> shape;
};

/// One attribute of a layer: its text, or a tensor of the weights image.
struct LayerAttr {
  std::string name;
  std::string text;
  int tensor = -1;
};

/// One soma layer, as it will be written.
struct Layer {
  std::string kind, name;
  std::vector<std::string> operands;
  std::vector<LayerAttr> attrs;
  std::string origin; // "Gemm '/fc1/Gemm' + Relu '/act/Relu'"
  LayerAttr *find(const std::string &attr);
  bool has(const std::string &attr) { return find(attr) != nullptr; }
};

/// y = x * scale + shift per feature.
struct ScaleShift {
  std::vector<float> scale, shift;
};

struct NamedTensor {
  std::string name;
  ConstTensor t;
};

/// An import failure: the message the importer returns.
struct ImportError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Importer {
public:
  Importer(std::string path, std::string weightsName)
      : path(std::move(path)), weightsName(std::move(weightsName)) {}

  /// Throws ImportError on any failure.
  void run();
  std::string text() const;
  std::string weightsImage() const;
  /// The same tensors decoded, by name, moved out of the importer.
  std::map<std::string, std::shared_ptr<Tensor>> weightTensors();

  // OnnxModel.cpp
  void load();
  ConstTensor toConst(const onnx::TensorProto &t, const std::string &what) const;
  void readInputs();

  // OnnxOps.cpp
  void importNode(size_t index);
  void importGemm(const onnx::NodeProto &n);
  void importMatMul(const onnx::NodeProto &n);
  /// A dense layer of node `n` over value `in`: weights [units, inputs].
  Layer &addDense(const onnx::NodeProto &n, const std::string &in, ConstTensor weights);
  void importBinary(const onnx::NodeProto &n);
  void importActivation(const onnx::NodeProto &n, const std::string &fn);
  void importSoftmax(const onnx::NodeProto &n);
  void importOtherActivation(const onnx::NodeProto &n);
  void importPrelu(const onnx::NodeProto &n, const Value &x);
  void importLayerNorm(const onnx::NodeProto &n);
  void importAxesOp(const onnx::NodeProto &n);
  void importShapeOp(const onnx::NodeProto &n);
  void importReshape(const onnx::NodeProto &n);
  void importConcat(const onnx::NodeProto &n);
  void importBatchNorm(const onnx::NodeProto &n);
  // OnnxPatterns.cpp
  bool matchGelu(size_t index);
  bool matchGeluTanh(size_t index);
  bool matchSoftsign(size_t index);
  bool matchSoftplusBeta(size_t index);
  bool matchLayerNorm(size_t index);
  /// A constant by name, also one a later Constant node defines (exporters
  /// put a pattern's constants next to where they are read); else null.
  const ConstTensor *constantNamed(const std::string &name);
  /// The node that alone reads `v` (no other node or graph output does),
  /// when its op is `op`: its index, or -1.
  int soleReader(const std::string &v, const char *op);
  /// The input of two-input `node` that is not `v`.
  const std::string &otherInput(const onnx::NodeProto &node, const std::string &v) const;
  /// A stand-in for node `n` whose output is `n`'s output + `suffix`,
  /// read once: the first of two layers one node becomes.
  onnx::NodeProto helperNode(const onnx::NodeProto &n, const std::string &suffix);

  // OnnxSpatialOps.cpp
  void importConv(const onnx::NodeProto &n);
  void importPool(const onnx::NodeProto &n);
  void importGlobalPool(const onnx::NodeProto &n);

  // Helpers (OnnxOps.cpp).
  [[noreturn]] void fail(const onnx::NodeProto &n, const std::string &message) const;
  const Value &value(const onnx::NodeProto &n, size_t input) const;
  const Value &activation(const onnx::NodeProto &n, size_t input) const;
  const ConstTensor &constant(const onnx::NodeProto &n, size_t input) const;
  /// constant(n, input) as the caller's own: moved out when n is its only
  /// reader (a layer's weights, usually: no copy of them), else copied.
  ConstTensor takeConstant(const onnx::NodeProto &n, size_t input);
  bool hasInput(const onnx::NodeProto &n, size_t input) const;
  const onnx::AttributeProto *attr(const onnx::NodeProto &n, const std::string &name) const;
  int64_t intAttr(const onnx::NodeProto &n, const std::string &name, int64_t dflt) const;
  float floatAttr(const onnx::NodeProto &n, const std::string &name, float dflt) const;
  std::vector<int64_t> intsAttr(const onnx::NodeProto &n, const std::string &name) const;
  std::string stringAttr(const onnx::NodeProto &n, const std::string &name) const;
  void allowAttrs(const onnx::NodeProto &n, const std::set<std::string> &allowed) const;
  void onlyFirstOutput(const onnx::NodeProto &n) const;
  std::string nodeLabel(const onnx::NodeProto &n) const;
  std::string layerName(const onnx::NodeProto &n);
  Layer &addLayer(const onnx::NodeProto &n, std::string kind, std::vector<std::string> operands,
                  std::vector<int64_t> shape);
  int addTensor(const std::string &name, ConstTensor t);
  /// The layer computing ONNX value `in`, when the node at hand may change
  /// it: nothing else reads the layer and it is of one of `kinds`; else null.
  Layer *foldTarget(const std::string &in, const std::set<std::string> &kinds);
  /// Records that ONNX value `out` is now what layer `layer` computes (the
  /// node reading `in` was folded into it).
  void foldInto(Layer &layer, const std::string &in, const std::string &out,
                std::vector<int64_t> shape, const std::string &origin);
  void applyActivation(const onnx::NodeProto &n, const std::string &in, const std::string &out,
                       const std::string &fn, const std::string &origin);
  /// Folds y = x * scale + shift into the dense layer or convolution
  /// before, or adds a scaleshift layer; `channels` is per channel (axis 1
  /// of a spatial value), `last` along the last axis; either may be empty.
  void applyScaleShift(const onnx::NodeProto &n, const std::string &in, const std::string &out,
                       const ScaleShift &channels, const ScaleShift &last);
  /// The node's output is its input under another name (Identity, ...).
  void defineAlias(const onnx::NodeProto &n, const Value &v);
  void defineValue(const std::string &name, Value v) { values[name] = std::move(v); }

  /// The ONNX axis `axis` (negative from the end) of a value of internal
  /// rank `rank`, as an internal axis: one more in whole-sample mode.
  int64_t axisOf(int64_t axis, int64_t rank) const;
  /// Whole-sample mode refuses ops that read axis 0 as the batch.
  void needsBatchAxis(const onnx::NodeProto &n) const;

  std::string path, weightsName;
  /// Whole-sample mode, for a model with fixed shapes that does not import
  /// with axis 0 as the batch: each input is one sample, whole, run as a
  /// batch of 1; a value's internal shape is [N] + its ONNX shape.
  bool wholeSample = false;
  onnx::ModelProto model;
  int64_t opset = 0;
  std::map<std::string, Value> values;
  std::map<std::string, int> uses; // consumers of each value, graph outputs counted
  std::map<std::string, std::vector<size_t>> consumers;
  std::set<size_t> consumed;                    // nodes a recognised pattern already imported
  std::map<std::string, ConstTensor> lookahead; // constants read before their node
  std::vector<Layer> layers;
  std::map<std::string, size_t> layerIndex;
  std::map<std::string, int> layerUses;                             // readers of each layer's value
  std::map<std::string, std::string> sigmoidOf;                     // Sigmoid output -> its input
  std::vector<std::pair<std::string, std::vector<int64_t>>> inputs; // soma name, sample shape
  std::set<std::string> takenNames, reservedNames;
  std::vector<NamedTensor> tensors;
};

/// ONNX shape text, batch axis as N: "[N, 3, 32, 32]".
std::string shapeText(const std::vector<int64_t> &shape);
/// A float as the language reads it back exactly.
std::string numberText(float v);
/// A list of integers as the language's array: "[1, 2]".
std::string intsText(const std::vector<int64_t> &v);
/// `name` made a valid, readable identifier of the language.
std::string sanitizeName(const std::string &name);

} // namespace soma::frontend::onnximport
