// The kernels of one instruction set as a table of function pointers. Each
// Kernels<Isa>.cpp, compiled with its own -m flags, fills one table from the
// shared implementation in KernelsImpl.h; Kernels.cpp (compiled for the
// architecture's baseline) picks the table at run time. Nothing here includes xsimd, so the
// rest of the runtime never sees an instruction-set-specific type.
#pragma once

#include "soma/runtime/Kernels.h"

namespace soma::runtime::kernels {

struct KernelTable {
  Isa isa;
  int64_t width; // f32 lanes per vector
  /// dense's tile geometry: the rows of its two register blocks (small,
  /// large; equal when it has one) and the panel width its packed weights
  /// read fastest at (kernels::denseRowBlock, kernels::panelWidth).
  int64_t denseRowBlocks[2];
  int64_t panelWidth;
  /// sparse's: rows per sample block, and the fewest rows a call runs in
  /// blocks (kernels::sparseRowBlock, kernels::sparseLoneRows).
  int64_t sparseRowBlock;
  int64_t sparseLoneRows;
  void (*dense)(const DenseArgs &args, int64_t r0, int64_t r1, int64_t c0, int64_t c1) noexcept;
  void (*sparse)(const SparseArgs &args, int64_t r0, int64_t r1, int64_t c0, int64_t c1) noexcept;
  void (*binary)(ir::OpKind kind, const Src &a, const Src &b, const Dst &y,
                 const ir::Activation &act, int64_t r0, int64_t r1, int64_t c0,
                 int64_t c1) noexcept;
  void (*activation)(const Src &x, const Dst &y, const ir::Activation &act, int64_t r0, int64_t r1,
                     int64_t c0, int64_t c1) noexcept;
  void (*scaleShift)(const Src &x, const float *scale, const float *shift, const Dst &y, int64_t r0,
                     int64_t r1, int64_t c0, int64_t c1) noexcept;
  void (*prelu)(const Src &x, const float *slope, const PreluShape &shape, const Dst &y, int64_t r0,
                int64_t r1, int64_t c0, int64_t c1) noexcept;
  void (*batchNorm)(const Src &x, const float *mean, const float *var, const float *scale,
                    const float *shift, float epsilon, const Dst &y, int64_t r0, int64_t r1,
                    int64_t c0, int64_t c1) noexcept;
  void (*softmax)(const Src &x, const Dst &y, int64_t cols, int64_t r0, int64_t r1) noexcept;
  void (*logSoftmax)(const Src &x, const Dst &y, int64_t cols, int64_t r0, int64_t r1) noexcept;
  void (*layerNorm)(const Src &x, const float *scale, const float *shift, float epsilon,
                    const Dst &y, int64_t cols, int64_t r0, int64_t r1) noexcept;
  void (*conv)(const ConvArgs &args, int64_t r0, int64_t r1) noexcept;
  /// out[i] = exp(in[i]), softmax's exponential on its own: for the tests.
  void (*exp)(const float *in, float *out, int64_t n) noexcept;
  /// out[i] = log1p(in[i]) for in[i] >= 0, log_softmax's log on its own:
  /// for the tests.
  void (*log1p)(const float *in, float *out, int64_t n) noexcept;
};

/// Defined in KernelsSse2.cpp, KernelsAvx2.cpp and KernelsAvx512.cpp (an
/// x86-64 build), or KernelsNeon.cpp (an aarch64 build).
extern const KernelTable kSse2Kernels;
extern const KernelTable kAvx2Kernels;
extern const KernelTable kAvx512Kernels;
extern const KernelTable kNeonKernels;

/// The table of `isa` (whether or not this CPU can run it); for an
/// instruction set of another architecture, this build's baseline table.
const KernelTable &kernelTable(Isa isa) noexcept;
/// The table the public kernels use now.
const KernelTable &activeKernels() noexcept;

} // namespace soma::runtime::kernels
