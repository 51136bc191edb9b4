// libFuzzer harness: the ONNX importer (frontend::loadSourceFile on an
// .onnx path, which calls importOnnx), then the frontend on the network it
// writes (loadGraph, with the weights image the import kept in memory). The
// importer reads a file (it resolves external data beside the model), so
// each input is written to fuzz.onnx in a private temporary directory.
// Oracles: no crash, hang, leak or sanitizer report; a refused model has a
// message; a graph built from an imported model verifies and round-trips
// through the IR printer and parser (FuzzSupport.h).
#include "FuzzSupport.h"

#include "soma/frontend/Frontend.h"
#include "soma/ir/Verifier.h"
#include "soma/support/Diagnostics.h"
#include "soma/support/SourceManager.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

namespace {

std::string dir;

void removeDir() {
  std::remove((dir + "/fuzz.onnx").c_str());
  rmdir(dir.c_str());
}

/// The model's path: fuzz.onnx in a directory made for this process, so
/// external data (relative paths without "..") finds no other file.
const std::string &modelPath() {
  static const std::string path = [] {
    const char *tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/soma-fuzz-onnx-XXXXXX";
    soma::fuzz::check(mkdtemp(pattern.data()) != nullptr, "cannot make a temporary directory",
                      pattern);
    dir = pattern;
    std::atexit(removeDir);
    return dir + "/fuzz.onnx";
  }();
  return path;
}

void writeModel(const uint8_t *data, size_t size) {
  std::FILE *f = std::fopen(modelPath().c_str(), "wb");
  soma::fuzz::check(f != nullptr, "cannot write the model", modelPath());
  bool ok = size == 0 || std::fwrite(data, 1, size, f) == size;
  ok = std::fclose(f) == 0 && ok;
  soma::fuzz::check(ok, "cannot write the model", modelPath());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace soma;
  writeModel(data, size);
  SourceManager sm;
  Expected<uint32_t> file = frontend::loadSourceFile(modelPath(), sm);
  if (!file) {
    fuzz::check(!file.error().empty(), "the import failed with an empty message");
    return 0;
  }
  DiagnosticEngine diags(sm);
  // Limits far below the defaults keep every execution small and fast.
  std::unique_ptr<ir::Graph> graph = frontend::loadGraph(*file, sm, diags, fuzz::kFuzzLimits);
  std::string rendered = diags.renderToString();
  if (!graph) {
    fuzz::check(diags.hasErrors(), "an imported model built no graph and no error");
    return 0;
  }
  fuzz::check(!diags.hasErrors(), "an imported model gave a graph and errors", rendered);
  fuzz::check(ir::verifyGraph(*graph, diags), "an imported model's graph does not verify",
              diags.renderToString());
  if (fuzz::smallEnough(*graph))
    fuzz::checkRoundTrip(*graph);
  return 0;
}
