// infer-shapes: recomputes each value's type from its operands, in program
// order, using the rules in ShapeInference.cpp. Inputs and constants seed
// it. A declared type that disagrees with the inferred one is an error.
// This is the first pass of every pipeline.
#include "soma/ir/ShapeInference.h"
#include "soma/passes/Passes.h"

namespace soma::passes {

bool inferShapes(ir::Graph &graph, PassContext &ctx) {
  bool ok = true;
  for (auto &opPtr : graph.ops) {
    ir::Op &op = *opPtr;
    if (op.kind == ir::OpKind::Input)
      continue;
    ir::TensorType inferred = ir::inferResultType(op, ctx.diags);
    if (!inferred.known) {
      ok = false;
      op.type = {};
      continue;
    }
    if (op.type.known && op.type != inferred) {
      ctx.diags.error(op.loc, std::string(ir::opName(op.kind)) + " '" + op.name + "' is declared " +
                                  op.type.str() + " but its operands give " + inferred.str());
      ok = false;
    }
    if (!op.type.known)
      ctx.count("infer-shapes.types-inferred");
    op.type = inferred;
  }
  return ok;
}

} // namespace soma::passes
