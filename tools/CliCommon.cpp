// Shared command-line plumbing for soma and soma-opt.
#include "CliCommon.h"

#include "soma/frontend/Frontend.h"

#include <cstdlib>
#include <iostream>
#include <iterator>

namespace soma::cli {

std::unique_ptr<ir::Graph> loadAndCheck(const std::string &path, SourceManager &sm,
                                        DiagnosticEngine &diags) {
  uint32_t file;
  if (path == "-") {
    std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    file = sm.addBuffer("<stdin>", std::move(text));
  } else {
    Expected<uint32_t> loaded = frontend::loadSourceFile(path, sm);
    if (!loaded) {
      std::cerr << "soma: error: " << loaded.error() << '\n';
      return nullptr;
    }
    file = *loaded;
  }
  std::unique_ptr<ir::Graph> graph = frontend::loadGraph(file, sm, diags);
  diags.render(std::cerr);
  diags.clear();
  return graph;
}

std::optional<std::string> optionValue(int argc, char **argv, int &i, const std::string &name) {
  std::string arg = argv[i];
  if (arg.rfind(name + "=", 0) == 0)
    return arg.substr(name.size() + 1);
  if (arg == name) {
    if (i + 1 >= argc) {
      std::cerr << "soma: error: option '" << name << "' needs a value\n";
      std::exit(2);
    }
    return std::string(argv[++i]);
  }
  return std::nullopt;
}

int parseOptLevel(const std::string &arg) {
  if (arg.size() < 2 || arg[0] != '-' || arg[1] != 'O')
    return -1;
  if (arg.size() == 3 && arg[2] >= '0' && arg[2] <= '3')
    return arg[2] - '0';
  return -2;
}

} // namespace soma::cli
