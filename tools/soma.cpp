// soma: the driver. `soma run` compiles a network and runs it on inputs
// given on the command line or in .npy files, optionally comparing outputs
// with golden .npy arrays (--expect); `soma check` only checks it.
#include "CliCommon.h"
#include "Expect.h"
#include "NumericsCheck.h"

#include "Internal.h"
#include "soma/frontend/Frontend.h"

#include "soma/ir/Printer.h"
#include "soma/passes/Passes.h"
#include "soma/runtime/Interpreter.h"
#include "soma/support/File.h"
#include "soma/support/Npy.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>

using namespace soma;

namespace {

const char *const usage = R"(usage: soma <command> [options] FILE

commands:
  run FILE       compile the network in FILE and run it; prints every output
  check FILE     check FILE and report problems; prints nothing when it is fine
  compile FILE   compile FILE and write the result (--emit)

options for run:
  --input NAME=V1,V2,...    one sample's values, row-major; ';' separates samples
  --input NAME=FILE.npy     a batch [N, dims...] (or one sample [dims...]) from NumPy
  --output NAME=FILE.npy    also write output NAME to a .npy file
  --expect NAME=FILE.npy    compare output NAME with a golden array of the same
                            shape; exit 1 with a report when any element is off
  --rtol R, --atol A        --expect tolerance: |got - expected| <= A + R |expected|
                            (defaults 1e-5 and 1e-6; NaN matches only NaN)
  --engine=auto|jit|vec|interp
                            auto (default): for one run, the vec engine (no JIT
                            compile is started); jit: LLVM-compiled vector code
                            for this CPU; vec: soma's xsimd kernels, no LLVM;
                            interp: the reference interpreter. With --expect and
                            no --engine: every engine, each output checked
  -v, --verbose             say which engine serves the run and the kernel family
                            of each step, to stderr
  --verify-passes           run the reference interpreter on these inputs before
                            the graph passes and after each one; fail naming the
                            first pass whose outputs drift beyond its tolerance
  --digits=N                print outputs with N significant digits (1-9) instead
                            of the shortest text that reads back to the same f32
  --threads=N               threads for the big layers (default 0: all cores; 1:
                            none); results are the same bits for every N

options for compile:
  --emit=ir|program|llvm|asm|obj
                            the optimised graph IR; the lowered program (per op
                            the kernel family chosen and why, packing, tiles,
                            slots and memory plan) of --engine's target (the
                            JIT's for auto); the LLVM IR of the kernels, their
                            assembly (default), or an ELF object file
  -o FILE                   write to FILE (default: stdout; required for obj)

common options:
  -O0 .. -O3                optimisation level (default -O2)
  --sparsity=auto|dense|sparse
                            dense or sparse kernels for the layers that do not
                            say (a layer's sparsity = ... beats this); default
                            auto: the cost model chooses per layer
  --prune=F                 zero the fraction F (0 <= F < 1) of each layer's
                            weights with the smallest magnitude (a layer's
                            prune = ... beats this); CHANGES THE RESULTS, and
                            warns with the sparsity reached per layer
  --mcpu=CPU                generate code for CPU (default: this machine's)
  --mattr=+f1,-f2           add or remove CPU features (e.g. -avx512f)
  --print-ir                print the optimised graph IR to stderr
  --time-passes             print where compile time went, to stderr

FILE may hold the network language (.nn) or graph IR text; '-' reads stdin.

soma --print-machine [--recalibrate]
                            print the machine model the cost model plans for:
                            this machine's, detected and measured (cached;
                            --recalibrate measures again)
soma --print-machine=CPU    a modelled CPU's published parameters (the model
                            --mcpu=CPU plans for); --print-machine=help lists them
)";

int usageError(const std::string &msg) {
  std::cerr << "soma: error: " << msg << "\n\n" << usage;
  return 2;
}

void printOutput(const runtime::NamedTensor &out, std::ostream &os, int digits) {
  const Tensor &t = out.tensor;
  os << out.name << ": f32" << formatDims(t.dims) << '\n';
  int64_t samples = t.dims.empty() ? 1 : t.dims[0];
  int64_t per = samples ? t.numElements() / samples : 0;
  for (int64_t n = 0; n < samples; ++n) {
    os << out.name << '[' << n << "]:";
    for (int64_t i = 0; i < per; ++i)
      os << ' ' << cli::formatValue(t.values[n * per + i], digits);
    os << '\n';
  }
}

enum class Command { Run, Check, Compile };

struct Options {
  std::string file;
  std::vector<std::pair<std::string, std::string>> inputs, outputs, expects;
  double rtol = 1e-5, atol = 1e-6;
  CompileOptions compile;
  bool printIR = false, timePasses = false, verifyPasses = false, verbose = false;
  /// --engine was given: --expect checks that engine alone.
  bool engineNamed = false;
  int digits = 0;
  std::string emit = "asm", outPath;
};

void printTimings(const api::Timings &timings) {
  double total = 0;
  for (auto &[name, seconds] : timings)
    total += seconds;
  std::cerr << "=== soma compile time ===\n";
  char line[160];
  for (auto &[name, seconds] : timings) {
    std::snprintf(line, sizeof line, "%9.3f ms  %5.1f%%  %s\n", seconds * 1e3,
                  total > 0 ? 100.0 * seconds / total : 0.0, name.c_str());
    std::cerr << line;
  }
  std::snprintf(line, sizeof line, "%9.3f ms  100.0%%  total\n", total * 1e3);
  std::cerr << line;
}

bool parseTolerance(const std::string &text, double &into) {
  double v;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(v) ||
      v < 0)
    return false;
  into = v;
  return true;
}

/// Parses the arguments after the command; returns an exit status when the
/// command line is wrong (after printing why).
std::optional<int> parseOptions(int argc, char **argv, Command command, Options &opts) {
  auto splitNameValue = [](const std::string &v,
                           std::vector<std::pair<std::string, std::string>> &into) {
    size_t eq = v.find('=');
    if (eq == std::string::npos || eq == 0)
      return false;
    into.push_back({v.substr(0, eq), v.substr(eq + 1)});
    return true;
  };
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (auto v = cli::optionValue(argc, argv, i, "--input")) {
      if (command != Command::Run)
        return usageError("--input is an option of 'run'");
      if (!splitNameValue(*v, opts.inputs))
        return usageError("--input needs NAME=VALUES or NAME=FILE.npy, got '" + *v + "'");
    } else if (auto v = cli::optionValue(argc, argv, i, "--output")) {
      if (command != Command::Run)
        return usageError("--output is an option of 'run'");
      if (!splitNameValue(*v, opts.outputs))
        return usageError("--output needs NAME=FILE.npy, got '" + *v + "'");
    } else if (auto v = cli::optionValue(argc, argv, i, "--expect")) {
      if (command != Command::Run)
        return usageError("--expect is an option of 'run'");
      if (!splitNameValue(*v, opts.expects))
        return usageError("--expect needs NAME=FILE.npy, got '" + *v + "'");
    } else if (auto v = cli::optionValue(argc, argv, i, "--rtol")) {
      if (command != Command::Run)
        return usageError("--rtol is an option of 'run'");
      if (!parseTolerance(*v, opts.rtol))
        return usageError("--rtol needs a finite number >= 0, got '" + *v + "'");
    } else if (auto v = cli::optionValue(argc, argv, i, "--atol")) {
      if (command != Command::Run)
        return usageError("--atol is an option of 'run'");
      if (!parseTolerance(*v, opts.atol))
        return usageError("--atol needs a finite number >= 0, got '" + *v + "'");
    } else if (auto v = cli::optionValue(argc, argv, i, "--engine")) {
      if (*v == "auto")
        opts.compile.engine = Engine::Auto;
      else if (*v == "jit")
        opts.compile.engine = Engine::Jit;
      else if (*v == "vec")
        opts.compile.engine = Engine::Vec;
      else if (*v == "interp")
        opts.compile.engine = Engine::Interp;
      else
        return usageError("unknown engine '" + *v + "'; available: auto, jit, vec, interp");
      opts.engineNamed = true;
    } else if (auto v = cli::optionValue(argc, argv, i, "--sparsity")) {
      if (*v == "auto")
        opts.compile.sparsity = Sparsity::Auto;
      else if (*v == "dense")
        opts.compile.sparsity = Sparsity::Dense;
      else if (*v == "sparse")
        opts.compile.sparsity = Sparsity::Sparse;
      else
        return usageError("unknown --sparsity '" + *v + "'; use auto, dense or sparse");
    } else if (auto v = cli::optionValue(argc, argv, i, "--prune")) {
      std::optional<double> fraction = cli::parsePruneFraction(*v);
      if (!fraction)
        return usageError("--prune needs a fraction from 0 up to (not including) 1, got '" + *v +
                          "'");
      opts.compile.prune = *fraction;
    } else if (auto v = cli::optionValue(argc, argv, i, "--mcpu")) {
      opts.compile.cpu = *v;
    } else if (auto v = cli::optionValue(argc, argv, i, "--mattr")) {
      opts.compile.features = *v;
    } else if (auto v = cli::optionValue(argc, argv, i, "--emit")) {
      if (command != Command::Compile)
        return usageError("--emit is an option of 'compile'");
      if (*v != "ir" && *v != "program" && *v != "llvm" && *v != "asm" && *v != "obj")
        return usageError("unknown --emit kind '" + *v + "'; use ir, program, llvm, asm or obj");
      opts.emit = *v;
    } else if (auto v = cli::optionValue(argc, argv, i, "-o")) {
      if (command != Command::Compile)
        return usageError("-o is an option of 'compile'");
      opts.outPath = *v;
    } else if (auto v = cli::optionValue(argc, argv, i, "--threads")) {
      if (command != Command::Run)
        return usageError("--threads is an option of 'run'");
      int n = -1;
      auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
      if (v->empty() || ec != std::errc() || ptr != v->data() + v->size() || n < 0 || n > 1024)
        return usageError("--threads needs a number from 0 (all cores) to 1024, got '" + *v + "'");
      opts.compile.threads = n;
    } else if (auto v = cli::optionValue(argc, argv, i, "--digits")) {
      if (v->size() != 1 || (*v)[0] < '1' || (*v)[0] > '9')
        return usageError("--digits needs a number from 1 to 9, got '" + *v + "'");
      opts.digits = (*v)[0] - '0';
    } else if (int level = cli::parseOptLevel(arg); level != -1) {
      if (level < 0)
        return usageError("unknown optimisation level '" + arg + "'; use -O0 to -O3");
      opts.compile.optLevel = level;
    } else if (arg == "--print-ir") {
      opts.printIR = true;
    } else if (arg == "--verify-passes") {
      if (command != Command::Run)
        return usageError("--verify-passes is an option of 'run'");
      opts.verifyPasses = true;
    } else if (arg == "-v" || arg == "--verbose") {
      if (command != Command::Run)
        return usageError(arg + " is an option of 'run'");
      opts.verbose = true;
    } else if (arg == "--time-passes") {
      opts.timePasses = true;
    } else if (arg == "-h" || arg == "--help") {
      std::cout << usage;
      return 0;
    } else if (arg.size() > 1 && arg[0] == '-') {
      return usageError("unknown option '" + arg + "'");
    } else if (!opts.file.empty()) {
      return usageError("more than one input file: '" + opts.file + "' and '" + arg + "'");
    } else {
      opts.file = arg;
    }
  }
  if (opts.file.empty())
    return usageError("no input file");
  if (command == Command::Compile && opts.emit == "obj" && opts.outPath.empty())
    return usageError("--emit=obj needs -o FILE");
  return std::nullopt;
}

int compileCommand(std::unique_ptr<ir::Graph> graph, const Options &opts, api::Timings &timings) {
  std::string text;
  if (opts.emit == "ir") {
    text = ir::printGraphToString(*graph);
  } else if (opts.emit == "program") {
    Expected<std::string> out = api::emitProgram(std::move(graph), opts.compile, &timings);
    if (!out) {
      std::cerr << "soma: error: " << out.error() << '\n';
      return 1;
    }
    text = std::move(*out);
  } else {
    jit::EmitKind kind = opts.emit == "llvm"  ? jit::EmitKind::LLVMIR
                         : opts.emit == "asm" ? jit::EmitKind::Assembly
                                              : jit::EmitKind::Object;
    Expected<std::string> out = api::emit(std::move(graph), opts.compile, kind, &timings);
    if (!out) {
      std::cerr << "soma: error: " << out.error() << '\n';
      return 1;
    }
    text = std::move(*out);
  }
  if (opts.timePasses)
    printTimings(timings);
  Expected<bool> written = true;
  if (opts.outPath.empty() || opts.outPath == "-") {
    std::cout << text;
    written = flushChecked(std::cout, "standard output");
  } else {
    written = writeFile(opts.outPath, text);
  }
  if (!written) {
    std::cerr << "soma: error: " << written.error() << '\n';
    return 1;
  }
  return 0;
}

const char *engineName(Engine engine) {
  switch (engine) {
  case Engine::Jit:
    return "jit";
  case Engine::Vec:
    return "vec";
  case Engine::Interp:
    return "interp";
  case Engine::Auto:
    return "auto";
  }
  return "?";
}

/// The engines a run computes its outputs on, the first printing them: the
/// one asked for; with --expect and no --engine, every engine (vec, which
/// answers a one-shot run under auto, the default, then the JIT, which
/// serves an application after warm-up, and the reference interpreter).
std::vector<Engine> enginesToRun(const Options &opts) {
  if (opts.expects.empty() || opts.engineNamed)
    return {opts.compile.engine};
  return {Engine::Vec, Engine::Jit, Engine::Interp};
}

/// -v: which engine serves the run, and the kernel family of each step.
void printServing(const Model &model, Engine asked) {
  api::Serving serving = api::describeServing(model);
  std::cerr << "soma: engine " << engineName(serving.engine);
  if (asked == Engine::Auto && serving.oneShot)
    std::cerr << " (auto: a one-shot run answers on the vec engine; no JIT compile is started)";
  if (serving.engine == Engine::Interp)
    std::cerr << " (the reference interpreter runs every op)";
  std::cerr << '\n';
  size_t width = 0;
  for (auto &[value, family] : serving.steps)
    width = std::max(width, value.size());
  for (auto &[value, family] : serving.steps)
    std::cerr << "soma:   " << value << std::string(width - value.size() + 2, ' ') << family
              << '\n';
}

/// Compiles `graph` for `engine` as a one-shot model, runs it on `inputs`
/// and returns its outputs; nullopt after printing an error.
std::optional<std::vector<runtime::NamedTensor>> runOnEngine(std::unique_ptr<ir::Graph> graph,
                                                             Engine engine, const Options &opts,
                                                             const std::vector<InputBuffer> &inputs,
                                                             api::Timings *timings) {
  CompileOptions options = opts.compile;
  options.engine = engine;
  Result<Model> model =
      api::makeModel(std::move(graph), options, "", timings, api::ModelUse::OneShot);
  if (!model) {
    std::cerr << model.error();
    return std::nullopt;
  }
  if (opts.verbose)
    printServing(*model, engine);
  // Every input must be given; the batch comes from the inputs.
  int64_t batch = inputs.empty() ? 1 : inputs[0].shape[0];
  std::vector<runtime::NamedTensor> results;
  std::vector<OutputBuffer> outputs;
  for (const TensorInfo &info : model->outputs()) {
    std::vector<int64_t> dims = {batch};
    dims.insert(dims.end(), info.shape.begin(), info.shape.end());
    int64_t count;
    if (!checkedElementCount(dims, count)) {
      std::cerr << "soma: error: batch size " << batch << " is too large for output '" << info.name
                << "'\n";
      return std::nullopt;
    }
    results.push_back({info.name, Tensor(dims)});
  }
  for (runtime::NamedTensor &r : results)
    outputs.push_back({r.name, r.tensor.values.data(), r.tensor.dims});
  if (Status s = model->run(inputs, outputs); !s) {
    std::cerr << "soma: error: " << s.message() << '\n';
    return std::nullopt;
  }
  return results;
}

/// Every --expect against the outputs of every engine that ran; engines
/// whose outputs are the same bits are reported together.
bool checkExpectations(const Options &opts, const std::vector<Engine> &engines,
                       const std::vector<std::vector<runtime::NamedTensor>> &results) {
  bool allMatch = true;
  for (auto &[name, path] : opts.expects) {
    auto find = [&](size_t e) -> const Tensor & {
      for (const runtime::NamedTensor &r : results[e])
        if (r.name == name)
          return r.tensor;
      std::abort(); // the names were checked against the graph's outputs
    };
    std::optional<Tensor> golden = cli::loadGolden(name, path, find(0).dims);
    if (!golden) {
      allMatch = false;
      continue;
    }
    std::vector<bool> reported(engines.size(), false);
    for (size_t e = 0; e < engines.size(); ++e) {
      if (reported[e])
        continue;
      const Tensor &got = find(e);
      std::string names = engineName(engines[e] == Engine::Auto ? Engine::Vec : engines[e]);
      for (size_t other = e + 1; other < engines.size(); ++other)
        if (!reported[other] && find(other).values.size() == got.values.size() &&
            std::memcmp(find(other).values.data(), got.values.data(),
                        got.values.size() * sizeof(float)) == 0) {
          reported[other] = true;
          names += std::string(", ") + engineName(engines[other]);
        }
      if (!cli::compareWithGolden(name, names, got, *golden, path, opts.rtol, opts.atol, false))
        allMatch = false;
    }
  }
  return allMatch;
}

int runCommand(int argc, char **argv, Command command) {
  Options opts;
  if (command == Command::Check)
    opts.compile.engine = Engine::Interp; // checking needs no code
  if (auto status = parseOptions(argc, argv, command, opts))
    return *status;

  SourceManager sm;
  uint32_t file;
  if (opts.file == "-") {
    std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    file = sm.addBuffer("<stdin>", std::move(text));
  } else {
    Expected<uint32_t> loaded = frontend::loadSourceFile(opts.file, sm);
    if (!loaded) {
      std::cerr << "soma: error: " << loaded.error() << '\n';
      return 1;
    }
    file = *loaded;
  }
  api::Timings timings;
  api::FrontResult front = api::compileToGraph(sm, file, opts.compile, &timings);
  std::cerr << front.diagnostics;
  if (!front.graph)
    return 1;
  if (opts.printIR)
    ir::printGraph(*front.graph, std::cerr);
  if (command == Command::Check)
    return 0;
  if (command == Command::Compile)
    return compileCommand(std::move(front.graph), opts, timings);

  // Inputs are parsed against the graph's types before the graph moves
  // into the model.
  std::vector<Tensor> inputTensors;
  std::vector<InputBuffer> inputs;
  Expected<std::vector<runtime::NamedTensor>> parsed = cli::readInputs(*front.graph, opts.inputs);
  if (!parsed) {
    std::cerr << "soma: error: " << parsed.error() << '\n';
    return 1;
  }
  for (runtime::NamedTensor &t : *parsed)
    inputTensors.push_back(std::move(t.tensor));
  for (size_t i = 0; i < opts.inputs.size(); ++i)
    inputs.push_back({opts.inputs[i].first, inputTensors[i].values.data(), inputTensors[i].dims});
  auto isOutput = [&](const std::string &name) {
    for (const ir::GraphOutput &out : front.graph->outputs)
      if (out.name == name)
        return true;
    return false;
  };
  std::map<std::string, std::string> outputFiles;
  for (auto &[name, path] : opts.outputs) {
    if (!isOutput(name)) {
      std::cerr << "soma: error: the network has no output named '" << name << "'\n";
      return 1;
    }
    outputFiles[name] = path;
  }
  for (auto &[name, path] : opts.expects)
    if (!isOutput(name)) {
      std::cerr << "soma: error: --expect: the network has no output named '" << name << "'\n";
      return 1;
    }

  if (opts.verifyPasses) {
    // The numerical contract on the user's own inputs: build the graph again
    // and run the same pipeline with the checker watching every pass.
    DiagnosticEngine diags(sm);
    std::unique_ptr<ir::Graph> fresh = frontend::loadGraph(file, sm, diags);
    std::vector<runtime::NamedTensor> checkInputs;
    for (size_t i = 0; i < inputs.size(); ++i)
      checkInputs.push_back({inputs[i].name, inputTensors[i]});
    cli::NumericsChecker checker(std::move(checkInputs), diags, &std::cerr);
    passes::PassContext ctx(diags);
    api::applyPassOptions(opts.compile, ctx);
    passes::PipelineOptions pipeline;
    pipeline.observer = &checker;
    bool ok =
        fresh && checker.start(*fresh) &&
        passes::runPipeline(*fresh,
                            passes::pipelineForLevel(opts.compile.optLevel,
                                                     passes::pruneRequested(*fresh, ctx.prune)),
                            ctx, pipeline);
    if (!ok) {
      diags.render(std::cerr);
      return 1;
    }
  }

  std::vector<Engine> engines = enginesToRun(opts);
  std::vector<std::vector<runtime::NamedTensor>> results;
  for (size_t e = 0; e < engines.size(); ++e) {
    // Each engine's program builder changes the graph: all but the last
    // get a copy.
    std::unique_ptr<ir::Graph> graph =
        e + 1 < engines.size() ? front.graph->clone() : std::move(front.graph);
    auto outputs = runOnEngine(std::move(graph), engines[e], opts, inputs,
                               opts.timePasses ? &timings : nullptr);
    if (!outputs)
      return 1;
    results.push_back(std::move(*outputs));
  }
  if (opts.timePasses)
    printTimings(timings);
  // The first engine's outputs are printed and written.
  for (const runtime::NamedTensor &out : results[0]) {
    printOutput(out, std::cout, opts.digits);
    if (auto it = outputFiles.find(out.name); it != outputFiles.end()) {
      Expected<bool> written = writeNpy(it->second, out.tensor);
      if (!written) {
        std::cerr << "soma: error: " << written.error() << '\n';
        return 1;
      }
    }
  }
  // Outputs are printed before the comparison so a report can be read next
  // to them; every --expect is checked, not only the first that fails.
  if (Expected<bool> flushed = flushChecked(std::cout, "standard output"); !flushed) {
    std::cerr << "soma: error: " << flushed.error() << '\n';
    return 1;
  }
  return checkExpectations(opts, engines, results) ? 0 : 1;
}

/// soma --print-machine[=CPU|help] [--recalibrate]
int printMachine(int argc, char **argv) {
  const std::string arg = argv[1];
  const std::string cpu = arg.size() > 16 ? arg.substr(16) : "";
  bool recalibrate = false;
  for (int i = 2; i < argc; ++i) {
    if (std::string(argv[i]) != "--recalibrate" || !cpu.empty())
      return usageError("unexpected '" + std::string(argv[i]) + "' after --print-machine");
    recalibrate = true;
  }
  if (arg.size() > 15 && arg[15] != '=')
    return usageError("unknown command '" + arg + "'");
  if (cpu == "help") {
    for (const std::string &name : modelledMachineNames())
      std::cout << name << "\n";
    return 0;
  }
  if (cpu.empty()) {
    std::cout << describeMachine(recalibrate ? recalibrateHost() : hostMachine());
    return 0;
  }
  std::optional<MachineInfo> m = modelledMachine(cpu);
  if (!m)
    return usageError("no model of CPU '" + cpu + "'; --print-machine=help lists them");
  std::cout << describeMachine(*m);
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 2)
    return usageError("no command");
  std::string command = argv[1];
  if (command == "run")
    return runCommand(argc, argv, Command::Run);
  if (command == "check")
    return runCommand(argc, argv, Command::Check);
  if (command == "compile")
    return runCommand(argc, argv, Command::Compile);
  if (command.rfind("--print-machine", 0) == 0)
    return printMachine(argc, argv);
  if (command == "-h" || command == "--help" || command == "help") {
    std::cout << usage;
    return 0;
  }
  return usageError("unknown command '" + command + "'");
}
