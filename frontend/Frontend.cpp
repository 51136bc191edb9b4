// Entry points shared by the tools and the API: read a file, parse either
// language, check, and hand back a verified graph.
#include "soma/frontend/Frontend.h"
#include "soma/ir/Parser.h"
#include "soma/ir/Verifier.h"
#include "soma/support/File.h"

namespace soma::frontend {

Expected<uint32_t> loadSourceFile(const std::string &path, SourceManager &sm) {
  Expected<std::string> text = readFile(path);
  if (!text)
    return Error{text.error()};
  if (text->find('\0') != std::string::npos)
    return Error{"'" + path + "' is a binary file, not a network description"};
  return sm.addBuffer(path, std::move(*text));
}

std::unique_ptr<ir::Graph> loadGraph(uint32_t file, SourceManager &sm, DiagnosticEngine &diags) {
  if (ir::looksLikeIR(sm.text(file))) {
    std::unique_ptr<ir::Graph> graph = ir::parseGraph(file, sm, diags);
    if (!graph || !ir::verifyGraph(*graph, diags))
      return nullptr;
    return graph;
  }
  std::optional<Network> net = parseNetwork(file, sm, diags);
  if (!net || diags.hasErrors())
    return nullptr;
  const std::string &path = sm.name(file);
  size_t slash = path.find_last_of('/');
  std::string baseDir = slash == std::string::npos ? "." : path.substr(0, slash);
  if (slash == 0)
    baseDir = "/";
  return buildGraph(*net, baseDir, diags);
}

} // namespace soma::frontend
