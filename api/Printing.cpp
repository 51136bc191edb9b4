// The public API's small pieces with no engine behind them: the names and
// stream operators of its enums and Status, and the abort of a failed
// Result's dereference (soma/soma.h).
#include "soma/soma.h"

#include <cstdio>
#include <cstdlib>
#include <ostream>

namespace soma {

namespace api {

void failedResultAccess(const char *what, const std::string &message) {
  std::fprintf(stderr, "soma: %s of a failed Result: %s\n", what,
               message.empty() ? "(no message)" : message.c_str());
  std::fflush(stderr);
  std::abort();
}

} // namespace api

const char *name(Engine engine) {
  switch (engine) {
  case Engine::Jit:
    return "jit";
  case Engine::Interp:
    return "interp";
  case Engine::Vec:
    return "vec";
  case Engine::Auto:
    return "auto";
  }
  return "?";
}

const char *name(Sparsity sparsity) {
  switch (sparsity) {
  case Sparsity::Auto:
    return "auto";
  case Sparsity::Dense:
    return "dense";
  case Sparsity::Sparse:
    return "sparse";
  }
  return "?";
}

std::ostream &operator<<(std::ostream &os, Engine engine) { return os << name(engine); }

std::ostream &operator<<(std::ostream &os, Sparsity sparsity) { return os << name(sparsity); }

std::ostream &operator<<(std::ostream &os, const Status &status) {
  if (status.ok())
    return os << "ok";
  return os << (status.message().empty() ? "failure" : status.message());
}

} // namespace soma
