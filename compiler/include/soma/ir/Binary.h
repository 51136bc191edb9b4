// What the elementwise binary ops compute, written once: Ops.def's
// SOMA_BINARY_OP rows give each op's expression in `a` and `b`, and
// withBinary applies it to whatever number type a caller has. The
// interpreter passes doubles, the vec engine's kernels xsimd batches, the
// JIT's emitter LLVM vector values (codegen/LowerElementwise.cpp gives them
// the operators), so the three cannot disagree on what an op is.
#pragma once

#include "soma/ir/Graph.h"

#include <cassert>

namespace soma::ir {

/// Calls `fn(f)`, with f a generic function object such that f(a, b) is
/// binary op `kind` of a and b, and returns what fn returns (the same type
/// for every op). Dispatch happens once, outside the caller's loops: fn is
/// instantiated for each op, its loop body with f inlined.
template <class Fn> decltype(auto) withBinary(OpKind kind, Fn &&fn) {
  assert(isBinary(kind) && "not a binary op");
  switch (kind) {
#define SOMA_BINARY_OP(Enum, Name, Expr, Identity, Commutes, Doc)                                  \
  case OpKind::Enum:                                                                               \
    return fn([](const auto &a, const auto &b) { return Expr; });
#define SOMA_OP(Enum, Name, NumOperands, Attrs, Doc)                                               \
  case OpKind::Enum:                                                                               \
    break;
#include "soma/ir/Ops.def"
  }
  __builtin_unreachable();
}

} // namespace soma::ir
