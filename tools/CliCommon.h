// Helpers the command-line drivers share: loading a network with
// diagnostics, and option parsing.
#pragma once

#include "soma/ir/Graph.h"
#include "soma/runtime/Interpreter.h"
#include "soma/support/Diagnostics.h"
#include "soma/support/Expected.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace soma::cli {

/// The running tool's name ("soma", "soma-opt"), which starts every message
/// it prints (`soma-opt: error: ...`); main sets it first.
extern const char *toolName;

/// Prints `<tool>: error: MESSAGE` (one line) to stderr; returns 2, the
/// exit status of a command-line mistake.
int usageError(const std::string &message);

/// The candidate nearest to `word` when it is near enough to be a likely
/// misspelling of it (an edit distance of at most a third of its length,
/// at least 1, less than its length), or else the first candidate that `word` begins (when it has
/// 3 characters or more); empty otherwise.
std::string nearest(const std::string &word, const std::vector<std::string> &candidates);
/// "; did you mean 'X'?" for nearest(word, candidates), or "".
std::string didYouMean(const std::string &word, const std::vector<std::string> &candidates);

/// `soma version MAJOR.MINOR.PATCH` (`soma-opt (soma) version ...`), for
/// --version.
std::string versionLine();

/// Loads FILE ("-" reads stdin) as network language or IR text. Prints
/// diagnostics (warnings too, unless `quiet` and there is no error) to
/// stderr; null when there were errors.
std::unique_ptr<ir::Graph> loadAndCheck(const std::string &path, SourceManager &sm,
                                        DiagnosticEngine &diags, bool quiet = false);

/// For "--name=value" or "--name value": the value, advancing `i` past a
/// separate argument. nullopt when argv[i] is not this option; exits with
/// status 2 when the option is last and has no value.
std::optional<std::string> optionValue(int argc, char **argv, int &i, const std::string &name);

/// One input's value from the command line: "0.5,0.3;0.1,0.2" (samples
/// separated by ';') or a .npy file holding [N, dims...] or one sample
/// [dims...], checked against the input's type.
Expected<Tensor> loadInput(const std::string &name, const std::string &value,
                           const ir::TensorType &type);

/// `--input NAME=VALUE` pairs, in order, looked up among `graph`'s inputs
/// and loaded with loadInput.
Expected<std::vector<runtime::NamedTensor>>
readInputs(const ir::Graph &graph, const std::vector<std::pair<std::string, std::string>> &given);

/// Parses -O0..-O3; -1 when `arg` is not such a flag, -2 when malformed.
int parseOptLevel(const std::string &arg);

/// --prune's value: a number in [0, 1), written in full; nullopt otherwise.
std::optional<double> parsePruneFraction(const std::string &text);

} // namespace soma::cli
