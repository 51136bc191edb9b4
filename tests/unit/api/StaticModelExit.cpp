// A model held in static storage is destroyed after main returns, during
// static destruction, possibly after soma's own statics (the JIT's). That
// must finish cleanly: the ctest that runs this program has a short
// timeout and needs exit status 0 (before the fix, the JIT code's
// destructor used the JIT's map after its destruction: a crash or a hang).
#include "soma/soma.h"

#include <cstdio>
#include <optional>

namespace {
// Constructed (empty) before main, so destroyed after everything that is
// first used later: the JIT's function-local statics included.
std::optional<soma::Model> model;
} // namespace

int main() {
  soma::CompileOptions options;
  options.engine = soma::Engine::Jit;
  auto compiled = soma::Model::compileString(
      "network n {\n  input x: f32[2]\n  neuron y(x) { weights = [1, 2]; bias = 0.5 }\n  output y\n}\n",
      options);
  if (!compiled) {
    std::fprintf(stderr, "%s", compiled.error().c_str());
    return 1;
  }
  model.emplace(std::move(*compiled));
  float x[2] = {1, 1}, y[1] = {0};
  soma::Status s = model->run({{"x", x, {1, 2}}}, {{"y", y, {1, 1}}});
  if (!s || y[0] != 3.5f) {
    std::fprintf(stderr, "wrong answer %g: %s\n", static_cast<double>(y[0]), s.message().c_str());
    return 1;
  }
  std::printf("ok\n");
  return 0; // `model` is destroyed after this, in static destruction
}
