// soma-opt: reads a network or IR text, runs passes, prints IR (or a
// Graphviz picture). The tool the lit suite uses to show each stage.
#include "CliCommon.h"
#include "NumericsCheck.h"

#include "soma/ir/Dot.h"
#include "soma/ir/Printer.h"
#include "soma/passes/Passes.h"
#include "soma/support/File.h"

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
  --machine=M             plan schedules (the schedule pass) for machine M and
                          one core instead of this machine: avx512, avx2 or
                          sse (that vector width, one FMA pipe of latency 4,
                          32 KiB L1, 1 MiB L2), neon (aarch64's generic
                          core), or a modelled CPU (znver4, znver5,
                          sapphirerapids, haswell, neoverse-n1, ...: soma
                          --print-machine=help lists them)
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
  -q, --quiet             print errors only: no warnings or notes
  --version               print soma's version
)";

using cli::usageError;

/// Every option, for suggestions when one is misspelt.
const std::vector<std::string> optionNames = {"--passes",
                                              "--print-ir-after-all",
                                              "--print-ir-after",
                                              "--verify-each",
                                              "--stats",
                                              "--remarks",
                                              "--check-numerics",
                                              "--input",
                                              "--seed",
                                              "--machine",
                                              "--sparsity",
                                              "--prune",
                                              "--emit",
                                              "--elide-above",
                                              "-o",
                                              "--list-passes",
                                              "-q",
                                              "--quiet",
                                              "-h",
                                              "--help",
                                              "--version"};

/// An error for the first name in `names` that is no pass, or "".
std::string unknownPass(const std::vector<std::string> &names, const std::string &option) {
  std::vector<std::string> known;
  for (const passes::PassInfo &p : passes::allPasses())
    known.push_back(p.name);
  for (const std::string &name : names)
    if (!passes::findPass(name)) {
      std::string hint = cli::didYouMean(name, known);
      return option + " names unknown pass '" + name + "'" +
             (hint.empty() ? "; soma-opt --list-passes lists them" : hint);
    }
  return "";
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

struct Options {
  std::string file, outPath, emit = "ir";
  std::vector<std::string> passNames;
  bool havePasses = false, stats = false, remarks = false, checkNumerics = false, quiet = false;
  uint64_t seed = 1;
  int optLevel = -1;
  std::vector<std::pair<std::string, std::string>> inputs; // --input NAME=VALUE
  std::optional<MachineInfo> machine;                      // --machine
  ir::SparsityMode sparsity = ir::SparsityMode::Auto;      // --sparsity
  std::optional<double> prune;                             // --prune
  passes::PipelineOptions pipeline;
};

/// Reads the command line into `o`: -1 to go on, else the exit status
/// (a usage error, or 0 after --help and --list-passes).
int parseArgs(int argc, char **argv, Options &o) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (auto v = cli::optionValue(argc, argv, i, "--passes")) {
      o.passNames = splitList(*v);
      o.havePasses = true;
    } else if (auto v = cli::optionValue(argc, argv, i, "--print-ir-after")) {
      o.pipeline.printIRAfter.push_back(*v);
    } else if (auto v = cli::optionValue(argc, argv, i, "--emit")) {
      o.emit = *v;
      if (o.emit != "ir" && o.emit != "dot")
        return usageError("unknown --emit kind '" + o.emit + "'; use ir or dot");
    } else if (auto v = cli::optionValue(argc, argv, i, "--elide-above")) {
      int64_t n = -1;
      auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
      if (ec != std::errc() || ptr != v->data() + v->size() || n < 0)
        return usageError("--elide-above needs a non-negative integer, got '" + *v + "'");
      o.pipeline.elideConstantsAbove = n;
    } else if (auto v = cli::optionValue(argc, argv, i, "--seed")) {
      auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), o.seed);
      if (ec != std::errc() || ptr != v->data() + v->size())
        return usageError("--seed needs a non-negative integer, got '" + *v + "'");
    } else if (auto v = cli::optionValue(argc, argv, i, "--input")) {
      size_t eq = v->find('=');
      if (eq == std::string::npos || eq == 0)
        return usageError("--input needs NAME=VALUES or NAME=FILE.npy, got '" + *v + "'");
      o.inputs.push_back({v->substr(0, eq), v->substr(eq + 1)});
    } else if (auto v = cli::optionValue(argc, argv, i, "--machine")) {
      o.machine = genericMachine(*v);
      if (!o.machine)
        o.machine = modelledMachine(*v);
      if (!o.machine)
        return usageError("unknown --machine '" + *v +
                          "'; use avx512, avx2, sse, neon or a CPU of soma --print-machine=help");
      o.machine->cores = 1;
    } else if (auto v = cli::optionValue(argc, argv, i, "--sparsity")) {
      if (!ir::sparsityModeFromName(*v, o.sparsity))
        return usageError("unknown --sparsity '" + *v + "'; use auto, dense or sparse");
    } else if (auto v = cli::optionValue(argc, argv, i, "--prune")) {
      o.prune = cli::parsePruneFraction(*v);
      if (!o.prune)
        return usageError("--prune needs a fraction from 0 up to (not including) 1, got '" + *v +
                          "'");
    } else if (auto v = cli::optionValue(argc, argv, i, "-o")) {
      o.outPath = *v;
    } else if (arg == "--print-ir-after-all") {
      o.pipeline.printIRAfterAll = true;
    } else if (arg == "--verify-each") {
      o.pipeline.verifyEach = true;
    } else if (arg == "--stats") {
      o.stats = true;
    } else if (arg == "--remarks") {
      o.remarks = true;
    } else if (arg == "--check-numerics") {
      o.checkNumerics = true;
    } else if (arg == "--list-passes") {
      for (const passes::PassInfo &p : passes::allPasses())
        std::cout << p.name << "\t" << p.doc << '\n';
      return 0;
    } else if (int level = cli::parseOptLevel(arg); level != -1) {
      if (level < 0)
        return usageError("unknown optimisation level '" + arg + "'; use -O0 to -O3");
      o.optLevel = level;
    } else if (arg == "-h" || arg == "--help") {
      std::cout << usage;
      return 0;
    } else if (arg == "--version") {
      std::cout << cli::versionLine() << '\n';
      return 0;
    } else if (arg == "-q" || arg == "--quiet") {
      o.quiet = true;
    } else if (arg.size() > 1 && arg[0] == '-') {
      std::string name = arg.substr(0, arg.find('='));
      std::string hint = cli::didYouMean(name, optionNames);
      return usageError("unknown option '" + name + "'" +
                        (hint.empty() ? "; soma-opt --help lists the options" : hint));
    } else if (!o.file.empty()) {
      return usageError("more than one input file: '" + o.file + "' and '" + arg + "'");
    } else {
      o.file = arg;
    }
  }
  return -1;
}

/// The inputs --check-numerics runs the network on: random ones from the
/// seed, or the --input values, which must name every input. False (with
/// an error on stderr) when they cannot be read.
bool checkInputsFor(const ir::Graph &graph, const Options &o,
                    std::vector<runtime::NamedTensor> &into) {
  if (o.inputs.empty()) {
    into = cli::randomInputs(graph, o.seed);
    return true;
  }
  auto given = cli::readInputs(graph, o.inputs);
  if (!given) {
    std::cerr << "soma-opt: error: " << given.error() << '\n';
    return false;
  }
  for (ir::Op *in : graph.inputs())
    if (std::none_of(given->begin(), given->end(),
                     [&](const runtime::NamedTensor &t) { return t.name == in->name; })) {
      std::cerr << "soma-opt: error: --check-numerics: input '" << in->name
                << "' has no --input value (give every input, or none for random inputs)\n";
      return false;
    }
  into = std::move(*given);
  return true;
}

} // namespace

int main(int argc, char **argv) {
  cli::toolName = "soma-opt";
  Options o;
  if (int status = parseArgs(argc, argv, o); status != -1)
    return status;
  passes::PipelineOptions &pipeline = o.pipeline;
  if (o.file.empty())
    return usageError("no input file; soma-opt --help lists the options");
  if (o.havePasses && o.optLevel >= 0)
    return usageError("--passes and -O cannot be combined");
  if (std::string error = unknownPass(o.passNames, "--passes"); !error.empty())
    return usageError(error);
  if (std::string error = unknownPass(pipeline.printIRAfter, "--print-ir-after"); !error.empty())
    return usageError(error);

  SourceManager sm;
  DiagnosticEngine diags(sm);
  std::unique_ptr<ir::Graph> graph = cli::loadAndCheck(o.file, sm, diags, o.quiet);
  if (!graph)
    return 1;

  std::vector<std::string> names = {"infer-shapes"};
  if (o.optLevel >= 0)
    names = passes::pipelineForLevel(o.optLevel, passes::pruneRequested(*graph, o.prune));
  for (const std::string &name : o.passNames)
    if (name != "infer-shapes" || names.empty())
      names.push_back(name);

  std::ofstream outFile;
  std::ostream *out = &std::cout;
  if (!o.outPath.empty()) {
    outFile.open(o.outPath);
    if (!outFile) {
      std::cerr << "soma-opt: error: cannot write '" << o.outPath << "'\n";
      return 1;
    }
    out = &outFile;
  }
  pipeline.irOut = out;
  passes::PassContext ctx(diags);
  ctx.remarksEnabled = o.remarks;
  ctx.sparsity = o.sparsity;
  ctx.prune = o.prune;
  if (o.machine)
    ctx.machine = *o.machine;
  if (!o.inputs.empty() && !o.checkNumerics)
    return usageError("--input is used by --check-numerics; add --check-numerics");
  std::vector<runtime::NamedTensor> checkInputs;
  if (!checkInputsFor(*graph, o, checkInputs))
    return 1;
  if (o.checkNumerics)
    std::cerr << "check-numerics: "
              << (o.inputs.empty() ? "random inputs, seed " + std::to_string(o.seed)
                                   : "the given inputs")
              << ", batch " << (checkInputs.empty() ? 0 : checkInputs[0].tensor.dims[0]) << '\n';
  cli::NumericsChecker checker(std::move(checkInputs), diags, &std::cerr);
  bool ok = true;
  if (o.checkNumerics) {
    ok = checker.start(*graph);
    pipeline.observer = &checker;
  }
  ok = ok && passes::runPipeline(*graph, names, ctx, pipeline);
  if (!ok && o.checkNumerics && diags.hasErrors() && o.inputs.empty())
    diags.note({}, "check-numerics: the inputs were random, seed " + std::to_string(o.seed));
  if (!o.quiet || diags.hasErrors())
    diags.render(std::cerr);
  if (!ok)
    return 1;
  if (o.stats) {
    std::cerr << "=== soma-opt statistics ===\n";
    for (auto &[counter, value] : ctx.stats)
      std::cerr << value << ' ' << counter << '\n';
  }
  if (!pipeline.printIRAfterAll && pipeline.printIRAfter.empty()) {
    ir::PrintOptions printOptions;
    printOptions.elideConstantsAbove = pipeline.elideConstantsAbove;
    if (o.emit == "dot")
      ir::printDot(*graph, *out);
    else
      ir::printGraph(*graph, *out, printOptions);
  }
  // A full disk fails in the flush or the close, not in the writes above.
  Expected<bool> written =
      flushChecked(*out, o.outPath.empty() ? "standard output" : "'" + o.outPath + "'");
  if (outFile.is_open()) {
    outFile.close();
    if (!outFile && written)
      written = Error{"cannot write to '" + o.outPath + "'"};
  }
  if (!written) {
    std::cerr << "soma-opt: error: " << written.error() << '\n';
    return 1;
  }
  return 0;
}
