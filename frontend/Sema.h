// Sema's state, shared by the files that implement it (private to the
// frontend): Sema.cpp checks names, orders the layers and builds the inputs
// and outputs; LayerBuilder.cpp turns one layer into IR ops;
// Attributes.cpp checks a layer's attributes against Layers.def and
// evaluates the scalar ones; TensorAttributes.cpp evaluates the tensor ones
// (literals, .npy and .safetensors files, seeded initialisers).
#pragma once

#include "soma/frontend/AST.h"
#include "soma/frontend/Frontend.h"
#include "soma/frontend/Layers.h"
#include "soma/frontend/Safetensors.h"
#include "soma/ir/Graph.h"
#include "soma/support/Diagnostics.h"
#include "soma/support/Limits.h"

#include <array>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace soma::frontend {

/// Per-feature parameters (bias, mean, ...) may be given as one number that
/// fills the vector; weight matrices must be written out in full.
enum class TensorRole { Matrix, Vector };

/// The attributes a layer sets, by LayerAttr; null where it sets none.
class LayerAttrValues {
public:
  const Attr *operator[](LayerAttr attr) const { return values[static_cast<size_t>(attr)]; }
  void set(LayerAttr attr, const Attr *value) { values[static_cast<size_t>(attr)] = value; }

private:
  std::array<const Attr *, kNumLayerAttrs> values{};
};

/// One layer while Sema builds it: what its statement says, its operands'
/// values, the attributes every kind evaluates the same way, and whether
/// everything so far went well.
struct LayerBuild {
  LayerBuild(const Stmt &stmt, const LayerInfo &info)
      : stmt(stmt), info(info), what(std::string(info.noun) + " '" + stmt.name + "'") {}

  const Stmt &stmt;
  const LayerInfo &info;
  std::string what; // names the layer in messages: "dense layer 'fc1'"
  LayerAttrValues attrs;
  std::vector<ir::Op *> ins;
  ir::Activation act;
  float epsilon = 1e-5f;
  ir::LayerHints hints;
  bool ok = true;
};

class Sema {
public:
  Sema(const std::string &baseDir, DiagnosticEngine &diags, const ModelLimits &limits,
       const TensorViews *tensors)
      : baseDir(baseDir), diags(diags), limits(limits), tensors(tensors) {}

  std::unique_ptr<ir::Graph> run(const Network &net);

private:
  // Sema.cpp: names, layer order, inputs and outputs.
  bool collectDefinitions(const Network &net);
  std::vector<const Stmt *> orderLayers(const Network &net);
  void reportCycle(const std::vector<std::pair<const Stmt *, size_t>> &stack, const Stmt &dep);
  void buildInput(const Stmt &stmt);
  void buildOutputs(const Network &net);
  void warnUnused(const Network &net);

  // LayerBuilder.cpp: one layer's IR ops.
  void buildLayer(const Stmt &stmt);
  bool checkOperandCount(const LayerBuild &layer);
  bool resolveOperands(LayerBuild &layer);
  ir::Op *buildWeightedSum(LayerBuild &layer);
  ir::Op *joinOperands(LayerBuild &layer);
  ir::Op *buildChain(LayerBuild &layer, ir::OpKind kind);
  ir::Op *buildNormalization(LayerBuild &layer, ir::OpKind kind);

  // SpatialLayers.cpp: convolutions, pooling, reshapes.
  ir::Op *buildConv(LayerBuild &layer, size_t rank);
  ir::Op *buildPool(LayerBuild &layer, ir::OpKind kind);
  ir::Op *buildGlobalPool(LayerBuild &layer);
  ir::Op *buildReshape(LayerBuild &layer, bool flatten);
  bool checkSpatialOperand(LayerBuild &layer, size_t rank);
  bool evalSpatialInts(const LayerBuild &layer, LayerAttr attr, size_t rank,
                       std::vector<int64_t> &out);
  bool evalPadding(const LayerBuild &layer, const std::vector<int64_t> &spans,
                   const std::vector<int64_t> &strides, std::vector<int64_t> &pads);
  bool checkWindows(const LayerBuild &layer, const std::vector<int64_t> &spans,
                    const std::vector<int64_t> &pads, bool pool);
  ir::Op *vectorParam(LayerBuild &layer, LayerAttr attr, int64_t channels, double fill);
  ir::Op *typed(LayerBuild &layer, ir::Op *op);
  ir::Op *makeConst(const std::string &name, std::shared_ptr<Tensor> data, SourceLoc loc);
  ir::Op *makeOp(ir::OpKind kind, const std::string &name, std::vector<ir::Op *> operands,
                 SourceLoc loc);

  // Attributes.cpp: which attributes a layer sets, and the scalar ones.
  LayerAttrValues collectAttrs(const Stmt &stmt, const LayerInfo &info, const std::string &what);
  void evalCommonAttrs(LayerBuild &layer);
  bool evalUnits(const Attr &attr, const std::string &what, int64_t &units);
  bool evalActivation(const Expr &expr, ir::Activation &act);
  bool evalGeluOption(const Expr &expr, ir::Activation &act);
  bool evalEpsilon(const Attr &attr, const std::string &what, float &eps);
  bool evalFeatureAxis(LayerBuild &layer, int64_t &axis);
  bool evalHints(const LayerAttrValues &attrs, const std::string &what, ir::LayerHints &hints);
  bool evalLayout(const Attr &attr, const std::string &what, bool &inOut);

  // TensorAttributes.cpp: tensor-valued attributes.
  std::shared_ptr<Tensor> evalTensor(const Expr &expr, const std::string &what,
                                     const std::string &role, std::vector<int64_t> expected,
                                     TensorRole kind, int64_t fanIn, int64_t fanOut,
                                     bool acceptFlatRow = false,
                                     const std::string &transposeNote = "");
  std::shared_ptr<Tensor> evalArray(const Expr &expr);
  std::shared_ptr<Tensor> evalCall(const Expr &expr, const std::vector<int64_t> &expected,
                                   int64_t fanIn, int64_t fanOut, std::string &from);
  std::shared_ptr<Tensor> loadNpy(const Expr &call, std::string &from);
  std::shared_ptr<Tensor> loadSafetensors(const Expr &call, std::string &from);
  std::shared_ptr<Tensor> givenTensor(const Expr &call, std::string &from);
  std::string resolvePath(const std::string &path) const;

  std::string baseDir;
  DiagnosticEngine &diags;
  ModelLimits limits;
  const TensorViews *tensors; // tensor("NAME"); null: none given
  /// Elements of the weight tensors evaluated so far (limits.weights).
  int64_t weightElements = 0;
  std::unique_ptr<ir::Graph> graph = std::make_unique<ir::Graph>();
  std::unordered_map<std::string, const Stmt *> defs;
  std::vector<std::string> defNames;
  std::unordered_map<std::string, ir::Op *> values;
  std::set<std::string> broken; // definitions that failed; dependents stay quiet
  std::map<std::string, std::shared_ptr<const SafetensorsFile>> safetensorsCache;
};

} // namespace soma::frontend
