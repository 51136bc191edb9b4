// The pass manager: passes by name, pipelines by level, IR printing between
// passes and the verifier after each one.
#pragma once

#include "soma/ir/Graph.h"
#include "soma/support/Diagnostics.h"
#include "soma/support/Machine.h"

#include <iosfwd>
#include <map>
#include <optional>
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
  /// The machine the schedule pass's cost model plans for (this one).
  MachineInfo machine = hostMachine();
  /// --sparsity / CompileOptions::sparsity: dense or sparse code for every
  /// weighted sum whose layer does not say (its hint beats this, and this
  /// beats the cost model).
  ir::SparsityMode sparsity = ir::SparsityMode::Auto;
  /// --prune / CompileOptions::prune: the fraction of each layer's weights
  /// the prune pass zeroes when the layer does not give its own.
  std::optional<double> prune;
  /// Whether remark() reaches the diagnostics (soma-opt --remarks).
  bool remarksEnabled = false;
  /// Says what a pass did to one op and why; dropped unless enabled.
  void remark(SourceLoc loc, std::string message) {
    if (remarksEnabled)
      diags.remark(loc, std::move(message));
  }
};

/// A pass returns false when it failed (and emitted diagnostics).
using PassFn = bool (*)(ir::Graph &, PassContext &);

#define SOMA_PASS(Name, Fn, Tol, Doc) bool Fn(ir::Graph &graph, PassContext &ctx);
#include "soma/passes/Passes.def"

/// How far a pass may move the network's outputs (the numerical contract,
/// docs/passes.md): |after - before| <= rtol * (|before| + scale), where
/// scale is the largest finite magnitude in that output before the pass.
/// Declared in ToleranceClasses.def; each pass's class is its column in
/// Passes.def.
enum class ToleranceClass {
#define SOMA_TOLERANCE(Enum, Name, Rtol) Enum,
#include "soma/passes/ToleranceClasses.def"
};

/// Every tolerance class, in ToleranceClasses.def's order.
inline constexpr ToleranceClass kToleranceClasses[] = {
#define SOMA_TOLERANCE(Enum, Name, Rtol) ToleranceClass::Enum,
#include "soma/passes/ToleranceClasses.def"
};

struct Tolerance {
  /// The class's name: "exact", "rounding", "reassociating", ...
  const char *cls;
  /// Infinite for changes-results: the drift is reported, never a failure.
  double rtol;
};

/// The name and rtol of a tolerance class.
Tolerance toleranceOf(ToleranceClass cls);

struct PassInfo {
  const char *name;
  PassFn fn;
  const char *doc;
  /// Registered passes take it from Passes.def; a pass built elsewhere (a
  /// test's) is exact unless it says otherwise.
  ToleranceClass tolerance = ToleranceClass::Exact;
};

const std::vector<PassInfo> &allPasses();
const PassInfo *findPass(const std::string &name);

/// The pass list for -O0..-O3 (infer-shapes always comes first); with
/// `prune`, the prune pass too (before sparsity-analysis).
std::vector<std::string> pipelineForLevel(int level, bool prune = false);

/// Whether anything asks for pruning: a global fraction, or a layer's hint.
bool pruneRequested(const ir::Graph &graph, std::optional<double> global);
/// How many of `n` weights the prune pass zeroes for `fraction`: round(F n).
int64_t pruneCount(double fraction, int64_t n);

/// The tolerance of a registered pass (its class in Passes.def); exact for
/// a name that is not registered.
Tolerance toleranceFor(const std::string &passName);

/// Watches a pipeline run. (An interface, not std::function: <functional>
/// in this widely included header would let ADL find std::bind.)
class PassObserver {
public:
  virtual ~PassObserver() = default;
  /// After `pass` turned the graph into `graph`; false fails the pipeline.
  virtual bool afterPass(const PassInfo &pass, const ir::Graph &graph) = 0;
};

struct PipelineOptions {
  bool printIRAfterAll = false;
  std::vector<std::string> printIRAfter;
  bool verifyEach = false;
  /// Where printed IR goes; required when any print option is set.
  std::ostream *irOut = nullptr;
  int64_t elideConstantsAbove = 0;
  /// Told about each pass that succeeded (and verified); may stop the
  /// pipeline (soma-opt --check-numerics).
  PassObserver *observer = nullptr;
};

/// Runs `names` in order. Unknown names are reported before anything runs.
bool runPipeline(ir::Graph &graph, const std::vector<std::string> &names, PassContext &ctx,
                 const PipelineOptions &options);

/// Runs the given passes (registered or not: tests run broken ones) in order.
bool runPasses(ir::Graph &graph, const std::vector<PassInfo> &passes, PassContext &ctx,
               const PipelineOptions &options);

} // namespace soma::passes
