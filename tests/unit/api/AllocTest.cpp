// Model::run allocates nothing once it has run a batch size (or a larger
// one): the binding of the caller's buffers, the run context, the arena,
// the kernels and oneTBB's tasks. The test replaces the C allocator
// (malloc and friends, which operator new and the standard library use
// too) with counting versions and counts allocations, in every thread,
// between the start and the end of a window around the runs. (Frees are
// not counted: LLVM's compile threads may still be releasing their memory
// after a compile.)
//
// The JIT and vec engines make this promise (and Auto once its JIT is
// active: before, the background compile allocates); the reference
// interpreter allocates its tensors on every run. oneTBB takes task memory from its
// own pools (refilled through malloc, or through tbbmalloc when that
// library is present, which this counter does not see); after warm-up
// both stay quiet. Not built with sanitizers, which own malloc themselves.
#include "soma/soma.h"

#include "ApiTestSupport.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <string>
#include <vector>

extern "C" {
void *__libc_malloc(size_t size);
void *__libc_calloc(size_t count, size_t size);
void *__libc_realloc(void *ptr, size_t size);
void *__libc_memalign(size_t alignment, size_t size);
void __libc_free(void *ptr);
}

namespace {
std::atomic<bool> counting{false};
std::atomic<long> allocations{0};
inline void noteAllocation() {
  if (counting.load(std::memory_order_relaxed))
    allocations.fetch_add(1, std::memory_order_relaxed);
}
} // namespace

extern "C" {
void *malloc(size_t size) noexcept {
  noteAllocation();
  return __libc_malloc(size);
}
void *calloc(size_t count, size_t size) noexcept {
  noteAllocation();
  return __libc_calloc(count, size);
}
void *realloc(void *ptr, size_t size) noexcept {
  noteAllocation();
  return __libc_realloc(ptr, size);
}
void *aligned_alloc(size_t alignment, size_t size) noexcept {
  noteAllocation();
  return __libc_memalign(alignment, size);
}
void *memalign(size_t alignment, size_t size) noexcept {
  noteAllocation();
  return __libc_memalign(alignment, size);
}
int posix_memalign(void **out, size_t alignment, size_t size) noexcept {
  noteAllocation();
  void *p = __libc_memalign(alignment, size);
  if (!p)
    return ENOMEM;
  *out = p;
  return 0;
}
void free(void *ptr) noexcept { __libc_free(ptr); }
}

using namespace soma;

namespace {

/// Counts allocations in all threads while it lives.
class Window {
public:
  Window() {
    allocations = 0;
    counting = true;
  }
  ~Window() { counting = false; }
  long allocated() const { return allocations.load(); }
};

/// Compiles for `engine` (Auto: waits for its JIT).
Model compileOrDie(const std::string &text, Engine engine, int threads = 0) {
  CompileOptions options;
  options.engine = engine;
  options.threads = threads;
  Result<Model> m = Model::compileString(text, options, "t.nn");
  if (!m) {
    ADD_FAILURE() << m.error();
    std::abort();
  }
  if (engine == Engine::Auto) {
    Status s = m->waitForJit();
    EXPECT_TRUE(s) << s.message();
  }
  return std::move(*m);
}

class Allocations : public testing::TestWithParam<Engine> {};

std::string engineName(const testing::TestParamInfo<Engine> &info) {
  switch (info.param) {
  case Engine::Jit:
    return "Jit";
  case Engine::Vec:
    return "Vec";
  case Engine::Auto:
    return "Auto";
  case Engine::Interp:
    break;
  }
  return "Interp";
}

/// Buffers for every input and output of `model` at `batch` samples, built
/// outside any counting window.
struct Buffers : testnets::Buffers {
  Buffers(const Model &model, int64_t batch) : testnets::Buffers(model, batch, 1) {}
};

using testnets::neuronNet;
using testnets::richNet;

// Big enough at batch 64 for the runtime to use every core.
const char *const mlpNet = R"(network mlp {
  input x: f32[256]
  dense a(x) { units = 512; weights = he(seed = 1); activation = relu }
  dense b(a) { units = 512; weights = he(seed = 2); activation = relu }
  dense c(b) { units = 10; weights = he(seed = 3); activation = softmax }
  output c
}
)";

// A sparse layer (90% zeros): at batch 1 its kernel runs over column tiles
// of its lone-sample path (Step::smallRows), at batch 64 over row tiles of
// sample blocks with its scratch.
const char *const sparseNet = R"(network sparse {
  input x: f32[1024]
  dense a(x) { units = 1024; weights = he(seed = 1); activation = relu; prune = 0.9; sparsity = sparse }
  output a
}
)";

/// Allocations in `runs` calls at `batch` after one warm-up call at
/// `warmBatch`.
long allocationsInRuns(const Model &model, int64_t warmBatch, int64_t batch, int runs) {
  Buffers warm(model, warmBatch), b(model, batch);
  EXPECT_TRUE(model.run(warm.inputs, warm.outputs));
  Window w;
  for (int r = 0; r < runs; ++r)
    if (!model.run(b.inputs, b.outputs))
      return -1;
  return w.allocated();
}

} // namespace

TEST(AllocationCounter, SeesAllocations) {
  Window w;
  std::vector<float> *v = new std::vector<float>(100);
  delete v;
  EXPECT_GE(w.allocated(), 2);
}

TEST_P(Allocations, NeuronRunsAllocateNothing) {
  Model m = compileOrDie(neuronNet, GetParam());
  EXPECT_EQ(allocationsInRuns(m, 1, 1, 1000), 0);
}

TEST_P(Allocations, SmallerBatchesReuseTheArena) {
  Model m = compileOrDie(richNet, GetParam());
  EXPECT_EQ(allocationsInRuns(m, 9, 9, 100), 0);
  EXPECT_EQ(allocationsInRuns(m, 9, 4, 100), 0);
  EXPECT_EQ(allocationsInRuns(m, 9, 0, 100), 0);
}

TEST_P(Allocations, ALargerBatchGrowsTheArenaOnce) {
  Model m = compileOrDie(richNet, GetParam());
  Buffers small(m, 2), large(m, 300);
  ASSERT_TRUE(m.run(small.inputs, small.outputs));
  {
    Window w;
    ASSERT_TRUE(m.run(large.inputs, large.outputs));
    EXPECT_GT(w.allocated(), 0) << "the arena grew for batch 300";
  }
  EXPECT_EQ(allocationsInRuns(m, 300, 300, 50), 0);
}

TEST_P(Allocations, ParallelRunsAllocateNothing) {
  for (int threads : {0, 1, 2}) {
    Model m = compileOrDie(mlpNet, GetParam(), threads);
    EXPECT_EQ(allocationsInRuns(m, 64, 64, 200), 0) << threads << " threads";
    EXPECT_EQ(allocationsInRuns(m, 64, 1, 200), 0) << threads << " threads";
  }
}

TEST_P(Allocations, ParallelSparseRunsAllocateNothing) {
  for (int threads : {1, 2}) {
    Model m = compileOrDie(sparseNet, GetParam(), threads);
    EXPECT_EQ(allocationsInRuns(m, 64, 64, 100), 0) << threads << " threads";
    EXPECT_EQ(allocationsInRuns(m, 64, 1, 200), 0) << threads << " threads";
    EXPECT_EQ(allocationsInRuns(m, 3, 3, 200), 0) << threads << " threads";
  }
}

INSTANTIATE_TEST_SUITE_P(Engines, Allocations,
                         testing::Values(Engine::Jit, Engine::Vec, Engine::Auto), engineName);
