// Picks the kernel table for this CPU and forwards the public kernels to it.
// Compiled for the architecture's baseline like the rest of soma (x86-64,
// or aarch64 with NEON): only the per-ISA files get wider instruction sets,
// and they are reached through the table after the CPU check. A build holds
// the tables of its own architecture (runtime/CMakeLists.txt).
#include "KernelTable.h"

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cmath>
#include <cstring>

namespace soma::runtime::kernels {

namespace {

#if defined(__aarch64__)
/// The tables this build has, widest first, and its baseline.
constexpr Isa kBuiltIsas[] = {Isa::Neon};
constexpr Isa kBaseline = Isa::Neon;

bool cpuRuns(Isa isa) {
  // Advanced SIMD with FMA is part of ARMv8-A: every aarch64 CPU has it.
  return isa == Isa::Neon;
}
#else
constexpr Isa kBuiltIsas[] = {Isa::Avx512, Isa::Avx2, Isa::Sse2};
constexpr Isa kBaseline = Isa::Sse2;

bool cpuRuns(Isa isa) {
  // libgcc's checks include the OS's XCR0 state for AVX and AVX-512.
  __builtin_cpu_init();
  switch (isa) {
  case Isa::Sse2:
    return __builtin_cpu_supports("sse2");
  case Isa::Avx2:
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  case Isa::Avx512:
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma");
  case Isa::Neon: // not in an x86-64 build
    break;
  }
  return false;
}
#endif

Isa detectBest() {
  for (Isa isa : kBuiltIsas)
    if (cpuRuns(isa))
      return isa;
  return kBaseline;
}

/// The table in use; null until the first kernel call detects the CPU.
std::atomic<const KernelTable *> active{nullptr};

/// For dense(): the table to use for weights packed at `panel`. The active
/// one when its vectors divide the panel, else the widest narrower one
/// whose vectors do (weights packed for AVX-512 run as they are on AVX2 and
/// SSE2; SSE2-packed ones on an AVX-512 table run on SSE2).
const KernelTable *denseTable(int64_t panel) {
  const KernelTable *t = &activeKernels();
  for (Isa isa : kBuiltIsas) {
    const KernelTable &k = kernelTable(isa);
    if (k.width <= t->width && panel % k.width == 0 && isaSupported(isa))
      return &k;
  }
  return nullptr;
}

} // namespace

const char *isaFeatures(Isa isa) noexcept {
  switch (isa) {
  case Isa::Sse2:
    return "sse2";
  case Isa::Avx2:
    return "avx2,fma";
  case Isa::Avx512:
    return "avx512f,avx512cd,avx512bw,avx512dq,avx512vl,fma";
  case Isa::Neon:
    return "neon";
  }
  return "";
}

const char *isaName(Isa isa) noexcept {
  switch (isa) {
  case Isa::Sse2:
    return "sse2";
  case Isa::Avx2:
    return "avx2";
  case Isa::Avx512:
    return "avx512";
  case Isa::Neon:
    return "neon";
  }
  return "?";
}

bool isaSupported(Isa isa) noexcept {
  static const bool supported[] = {cpuRuns(Isa::Sse2), cpuRuns(Isa::Avx2), cpuRuns(Isa::Avx512),
                                   cpuRuns(Isa::Neon)};
  return supported[static_cast<int>(isa)];
}

Isa bestIsa() noexcept {
  static const Isa best = detectBest();
  return best;
}

#if defined(__aarch64__)
const KernelTable &kernelTable(Isa) noexcept { return kNeonKernels; }
#else
const KernelTable &kernelTable(Isa isa) noexcept {
  switch (isa) {
  case Isa::Sse2:
  case Isa::Neon: // not in an x86-64 build: its baseline
    break;
  case Isa::Avx2:
    return kAvx2Kernels;
  case Isa::Avx512:
    return kAvx512Kernels;
  }
  return kSse2Kernels;
}
#endif

const KernelTable &activeKernels() noexcept {
  const KernelTable *t = active.load(std::memory_order_acquire);
  if (!t) {
    // Racing first calls all store the same table.
    t = &kernelTable(bestIsa());
    active.store(t, std::memory_order_release);
  }
  return *t;
}

Isa activeIsa() noexcept { return activeKernels().isa; }

bool forceIsa(Isa isa) noexcept {
  if (!isaSupported(isa))
    return false;
  active.store(&kernelTable(isa), std::memory_order_release);
  return true;
}

int64_t vectorWidth(Isa isa) noexcept { return isa == Isa::Avx512 ? 16 : isa == Isa::Avx2 ? 8 : 4; }

int64_t vectorRegisters(Isa isa) noexcept {
  return isa == Isa::Avx512 || isa == Isa::Neon ? 32 : 16;
}

int64_t panelWidth(Isa isa) noexcept { return 2 * vectorWidth(isa); }

int64_t denseRowBlock(Isa isa, int64_t wanted) noexcept {
  const int64_t *rows = kernelTable(isa).denseRowBlocks;
  return wanted > 0 && wanted < rows[1] ? rows[0] : rows[1];
}

void dense(const DenseArgs &args, int64_t r0, int64_t r1, int64_t c0, int64_t c1) noexcept {
  const KernelTable *t = args.panel > 0 ? denseTable(args.panel) : nullptr;
  if (!t) {
    // A broken precondition: no table reads this layout. Say so in the
    // output rather than leave stale values.
    assert(false && "dense: the panel width must be a positive multiple of 4");
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = c0; c < c1; ++c)
        args.y.data[r * args.y.stride + c] = NAN;
    return;
  }
  t->dense(args, r0, r1, c0, c1);
}

int64_t sparseRowBlock(Isa isa) noexcept { return kernelTable(isa).sparseRowBlock; }

int64_t sparseLoneRows(Isa isa) noexcept { return kernelTable(isa).sparseLoneRows; }

int64_t sparseStripInputs(Isa isa, int64_t inputs) noexcept {
  // A pair of blocks reads 2 * W floats per input of a strip: 16384 floats
  // are 64 KiB. A compromise, measured at 4096 x 4096 with 90 % zeros
  // (docs/architecture.md): with AVX2, strips of half this width made
  // batch 64 1.2x faster and batch 1 (the lone-row path, which pads more
  // and ends more chains in shorter strips) 1.2x slower; one strip of 4096
  // inputs the other way round, 1.14x and 1.35x.
  const int64_t strip = 16384 / (2 * vectorWidth(isa));
  return std::max<int64_t>(1, std::min({strip, inputs, kSparseMaxStrip}));
}

int64_t sparseScratchPerRow(int64_t inputs, int64_t units, int64_t stripInputs) noexcept {
  // A block of W rows uses W times this: its transposed inputs (a zero row
  // after each strip) and a vector of partial sums per neuron. Twice that
  // per row, since a call of W / 2 rows runs a block; whole cache lines,
  // so that a call's scratch starts 64-byte aligned.
  const int64_t strips = std::max<int64_t>(1, (inputs + stripInputs - 1) / stripInputs);
  const int64_t block = inputs + strips + (units + kSparseGroup - 1) / kSparseGroup * kSparseGroup;
  return (2 * block + 15) / 16 * 16;
}

void sparse(const SparseArgs &args, int64_t r0, int64_t r1, int64_t c0, int64_t c1) noexcept {
  activeKernels().sparse(args, r0, r1, c0, c1);
}

void binary(ir::OpKind kind, const Src &a, const Src &b, const Dst &y, const ir::Activation &act,
            int64_t r0, int64_t r1, int64_t c0, int64_t c1) noexcept {
  activeKernels().binary(kind, a, b, y, act, r0, r1, c0, c1);
}

void biasAdd(const Src &x, const float *bias, const Dst &y, int64_t r0, int64_t r1, int64_t c0,
             int64_t c1) noexcept {
  activeKernels().binary(ir::OpKind::Add, x, Src{bias, 0, 1}, y, ir::Activation{}, r0, r1, c0, c1);
}

void activation(const Src &x, const Dst &y, const ir::Activation &act, int64_t r0, int64_t r1,
                int64_t c0, int64_t c1) noexcept {
  activeKernels().activation(x, y, act, r0, r1, c0, c1);
}

void scaleShift(const Src &x, const float *scale, const float *shift, const Dst &y, int64_t r0,
                int64_t r1, int64_t c0, int64_t c1) noexcept {
  activeKernels().scaleShift(x, scale, shift, y, r0, r1, c0, c1);
}

void prelu(const Src &x, const float *slope, const PreluShape &shape, const Dst &y, int64_t r0,
           int64_t r1, int64_t c0, int64_t c1) noexcept {
  activeKernels().prelu(x, slope, shape, y, r0, r1, c0, c1);
}

void batchNorm(const Src &x, const float *mean, const float *var, const float *scale,
               const float *shift, float epsilon, const Dst &y, int64_t r0, int64_t r1, int64_t c0,
               int64_t c1) noexcept {
  activeKernels().batchNorm(x, mean, var, scale, shift, epsilon, y, r0, r1, c0, c1);
}

void softmax(const Src &x, const Dst &y, int64_t cols, int64_t r0, int64_t r1) noexcept {
  activeKernels().softmax(x, y, cols, r0, r1);
}

void logSoftmax(const Src &x, const Dst &y, int64_t cols, int64_t r0, int64_t r1) noexcept {
  activeKernels().logSoftmax(x, y, cols, r0, r1);
}

void rowActivation(ir::ActKind kind, const Src &x, const Dst &y, int64_t cols, int64_t r0,
                   int64_t r1) noexcept {
  if (kind == ir::ActKind::LogSoftmax)
    logSoftmax(x, y, cols, r0, r1);
  else
    softmax(x, y, cols, r0, r1);
}

void layerNorm(const Src &x, const float *scale, const float *shift, float epsilon, const Dst &y,
               int64_t cols, int64_t r0, int64_t r1) noexcept {
  activeKernels().layerNorm(x, scale, shift, epsilon, y, cols, r0, r1);
}

int64_t convBlock(int64_t inChannels, int64_t outChannels, int64_t groups) noexcept {
  const int64_t w = vectorWidth(activeIsa());
  if (convIsDepthwise(inChannels, outChannels, groups))
    return outChannels % w == 0 ? w : 1;
  const int64_t outChannelsPerGroup = outChannels / groups;
  if (outChannelsPerGroup % (2 * w) == 0)
    return 2 * w;
  if (w > 4 && outChannelsPerGroup % w == 0)
    return w;
  for (int64_t block : {8, 4, 2})
    if (outChannelsPerGroup % block == 0)
      return block;
  return 1;
}

ConvStrip convStrip(const ConvArgs &a) noexcept {
  const int64_t w = vectorWidth(activeIsa());
  const bool lanes = a.block == 2 * w || (a.block == w && w > 4);
  if (convIsDepthwise(a.inChannels, a.outChannels, a.groups) || !lanes || a.strideW < 1 ||
      a.strideW > 2)
    return {};
  const ConvStrip s{a.strideH + (a.kH - 1) * a.dilH + 1, // two output rows' inputs
                    (convTileColumns(w) - 1) * a.strideW + (a.kW - 1) * a.dilW + 1};
  const int64_t unit = a.in == ChannelLayout::Blocked ? w : 1; // channels per chunk, at least
  if (s.rows * s.cols * unit > kConvStripFloats)
    return {};
  return s;
}

void conv(const ConvArgs &args, int64_t r0, int64_t r1) noexcept {
  activeKernels().conv(args, r0, r1);
}

void concat(const Src &x, int64_t cols, const Dst &y, int64_t offset, int64_t r0,
            int64_t r1) noexcept {
  // A copy: memcpy is as fast as any vector loop. An operand of no columns
  // may have no data at all (a null pointer memcpy may not be given).
  if (cols == 0)
    return;
  for (int64_t r = r0; r < r1; ++r)
    std::memcpy(y.data + r * y.stride + offset, x.data + (x.period ? r % x.period : r) * x.stride,
                static_cast<size_t>(cols) * sizeof(float));
}

} // namespace soma::runtime::kernels
