// soma import MODEL.onnx [-o OUT.nn]: writes an ONNX model as a network in
// soma's language, its weights in OUT.safetensors beside it. The network
// is checked before anything is written, and both files appear only when
// both were written whole: an import that fails leaves nothing behind.
#include "Import.h"

#include "CliCommon.h"
#include "soma/frontend/Frontend.h"
#include "soma/frontend/OnnxImport.h"
#include "soma/support/File.h"

#include <cstdio>
#include <iostream>

namespace soma::cli {

namespace {
void printImportHelp() {
  std::cout << R"(usage: soma import [options] MODEL.onnx

writes the ONNX model as a network in soma's language (docs/onnx.md), its
weights in a safetensors file beside it; the network is checked first, and
nothing is written when the import fails

options:
  -o OUT.nn        the network's file (default: MODEL.nn beside the model);
                   the weights go to OUT.safetensors
  -q, --quiet      print errors only
  -h, --help       print this help
)";
}

std::string withoutExtension(const std::string &path, const std::string &ext) {
  return path.size() > ext.size() && path.compare(path.size() - ext.size(), ext.size(), ext) == 0
             ? path.substr(0, path.size() - ext.size())
             : path;
}
} // namespace

int importCommand(int argc, char **argv) {
  std::string model, out;
  bool quiet = false;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      printImportHelp();
      return 0;
    }
    if (arg == "-q" || arg == "--quiet")
      quiet = true;
    else if (std::optional<std::string> v = optionValue(argc, argv, i, "-o"))
      out = *v;
    else if (!arg.empty() && arg[0] == '-')
      return usageError("unknown option '" + arg + "'" +
                        didYouMean(arg, {"-o", "--quiet", "--help"}));
    else if (!model.empty())
      return usageError("more than one model: '" + model + "' and '" + arg + "'");
    else
      model = arg;
  }
  if (model.empty())
    return usageError("import needs a model: soma import MODEL.onnx [-o OUT.nn]");
  if (!frontend::isOnnxPath(model))
    return usageError("'" + model + "' is not an ONNX model (its name must end in .onnx)");
  if (out.empty())
    out = withoutExtension(model, ".onnx") + ".nn";
  std::string stem = withoutExtension(out, ".nn");
  std::string weightsPath = stem + ".safetensors";
  std::string weightsName = weightsPath.substr(weightsPath.find_last_of('/') + 1);
  if (out == weightsPath)
    return usageError("-o '" + out + "' would also be the weights' file");

  Expected<frontend::ImportedModel> imported = frontend::importOnnx(model, weightsName);
  if (!imported) {
    std::cerr << "soma: error: " << imported.error() << '\n';
    return 1;
  }
  // The network as it will be read back from OUT: checked before writing.
  SourceManager sm;
  sm.addMemoryFile(frontend::sourceDir(out) + "/" + weightsName, imported->weights);
  uint32_t file = sm.addBuffer(out, imported->text);
  DiagnosticEngine diags(sm);
  std::unique_ptr<ir::Graph> graph = frontend::loadGraph(file, sm, diags);
  if (!graph || !quiet)
    diags.render(std::cerr);
  if (!graph) {
    std::cerr << "soma: error: the network imported from '" << model
              << "' does not check; nothing was written\n";
    return 1;
  }
  std::string tmpWeights = weightsPath + ".tmp", tmpOut = out + ".tmp";
  Expected<bool> written = writeFile(tmpWeights, imported->weights);
  if (written)
    written = writeFile(tmpOut, imported->text);
  if (written && std::rename(tmpWeights.c_str(), weightsPath.c_str()) != 0)
    written = Error{"cannot write '" + weightsPath + "'"};
  if (written && std::rename(tmpOut.c_str(), out.c_str()) != 0)
    written = Error{"cannot write '" + out + "'"};
  if (!written) {
    std::remove(tmpWeights.c_str());
    std::remove(tmpOut.c_str());
    std::cerr << "soma: error: " << written.error() << '\n';
    return 1;
  }
  if (!quiet)
    std::cerr << "soma: imported '" << model << "' to '" << out << "' and '" << weightsPath
              << "'\n";
  return 0;
}

} // namespace soma::cli
