// The vec engine's pooling and reshape steps (VecPoolFamily.cpp), seen
// from outside the family: what such a step's context holds and the
// function it calls, so that a bundle (BundleFormat.cpp) can write the
// step into its plan and make it again when it is loaded.
#pragma once

#include "soma/ir/Spatial.h"
#include "soma/runtime/Kernels.h"

#include <cstdint>

namespace soma::runtime {

struct PoolContext {
  ir::OpKind kind = ir::OpKind::MaxPool;
  ir::PadCount padCount = ir::PadCount::Exclude;
  ir::WindowGeometry g;
  int64_t plane = 0, channels = 0, cols = 0; // global_avg_pool; reshape's row
  int x = -1, y = -1;
  /// The layouts of x and y (max_pool, avg_pool; global_avg_pool reads
  /// either and writes [C] or [C, 1, 1], the same in both), and the
  /// channels of a block where one is Blocked: 4, 8 or 16.
  kernels::ChannelLayout in = kernels::ChannelLayout::Planar, out = kernels::ChannelLayout::Planar;
  int64_t block = 1;
};

/// A pooling or reshape step's ContextKernelFn; `context` is a PoolContext.
void runPool(const void *context, void *const *slots, int64_t r0, int64_t r1, int64_t, int64_t);

} // namespace soma::runtime
