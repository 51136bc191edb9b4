// soma: the driver. `soma run` compiles a network and runs it on inputs
// given on the command line or in .npy files, optionally comparing outputs
// with golden .npy arrays (--expect); `soma check` only checks it.
#include "Bench.h"
#include "CliCommon.h"
#include "Expect.h"
#include "Import.h"
#include "NumericsCheck.h"
#include "SomaOptions.h"

#include "Internal.h"
#include "soma/frontend/Frontend.h"

#include "soma/ir/Printer.h"
#include "soma/passes/Passes.h"
#include "soma/runtime/Interpreter.h"
#include "soma/support/File.h"
#include "soma/support/Npy.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>

using namespace soma;
using cli::Command;
using cli::Options;
using cli::usageError;

namespace {

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

/// --emit=bundle: the files go into the directory -o names.
int bundleCommand(std::unique_ptr<ir::Graph> graph, const Options &opts, api::Timings &timings) {
  api::BundleOptions bundle{opts.outPath, opts.externalWeights};
  auto written = api::emitBundle(std::move(graph), opts.compile, bundle, &timings);
  if (opts.timePasses)
    printTimings(timings);
  if (!written) {
    std::cerr << "soma: error: " << written.error() << '\n';
    return 1;
  }
  return 0;
}

int compileCommand(std::unique_ptr<ir::Graph> graph, const Options &opts, api::Timings &timings) {
  std::string text;
  if (opts.emit == "bundle")
    return bundleCommand(std::move(graph), opts, timings);
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
  std::cerr << "soma: engine " << soma::name(serving.engine);
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
      api::makeModel(std::move(graph), options, "", timings, api::ModelUse::OneShot, opts.file);
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
    std::cerr << s.message();
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
      std::string names = soma::name(engines[e] == Engine::Auto ? Engine::Vec : engines[e]);
      for (size_t other = e + 1; other < engines.size(); ++other)
        if (!reported[other] && find(other).values.size() == got.values.size() &&
            std::memcmp(find(other).values.data(), got.values.data(),
                        got.values.size() * sizeof(float)) == 0) {
          reported[other] = true;
          names += std::string(", ") + soma::name(engines[other]);
        }
      if (!cli::compareWithGolden(name, names, got, *golden, path, opts.rtol, opts.atol,
                                  opts.quiet))
        allMatch = false;
    }
  }
  return allMatch;
}

/// Reads the .npy file of each --tensor into `given` and points
/// opts.compile.tensors at it; false after printing an error.
bool loadGivenTensors(Options &opts, std::vector<Tensor> &given) {
  given.reserve(opts.tensors.size());
  for (const auto &[name, path] : opts.tensors) {
    Expected<NpyArray> arr = readNpy(path);
    if (!arr) {
      std::cerr << "soma: error: --tensor " << name << ": " << arr.error() << '\n';
      return false;
    }
    given.push_back(std::move(arr->tensor));
    const Tensor &t = given.back();
    if (!opts.compile.tensors.emplace(name, TensorData{t.values.data(), t.dims}).second) {
      std::cerr << "soma: error: --tensor " << name << " is given twice\n";
      return false;
    }
  }
  return true;
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
  // --tensor: what tensor("NAME") stands for, alive until the graph is built.
  std::vector<Tensor> given;
  if (!loadGivenTensors(opts, given))
    return 1;
  api::Timings timings;
  auto frontStart = std::chrono::steady_clock::now();
  api::FrontResult front = api::compileToGraph(sm, file, opts.compile, &timings);
  // --quiet: the diagnostics of a network that compiled are warnings and
  // notes only.
  if (!front.graph || !opts.quiet)
    std::cerr << front.diagnostics;
  if (!front.graph)
    return 1;
  if (opts.printIR)
    ir::printGraph(*front.graph, std::cerr);
  if (command == Command::Check)
    return 0;
  if (command == Command::Compile)
    return compileCommand(std::move(front.graph), opts, timings);
  if (command == Command::Bench)
    return cli::benchCommand(std::move(front.graph), opts, frontStart);

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
  std::vector<std::string> outputNames;
  for (const ir::GraphOutput &out : front.graph->outputs)
    outputNames.push_back(out.name);
  auto noSuchOutput = [&](const std::string &option, const std::string &name) {
    if (std::find(outputNames.begin(), outputNames.end(), name) != outputNames.end())
      return false;
    std::string names;
    for (const std::string &n : outputNames)
      names += (names.empty() ? "'" : ", '") + n + "'";
    std::string hint = cli::didYouMean(name, outputNames);
    std::cerr << "soma: error: " << option << ": the network has no output named '" << name << "'"
              << (hint.empty() ? "; its outputs are " + names : hint) << '\n';
    return true;
  };
  std::map<std::string, std::string> outputFiles;
  for (auto &[name, path] : opts.outputs) {
    if (noSuchOutput("--output", name))
      return 1;
    outputFiles[name] = path;
  }
  for (auto &[name, path] : opts.expects)
    if (noSuchOutput("--expect", name))
      return 1;

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
    return usageError("no command; 'soma --help' lists the commands");
  std::string command = argv[1];
  if (command == "run")
    return runCommand(argc, argv, Command::Run);
  if (command == "check")
    return runCommand(argc, argv, Command::Check);
  if (command == "compile")
    return runCommand(argc, argv, Command::Compile);
  if (command == "bench")
    return runCommand(argc, argv, Command::Bench);
  if (command == "import")
    return cli::importCommand(argc, argv);
  if (command.rfind("--print-machine", 0) == 0)
    return printMachine(argc, argv);
  if (command == "-h" || command == "--help" || command == "help") {
    cli::printUsage();
    return 0;
  }
  if (command == "--version") {
    std::cout << cli::versionLine() << '\n';
    return 0;
  }
  return usageError("unknown command '" + command + "'" +
                    cli::didYouMean(command, {"run", "check", "compile", "bench", "import",
                                              "--print-machine", "--help", "--version"}));
}
