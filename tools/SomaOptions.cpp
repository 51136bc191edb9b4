// soma's command line: one table of options, the help printed from it, and
// the parser. A usage mistake is one line (`soma: error: ...`), with a
// suggestion when a name looks misspelt.
#include "SomaOptions.h"

#include "CliCommon.h"

#include "soma/jit/Jit.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <iostream>

namespace soma::cli {

namespace {

enum : unsigned { Run = 1, Check = 2, Compile = 4, Bench = 8, All = Run | Check | Compile | Bench };

unsigned bit(Command command) {
  static const unsigned bits[] = {Run, Check, Compile, Bench};
  return bits[static_cast<int>(command)];
}

const char *commandName(Command command) {
  static const char *const names[] = {"run", "check", "compile", "bench"};
  return names[static_cast<int>(command)];
}

struct OptionInfo {
  const char *spelling; // as matched: "--input", "-v"
  const char *display;  // as --help shows it
  bool takesValue;      // "--x=V" or "--x V"
  unsigned commands;    // where it is allowed
  const char *help;     // lines after the first are indented by --help
};

// Every option of soma's commands, in --help's order.
const OptionInfo options[] = {
    {"--input", "--input NAME=V1,V2,...", true, Run,
     "one sample's values, row-major; ';' separates samples;\n"
     "or NAME=FILE.npy: a batch [N, dims...] (or one sample\n"
     "[dims...]) from NumPy"},
    {"--output", "--output NAME=FILE.npy", true, Run, "also write output NAME to a .npy file"},
    {"--expect", "--expect NAME=FILE.npy", true, Run,
     "compare output NAME with a golden array of the same\n"
     "shape ([dims...] for one sample), on every engine unless\n"
     "--engine names one; exit 1 with a report when any\n"
     "element is off"},
    {"--rtol", "--rtol R", true, Run,
     "--expect's relative tolerance: |got - expected| <=\n"
     "atol + rtol |expected| (default 1e-5; NaN matches NaN)"},
    {"--atol", "--atol A", true, Run, "--expect's absolute tolerance (default 1e-6)"},
    {"--engine", "--engine=auto|jit|vec|interp", true, Run | Compile | Bench,
     "auto (default): for one run, the vec engine (no JIT\n"
     "compile is started); jit: LLVM-compiled vector code for\n"
     "this CPU; vec: soma's xsimd kernels, no LLVM; interp:\n"
     "the reference interpreter. compile --emit=program: the\n"
     "engine whose program is printed (auto: the JIT's)"},
    {"-v", "-v, --verbose", false, Run,
     "say which engine served the run and the kernel family\n"
     "of each step, to stderr"},
    {"--verbose", nullptr, false, Run, nullptr},
    {"--verify-passes", "--verify-passes", false, Run,
     "run the reference interpreter on these inputs before\n"
     "the graph passes and after each one; fail naming the\n"
     "first pass whose outputs drift beyond its tolerance"},
    {"--digits", "--digits=N", true, Run,
     "print outputs with N significant digits (1-9) instead\n"
     "of the shortest text that reads back to the same f32"},
    {"--threads", "--threads=N", true, Run | Bench,
     "threads for the big layers (default 0: all cores; 1:\n"
     "none); results are the same bits for every N"},
    {"--batch", "--batch=N", true, Bench, "samples per run (default 1)"},
    {"--duration", "--duration=T", true, Bench,
     "how long to time runs: seconds, or with a unit (500ms,\n"
     "5s, 1m); default 5s; at least 10 runs are timed"},
    {"--seed", "--seed=N", true, Bench, "the seed of the random inputs (default 1)"},
    {"--json", "--json", false, Bench, "print the results as one JSON object"},
    {"--profile", "--profile", false, Bench,
     "time every step of the timed runs (the layer each\n"
     "computes, its kernel family) and print where the time\n"
     "went; not with --engine=interp"},
    {"--emit", "--emit=ir|program|llvm|asm|obj|bundle", true, Compile,
     "the optimised graph IR; the lowered program (per op\n"
     "the kernel family chosen and why, packing, tiles, slots\n"
     "and memory plan); the LLVM IR of the kernels, their\n"
     "assembly (default), an ELF object file, or a bundle:\n"
     "a static and a shared library and a C header in the\n"
     "directory -o names (docs/deploy.md)"},
    {"-o", "-o FILE", true, Compile,
     "write to FILE (default: stdout; required for obj); for\n"
     "bundle, the directory to write to"},
    {"--weights", "--weights=embedded|external", true, Compile,
     "a bundle's weights: in its read-only data (default), or\n"
     "in NET.weights beside it, mapped when it is loaded"},
    {"-O", "-O0 .. -O3", false, All, "optimisation level (default -O2)"},
    {"--sparsity", "--sparsity=auto|dense|sparse", true, All,
     "dense or sparse kernels for the layers that do not say\n"
     "(a layer's sparsity = ... beats this); default auto:\n"
     "the cost model chooses per layer"},
    {"--prune", "--prune=F", true, All,
     "zero the fraction F (0 <= F < 1) of each layer's\n"
     "weights with the smallest magnitude (a layer's prune =\n"
     "... beats this); CHANGES THE RESULTS, and warns with\n"
     "the sparsity reached per layer"},
    {"--layouts", "--layouts=blocked|planar", true, All,
     "store the values between convolutions and pools in\n"
     "blocks of channels (default blocked), or every value\n"
     "planar; the same results, only the speed differs"},
    {"--tensor", "--tensor NAME=FILE.npy", true, All,
     "the tensor that tensor(\"NAME\") in the network stands\n"
     "for (weights an application passes from memory)"},
    {"--mcpu", "--mcpu=CPU", true, All,
     "generate code for CPU (default: this machine's);\n"
     "--mcpu=help lists the CPUs LLVM knows"},
    {"--mattr", "--mattr=+f1,-f2", true, All,
     "add or remove CPU features (e.g. -avx512f);\n"
     "--mattr=help lists the features"},
    {"--mtriple", "--mtriple=TRIPLE", true, All,
     "generate code for another machine: aarch64-linux-gnu\n"
     "(NEON; its generic CPU unless --mcpu names one), or\n"
     "x86_64-linux-gnu (default: this machine's); for\n"
     "compile only, whose bundle is then libNET.a, NET.o\n"
     "and NET.h (docs/deploy.md)"},
    {"--print-ir", "--print-ir", false, All, "print the optimised graph IR to stderr"},
    {"--time-passes", "--time-passes", false, All, "print where compile time went, to stderr"},
    {"-q", "-q, --quiet", false, All,
     "print errors only: no warnings, and no report of\n"
     "--expect's matches"},
    {"--quiet", nullptr, false, All, nullptr},
    {"-h", "-h, --help", false, All, "print this help"},
    {"--help", nullptr, false, All, nullptr},
    {"--version", "--version", false, All, "print soma's version"},
};

const OptionInfo *findOption(const std::string &spelling) {
  for (const OptionInfo &o : options)
    if (spelling == o.spelling)
      return &o;
  return nullptr;
}

std::vector<std::string> spellingsFor(unsigned commands) {
  std::vector<std::string> names;
  for (const OptionInfo &o : options)
    if ((o.commands & commands) && std::string(o.spelling) != "-O")
      names.push_back(o.spelling);
  return names;
}

std::string commandsText(unsigned commands) {
  std::string text;
  for (Command c : {Command::Run, Command::Check, Command::Compile, Command::Bench})
    if (commands & bit(c))
      text += (text.empty() ? "'" : " and '") + std::string(commandName(c)) + "'";
  return text;
}

void printOption(const OptionInfo &o) {
  std::string first = std::string("  ") + o.display;
  std::string help = o.help;
  // The help's lines, the first beside the option when it fits.
  std::string indent(30, ' ');
  if (first.size() < 29)
    std::cout << first << std::string(30 - first.size(), ' ');
  else
    std::cout << first << '\n' << indent;
  for (char c : help) {
    std::cout << c;
    if (c == '\n')
      std::cout << indent;
  }
  std::cout << '\n';
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

bool splitNameValue(const std::string &v, std::vector<std::pair<std::string, std::string>> &into) {
  size_t eq = v.find('=');
  if (eq == std::string::npos || eq == 0)
    return false;
  into.push_back({v.substr(0, eq), v.substr(eq + 1)});
  return true;
}

/// "500ms", "5s", "5" (seconds), "2m": seconds in [0.001, 3600].
bool parseDuration(const std::string &text, double &seconds) {
  double v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc())
    return false;
  std::string unit(ptr, text.data() + text.size());
  double scale = unit == "ms" ? 1e-3 : unit == "s" || unit.empty() ? 1 : unit == "m" ? 60 : -1;
  if (scale < 0 || !(v * scale >= 1e-3 && v * scale <= 3600))
    return false;
  seconds = v * scale;
  return true;
}

/// --mcpu=help, --mattr=help: what LLVM knows for the triple (--mtriple,
/// or this machine's).
int printTargetNames(bool cpus, const std::string &triple) {
  Expected<jit::TargetNames> names = jit::targetNames(triple);
  if (!names)
    return std::cerr << "soma: error: " << names.error() << '\n', 1;
  if (cpus) {
    std::cout << "CPUs for " << names->triple << " ("
              << (triple.empty() ? "this machine: " : "default: ") << names->hostCpu << "):\n";
    for (const std::string &cpu : names->cpus)
      std::cout << "  " << cpu << '\n';
    return 0;
  }
  size_t width = 0;
  for (auto &[name, desc] : names->features)
    width = std::max(width, name.size());
  std::cout << "features for " << names->triple << " (--mattr=+name,-name):\n";
  for (auto &[name, desc] : names->features)
    std::cout << "  " << name << std::string(width - name.size() + 2, ' ') << desc << '\n';
  return 0;
}

/// "; did you mean 'X'?" when `v` looks like a misspelling of a value,
/// else "; `otherwise`".
std::string valueHint(const std::string &v, const std::vector<std::string> &values,
                      const std::string &otherwise) {
  std::string hint = didYouMean(v, values);
  return hint.empty() ? "; " + otherwise : hint;
}

/// Applies option `name` (known, allowed for `command`) with its value;
/// an exit status when the value is wrong or the option answers at once.
std::optional<int> applyOption(const std::string &name, const std::string &v, Command command,
                               Options &opts) {
  const std::vector<std::string> engines = {"auto", "jit", "vec", "interp"};
  const std::vector<std::string> emits = {"ir", "program", "llvm", "asm", "obj", "bundle"};
  const std::vector<std::string> sparsities = {"auto", "dense", "sparse"};
  if (name == "--input" && !splitNameValue(v, opts.inputs))
    return usageError("--input needs NAME=VALUES or NAME=FILE.npy, got '" + v + "'");
  if (name == "--output" && !splitNameValue(v, opts.outputs))
    return usageError("--output needs NAME=FILE.npy, got '" + v + "'");
  if (name == "--tensor" && !splitNameValue(v, opts.tensors))
    return usageError("--tensor needs NAME=FILE.npy, got '" + v + "'");
  if (name == "--expect" && !splitNameValue(v, opts.expects))
    return usageError("--expect needs NAME=FILE.npy, got '" + v + "'");
  if ((name == "--rtol" || name == "--atol") &&
      !parseTolerance(v, name == "--rtol" ? opts.rtol : opts.atol))
    return usageError(name + " needs a finite number >= 0, got '" + v + "'");
  if (name == "--engine") {
    static const Engine values[] = {Engine::Auto, Engine::Jit, Engine::Vec, Engine::Interp};
    auto it = std::find(engines.begin(), engines.end(), v);
    if (it == engines.end())
      return usageError("unknown engine '" + v + "'" +
                        valueHint(v, engines, "available: auto, jit, vec, interp"));
    opts.compile.engine = values[it - engines.begin()];
    opts.engineNamed = true;
  }
  if (name == "--sparsity") {
    static const Sparsity values[] = {Sparsity::Auto, Sparsity::Dense, Sparsity::Sparse};
    auto it = std::find(sparsities.begin(), sparsities.end(), v);
    if (it == sparsities.end())
      return usageError("unknown --sparsity '" + v + "'" +
                        valueHint(v, sparsities, "use auto, dense or sparse"));
    opts.compile.sparsity = values[it - sparsities.begin()];
  }
  if (name == "--layouts") {
    const std::vector<std::string> layouts = {"blocked", "planar"};
    if (std::find(layouts.begin(), layouts.end(), v) == layouts.end())
      return usageError("unknown --layouts '" + v + "'" +
                        valueHint(v, layouts, "use blocked or planar"));
    opts.compile.blockedLayouts = v == "blocked";
  }
  if (name == "--prune") {
    std::optional<double> fraction = parsePruneFraction(v);
    if (!fraction)
      return usageError("--prune needs a fraction from 0 up to (not including) 1, got '" + v + "'");
    opts.compile.prune = *fraction;
  }
  if ((name == "--mcpu" || name == "--mattr") && v == "help")
    opts.targetHelp = name; // answered once --mtriple is known
  else if (name == "--mcpu")
    opts.compile.cpu = v;
  if (name == "--mtriple")
    opts.compile.triple = v;
  if (name == "--mattr" && v != "help")
    opts.compile.features = v;
  if (name == "--emit") {
    if (std::find(emits.begin(), emits.end(), v) == emits.end())
      return usageError("unknown --emit kind '" + v + "'" +
                        valueHint(v, emits, "use ir, program, llvm, asm, obj or bundle"));
    opts.emit = v;
  }
  if (name == "--weights") {
    if (v != "embedded" && v != "external")
      return usageError("unknown --weights '" + v + "'; use embedded or external");
    opts.externalWeights = v == "external";
    opts.weightsNamed = true;
  }
  if (name == "-o")
    opts.outPath = v;
  if (name == "--threads") {
    int n = -1;
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (v.empty() || ec != std::errc() || ptr != v.data() + v.size() || n < 0 || n > 1024)
      return usageError("--threads needs a number from 0 (all cores) to 1024, got '" + v + "'");
    opts.compile.threads = n;
  }
  if (name == "--digits") {
    if (v.size() != 1 || v[0] < '1' || v[0] > '9')
      return usageError("--digits needs a number from 1 to 9, got '" + v + "'");
    opts.digits = v[0] - '0';
  }
  if (name == "--batch") {
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), opts.batch);
    if (v.empty() || ec != std::errc() || ptr != v.data() + v.size() || opts.batch < 1 ||
        opts.batch > 1000000)
      return usageError("--batch needs a number from 1 to 1000000, got '" + v + "'");
  }
  if (name == "--seed") {
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), opts.seed);
    if (v.empty() || ec != std::errc() || ptr != v.data() + v.size())
      return usageError("--seed needs a non-negative integer, got '" + v + "'");
  }
  if (name == "--duration" && !parseDuration(v, opts.duration))
    return usageError("--duration needs a time from 1ms to 1h such as 500ms, 5s or 2m, got '" + v +
                      "'");
  opts.json |= name == "--json";
  opts.profile |= name == "--profile";
  opts.printIR |= name == "--print-ir";
  opts.verifyPasses |= name == "--verify-passes";
  opts.timePasses |= name == "--time-passes";
  opts.verbose |= name == "-v" || name == "--verbose";
  opts.quiet |= name == "-q" || name == "--quiet";
  if (name == "-h" || name == "--help")
    return printCommandHelp(command), 0;
  if (name == "--version")
    return std::cout << versionLine() << '\n', 0;
  return std::nullopt;
}

} // namespace

void printUsage() {
  std::cout << R"(usage: soma <command> [options] FILE

commands:
  run FILE       compile the network in FILE and run it; prints every output
  check FILE     check FILE and report problems; prints nothing when it is fine
  compile FILE   compile FILE and write the result (--emit)
  bench FILE     time FILE: compile, first answer, latency percentiles, throughput
  import MODEL.onnx [-o OUT.nn]
                 write an ONNX model as a network in the language, its weights
                 in OUT.safetensors beside it

'soma <command> --help' lists the command's options. FILE may hold the
network language (.nn) or graph IR text, or be an ONNX model (.onnx),
imported as it is read; '-' reads stdin.

soma --version              print soma's version
soma --print-machine [--recalibrate]
                            print the machine model the cost model plans for:
                            this machine's, detected and measured (cached;
                            --recalibrate measures again)
soma --print-machine=CPU    a modelled CPU's published parameters (the model
                            --mcpu=CPU plans for); --print-machine=help lists them
)";
}

void printCommandHelp(Command command) {
  static const char *const what[] = {
      "compiles the network in FILE and runs it on the inputs; prints every output",
      "checks FILE and reports problems; prints nothing when it is fine",
      "compiles FILE and writes the result (--emit)",
      "times FILE: compile, first answer, then runs on seeded random inputs for\n"
      "--duration (latency p50, p90, p99 and throughput); auto waits for the JIT first"};
  std::cout << "usage: soma " << commandName(command) << " [options] FILE\n\n"
            << what[static_cast<int>(command)]
            << ".\nFILE may hold the network language (.nn) or graph IR text; '-' reads stdin.\n\n"
            << "options:\n";
  for (const OptionInfo &o : options)
    if ((o.commands & bit(command)) && o.help)
      printOption(o);
}

std::optional<int> parseOptions(int argc, char **argv, Command command, Options &opts) {
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.size() < 2 || arg[0] != '-') {
      if (!opts.file.empty())
        return usageError("more than one input file: '" + opts.file + "' and '" + arg + "'");
      opts.file = arg;
      continue;
    }
    if (int level = parseOptLevel(arg); level != -1) {
      if (level < 0)
        return usageError("unknown optimisation level '" + arg + "'; use -O0 to -O3");
      opts.compile.optLevel = level;
      continue;
    }
    const std::string name = arg.substr(0, arg.find('='));
    const OptionInfo *info = findOption(name);
    if (!info) {
      std::string hint = didYouMean(name, spellingsFor(bit(command)));
      return usageError("unknown option '" + name + "'" +
                        (hint.empty() ? std::string("; 'soma ") + commandName(command) +
                                            " --help' lists the options"
                                      : hint));
    }
    if (!(info->commands & bit(command)))
      return usageError(name + " is an option of " + commandsText(info->commands));
    std::string value;
    if (info->takesValue)
      value = *optionValue(argc, argv, i, name);
    else if (name != arg)
      return usageError("option '" + name + "' takes no value");
    if (auto status = applyOption(name, value, command, opts))
      return status;
  }
  if (!opts.targetHelp.empty())
    return printTargetNames(opts.targetHelp == "--mcpu", opts.compile.triple);
  if (opts.file.empty())
    return usageError("no input file; 'soma " + std::string(commandName(command)) +
                      " --help' lists the options");
  if (command == Command::Compile && opts.emit == "obj" && opts.outPath.empty())
    return usageError("--emit=obj needs -o FILE");
  if (command == Command::Compile && opts.emit == "bundle" && opts.outPath.empty())
    return usageError("--emit=bundle needs -o DIRECTORY");
  if (opts.weightsNamed && opts.emit != "bundle")
    return usageError("--weights is an option of --emit=bundle");
  return std::nullopt;
}

} // namespace soma::cli
