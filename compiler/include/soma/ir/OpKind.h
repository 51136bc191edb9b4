// The graph IR's op kinds (Ops.def's rows) and what is known of a kind
// without an op: its name, operand count and class. Light enough for the
// runtime's kernel headers; soma/ir/Graph.h has the ops themselves.
#pragma once

#include <string_view>

namespace soma::ir {

enum class OpKind {
#define SOMA_OP(Enum, Name, NumOperands, Attrs, Doc) Enum,
#include "soma/ir/Ops.def"
};

const char *opName(OpKind kind);
bool opFromName(std::string_view name, OpKind &kind);
/// Operand count, or -1 for "one or more".
int opNumOperands(OpKind kind);
const char *opDoc(OpKind kind);

/// The elementwise binary ops, Ops.def's SOMA_BINARY_OP rows (add, ...):
/// fn(a op b) over two operands of one per-sample shape. What they compute
/// is in soma/ir/Binary.h.
bool isBinary(OpKind kind);
/// The constant c with x op c = x for a binary op (0 for add).
float binaryIdentity(OpKind kind);
/// Whether a binary op's operands may be swapped.
bool binaryCommutes(OpKind kind);

} // namespace soma::ir
