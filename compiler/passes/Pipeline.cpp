// The pass registry and the pipelines, as plain lists.
#include "soma/ir/Printer.h"
#include "soma/ir/Verifier.h"
#include "soma/passes/Passes.h"

#include <algorithm>
#include <chrono>
#include <limits> // ToleranceClasses.def: changes-results has no bound
#include <ostream>

namespace soma::passes {

const std::vector<PassInfo> &allPasses() {
  static const std::vector<PassInfo> passes = {
#define SOMA_PASS(Name, Fn, Tol, Doc) {Name, Fn, Doc, ToleranceClass::Tol},
#include "soma/passes/Passes.def"
  };
  return passes;
}

const PassInfo *findPass(const std::string &name) {
  for (const PassInfo &p : allPasses())
    if (name == p.name)
      return &p;
  return nullptr;
}

std::vector<std::string> pipelineForLevel(int level, bool prune) {
  std::vector<std::string> names = {"infer-shapes"};
  if (level == 0 && prune)
    names.push_back("prune");
  if (level >= 1) {
    names.push_back("fuse-dense-bias-act");
    if (level >= 2) // on the fused (dense) form; cse last, to merge what folding made equal
      for (const char *name : {"fold-constants", "remove-identity", "fold-scale-shift", "cse"})
        names.push_back(name);
    // After the folds at -O2, which may leave a conv's bias or activation
    // next to it.
    names.push_back("fuse-conv-bias-act");
    // Prune the final weights (scales folded in), before dead neurons go:
    // rows and columns it empties are removed.
    if (prune)
      names.push_back("prune");
    if (level >= 2)
      for (const char *name : {"eliminate-dead-neurons", "eliminate-dead-channels"})
        names.push_back(name);
    // After the passes that rewrite dense layers: they do not know dense_add.
    names.push_back("fuse-elementwise");
    names.push_back("dce");
  }
  if (level >= 2) {
    names.push_back("sparsity-analysis"); // it describes the final weights
    names.push_back("schedule");          // last: it plans the final layers
  }
  return names;
}

Tolerance toleranceOf(ToleranceClass cls) {
  static const Tolerance tolerances[] = {
#define SOMA_TOLERANCE(Enum, Name, Rtol) {Name, Rtol},
#include "soma/passes/ToleranceClasses.def"
  };
  return tolerances[static_cast<size_t>(cls)];
}

Tolerance toleranceFor(const std::string &passName) {
  const PassInfo *p = findPass(passName);
  return toleranceOf(p ? p->tolerance : ToleranceClass::Exact);
}

bool runPipeline(ir::Graph &graph, const std::vector<std::string> &names, PassContext &ctx,
                 const PipelineOptions &options) {
  std::vector<PassInfo> passes;
  bool known = true;
  for (const std::string &name : names) {
    const PassInfo *p = findPass(name);
    if (!p) {
      ctx.diags.error({}, "unknown pass '" + name + "'");
      known = false;
    } else {
      passes.push_back(*p);
    }
  }
  if (!known)
    return false;
  return runPasses(graph, passes, ctx, options);
}

bool runPasses(ir::Graph &graph, const std::vector<PassInfo> &passes, PassContext &ctx,
               const PipelineOptions &options) {

#ifndef NDEBUG
  const bool verify = true;
#else
  const bool verify = options.verifyEach;
#endif
  ir::PrintOptions printOptions;
  printOptions.elideConstantsAbove = options.elideConstantsAbove;
  for (const PassInfo &info : passes) {
    const PassInfo *p = &info;
    auto start = std::chrono::steady_clock::now();
    bool ok = p->fn(graph, ctx);
    ctx.passSeconds.push_back(
        {p->name, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()});
    if (!ok)
      return false;
    if (verify && !ir::verifyGraph(graph, ctx.diags)) {
      ctx.diags.error({}, std::string("the IR is invalid after pass '") + p->name + "'");
      return false;
    }
    bool print = options.printIRAfterAll ||
                 std::find(options.printIRAfter.begin(), options.printIRAfter.end(), p->name) !=
                     options.printIRAfter.end();
    if (print && options.irOut) {
      *options.irOut << "// -----// IR after " << p->name << " //----- //\n";
      ir::printGraph(graph, *options.irOut, printOptions);
    }
    if (options.observer && !options.observer->afterPass(*p, graph))
      return false;
  }
  return true;
}

} // namespace soma::passes
