// The syntax tree of a .nn file: statements with generic attribute values.
// The parser only checks the grammar; Sema gives attributes their meaning.
#pragma once

#include "soma/support/SourceManager.h"

#include <string>
#include <vector>

namespace soma::frontend {

/// An attribute value: a number, string, identifier, array or call
/// (`he(seed = 1)`, `npy("w.npy")`, `leaky_relu(0.1)`).
struct Expr {
  enum class Kind { Number, String, Ident, Array, Call };
  Kind kind = Kind::Number;
  SourceLoc loc;
  double number = 0;
  bool isInteger = false;            // written without '.', exponent, inf or nan
  std::string text;                  // String value, Ident name, Call callee, Number spelling
  std::vector<Expr> elems;           // Array elements, Call arguments
  std::vector<std::string> argNames; // Call: per argument, "" when positional
  std::vector<SourceLoc> argLocs;    // Call: per argument, its name or value
};

struct Attr {
  std::string name;
  SourceLoc loc;
  Expr value;
};

struct Operand {
  std::string name;
  SourceLoc loc;
};

struct Stmt {
  enum class Kind { Input, Layer, Output };
  Kind kind = Kind::Layer;
  SourceLoc loc;       // the statement keyword
  std::string keyword; // layer kind as written: dense, neuron, ...
  std::string name;    // defined name; Output: the exported name
  SourceLoc nameLoc;
  // Layer
  std::vector<Operand> operands;
  std::vector<Attr> attrs;
  // Input
  std::string dtype;
  SourceLoc dtypeLoc;
  std::vector<int64_t> dims;
  std::vector<SourceLoc> dimLocs;
  // Output: the value exported (== name unless `output y = x`)
  Operand value;
};

struct Network {
  std::string name;
  SourceLoc loc;
  std::vector<Stmt> stmts;
};

} // namespace soma::frontend
