// Kernel sharing in the JIT (jit::shareKernels): layers that run one kernel
// through their own views of the slots compute what their own kernels
// would, bit for bit. A layer in the middle of a chain (sharing the
// previous layer's kernel) is checked against the same layer compiled alone,
// fed with the chain's value before it; elementwise ops whose operands
// coincide (add(h, h)) and do not (add(h, g)) get kernels of their own.
//
// This file includes soma/soma.h only: it is built like an application.
#include "soma/soma.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

using namespace soma;

namespace {

Model compileJit(const std::string &text, const char *name) {
  CompileOptions options;
  options.engine = Engine::Jit;
  Result<Model> m = Model::compileString(text, options, name);
  if (!m) {
    ADD_FAILURE() << m.error();
    std::abort();
  }
  return std::move(*m);
}

std::string denseLine(const std::string &name, const std::string &from, int units, int seed,
                      const char *act) {
  return "  dense " + name + "(" + from + ") { units = " + std::to_string(units) +
         "; weights = uniform(-1, 1, seed = " + std::to_string(seed) +
         "); bias = uniform(-1, 1, seed = " + std::to_string(seed + 100) +
         "); activation = " + act + " }\n";
}

/// Seeded inputs in [-2, 2).
std::vector<float> samples(size_t n, unsigned seed) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = static_cast<float>((i * 2654435761u + seed * 40503u) % 4096) / 1024.0f - 2.0f;
  return v;
}

bool sameBits(const std::vector<float> &a, const std::vector<float> &b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

} // namespace

TEST(KernelSharing, ASharedKernelGivesTheBitsOfItsOwn) {
  // 19 wide: a tail on every vector width; tanh for a long epilogue.
  constexpr int kUnits = 19, kLayers = 6;
  std::string chain = "network chain {\n  input x: f32[" + std::to_string(kUnits) + "]\n";
  std::string prev = "x";
  for (int i = 0; i < kLayers; ++i) {
    const std::string name = "d" + std::to_string(i);
    chain += denseLine(name, prev, kUnits, i + 1, "tanh");
    prev = name;
  }
  chain += "  output d3\n  output d4\n}\n";
  // d4 alone, on d3's value: its own kernel, its own slots.
  const std::string alone = "network alone {\n  input d3: f32[" + std::to_string(kUnits) + "]\n" +
                            denseLine("d4", "d3", kUnits, 5, "tanh") + "  output d4\n}\n";
  Model m = compileJit(chain, "chain.nn");
  Model single = compileJit(alone, "alone.nn");
  for (int64_t batch : {1, 3, 17, 64}) {
    SCOPED_TRACE("batch " + std::to_string(batch));
    const std::vector<int64_t> shape = {batch, kUnits};
    std::vector<float> x = samples(static_cast<size_t>(batch * kUnits), 7);
    std::vector<float> d3(x.size()), d4(x.size()), own(x.size());
    Status s =
        m.run({{"x", x.data(), shape}}, {{"d3", d3.data(), shape}, {"d4", d4.data(), shape}});
    ASSERT_TRUE(s) << s.message();
    s = single.run({{"d3", d3.data(), shape}}, {{"d4", own.data(), shape}});
    ASSERT_TRUE(s) << s.message();
    EXPECT_TRUE(sameBits(d4, own));
  }
}

TEST(KernelSharing, CoincidingOperandsAreTheirOwnKernel) {
  const char *text = R"(network n {
  input h: f32[21]
  input g: f32[21]
  add s(h, h)
  add t(h, g)
  add u(g, g)
  output s
  output t
  output u
}
)";
  Model m = compileJit(text, "alias.nn");
  const int64_t batch = 5;
  const std::vector<int64_t> shape = {batch, 21};
  std::vector<float> h = samples(batch * 21, 1), g = samples(batch * 21, 2);
  std::vector<float> s(h.size()), t(h.size()), u(h.size());
  Status st = m.run({{"h", h.data(), shape}, {"g", g.data(), shape}},
                    {{"s", s.data(), shape}, {"t", t.data(), shape}, {"u", u.data(), shape}});
  ASSERT_TRUE(st) << st.message();
  for (size_t i = 0; i < h.size(); ++i) {
    ASSERT_EQ(s[i], h[i] + h[i]) << i;
    ASSERT_EQ(t[i], h[i] + g[i]) << i;
    ASSERT_EQ(u[i], g[i] + g[i]) << i;
  }
}

TEST(KernelSharing, ActivationsDifferingInTheSecondParameterAreNotShared) {
  // Same op, type and first parameter: only selu's gamma (and, below, gelu's
  // approximate option) tells the kernels apart.
  const char *text = R"(network n {
  input x: f32[19]
  activation a(x) { activation = selu(alpha = 1.5, gamma = 2) }
  activation b(x) { activation = selu(alpha = 1.5, gamma = 3) }
  activation c(x) { activation = gelu }
  activation d(x) { activation = gelu(approximate = tanh) }
  output a; output b; output c; output d
}
)";
  const char *alone = R"(network alone {
  input x: f32[19]
  activation b(x) { activation = selu(alpha = 1.5, gamma = 3) }
  activation d(x) { activation = gelu(approximate = tanh) }
  output b; output d
}
)";
  Model m = compileJit(text, "params.nn");
  Model single = compileJit(alone, "alone.nn");
  const int64_t batch = 3;
  const std::vector<int64_t> shape = {batch, 19};
  std::vector<float> x = samples(batch * 19, 3);
  std::vector<float> a(x.size()), b(x.size()), c(x.size()), d(x.size()), ownB(x.size()),
      ownD(x.size());
  Status st = m.run({{"x", x.data(), shape}}, {{"a", a.data(), shape},
                                               {"b", b.data(), shape},
                                               {"c", c.data(), shape},
                                               {"d", d.data(), shape}});
  ASSERT_TRUE(st) << st.message();
  st = single.run({{"x", x.data(), shape}}, {{"b", ownB.data(), shape}, {"d", ownD.data(), shape}});
  ASSERT_TRUE(st) << st.message();
  EXPECT_TRUE(sameBits(b, ownB));
  EXPECT_TRUE(sameBits(d, ownD));
  EXPECT_FALSE(sameBits(a, b));
  EXPECT_FALSE(sameBits(c, d));
}
