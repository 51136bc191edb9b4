// soma's command line: the commands, every option with its help (one
// table, from which `soma COMMAND --help` is printed and misspellings are
// suggested), and the parser that fills Options.
#pragma once

#include "soma/soma.h"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace soma::cli {

enum class Command { Run, Check, Compile, Bench };

struct Options {
  std::string file;
  std::vector<std::pair<std::string, std::string>> inputs, outputs, expects, tensors;
  double rtol = 1e-5, atol = 1e-6;
  CompileOptions compile;
  bool printIR = false, timePasses = false, verifyPasses = false, verbose = false, quiet = false;
  /// --engine was given: --expect checks that engine alone.
  bool engineNamed = false;
  int digits = 0;
  // soma bench
  int64_t batch = 1;
  double duration = 5; // seconds
  bool json = false;
  bool profile = false; // soma bench: per-step times of the timed runs
  uint64_t seed = 1;
  std::string emit = "asm", outPath;
  /// --weights=external: a bundle's weights in a file of their own.
  bool externalWeights = false, weightsNamed = false;
  /// "--mcpu" or "--mattr" given "help": printed for the --mtriple given.
  std::string targetHelp;
};

/// `soma --help`: the commands and the options common to all.
void printUsage();
/// `soma COMMAND --help`: every option of the command.
void printCommandHelp(Command command);

/// Parses the arguments after the command; returns an exit status when the
/// command line is wrong (after printing one line saying why) or has been
/// answered (--help, --version, --mcpu=help, --mattr=help).
std::optional<int> parseOptions(int argc, char **argv, Command command, Options &opts);

} // namespace soma::cli
