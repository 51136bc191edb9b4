// The vec engine's convolution steps (VecConvFamily.cpp), seen from outside
// the family: what such a step's context holds and the function it calls,
// so that a bundle (BundleFormat.cpp) can write the step into its plan and
// make it again when it is loaded.
#pragma once

#include "soma/runtime/Kernels.h"

#include <cstdint>
#include <vector>

namespace soma::runtime {

struct ConvContext {
  kernels::ConvArgs args; // the geometry, activation and layouts; the pointers come from the slots
  int x = -1, packed = -1, bias = -1, y = -1, residual = -1; // residual: conv_add only
  std::vector<int64_t> tapOffsets;                           // ConvArgs::tapOffsets
};

/// Sets c.tapOffsets (and args.tapOffsets to them) from c.args' geometry:
/// per (ci, kh, kw) of a group, in the packed filters' order, the tap's
/// input offset from its position's first, ci * inH * inW + kh * dilH * inW
/// + kw * dilW; for a Blocked x whose groups start on blocks of W (the
/// channel-lane kernel's; W the active vector width), in that layout:
/// ci / W * inH * inW * W + ci % W + (kh * dilH * inW + kw * dilW) * W.
void setTapOffsets(ConvContext &c);

/// A convolution step's ContextKernelFn; `context` is a ConvContext.
void runConv(const void *context, void *const *slots, int64_t r0, int64_t r1, int64_t, int64_t);

} // namespace soma::runtime
