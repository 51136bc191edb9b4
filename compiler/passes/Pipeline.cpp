// The pass registry and the pipelines, as plain lists.
#include "soma/ir/Printer.h"
#include "soma/ir/Verifier.h"
#include "soma/passes/Passes.h"

#include <algorithm>
#include <chrono>
#include <ostream>

namespace soma::passes {

const std::vector<PassInfo> &allPasses() {
  static const std::vector<PassInfo> passes = {
#define SOMA_PASS(Name, Fn, Doc) {Name, Fn, Doc},
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

std::vector<std::string> pipelineForLevel(int level) {
  std::vector<std::string> names = {"infer-shapes"};
  if (level >= 1) {
    names.push_back("fuse-dense-bias-act");
    names.push_back("dce");
  }
  return names;
}

bool runPipeline(ir::Graph &graph, const std::vector<std::string> &names, PassContext &ctx,
                 const PipelineOptions &options) {
  std::vector<const PassInfo *> passes;
  bool known = true;
  for (const std::string &name : names) {
    const PassInfo *p = findPass(name);
    if (!p) {
      ctx.diags.error({}, "unknown pass '" + name + "'");
      known = false;
    }
    passes.push_back(p);
  }
  if (!known)
    return false;

#ifndef NDEBUG
  const bool verify = true;
#else
  const bool verify = options.verifyEach;
#endif
  ir::PrintOptions printOptions;
  printOptions.elideConstantsAbove = options.elideConstantsAbove;
  for (const PassInfo *p : passes) {
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
  }
  return true;
}

} // namespace soma::passes
