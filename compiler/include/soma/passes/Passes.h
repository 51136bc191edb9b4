// The pass manager: passes by name, pipelines by level, IR printing between
// passes and the verifier after each one.
#pragma once

#include "soma/ir/Graph.h"
#include "soma/support/Diagnostics.h"

#include <iosfwd>
#include <map>
#include <string>
#include <vector>

namespace soma::passes {

/// What a pass can see besides the graph: diagnostics and counters.
struct PassContext {
  explicit PassContext(DiagnosticEngine &diags) : diags(diags) {}
  DiagnosticEngine &diags;
  /// "pass.counter" -> count, printed by --stats.
  std::map<std::string, int64_t> stats;
  void count(const std::string &counter, int64_t n = 1) { stats[counter] += n; }
  /// Wall time of each pass run, in order, for --time-passes.
  std::vector<std::pair<std::string, double>> passSeconds;
};

/// A pass returns false when it failed (and emitted diagnostics).
using PassFn = bool (*)(ir::Graph &, PassContext &);

#define SOMA_PASS(Name, Fn, Doc) bool Fn(ir::Graph &graph, PassContext &ctx);
#include "soma/passes/Passes.def"

struct PassInfo {
  const char *name;
  PassFn fn;
  const char *doc;
};

const std::vector<PassInfo> &allPasses();
const PassInfo *findPass(const std::string &name);

/// The pass list for -O0..-O3 (infer-shapes always comes first).
std::vector<std::string> pipelineForLevel(int level);

struct PipelineOptions {
  bool printIRAfterAll = false;
  std::vector<std::string> printIRAfter;
  bool verifyEach = false;
  /// Where printed IR goes; required when any print option is set.
  std::ostream *irOut = nullptr;
  int64_t elideConstantsAbove = 0;
};

/// Runs `names` in order. Unknown names are reported before anything runs.
bool runPipeline(ir::Graph &graph, const std::vector<std::string> &names, PassContext &ctx,
                 const PipelineOptions &options);

} // namespace soma::passes
