// Proves VectorMath's accuracy contract. Each activation (every parameter
// variant) and exp is JIT-compiled into `void f(const float *in, float *out,
// int64_t n)` at widths 16, 8, 4 (vector loop, then a scalar tail) and 1
// (scalar only), optimised with the O2 pipeline of the target machine, for
// two targets: the host (FMA, AVX-512 here) and baseline x86-64 (SSE2, no
// FMA, so fmuladd does not fuse). The JIT links no process symbols, so a
// libm call in generated code fails the lookup. Inputs: every f32 whose bit
// pattern is a multiple of 4099 (all exponents, both signs; set
// SOMA_VMATH_STRIDE=1 to check all 2^32, minutes per case, and perhaps
// SOMA_VMATH_KERNELS=host/16 to check only that kernel), special
// values and breakpoints with their neighbours, and uniform samples of
// [-20, 20].
//
// The contract, against runtime::referenceActivation in double on the same
// f32 input:
//   - reference NaN: the result is NaN;
//   - reference beyond the f32 range (rounds to +-inf): the result is that
//     infinity;
//   - otherwise |got - ref| <= 1e-6 * max(|ref|, 2^-126): relative error
//     1e-6, and an absolute floor of 1e-6 * 2^-126 (about 8.4 * 2^-149)
//     where the result is zero or subnormal in f32.
// The sign of a zero result is not checked.
#include "VectorMath.h"

#include "soma/runtime/Interpreter.h"

#include "../ActivationContract.h"

#include <gtest/gtest.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/IntrinsicInst.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/TargetParser/Host.h>

#include <algorithm>
#include <bit>
#include <cfloat>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iomanip>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace soma::codegen {
namespace {

using soma::test::kFloor;
using soma::test::kRelTol;
using soma::test::withinContract;

using namespace llvm;

constexpr uint64_t kStride = 4099;
constexpr int kRandomSamples = 1 << 18;
constexpr unsigned kSeed = 20240611;
constexpr int kWidths[] = {16, 8, 4, 1};

/// What is tested: an emitter and its double reference.
struct Case {
  std::string label;
  std::function<Value *(IRBuilder<> &, Value *)> emit;
  std::function<double(double)> ref;
};

Case actCase(const ir::Activation &act) {
  return {act.str(), [act](IRBuilder<> &b, Value *x) { return emitActivation(b, act, x); },
          [act](double x) { return runtime::referenceActivation(act, x); }};
}

Case actCase(ir::ActKind kind, float param) { return actCase(ir::Activation{kind, param}); }

Case actCase(ir::ActKind kind) { return actCase(ir::makeActivation(kind)); }

/// log1p(|x|): log_softmax's log of its row sum, defined for u >= 0.
Case log1pCase() {
  return {"log1p(|x|)",
          [](IRBuilder<> &b, Value *x) {
            IRBuilderBase::FastMathFlagGuard guard(b);
            b.clearFastMathFlags(); // the fabs is the test's, not the emitter's
            return emitLog1p(b, b.CreateUnaryIntrinsic(Intrinsic::fabs, x));
          },
          [](double x) { return std::log1p(std::fabs(x)); }};
}

Case expCase() {
  return {"exp", [](IRBuilder<> &b, Value *x) { return emitExp(b, x); },
          [](double x) { return std::exp(x); }};
}

void initTargets() {
  static bool done = [] {
    InitializeNativeTarget();
    InitializeNativeTargetAsmPrinter();
    InitializeNativeTargetAsmParser();
    return true;
  }();
  (void)done;
}

/// Emits `for (i = start; i + width <= n; i += width) out[i..] = emit(in[i..])`
/// and leaves the builder after it; returns i, where the loop stopped.
/// Vectorisation is disabled on the scalar loop, so width 1 tests scalar code.
Value *emitLoop(IRBuilder<> &b, const Case &c, int width, Value *in, Value *out, Value *n,
                Value *start) {
  LLVMContext &ctx = b.getContext();
  Function *f = b.GetInsertBlock()->getParent();
  BasicBlock *pre = b.GetInsertBlock();
  BasicBlock *head = BasicBlock::Create(ctx, "head", f);
  BasicBlock *body = BasicBlock::Create(ctx, "body", f);
  BasicBlock *after = BasicBlock::Create(ctx, "after", f);
  b.CreateBr(head);
  b.SetInsertPoint(head);
  PHINode *i = b.CreatePHI(b.getInt64Ty(), 2);
  i->addIncoming(start, pre);
  Value *next = b.CreateAdd(i, b.getInt64(width));
  b.CreateCondBr(b.CreateICmpSLE(next, n), body, after);
  b.SetInsertPoint(body);
  Type *ty = b.getFloatTy();
  if (width > 1)
    ty = FixedVectorType::get(ty, width);
  Value *x = b.CreateAlignedLoad(ty, b.CreateGEP(b.getFloatTy(), in, i), Align(4));
  b.CreateAlignedStore(c.emit(b, x), b.CreateGEP(b.getFloatTy(), out, i), Align(4));
  BranchInst *latch = b.CreateBr(head);
  i->addIncoming(next, body);
  if (width == 1) {
    MDNode *off = MDNode::get(ctx, {MDString::get(ctx, "llvm.loop.vectorize.enable"),
                                    ConstantAsMetadata::get(b.getFalse())});
    MDNode *id = MDNode::getDistinct(ctx, {nullptr, off});
    id->replaceOperandWith(0, id);
    latch->setMetadata(LLVMContext::MD_loop, id);
  }
  b.SetInsertPoint(after);
  return i;
}

using Kernel = void (*)(const float *, float *, int64_t);

/// The value, or the error message and an abort: the JIT setup cannot fail
/// on a working LLVM installation.
template <typename T> T orDie(llvm::Expected<T> value, const char *what) {
  if (!value) {
    std::fprintf(stderr, "%s: %s\n", what, toString(value.takeError()).c_str());
    std::abort();
  }
  return std::move(*value);
}

/// One JIT per target, holding the kernels for one case at every width.
class Compiled {
public:
  Compiled(const Case &c, bool host) {
    initTargets();
    auto jtmb = host ? orDie(orc::JITTargetMachineBuilder::detectHost(), "host detection")
                     : orc::JITTargetMachineBuilder(Triple(sys::getProcessTriple()));
    if (!host)
      jtmb.setCPU("x86-64");
    jtmb.setCodeGenOptLevel(CodeGenOptLevel::Aggressive);
    std::unique_ptr<TargetMachine> tm = orDie(jtmb.createTargetMachine(), "target machine");
    // No process symbols: a call to libm (or anything else) fails lookup.
    jit = orDie(orc::LLJITBuilder()
                    .setJITTargetMachineBuilder(jtmb)
                    .setLinkProcessSymbolsByDefault(false)
                    .setPlatformSetUp(orc::setUpInactivePlatform)
                    .create(),
                "LLJIT");
    // Unresolved symbols are reported here, not in lookup's error.
    jit->getExecutionSession().setErrorReporter(
        [this](llvm::Error e) { error += toString(std::move(e)) + "\n"; });

    auto ctx = std::make_unique<LLVMContext>();
    auto module = std::make_unique<Module>("vmath", *ctx);
    module->setDataLayout(jit->getDataLayout());
    module->setTargetTriple(jit->getTargetTriple().str());
    IRBuilder<> b(*ctx);
    for (int width : kWidths) {
      FunctionType *fty =
          FunctionType::get(b.getVoidTy(), {b.getPtrTy(), b.getPtrTy(), b.getInt64Ty()}, false);
      Function *f = Function::Create(fty, Function::ExternalLinkage, name(width), *module);
      Value *in = f->getArg(0), *out = f->getArg(1), *n = f->getArg(2);
      b.SetInsertPoint(BasicBlock::Create(*ctx, "entry", f));
      // The vector loop, then the scalar tail from where it stopped.
      Value *start = b.getInt64(0);
      if (width > 1)
        start = emitLoop(b, c, width, in, out, n, start);
      emitLoop(b, c, 1, in, out, n, start);
      b.CreateRetVoid();
    }
    std::string err;
    raw_string_ostream os(err);
    EXPECT_FALSE(verifyModule(*module, &os)) << err;

    LoopAnalysisManager lam;
    FunctionAnalysisManager fam;
    CGSCCAnalysisManager cgam;
    ModuleAnalysisManager mam;
    PassBuilder pb(tm.get());
    pb.registerModuleAnalyses(mam);
    pb.registerCGSCCAnalyses(cgam);
    pb.registerFunctionAnalyses(fam);
    pb.registerLoopAnalyses(lam);
    pb.crossRegisterProxies(lam, fam, cgam, mam);
    pb.buildPerModuleDefaultPipeline(OptimizationLevel::O2).run(*module, mam);

    if (llvm::Error e =
            jit->addIRModule(orc::ThreadSafeModule(std::move(module), std::move(ctx)))) {
      std::fprintf(stderr, "addIRModule: %s\n", toString(std::move(e)).c_str());
      std::abort();
    }
    for (int width : kWidths) {
      auto sym = jit->lookup(name(width));
      if (!sym) {
        error += toString(sym.takeError());
        kernels.clear();
        return;
      }
      kernels.push_back(sym->toPtr<Kernel>());
    }
  }

  // The JIT's error reporter points at `error`.
  Compiled(const Compiled &) = delete;
  Compiled &operator=(const Compiled &) = delete;

  std::vector<Kernel> kernels; // in kWidths order; empty if lookup failed
  std::string error;           // why lookup failed

private:
  static std::string name(int width) { return "f" + std::to_string(width); }
  std::unique_ptr<orc::LLJIT> jit;
};

void addWithNeighbours(std::vector<float> &xs, float v) {
  for (float sign : {1.0f, -1.0f}) {
    float up = sign * v, down = sign * v;
    xs.push_back(up);
    for (int k = 0; k < 3; ++k) {
      up = std::nextafter(up, INFINITY);
      down = std::nextafter(down, -INFINITY);
      xs.push_back(up);
      xs.push_back(down);
    }
  }
}

/// Special values, breakpoints with three neighbours each side, and
/// uniform samples of [-20, 20].
std::vector<float> specialInputs(std::initializer_list<float> breakpoints) {
  std::vector<float> xs;
  for (uint32_t bits : {0x7fc00000u, 0x7f800001u, 0x7fffffffu, 0x00000001u, 0x00000002u,
                        0x007fffffu, 0x00400000u, 0x00800000u, 0x7f7fffffu, 0x7f800000u})
    for (uint32_t sign : {0u, 0x80000000u})
      xs.push_back(std::bit_cast<float>(bits | sign)); // NaNs, subnormals, FLT_MAX, inf
  // Where the algorithms switch: exp overflow, exp to subnormal, exp
  // underflow, the reduction interval's edge, clamps and cut-offs.
  for (float v : {0.0f,   1.0f,    88.72283f, 87.33654f, 103.27893f, 103.97208f, 0.34657359f,
                  0.625f, 9.0109f, 15.0f,     14.33f,    30.0f,      89.0f,      120.0f,
                  130.0f, 3.0f,    6.0f,      20.0f,     1e-20f,     1e-40f,     0x1p-126f})
    addWithNeighbours(xs, v);
  for (float v : breakpoints)
    addWithNeighbours(xs, v);
  std::mt19937 rng(kSeed);
  std::uniform_real_distribution<float> dist(-20.0f, 20.0f);
  for (int k = 0; k < kRandomSamples; ++k)
    xs.push_back(dist(rng));
  return xs;
}

/// The bit-pattern stride of the sweep; SOMA_VMATH_STRIDE=1 checks every
/// f32 (minutes per case).
uint64_t sweepStride() {
  const char *env = std::getenv("SOMA_VMATH_STRIDE");
  long long stride = env ? std::atoll(env) : 0;
  return stride > 0 ? static_cast<uint64_t>(stride) : kStride;
}

/// SOMA_VMATH_KERNELS="host/16,x86-64/4" runs only those kernels (default:
/// all), for long exhaustive runs.
bool kernelSelected(const char *target, int width) {
  const char *env = std::getenv("SOMA_VMATH_KERNELS");
  if (!env)
    return true;
  std::string list = std::string(",") + env + ",";
  return list.find("," + std::string(target) + "/" + std::to_string(width) + ",") !=
         std::string::npos;
}

/// What checking one case found.
struct Outcome {
  double worstRel = 0;
  uint64_t failures = 0;
  std::string messages; // the first failures of each kernel
};

struct Stats {
  double maxRel = 0;
  float maxRelAt = 0;
  double maxTinyAbs = 0; // where |ref| < 2^-126, in units of 2^-149
  uint64_t failures = 0;
  uint64_t values = 0;
  double seconds = 0; // in the kernel
};

/// Runs one case's kernels (both targets, every width) over batches of
/// inputs and keeps per-kernel statistics.
class Checker {
public:
  explicit Checker(const Case &c) : c(c) {
    for (bool host : {true, false}) {
      compiled.push_back(std::make_unique<Compiled>(c, host));
      EXPECT_EQ(compiled.back()->kernels.size(), std::size(kWidths))
          << c.label << ": lookup failed (a call to libm?): " << compiled.back()->error;
    }
  }

  void run(const std::vector<float> &xs) {
    refs.resize(xs.size());
    out.resize(xs.size());
    for (size_t i = 0; i < xs.size(); ++i)
      refs[i] = c.ref(xs[i]);
    for (size_t t = 0; t < compiled.size(); ++t)
      for (size_t w = 0; w < compiled[t]->kernels.size(); ++w)
        if (kernelSelected(targetName(t), kWidths[w]))
          runKernel(t, w, xs);
  }

  /// Prints per-kernel statistics.
  Outcome report() const {
    Outcome outcome;
    outcome.messages = messages;
    for (size_t t = 0; t < compiled.size(); ++t)
      for (size_t w = 0; w < std::size(kWidths); ++w) {
        const Stats &st = stats[t][w];
        if (st.values == 0)
          continue;
        std::printf("%-26s %-6s W=%-2d max rel error %.3g at x = %a (%.9g); below 2^-126 max abs "
                    "error %.2f * 2^-149; %.2f ns/value%s\n",
                    c.label.c_str(), targetName(t), kWidths[w], st.maxRel, double(st.maxRelAt),
                    double(st.maxRelAt), st.maxTinyAbs,
                    1e9 * st.seconds / std::max<uint64_t>(st.values, 1),
                    st.failures ? "  FAILED" : "");
        outcome.failures += st.failures;
        outcome.worstRel = std::max(outcome.worstRel, st.maxRel);
      }
    std::fflush(stdout);
    return outcome;
  }

private:
  static const char *targetName(size_t t) { return t == 0 ? "host" : "x86-64"; }

  void runKernel(size_t t, size_t w, const std::vector<float> &xs) {
    Stats &st = stats[t][w];
    std::fill(out.begin(), out.end(), 12345.0f);
    auto start = std::chrono::steady_clock::now();
    compiled[t]->kernels[w](xs.data(), out.data(), static_cast<int64_t>(xs.size()));
    st.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    st.values += xs.size();
    for (size_t i = 0; i < xs.size(); ++i) {
      float got = out[i];
      double ref = refs[i];
      double err = std::fabs(static_cast<double>(got) - ref);
      if (!withinContract(got, ref)) {
        if (++st.failures <= 10) {
          std::ostringstream os;
          os << c.label << " " << targetName(t) << " W=" << kWidths[w] << ": x = " << std::hexfloat
             << xs[i] << std::defaultfloat << " (" << std::setprecision(9) << xs[i] << "): got "
             << got << ", expected " << std::setprecision(17) << ref << ", relative error "
             << err / std::fabs(ref) << "\n";
          messages += os.str();
        }
      }
      if (std::isnan(ref) || std::isinf(static_cast<float>(ref)) || std::isnan(got))
        continue; // passed or counted above; no error to measure
      if (std::fabs(ref) < FLT_MIN) {
        st.maxTinyAbs = std::max(st.maxTinyAbs, err / 0x1p-149);
      } else if (err / std::fabs(ref) > st.maxRel) {
        st.maxRel = err / std::fabs(ref);
        st.maxRelAt = xs[i];
      }
    }
  }

  const Case &c;
  std::vector<std::unique_ptr<Compiled>> compiled; // host, then baseline x86-64
  Stats stats[2][std::size(kWidths)];
  std::vector<double> refs;
  std::vector<float> out;
  std::string messages;
};

/// Checks `c` on the special inputs and the bit-pattern sweep. Batch sizes
/// are odd, so every width has a tail.
Outcome checkCase(const Case &c, std::initializer_list<float> breakpoints = {}) {
  auto start = std::chrono::steady_clock::now();
  Checker checker(c);
  std::vector<float> xs = specialInputs(breakpoints);
  if (xs.size() % 16 == 0)
    xs.push_back(0.5f);
  checker.run(xs);
  const uint64_t stride = sweepStride();
  const size_t batch = (1 << 20) + 13;
  xs.clear();
  uint64_t count = 0;
  for (uint64_t bits = 0; bits < (uint64_t(1) << 32); bits += stride) {
    xs.push_back(std::bit_cast<float>(static_cast<uint32_t>(bits)));
    if (xs.size() == batch) {
      checker.run(xs);
      count += xs.size();
      xs.clear();
    }
  }
  checker.run(xs);
  count += xs.size();
  Outcome outcome = checker.report();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%-26s worst relative error %.3g (sweep: %llu values, stride %llu; %.2f s)\n",
              c.label.c_str(), outcome.worstRel, static_cast<unsigned long long>(count),
              static_cast<unsigned long long>(stride), seconds);
  std::fflush(stdout);
  return outcome;
}

void expectAccurate(const Case &c, std::initializer_list<float> breakpoints = {}) {
  Outcome outcome = checkCase(c, breakpoints);
  EXPECT_EQ(outcome.failures, 0u) << c.label << ": inputs out of contract (random inputs: seed "
                                  << kSeed << "), first of them:\n"
                                  << outcome.messages;
}

using ir::ActKind;

TEST(VectorMathTest, ContractRule) {
  EXPECT_TRUE(withinContract(1.0f, 1.0 + 0.9e-6));
  EXPECT_FALSE(withinContract(1.0f, 1.0 + 1.1e-6));
  EXPECT_FALSE(withinContract(1.0f, NAN));
  EXPECT_FALSE(withinContract(NAN, 1.0));
  EXPECT_TRUE(withinContract(NAN, NAN));
  EXPECT_TRUE(withinContract(INFINITY, 1e39));
  EXPECT_FALSE(withinContract(FLT_MAX, 1e39));
  EXPECT_FALSE(withinContract(INFINITY, 3e38));
  // Below 2^-126: an absolute floor of about 8 * 2^-149.
  EXPECT_TRUE(withinContract(0.0f, 8 * 0x1p-149));
  EXPECT_FALSE(withinContract(0.0f, 9 * 0x1p-149));
  EXPECT_TRUE(withinContract(0x1p-140f, 0x1p-140 + 8 * 0x1p-149));
}

/// The harness fails code that is 2^-19 (1.9e-6) off...
Case offByTwoToTheMinus19() {
  return {"deliberately wrong (must fail)",
          [](IRBuilder<> &b, Value *x) {
            return b.CreateFMul(x, ConstantFP::get(x->getType(), 1.0 + 0x1p-19));
          },
          [](double x) { return x; }};
}

TEST(VectorMathTest, HarnessRejectsInaccurateCode) {
  Outcome outcome = checkCase(offByTwoToTheMinus19());
  EXPECT_GT(outcome.failures, 0u);
  EXPECT_NE(outcome.messages.find("x = 0x1p+0 (1): got 1.00000191, expected 1,"), std::string::npos)
      << outcome.messages;
}

/// ... and code that calls libm (llvm.exp becomes a call to expf).
TEST(VectorMathTest, HarnessRejectsLibmCalls) {
  Case c{"llvm.exp",
         [](IRBuilder<> &b, Value *x) { return b.CreateUnaryIntrinsic(Intrinsic::exp, x); },
         [](double x) { return std::exp(x); }};
  Compiled compiled(c, /*host=*/true);
  EXPECT_TRUE(compiled.kernels.empty());
  EXPECT_NE(compiled.error.find("expf"), std::string::npos) << compiled.error;
}

/// Pure elementwise straight-line code: one block, no lane shuffles, and no
/// calls other than the intrinsics every x86-64 lowers inline.
TEST(VectorMathTest, StraightLineVectorCode) {
  LLVMContext ctx;
  Module module("shape", ctx);
  IRBuilder<> b(ctx);
  Type *vty = FixedVectorType::get(b.getFloatTy(), 16);
  std::vector<Case> cases = {expCase(), log1pCase()};
  for (int k = 0; k < ir::kNumActKinds; ++k)
    if (!ir::isRowwise(static_cast<ActKind>(k)))
      cases.push_back(actCase(static_cast<ActKind>(k)));
  for (const Case &c : cases) {
    Function *f = Function::Create(FunctionType::get(vty, {vty}, false), Function::ExternalLinkage,
                                   c.label, module);
    b.SetInsertPoint(BasicBlock::Create(ctx, "entry", f));
    b.setFastMathFlags(FastMathFlags::getFast()); // must be ignored
    b.CreateRet(c.emit(b, f->getArg(0)));
    EXPECT_FALSE(verifyFunction(*f, &errs())) << c.label;
    EXPECT_EQ(f->size(), 1u) << c.label;
    for (Instruction &inst : f->getEntryBlock()) {
      EXPECT_FALSE(isa<ExtractElementInst>(inst) || isa<InsertElementInst>(inst) ||
                   isa<ShuffleVectorInst>(inst))
          << c.label << ": " << inst.getOpcodeName();
      if (isa<FPMathOperator>(inst)) {
        EXPECT_FALSE(inst.getFastMathFlags().any()) << c.label << ": fast-math flags leaked";
      }
      if (auto *call = dyn_cast<CallInst>(&inst)) {
        Intrinsic::ID id = call->getIntrinsicID();
        EXPECT_TRUE(id == Intrinsic::fmuladd || id == Intrinsic::fabs || id == Intrinsic::copysign)
            << c.label << ": calls " << call->getCalledFunction()->getName().str();
      }
    }
  }
}

// Each case's max relative error is printed per target and width; the
// worst is what docs/codegen-math.md quotes.

TEST(VectorMathTest, Exp) { expectAccurate(expCase(), {0.5f, 2.0f, 10.0f, 50.0f}); }

TEST(VectorMathTest, Identity) { expectAccurate(actCase(ActKind::Identity)); }

TEST(VectorMathTest, Relu) { expectAccurate(actCase(ActKind::Relu)); }

TEST(VectorMathTest, LeakyRelu) {
  for (float alpha : {0.01f, 0.0f, 0.2f, -0.5f, 3.0f})
    expectAccurate(actCase(ActKind::LeakyRelu, alpha));
}

TEST(VectorMathTest, Sigmoid) { expectAccurate(actCase(ActKind::Sigmoid)); }

TEST(VectorMathTest, Tanh) { expectAccurate(actCase(ActKind::Tanh)); }

TEST(VectorMathTest, Gelu) {
  expectAccurate(actCase(ActKind::Gelu), {1.0f, 5.0f, 8.0f, 13.0f, 14.5f});
}

TEST(VectorMathTest, Silu) { expectAccurate(actCase(ActKind::Silu)); }

TEST(VectorMathTest, Elu) {
  for (float alpha : {1.0f, 0.3f, 0.0f, -2.0f, 1e30f})
    expectAccurate(actCase(ActKind::Elu, alpha), {0.1f, 0.6931472f, 2.0f, 17.0f});
}

TEST(VectorMathTest, Softplus) {
  expectAccurate(actCase(ActKind::Softplus), {17.0f, 87.0f, 104.0f});
  // Other betas: PyTorch's common ones, the smallest allowed and a huge one;
  // the breakpoints are where beta x is 20 (PyTorch's threshold), 87 and 104
  // (the result turns subnormal, then 0) and where |x| is clamped.
  for (float beta : {2.0f, 0.5f, 10.0f, 1e-10f, 1e30f})
    expectAccurate(actCase(ActKind::Softplus, beta),
                   {20.0f / beta, 87.0f / beta, 104.0f / beta, 131.0f / beta});
}

TEST(VectorMathTest, HardSigmoid) {
  expectAccurate(actCase(ActKind::HardSigmoid));
  // ONNX's default, a falling one, alpha = 0 and a huge alpha; 2.5 and
  // 1/30 are where 0.2 x + 0.5 and -3 x + 0.1 cross 0.
  for (auto [alpha, beta] : {std::pair{0.2f, 0.5f}, std::pair{-3.0f, 0.1f}, std::pair{0.0f, 0.75f},
                             std::pair{1e30f, -2.0f}})
    expectAccurate(actCase(ir::Activation{ActKind::HardSigmoid, alpha, beta}),
                   {2.5f, 0.033333335f, 2.0e-30f});
}

TEST(VectorMathTest, Clip) {
  for (auto [lo, hi] : {std::pair{0.0f, 6.0f}, std::pair{-INFINITY, -1.5f},
                        std::pair{-0.5f, INFINITY}, std::pair{-1e-40f, 1e-40f}})
    expectAccurate(actCase(ir::Activation{ActKind::Clip, lo, hi}), {lo, hi});
}

TEST(VectorMathTest, Log1p) { expectAccurate(log1pCase(), {0.41421354f, 1.0f, 2.0f, 1e30f}); }

TEST(VectorMathTest, Selu) {
  expectAccurate(actCase(ActKind::Selu));
  for (auto [alpha, gamma] : {std::pair{0.5f, 2.0f}, std::pair{0.0f, 1.0f}, std::pair{2.0f, -0.5f}})
    expectAccurate(actCase(ir::Activation{ActKind::Selu, alpha, gamma}), {0.1f, 2.0f, 17.0f});
}

TEST(VectorMathTest, Softsign) { expectAccurate(actCase(ActKind::Softsign), {1.0f, 0x1p24f}); }

TEST(VectorMathTest, GeluTanh) {
  expectAccurate(actCase(ActKind::GeluTanh), {0.75246142f, 3.0f, 5.0f, 10.0f, 11.5f, 12.0f});
}

TEST(VectorMathTest, Step) {
  for (float threshold : {0.0f, 0.5f, -1.25f, 1e30f})
    expectAccurate(actCase(ActKind::Step, threshold), {threshold});
}

} // namespace
} // namespace soma::codegen
