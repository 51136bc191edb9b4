// Entry points shared by the tools and the API: read a file, parse either
// language, check, and hand back a verified graph.
#include "soma/frontend/Frontend.h"
#include "soma/frontend/OnnxImport.h"
#include "soma/ir/Parser.h"
#include "soma/ir/Verifier.h"
#include "soma/support/File.h"

namespace soma::frontend {

std::string sourceDir(const std::string &path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos)
    return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

namespace {
/// An ONNX model becomes a network in the language; its weights stay in
/// memory, decoded, under the path the text names, beside the model.
Expected<uint32_t> importSourceFile(const std::string &path, SourceManager &sm) {
  std::string stem = path.substr(path.find_last_of('/') + 1);
  stem = stem.substr(0, stem.size() - 5); // ".onnx"
  std::string weightsName = stem + ".safetensors";
  Expected<ImportedModel> model = importOnnx(path, weightsName, WeightsAs::Tensors);
  if (!model)
    return Error{model.error()};
  // The key is the path Sema resolves the text's weight file to.
  sm.addMemoryTensors(sourceDir(path) + "/" + weightsName, std::move(model->tensors));
  return sm.addBuffer(path, std::move(model->text));
}
} // namespace

Expected<uint32_t> loadSourceFile(const std::string &path, SourceManager &sm) {
  if (isOnnxPath(path))
    return importSourceFile(path, sm);
  Expected<std::string> text = readFile(path);
  if (!text)
    return Error{text.error()};
  if (text->find('\0') != std::string::npos)
    return Error{"'" + path + "' is a binary file, not a network description"};
  return sm.addBuffer(path, std::move(*text));
}

bool checkModelLimits(const ir::Graph &graph, const ModelLimits &limits, DiagnosticEngine &diags) {
  int64_t weights = 0, activations = 0;
  for (const auto &op : graph.ops) {
    if (op->data)
      weights += static_cast<int64_t>(op->data->values.size());
    else if (op->type.known)
      activations += op->type.sampleElements(); // each at most 2^28: no overflow
  }
  bool ok = true;
  if (weights > limits.weights) {
    diags.error(graph.loc, "the model's constants hold " + std::to_string(weights) +
                               " elements, above the limit of " + std::to_string(limits.weights) +
                               " weights per model");
    ok = false;
  }
  if (activations > limits.activations) {
    diags.error(graph.loc, "the model's values hold " + std::to_string(activations) +
                               " elements per sample, above the limit of " +
                               std::to_string(limits.activations) + " activations per model");
    ok = false;
  }
  return ok;
}

std::unique_ptr<ir::Graph> loadGraph(uint32_t file, SourceManager &sm, DiagnosticEngine &diags,
                                     const ModelLimits &limits, const TensorViews *tensors) {
  std::unique_ptr<ir::Graph> graph;
  if (ir::looksLikeIR(sm.text(file))) {
    graph = ir::parseGraph(file, sm, diags);
    if (!graph || !ir::verifyGraph(*graph, diags))
      return nullptr;
  } else {
    std::optional<Network> net = parseNetwork(file, sm, diags);
    if (!net || diags.hasErrors())
      return nullptr;
    graph = buildGraph(*net, sourceDir(sm.name(file)), diags, limits, tensors);
    if (!graph)
      return nullptr;
  }
  if (!checkModelLimits(*graph, limits, diags))
    return nullptr;
  return graph;
}

} // namespace soma::frontend
