// The pieces of the API the command-line tools use beyond soma/soma.h:
// the front half of compilation (text to optimised graph) and emission of
// the JIT's module as LLVM IR, assembly or an object file. Not installed.
#pragma once

#include "soma/ir/Graph.h"
#include "soma/jit/Jit.h"
#include "soma/passes/Passes.h"
#include "soma/runtime/ProgramBuilder.h"
#include "soma/soma.h"
#include "soma/support/Diagnostics.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace soma::api {

/// Phase name -> seconds, in order, for --time-passes.
using Timings = std::vector<std::pair<std::string, double>>;

struct FrontResult {
  std::unique_ptr<ir::Graph> graph; // null after errors
  std::string diagnostics;          // errors, or warnings on success
};

/// Parses and checks buffer `file`, then runs the graph pipeline for
/// `options.optLevel`, with its sparsity and pruning options.
FrontResult compileToGraph(SourceManager &sm, uint32_t file, const CompileOptions &options,
                           Timings *timings);

/// CompileOptions::sparsity as the passes' SparsityMode.
ir::SparsityMode sparsityMode(const CompileOptions &options);
/// `target` with the options' say on the program builder
/// (CompileOptions::blockedLayouts).
runtime::Target builderTarget(runtime::Target target, const CompileOptions &options);
/// The pass context's view of the options (sparsity, prune).
void applyPassOptions(const CompileOptions &options, passes::PassContext &ctx);

/// Lowers `graph` (consumed) as the JIT would and returns the optimised
/// module as text (LLVM IR, assembly) or bytes (object file).
Expected<std::string> emit(std::unique_ptr<ir::Graph> graph, const CompileOptions &options,
                           jit::EmitKind kind, Timings *timings);

/// Builds `graph`'s program (consumed) as options.engine would run it: the
/// JIT's target for auto and jit (which serves after warm-up), the vec
/// engine's, or the interpreter's kernels alone; returns its text
/// (runtime::printProgram).
Expected<std::string> emitProgram(std::unique_ptr<ir::Graph> graph, const CompileOptions &options,
                                  Timings *timings);

/// `soma compile --emit=bundle`: what to write, and where.
struct BundleOptions {
  std::string outDir;
  /// --weights=external: the weights in outDir/NET.weights.
  bool externalWeights = false;
};

/// Builds `graph` (consumed) with the JIT and writes its bundle into
/// options.outDir: NET.o, libNET.a, libNET.so, NET.h (and NET.weights),
/// NET being the network's name made a C identifier. Returns the files
/// written. For another machine's triple (options.triple), no libNET.so,
/// and the archiver is that machine's (aarch64-linux-gnu-ar). An error
/// when an op runs on no JIT kernel, or when the archiver (ar) or the C
/// compiler that links the shared library (cc) is missing or fails.
Expected<std::vector<std::string>> emitBundle(std::unique_ptr<ir::Graph> graph,
                                              const CompileOptions &options,
                                              const BundleOptions &bundle, Timings *timings);

/// How a model will be used: Serving (many runs, as an application's),
/// or OneShot (one run, then exit: `soma run`), for which Engine::Auto
/// builds the vec engine alone, since its first answer comes from the vec
/// engine and a JIT compiled in the background would never serve.
enum class ModelUse { Serving, OneShot };

/// Compiles an already-built graph into a Model (as Model::compileFile
/// does after its front half), adding the phases it times to `timings`
/// (Engine::Auto's background JIT compile is not timed). `source` is what
/// the model's run failures name (`source: error: ...`): its file.
Result<Model> makeModel(std::unique_ptr<ir::Graph> graph, const CompileOptions &options,
                        std::string warnings, Timings *timings, ModelUse use = ModelUse::Serving,
                        std::string source = "soma");

/// What runs a model loaded from a bundle's shared library
/// (BundleModel.cpp): the library's own runtime, through its C functions.
class BundleRunner {
public:
  virtual ~BundleRunner() = default;
  /// Runs `batch` (> 0) samples, every pointer set, in the model's input
  /// and output order; a failure with the runtime's message.
  virtual Status run(int64_t batch, const float *const *inputs, float *const *outputs) const = 0;
};

/// A Model whose runs go to `runner` (Engine::Jit), of those inputs and
/// outputs; `source` is what its run failures name.
Model makeBundleModel(std::unique_ptr<BundleRunner> runner, std::vector<TensorInfo> inputs,
                      std::vector<TensorInfo> outputs, std::string source);

/// What serves a run started now, for `soma run -v`.
struct Serving {
  Engine engine = Engine::Interp; ///< Vec, Jit or Interp (Model::activeEngine)
  bool oneShot = false;           ///< Engine::Auto built for ModelUse::OneShot
  /// Per step of the program, in order: the value it computes and the
  /// kernel family that computes it (none for the interpreter, which runs
  /// the graph itself).
  std::vector<std::pair<std::string, std::string>> steps;
};
Serving describeServing(const Model &model);

/// Model::run, on the executor that serves it now (the vec or JIT engine's),
/// adding each step's wall time in seconds to stepSeconds[i], i indexing
/// describeServing's steps (resized to them if it is not). A failure for a
/// model on the interpreter, which has no steps. For `soma bench --profile`.
Status runProfiled(const Model &model, const std::vector<InputBuffer> &inputs,
                   const std::vector<OutputBuffer> &outputs, std::vector<double> &stepSeconds);

} // namespace soma::api
