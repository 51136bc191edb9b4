// soma: the driver. `soma run` compiles a network and runs it on inputs
// given on the command line or in .npy files; `soma check` only checks it.
#include "CliCommon.h"

#include "soma/ir/Printer.h"
#include "soma/passes/Passes.h"
#include "soma/runtime/Interpreter.h"
#include "soma/support/Npy.h"

#include <charconv>
#include <cstdio>
#include <cmath>
#include <iostream>
#include <map>

using namespace soma;

namespace {

const char *const usage = R"(usage: soma <command> [options] FILE

commands:
  run FILE     compile the network in FILE and run it; prints every output
  check FILE   check FILE and report problems; prints nothing when it is fine

options for run:
  --input NAME=V1,V2,...    one sample's values, row-major; ';' separates samples
  --input NAME=FILE.npy     a batch [N, dims...] (or one sample [dims...]) from NumPy
  --output NAME=FILE.npy    also write output NAME to a .npy file
  --engine=interp           the engine that runs the network (interp: the
                            reference interpreter)
  -O0 .. -O3                optimisation level (default -O2)
  --print-ir                print the optimised graph IR to stderr before running
  --digits=N                print outputs with N significant digits (1-9) instead
                            of the shortest text that reads back to the same f32

FILE may hold the network language (.nn) or graph IR text; '-' reads stdin.
)";

int usageError(const std::string &msg) {
  std::cerr << "soma: error: " << msg << "\n\n" << usage;
  return 2;
}

/// Parses "0.5,0.3;0.1,0.2" into samples of `perSample` values.
Expected<Tensor> parseValues(const std::string &name, const std::string &text,
                             const ir::TensorType &type) {
  std::vector<float> values;
  int64_t samples = 1;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find_first_of(",;", pos);
    if (end == std::string::npos)
      end = text.size();
    std::string item = text.substr(pos, end - pos);
    while (!item.empty() && item.front() == ' ')
      item.erase(item.begin());
    while (!item.empty() && item.back() == ' ')
      item.pop_back();
    double v;
    const char *first = item.data(), *last = first + item.size();
    if (!item.empty() && *first == '+')
      ++first;
    auto [ptr, ec] = std::from_chars(first, last, v);
    if (item.empty() || ec != std::errc() || ptr != last)
      return Error{"input '" + name + "': '" + item + "' is not a number"};
    if (std::isfinite(v) && !std::isfinite(static_cast<float>(v)))
      return Error{"input '" + name + "': " + item + " does not fit in f32"};
    values.push_back(static_cast<float>(v));
    if (end < text.size() && text[end] == ';')
      ++samples;
    pos = end + 1;
  }
  int64_t perSample = type.sampleElements();
  if (static_cast<int64_t>(values.size()) != samples * perSample)
    return Error{"input '" + name + "' takes " + std::to_string(perSample) + " value" +
                 (perSample == 1 ? "" : "s") + " per sample (shape " + type.str() + "), got " +
                 std::to_string(values.size()) +
                 (samples > 1 ? " in " + std::to_string(samples) + " samples" : "")};
  std::vector<int64_t> dims = {samples};
  dims.insert(dims.end(), type.dims.begin(), type.dims.end());
  Tensor t(dims);
  std::copy(values.begin(), values.end(), t.values.begin());
  return t;
}

bool endsWith(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

Expected<Tensor> loadInput(const std::string &name, const std::string &value,
                           const ir::TensorType &type) {
  if (!endsWith(value, ".npy"))
    return parseValues(name, value, type);
  Expected<NpyArray> arr = readNpy(value);
  if (!arr)
    return Error{arr.error()};
  Tensor t = std::move(arr->tensor);
  if (t.dims == type.dims)
    t.dims.insert(t.dims.begin(), 1); // one sample
  bool ok = t.dims.size() == type.dims.size() + 1 &&
            std::equal(type.dims.begin(), type.dims.end(), t.dims.begin() + 1);
  if (!ok)
    return Error{"input '" + name + "' needs an array of shape " + type.str() + " or " +
                 formatDims(type.dims) + ", '" + value + "' holds " + formatDims(t.dims)};
  return t;
}

std::string formatValue(float v, int digits) {
  if (std::isnan(v))
    return "nan"; // not "-nan": the sign bit of a NaN means nothing
  if (digits == 0 || !std::isfinite(v))
    return ir::formatFloat(v);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", digits, static_cast<double>(v));
  return buf;
}

void printOutput(const runtime::NamedTensor &out, std::ostream &os, int digits) {
  const Tensor &t = out.tensor;
  os << out.name << ": f32" << formatDims(t.dims) << '\n';
  int64_t samples = t.dims.empty() ? 1 : t.dims[0];
  int64_t per = samples ? t.numElements() / samples : 0;
  for (int64_t n = 0; n < samples; ++n) {
    os << out.name << '[' << n << "]:";
    for (int64_t i = 0; i < per; ++i)
      os << ' ' << formatValue(t.values[n * per + i], digits);
    os << '\n';
  }
}

int runCommand(int argc, char **argv, bool checkOnly) {
  std::string file;
  std::vector<std::pair<std::string, std::string>> inputArgs, outputArgs;
  std::string engine = "interp";
  int optLevel = 2;
  bool printIR = false;
  int digits = 0;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    auto splitNameValue = [&](const std::string &v, const char *opt,
                              std::vector<std::pair<std::string, std::string>> &into) {
      size_t eq = v.find('=');
      if (eq == std::string::npos || eq == 0)
        return false;
      into.push_back({v.substr(0, eq), v.substr(eq + 1)});
      (void)opt;
      return true;
    };
    if (auto v = cli::optionValue(argc, argv, i, "--input")) {
      if (checkOnly || !splitNameValue(*v, "--input", inputArgs))
        return usageError(checkOnly ? "'check' takes no --input" : "--input needs NAME=VALUES or NAME=FILE.npy, got '" + *v + "'");
    } else if (auto v = cli::optionValue(argc, argv, i, "--output")) {
      if (checkOnly || !splitNameValue(*v, "--output", outputArgs))
        return usageError(checkOnly ? "'check' takes no --output" : "--output needs NAME=FILE.npy, got '" + *v + "'");
    } else if (auto v = cli::optionValue(argc, argv, i, "--engine")) {
      engine = *v;
      if (engine != "interp")
        return usageError("unknown engine '" + engine + "'; available: interp");
    } else if (auto v = cli::optionValue(argc, argv, i, "--digits")) {
      if (v->size() != 1 || (*v)[0] < '1' || (*v)[0] > '9')
        return usageError("--digits needs a number from 1 to 9, got '" + *v + "'");
      digits = (*v)[0] - '0';
    } else if (int level = cli::parseOptLevel(arg); level != -1) {
      if (level < 0)
        return usageError("unknown optimisation level '" + arg + "'; use -O0 to -O3");
      optLevel = level;
    } else if (arg == "--print-ir") {
      printIR = true;
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

  SourceManager sm;
  DiagnosticEngine diags(sm);
  std::unique_ptr<ir::Graph> graph = cli::loadAndCheck(file, sm, diags);
  if (!graph)
    return 1;
  passes::PassContext ctx(diags);
  passes::PipelineOptions pipeline;
  bool ok = passes::runPipeline(*graph, passes::pipelineForLevel(optLevel), ctx, pipeline);
  diags.render(std::cerr);
  if (!ok)
    return 1;
  if (printIR)
    ir::printGraph(*graph, std::cerr);
  if (checkOnly)
    return 0;

  std::vector<runtime::NamedTensor> inputs;
  for (auto &[name, value] : inputArgs) {
    ir::Op *in = graph->findOp(name);
    if (!in || in->kind != ir::OpKind::Input) {
      std::string names;
      for (ir::Op *op : graph->inputs())
        names += (names.empty() ? "" : ", ") + ("'" + op->name + "'");
      std::cerr << "soma: error: the network has no input named '" << name << "'; its inputs are "
                << names << '\n';
      return 1;
    }
    Expected<Tensor> t = loadInput(name, value, in->type);
    if (!t) {
      std::cerr << "soma: error: " << t.error() << '\n';
      return 1;
    }
    inputs.push_back({name, std::move(*t)});
  }
  std::map<std::string, std::string> outputFiles;
  for (auto &[name, path] : outputArgs) {
    bool known = false;
    for (const ir::GraphOutput &out : graph->outputs)
      known |= out.name == name;
    if (!known) {
      std::cerr << "soma: error: the network has no output named '" << name << "'\n";
      return 1;
    }
    outputFiles[name] = path;
  }

  runtime::Interpreter interp(*graph);
  Expected<std::vector<runtime::NamedTensor>> outputs = interp.run(inputs);
  if (!outputs) {
    std::cerr << "soma: error: " << outputs.error() << '\n';
    return 1;
  }
  for (const runtime::NamedTensor &out : *outputs) {
    printOutput(out, std::cout, digits);
    if (auto it = outputFiles.find(out.name); it != outputFiles.end()) {
      Expected<bool> written = writeNpy(it->second, out.tensor);
      if (!written) {
        std::cerr << "soma: error: " << written.error() << '\n';
        return 1;
      }
    }
  }
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 2)
    return usageError("no command");
  std::string command = argv[1];
  if (command == "run")
    return runCommand(argc, argv, false);
  if (command == "check")
    return runCommand(argc, argv, true);
  if (command == "-h" || command == "--help" || command == "help") {
    std::cout << usage;
    return 0;
  }
  return usageError("unknown command '" + command + "'");
}
