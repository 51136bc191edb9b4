// The vec engine and the program builder without LLVM: this executable
// links soma_runtime, soma_ir and soma_support only (the ctest
// vec_standalone_has_no_llvm checks its link line and symbols). It parses
// graph IR text with every op kind, odd widths and an unbatched value to
// fold, runs it through the Executor on the vec engine, on the
// interpreter's kernels and on a mix chosen per op, and compares every
// output with the reference interpreter.
#include "soma/ir/Parser.h"
#include "soma/ir/Verifier.h"
#include "soma/runtime/BundleFormat.h"
#include "soma/runtime/Executor.h"
#include "soma/runtime/Interpreter.h"
#include "soma/runtime/Kernels.h"
#include "soma/runtime/VecEngine.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <sstream>
#include <string>

using namespace soma;

namespace {

std::string randomConst(std::mt19937 &rng, const std::string &name, std::vector<int64_t> dims,
                        float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  int64_t n = 1;
  for (int64_t d : dims)
    n *= d;
  std::ostringstream s;
  s.precision(9);
  s << "  %" << name << " = const [";
  for (int64_t i = 0; i < n; ++i)
    s << (i ? ", " : "") << dist(rng);
  s << "] : f32[";
  for (size_t i = 0; i < dims.size(); ++i)
    s << (i ? ", " : "") << dims[i];
  s << "]\n";
  return s.str();
}

/// Every op kind; widths 13, 37, 19 leave vector tails on every ISA; `u`
/// depends on no input and is folded; `grid` has two rows per sample.
std::string networkText() {
  std::mt19937 rng(7);
  std::string t = "graph @standalone {\n"
                  "  %x = input : f32[N, 13]\n"
                  "  %grid = input : f32[N, 2, 19]\n";
  t += randomConst(rng, "w1", {37, 13}, -0.5f, 0.5f);
  t += randomConst(rng, "b1", {37}, -0.2f, 0.2f);
  t += randomConst(rng, "w2", {37, 37}, -0.3f, 0.3f);
  t += randomConst(rng, "b2", {37}, -0.2f, 0.2f);
  t += randomConst(rng, "w3", {19, 37}, -0.3f, 0.3f);
  t += randomConst(rng, "c19", {19}, 0.5f, 1.5f);
  t += randomConst(rng, "d19", {19}, -0.5f, 0.5f);
  t += randomConst(rng, "e37", {37}, -1.0f, 1.0f);
  t += "  %u = activation(%e37) {fn = tanh} : f32[37]\n"
       "  %h = dense(%x, %w1, %b1) {fn = gelu} : f32[N, 37]\n"
       "  %r = dense_add(%h, %w2, %b2, %h) {fn = silu} : f32[N, 37]\n"
       "  %su = add(%r, %u) {fn = leaky_relu(alpha = 0.1)} : f32[N, 37]\n"
       "  %l = linear(%su, %w3) : f32[N, 19]\n"
       "  %lb = bias_add(%l, %c19) : f32[N, 19]\n"
       "  %p = activation(%lb) {fn = softmax} : f32[N, 19]\n"
       "  %ss = scale_shift(%grid, %c19, %d19) : f32[N, 2, 19]\n"
       "  %bn = batch_norm(%ss, %d19, %c19, %c19, %d19) {epsilon = 0.001} : f32[N, 2, 19]\n"
       "  %ln = layer_norm(%bn, %c19, %d19) {epsilon = 1e-05} : f32[N, 2, 19]\n"
       "  %sm = dense(%su, %w3, %c19) {fn = softmax} : f32[N, 19]\n"
       "  %cat = concat(%p, %lb, %sm, %x) : f32[N, 70]\n"
       "  output %cat\n"
       "  output %ln as \"normed\"\n"
       "  output %x as \"echo\"\n"
       "}\n";
  return t;
}

std::unique_ptr<ir::Graph> parse(const std::string &text) {
  SourceManager sm;
  DiagnosticEngine diags(sm);
  uint32_t file = sm.addBuffer("standalone.sir", text);
  std::unique_ptr<ir::Graph> g = ir::parseGraph(file, sm, diags);
  if (!g || !ir::verifyGraph(*g, diags) || diags.hasErrors()) {
    ADD_FAILURE() << diags.renderToString();
    return nullptr;
  }
  return g;
}

/// The vec engine's family called `name`.
const runtime::KernelFamily *vecFamily(const std::string &name) {
  for (const runtime::KernelFamily *f : runtime::vecFamilies())
    if (f->name() == name)
      return f;
  ADD_FAILURE() << "no vec family " << name;
  return nullptr;
}

/// Runs `program` and the interpreter on `reference` at several batches
/// and compares every output: bit for bit when `exact`, else within the
/// kernels' tolerance.
void expectMatchesInterpreter(runtime::Program program, const ir::Graph &reference, bool exact) {
  runtime::Executor exec(std::move(program));
  runtime::Interpreter interp(reference);
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  for (int64_t batch : {1, 5, 19, 64}) {
    SCOPED_TRACE("batch " + std::to_string(batch));
    std::vector<runtime::NamedTensor> in = {{"x", Tensor({batch, 13})},
                                            {"grid", Tensor({batch, 2, 19})}};
    for (auto &t : in)
      for (float &v : t.tensor.values)
        v = dist(rng);
    auto want = interp.run(in);
    ASSERT_TRUE(want) << want.error();
    std::vector<std::vector<float>> got;
    for (const runtime::NamedTensor &o : *want)
      got.emplace_back(o.tensor.values.size(), -12345.0f);
    const float *inputs[] = {in[0].tensor.values.data(), in[1].tensor.values.data()};
    float *outputs[] = {got[0].data(), got[1].data(), got[2].data()};
    exec.run(batch, inputs, outputs);
    for (size_t o = 0; o < got.size(); ++o) {
      int bad = 0;
      for (size_t i = 0; i < got[o].size(); ++i) {
        const float g = got[o][i], e = (*want)[o].tensor.values[i];
        const bool ok = exact ? std::memcmp(&g, &e, sizeof g) == 0
                              : std::fabs(double(g) - e) <= 1e-5 * std::fabs(double(e)) + 1e-6;
        if (!ok && ++bad <= 5)
          ADD_FAILURE() << (*want)[o].name << "[" << i << "]: program " << g << ", interpreter "
                        << e;
      }
      EXPECT_EQ(bad, 0) << (*want)[o].name;
    }
  }
}

} // namespace

TEST(VecStandalone, MatchesTheInterpreterWithoutLlvm) {
  std::unique_ptr<ir::Graph> graph = parse(networkText());
  ASSERT_TRUE(graph);
  std::unique_ptr<ir::Graph> reference = graph->clone();
  Expected<runtime::Program> program = runtime::buildVecProgram(*graph);
  ASSERT_TRUE(program) << program.error();
  expectMatchesInterpreter(std::move(*program), *reference, /*exact=*/false);
}

// The interpreter's kernels as the only family: every op of every kind runs
// through the program builder and the executor and gives the interpreter's
// bits (the same ir::evaluateOp, on whole rows).
TEST(ProgramBuilder, InterpreterFamilyGivesTheInterpretersBits) {
  std::unique_ptr<ir::Graph> graph = parse(networkText());
  ASSERT_TRUE(graph);
  std::unique_ptr<ir::Graph> reference = graph->clone();
  runtime::Target target;
  target.name = "interp";
  target.families = {&runtime::interpFamily()};
  Expected<runtime::Program> program = runtime::ProgramBuilder(*graph).build(target);
  ASSERT_TRUE(program) << program.error();
  expectMatchesInterpreter(std::move(*program), *reference, /*exact=*/true);
}

// The family is chosen per op: with only the vec engine's dense family
// before the interpreter's kernels, weighted sums run on the dense kernel
// and every other op on the interpreter's, in one program; the choice and
// the families that declined are recorded for --emit=program.
TEST(ProgramBuilder, AnOpTheFirstFamilyDeclinesRunsOnTheNext) {
  std::unique_ptr<ir::Graph> graph = parse(networkText());
  ASSERT_TRUE(graph);
  std::unique_ptr<ir::Graph> reference = graph->clone();
  const runtime::KernelFamily *vecDense = vecFamily("vec.dense");
  runtime::Target target;
  target.name = "mixed";
  target.families = {vecDense, &runtime::interpFamily()};
  runtime::ProgramBuilder builder(*graph);
  Expected<runtime::Program> program = builder.build(target);
  ASSERT_TRUE(program) << program.error();
  int dense = 0, interp = 0;
  for (size_t i = 0; i < graph->ops.size(); ++i) {
    const runtime::OpChoice &choice = builder.choices()[i];
    const ir::Op &op = *graph->ops[i];
    if (!choice.family)
      continue;
    if (ir::isWeightedSum(op.kind)) {
      EXPECT_EQ(choice.family, vecDense) << op.name;
      ++dense;
    } else {
      EXPECT_EQ(choice.family, &runtime::interpFamily()) << op.name;
      ASSERT_EQ(choice.declined.size(), 1u) << op.name;
      EXPECT_EQ(choice.declined[0].first, vecDense);
      EXPECT_EQ(choice.declined[0].second, "not a weighted sum");
      ++interp;
    }
  }
  EXPECT_EQ(dense, 4);
  EXPECT_EQ(interp, 7);
  const std::string text = runtime::printProgram(builder, *program);
  EXPECT_NE(text.find("%cat = concat(%p, %lb, %sm, %x) : f32[N, 70]\n    family interp: "),
            std::string::npos)
      << text;
  expectMatchesInterpreter(std::move(*program), *reference, /*exact=*/false);
}

namespace {
/// A family that refuses softmax dense layers and declines everything else.
class RefusingFamily final : public runtime::KernelFamily {
public:
  const char *name() const override { return "test.refusing"; }
  runtime::Tier tier() const override { return runtime::Tier::Vec; }
  runtime::Fit fit(const ir::Op &op) const override {
    if (op.kind == ir::OpKind::Dense && op.fn.kind == ir::ActKind::Softmax)
      return runtime::Fit::refuses("dense '" + op.name + "': no softmax here");
    return runtime::Fit::declines("not this test's op");
  }
  Expected<bool> makeStep(const runtime::ProgramBuilder &, size_t, runtime::Step &) const override {
    return Error{"never chosen"};
  }
};
} // namespace

// A family that refuses an op stops the build with its message, even when a
// later family would run the op; an op no family runs is an error naming it.
TEST(ProgramBuilder, RefusalsAndOpsNoFamilyRunsAreErrors) {
  std::unique_ptr<ir::Graph> graph = parse(networkText());
  ASSERT_TRUE(graph);
  RefusingFamily refusing;
  runtime::Target target;
  target.name = "test";
  target.families = {&refusing, &runtime::interpFamily()};
  Expected<runtime::Program> refused = runtime::ProgramBuilder(*graph).build(target);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), "dense 'sm': no softmax here");

  std::unique_ptr<ir::Graph> again = parse(networkText());
  ASSERT_TRUE(again);
  target.families = {vecFamily("vec.dense")};
  Expected<runtime::Program> none = runtime::ProgramBuilder(*again).build(target);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error(), "test engine: no kernel for op 'add' ('su')");
}

namespace {
/// Weighted sums over mostly-zero weights (45 inputs, 37 and 19 units: tails
/// in every group and vector), each with the schedule `kernel`: a dense layer,
/// a dense_add with a residual, a linear.
std::string sparseNetworkText(const char *kernel) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  auto sparseConst = [&](const std::string &name, int64_t rows, int64_t cols) {
    std::ostringstream s;
    s.precision(9);
    s << "  %" << name << " = const [";
    for (int64_t i = 0; i < rows * cols; ++i)
      s << (i ? ", " : "") << (i % 7 == 3 || i % 11 == 0 ? dist(rng) : 0.0f);
    s << "] : f32[" << rows << ", " << cols << "]\n";
    return s.str();
  };
  const std::string sparse = std::string(kernel) == "sparse"
                                 ? "kernel = \"sparse\", vector_width = 16, panel_vectors = 1, "
                                   "row_block = 16, lone_panels = 1, row_tile = 32, col_tile = 48"
                                 : "kernel = \"packed\", vector_width = 16, panel_vectors = 2, "
                                   "row_block = 4, lone_panels = 4, row_tile = 64, col_tile = 64";
  std::string t = "graph @sparse {\n  %x = input : f32[N, 45]\n";
  t += sparseConst("w1", 37, 45) + sparseConst("w2", 37, 37) + sparseConst("w3", 19, 37);
  t += randomConst(rng, "b1", {37}, -0.2f, 0.2f);
  t += "  %h = dense(%x, %w1, %b1) {fn = relu} {schedule = {" + sparse + "}} : f32[N, 37]\n";
  t +=
      "  %r = dense_add(%h, %w2, %b1, %h) {fn = tanh} {schedule = {" + sparse + "}} : f32[N, 37]\n";
  t += "  %l = linear(%r, %w3) {schedule = {" + sparse + "}} : f32[N, 19]\n";
  t += "  output %l\n  output %h as \"hidden\"\n}\n";
  return t;
}

/// The outputs of `graph` on the vec engine for `x` ([batch, 45]).
std::vector<std::vector<float>> runVec(ir::Graph &graph, const std::vector<float> &x, int64_t batch,
                                       std::string *familyOfH) {
  runtime::ProgramBuilder builder(graph);
  Expected<runtime::Program> program = builder.build(runtime::vecTarget());
  if (!program) {
    ADD_FAILURE() << program.error();
    return {};
  }
  *familyOfH = builder.choices()[builder.indexOf(graph.findOp("h"))].family->name();
  runtime::Executor exec(std::move(*program));
  std::vector<std::vector<float>> out = {std::vector<float>(batch * 19),
                                         std::vector<float>(batch * 37)};
  const float *inputs[] = {x.data()};
  float *outputs[] = {out[0].data(), out[1].data()};
  exec.run(batch, inputs, outputs);
  return out;
}
} // namespace

// The vec engine's sparse family runs the layers whose schedule says sparse
// (sample blocks and lone rows, tails in every group) and gives, on finite
// inputs, the bits of its dense family (the same sums in the same order,
// skipping only products with a zero weight), which is within the dense
// kernel's tolerance of the interpreter (MatchesTheInterpreterWithoutLlvm).
TEST(VecStandalone, SparseScheduleRunsTheSparseKernelWithTheDenseKernelsBits) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  for (int64_t batch : {1, 3, 7, 8, 16, 37, 64}) {
    SCOPED_TRACE("batch " + std::to_string(batch));
    std::vector<float> x(static_cast<size_t>(batch * 45));
    for (float &v : x)
      v = dist(rng);
    std::unique_ptr<ir::Graph> sparse = parse(sparseNetworkText("sparse"));
    std::unique_ptr<ir::Graph> packed = parse(sparseNetworkText("packed"));
    ASSERT_TRUE(sparse && packed);
    std::string sparseFamily, packedFamily;
    auto got = runVec(*sparse, x, batch, &sparseFamily);
    auto want = runVec(*packed, x, batch, &packedFamily);
    EXPECT_EQ(sparseFamily, "vec.sparse");
    EXPECT_EQ(packedFamily, "vec.dense");
    ASSERT_EQ(got.size(), want.size());
    for (size_t o = 0; o < got.size(); ++o)
      EXPECT_EQ(0, std::memcmp(got[o].data(), want[o].data(), got[o].size() * sizeof(float)))
          << "output " << o;
  }
}

// A bundle holds the vec engine's convolution and pooling steps: a plan
// written from a vec program and read back runs with the same bits. A plan
// whose filters were packed for another vector width is refused with a
// clear error, and a truncated plan is reported damaged.
TEST(VecStandalone, ConvolutionStepsRoundTripThroughABundlePlan) {
  namespace k = runtime::kernels;
  std::mt19937 rng(23);
  std::string text = "graph @convs {\n  %x = input : f32[N, 16, 5, 7]\n";
  text += randomConst(rng, "w", {32, 16, 3, 3}, -0.3f, 0.3f);
  text += randomConst(rng, "b", {32}, -0.2f, 0.2f);
  text += randomConst(rng, "dw", {32, 1, 3, 3}, -0.5f, 0.5f);
  text += randomConst(rng, "db", {32}, -0.2f, 0.2f);
  text += "  %c = conv(%x, %w, %b) {strides = [1, 1], pads = [1, 1, 1, 1], dilations = [1, 1], "
          "fn = relu} : f32[N, 32, 5, 7]\n"
          "  %d = conv(%c, %dw, %db) {strides = [2, 2], pads = [1, 1, 1, 1], dilations = [1, 1], "
          "groups = 32, fn = relu} : f32[N, 32, 3, 4]\n"
          "  %p = max_pool(%d) {kernel = [2, 2], strides = [1, 1], pads = [0, 0, 0, 0]} : "
          "f32[N, 32, 2, 3]\n"
          "  %g = global_avg_pool(%p) : f32[N, 32]\n"
          "  output %g\n}\n";
  std::unique_ptr<ir::Graph> graph = parse(text);
  ASSERT_TRUE(graph);
  Expected<runtime::Program> program = runtime::buildVecProgram(*graph);
  ASSERT_TRUE(program) << program.error();
  runtime::BundleIO io;
  io.inputs = {{"x", {16, 5, 7}}};
  io.outputs = {{"g", {32}}};
  std::string weights;
  Expected<std::string> plan =
      runtime::serializePlan(*program, io, std::vector<int>(program->steps.size(), -1), weights);
  ASSERT_TRUE(plan) << plan.error();
  AlignedVector<float> aligned(weights.size() / sizeof(float) + 1);
  std::memcpy(aligned.data(), weights.data(), weights.size());
  auto read = [&](uint64_t planSize) {
    runtime::BundleIO back;
    return runtime::deserializePlan(reinterpret_cast<const unsigned char *>(plan->data()), planSize,
                                    reinterpret_cast<const unsigned char *>(aligned.data()),
                                    weights.size(), nullptr, 0, back);
  };
  Expected<runtime::Program> loaded = read(plan->size());
  ASSERT_TRUE(loaded) << loaded.error();

  const int64_t batch = 3;
  std::vector<float> x(static_cast<size_t>(batch * 16 * 5 * 7));
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (float &v : x)
    v = dist(rng);
  auto run = [&](runtime::Program p, int threads) {
    runtime::ExecutorOptions options;
    options.threads = threads;
    runtime::Executor exec(std::move(p), options);
    std::vector<float> y(static_cast<size_t>(batch * 32), -1.0f);
    const float *inputs[] = {x.data()};
    float *outputs[] = {y.data()};
    exec.run(batch, inputs, outputs);
    return y;
  };
  const std::vector<float> want = run(std::move(*program), 1);
  for (int threads : {1, 2}) {
    Expected<runtime::Program> again = read(plan->size());
    ASSERT_TRUE(again) << again.error();
    const std::vector<float> got = run(std::move(*again), threads);
    EXPECT_EQ(0, std::memcmp(got.data(), want.data(), want.size() * sizeof(float)))
        << threads << " threads";
  }

  Expected<runtime::Program> truncated = read(plan->size() - 1);
  ASSERT_FALSE(truncated);
  EXPECT_NE(truncated.error().find("damaged"), std::string::npos) << truncated.error();

  const k::Isa saved = k::activeIsa();
  if (saved == k::Isa::Avx512 && k::forceIsa(k::Isa::Avx2)) {
    Expected<runtime::Program> other = read(plan->size());
    k::forceIsa(saved);
    ASSERT_FALSE(other);
    EXPECT_NE(other.error().find("'c' was packed for vectors of another width"), std::string::npos)
        << other.error();
  }
}
