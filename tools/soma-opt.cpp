// soma-opt: reads a network or IR text, runs passes, prints IR (or a
// Graphviz picture). The tool the lit suite uses to show each stage.
#include "CliCommon.h"
#include "NumericsCheck.h"

#include "soma/ir/Dot.h"
#include "soma/ir/Printer.h"
#include "soma/passes/Passes.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <iostream>
#include <optional>

using namespace soma;

namespace {

const char *const usage = R"(usage: soma-opt [options] FILE

Reads FILE (network language or graph IR text; '-' reads stdin), runs passes
and prints the resulting graph IR.

options:
  --passes=A,B,...        run these passes in order (infer-shapes always runs first)
  -O0 .. -O3              run the pipeline for this level instead
  --print-ir-after-all    print the IR after every pass (to stdout)
  --print-ir-after=NAME   print the IR after pass NAME (repeatable)
  --verify-each           run the verifier after every pass (always on in debug builds)
  --stats                 print what each pass did, to stderr
  --remarks               print a remark for each change a pass explains (which
                          neuron went, and why), to stderr
  --check-numerics        run the network on the reference interpreter before the
                          passes and after each one, and fail naming the first
                          pass whose outputs drift beyond its tolerance class
                          (docs/passes.md); on random inputs unless --input
                          gives them
  --input NAME=V1,V2,...  --check-numerics on these values (';' separates samples)
  --input NAME=FILE.npy   or on a batch [N, dims...] from NumPy; give every input
  --seed=N                the random inputs' seed for --check-numerics (default 1)
  --machine=avx512|avx2|sse  plan schedules (the schedule pass) for this vector
                          width, one core and default caches (32 KiB L1,
                          1 MiB L2) instead of this machine
  --sparsity=auto|dense|sparse
                          the schedule pass's kernel for every layer that has no
                          sparsity hint of its own (default auto: the cost model)
  --prune=F               zero the fraction F (0 <= F < 1) of smallest-magnitude
                          weights in every layer without a prune of its own; adds
                          the prune pass to -O pipelines (it warns: results change)
  --emit=ir|dot           output graph IR (default) or Graphviz dot
  --elide-above=N         print constants with more than N values as 'elided'
  -o FILE                 write the output to FILE instead of stdout
  --list-passes           list the passes and exit
)";

int usageError(const std::string &msg) {
  std::cerr << "soma-opt: error: " << msg << "\n\n" << usage;
  return 2;
}

std::vector<std::string> splitList(const std::string &s) {
  std::vector<std::string> items;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t end = s.find(',', pos);
    if (end == std::string::npos)
      end = s.size();
    if (end > pos)
      items.push_back(s.substr(pos, end - pos));
    pos = end + 1;
  }
  return items;
}

} // namespace

int main(int argc, char **argv) {
  std::string file, outPath, emit = "ir";
  std::vector<std::string> passNames;
  bool havePasses = false, stats = false, remarks = false, checkNumerics = false;
  uint64_t seed = 1;
  int optLevel = -1;
  std::vector<std::pair<std::string, std::string>> inputs; // --input NAME=VALUE
  std::optional<MachineInfo> machine;                       // --machine
  ir::SparsityMode sparsity = ir::SparsityMode::Auto;       // --sparsity
  std::optional<double> prune;                              // --prune
  passes::PipelineOptions pipeline;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (auto v = cli::optionValue(argc, argv, i, "--passes")) {
      passNames = splitList(*v);
      havePasses = true;
    } else if (auto v = cli::optionValue(argc, argv, i, "--print-ir-after")) {
      pipeline.printIRAfter.push_back(*v);
    } else if (auto v = cli::optionValue(argc, argv, i, "--emit")) {
      emit = *v;
      if (emit != "ir" && emit != "dot")
        return usageError("unknown --emit kind '" + emit + "'; use ir or dot");
    } else if (auto v = cli::optionValue(argc, argv, i, "--elide-above")) {
      int64_t n = -1;
      auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
      if (ec != std::errc() || ptr != v->data() + v->size() || n < 0)
        return usageError("--elide-above needs a non-negative integer, got '" + *v + "'");
      pipeline.elideConstantsAbove = n;
    } else if (auto v = cli::optionValue(argc, argv, i, "--seed")) {
      auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), seed);
      if (ec != std::errc() || ptr != v->data() + v->size())
        return usageError("--seed needs a non-negative integer, got '" + *v + "'");
    } else if (auto v = cli::optionValue(argc, argv, i, "--input")) {
      size_t eq = v->find('=');
      if (eq == std::string::npos || eq == 0)
        return usageError("--input needs NAME=VALUES or NAME=FILE.npy, got '" + *v + "'");
      inputs.push_back({v->substr(0, eq), v->substr(eq + 1)});
    } else if (auto v = cli::optionValue(argc, argv, i, "--machine")) {
      if (*v != "avx512" && *v != "avx2" && *v != "sse")
        return usageError("unknown --machine '" + *v + "'; use avx512, avx2 or sse");
      machine = MachineInfo{};
      machine->vectorWidth = *v == "avx512" ? 16 : *v == "avx2" ? 8 : 4;
    } else if (auto v = cli::optionValue(argc, argv, i, "--sparsity")) {
      if (!ir::sparsityModeFromName(*v, sparsity))
        return usageError("unknown --sparsity '" + *v + "'; use auto, dense or sparse");
    } else if (auto v = cli::optionValue(argc, argv, i, "--prune")) {
      prune = cli::parsePruneFraction(*v);
      if (!prune)
        return usageError("--prune needs a fraction from 0 up to (not including) 1, got '" + *v +
                          "'");
    } else if (auto v = cli::optionValue(argc, argv, i, "-o")) {
      outPath = *v;
    } else if (arg == "--print-ir-after-all") {
      pipeline.printIRAfterAll = true;
    } else if (arg == "--verify-each") {
      pipeline.verifyEach = true;
    } else if (arg == "--stats") {
      stats = true;
    } else if (arg == "--remarks") {
      remarks = true;
    } else if (arg == "--check-numerics") {
      checkNumerics = true;
    } else if (arg == "--list-passes") {
      for (const passes::PassInfo &p : passes::allPasses())
        std::cout << p.name << "\t" << p.doc << '\n';
      return 0;
    } else if (int level = cli::parseOptLevel(arg); level != -1) {
      if (level < 0)
        return usageError("unknown optimisation level '" + arg + "'; use -O0 to -O3");
      optLevel = level;
    } else if (arg == "-h" || arg == "--help") {
      std::cout << usage;
      return 0;
    } else if (arg.size() > 1 && arg[0] == '-') {
      return usageError("unknown option '" + arg + "'");
    } else if (!file.empty()) {
      return usageError("more than one input file: '" + file + "' and '" + arg + "'");
    } else {
      file = arg;
    }
  }
  if (file.empty())
    return usageError("no input file");
  if (havePasses && optLevel >= 0)
    return usageError("--passes and -O cannot be combined");
  for (const std::string &name : pipeline.printIRAfter)
    if (!passes::findPass(name))
      return usageError("--print-ir-after names unknown pass '" + name + "'");

  SourceManager sm;
  DiagnosticEngine diags(sm);
  std::unique_ptr<ir::Graph> graph = cli::loadAndCheck(file, sm, diags);
  if (!graph)
    return 1;

  std::vector<std::string> names = {"infer-shapes"};
  if (optLevel >= 0)
    names = passes::pipelineForLevel(optLevel, passes::pruneRequested(*graph, prune));
  for (const std::string &name : passNames)
    if (name != "infer-shapes" || names.empty())
      names.push_back(name);

  std::ofstream outFile;
  std::ostream *out = &std::cout;
  if (!outPath.empty()) {
    outFile.open(outPath);
    if (!outFile) {
      std::cerr << "soma-opt: error: cannot write '" << outPath << "'\n";
      return 1;
    }
    out = &outFile;
  }
  pipeline.irOut = out;
  passes::PassContext ctx(diags);
  ctx.remarksEnabled = remarks;
  ctx.sparsity = sparsity;
  ctx.prune = prune;
  if (machine)
    ctx.machine = *machine;
  if (!inputs.empty() && !checkNumerics)
    return usageError("--input is used by --check-numerics; add --check-numerics");
  std::vector<runtime::NamedTensor> checkInputs;
  if (inputs.empty()) {
    checkInputs = cli::randomInputs(*graph, seed);
  } else {
    auto given = cli::readInputs(*graph, inputs);
    if (!given) {
      std::cerr << "soma-opt: error: " << given.error() << '\n';
      return 1;
    }
    for (ir::Op *in : graph->inputs())
      if (std::none_of(given->begin(), given->end(),
                       [&](const runtime::NamedTensor &t) { return t.name == in->name; })) {
        std::cerr << "soma-opt: error: --check-numerics: input '" << in->name
                  << "' has no --input value (give every input, or none for random inputs)\n";
        return 1;
      }
    checkInputs = std::move(*given);
  }
  if (checkNumerics)
    std::cerr << "check-numerics: "
              << (inputs.empty() ? "random inputs, seed " + std::to_string(seed) : "the given inputs")
              << ", batch " << (checkInputs.empty() ? 0 : checkInputs[0].tensor.dims[0]) << '\n';
  cli::NumericsChecker checker(std::move(checkInputs), diags, &std::cerr);
  bool ok = true;
  if (checkNumerics) {
    ok = checker.start(*graph);
    pipeline.observer = &checker;
  }
  ok = ok && passes::runPipeline(*graph, names, ctx, pipeline);
  if (!ok && checkNumerics && diags.hasErrors() && inputs.empty())
    diags.note({}, "check-numerics: the inputs were random, seed " + std::to_string(seed));
  diags.render(std::cerr);
  if (!ok)
    return 1;
  if (stats) {
    std::cerr << "=== soma-opt statistics ===\n";
    for (auto &[counter, value] : ctx.stats)
      std::cerr << value << ' ' << counter << '\n';
  }
  if (!pipeline.printIRAfterAll && pipeline.printIRAfter.empty()) {
    ir::PrintOptions printOptions;
    printOptions.elideConstantsAbove = pipeline.elideConstantsAbove;
    if (emit == "dot")
      ir::printDot(*graph, *out);
    else
      ir::printGraph(*graph, *out, printOptions);
  }
  return 0;
}
