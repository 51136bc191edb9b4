// Shape rules and geometry of the window ops (Spatial.h). Messages name the
// op as the user wrote it and say which axis and which number is wrong,
// because for a network these are user mistakes.
#include "soma/ir/Spatial.h"

#include <cassert>

namespace soma::ir {

namespace {

std::string describe(const Op &op) { return std::string(opName(op.kind)) + " '" + op.name + "'"; }

/// "2-D" / "1-D".
std::string rankWord(size_t spatialRank) { return std::to_string(spatialRank) + "-D"; }

/// "axis H", "axis W", "axis L": the spatial axes as the layout names them.
std::string axisName(size_t spatialRank, size_t axis) {
  if (spatialRank == 1)
    return "L";
  return axis == 0 ? "H" : "W";
}

/// Largest kernel, stride, dilation or pad accepted: larger values could
/// overflow the arithmetic below and never describe a real network.
constexpr int64_t kMaxWindowParam = kMaxTensorElements;

/// The window's sizes checked against the number of spatial axes, and the
/// result's spatial dims into `out`. `kernel` is the window (for conv the
/// weights' trailing dims), `dilations` empty for a pool.
bool sweep(const Op &op, const TensorType &x, const std::vector<int64_t> &kernel,
           const std::vector<int64_t> &dilations, std::vector<int64_t> &out,
           DiagnosticEngine &diags) {
  const size_t rank = kernel.size();
  auto lengthError = [&](const char *name, size_t got, size_t want) {
    diags.error(op.loc, describe(op) + " has " + std::to_string(got) + " " + name + " for its " +
                            std::to_string(rank) + " spatial ax" + (rank == 1 ? "is" : "es") +
                            "; it needs " + std::to_string(want));
    return false;
  };
  if (op.strides.size() != rank)
    return lengthError("strides", op.strides.size(), rank);
  if (op.pads.size() != 2 * rank)
    return lengthError("pads (begin of each axis, then end)", op.pads.size(), 2 * rank);
  if (isConv(op.kind) && op.dilations.size() != rank)
    return lengthError("dilations", op.dilations.size(), rank);
  auto tooLarge = [&](const char *name, const std::vector<int64_t> &values) {
    for (int64_t v : values)
      if (v > kMaxWindowParam) {
        diags.error(op.loc, describe(op) + " has " + name + " " + std::to_string(v) +
                                ", more than the limit of " + std::to_string(kMaxWindowParam));
        return true;
      }
    return false;
  };
  auto below = [](const std::vector<int64_t> &values, int64_t min) {
    for (int64_t v : values)
      if (v < min)
        return true;
    return false;
  };
  if (below(kernel, 1) || below(op.strides, 1) || below(dilations, 1) || below(op.pads, 0)) {
    diags.error(op.loc, describe(op) + " needs positive kernel sizes, strides and dilations, " +
                            "and pads of 0 or more");
    return false;
  }
  if (tooLarge("a kernel size of", kernel) || tooLarge("a stride of", op.strides) ||
      tooLarge("a pad of", op.pads) || tooLarge("a dilation of", dilations))
    return false;
  for (size_t a = 0; a < rank; ++a) {
    const int64_t in = x.dims[1 + a];
    const int64_t padBegin = op.pads[a], padEnd = op.pads[rank + a];
    const int64_t dilation = dilations.empty() ? 1 : dilations[a];
    const int64_t span = dilation * (kernel[a] - 1) + 1;
    const std::string axis = "axis " + axisName(rank, a);
    if (!isConv(op.kind) && (padBegin >= kernel[a] || padEnd >= kernel[a])) {
      diags.error(op.loc, describe(op) + " pads " + axis + " by " + std::to_string(padBegin) +
                              " and " + std::to_string(padEnd) + ", but a pad must be smaller " +
                              "than the window (" + std::to_string(kernel[a]) +
                              "), or a window could hold only padding");
      return false;
    }
    if (span > in + padBegin + padEnd) {
      diags.error(op.loc, describe(op) + " has a window of " + std::to_string(span) +
                              " positions along " + axis + (dilation > 1 ? " (dilated)" : "") +
                              ", more than the " + std::to_string(in + padBegin + padEnd) +
                              " of its padded input " + x.str());
      return false;
    }
    out.push_back((in + padBegin + padEnd - span) / op.strides[a] + 1);
  }
  return true;
}

/// x must be [C, L] or [C, H, W] for an op whose window has `rank` axes.
bool checkSpatialInput(const Op &op, const TensorType &x, size_t rank, const char *layout,
                       DiagnosticEngine &diags) {
  if (x.dims.size() == rank + 1)
    return true;
  diags.error(op.loc, describe(op) + " with a " + rankWord(rank) + " window expects an input " +
                          layout + ", got '" + op.operands[0]->name + "' of type " + x.str());
  return false;
}

const char *layoutOf(size_t rank) { return rank == 1 ? "[C, L]" : "[C, H, W]"; }

TensorType inferConv(const Op &op, DiagnosticEngine &diags) {
  const TensorType &x = op.operands[0]->type, &w = op.operands[1]->type;
  const TensorType &b = op.operands[2]->type;
  if (w.batched || (w.dims.size() != 3 && w.dims.size() != 4)) {
    diags.error(op.loc, describe(op) + " expects weights [out_channels, in_channels / groups, " +
                            "kernel...] of rank 3 (1-D) or 4 (2-D), got " + w.str());
    return {};
  }
  const size_t rank = w.dims.size() - 2;
  if (!checkSpatialInput(op, x, rank, layoutOf(rank), diags))
    return {};
  const int64_t channels = x.dims[0], outChannels = w.dims[0];
  if (op.groups < 1) {
    diags.error(op.loc, describe(op) + " has groups = " + std::to_string(op.groups) +
                            "; it must be positive");
    return {};
  }
  if (channels % op.groups != 0 || outChannels % op.groups != 0) {
    diags.error(op.loc, describe(op) + " has groups = " + std::to_string(op.groups) +
                            ", which must divide both its " + std::to_string(channels) +
                            " input channels and its " + std::to_string(outChannels) +
                            " output channels");
    return {};
  }
  if (w.dims[1] * op.groups != channels) {
    std::vector<int64_t> want = w.dims;
    want[1] = channels / op.groups;
    diags.error(op.loc, describe(op) + " expects weights " + formatDims(want) + " for its " +
                            std::to_string(channels) + " input channels in " +
                            std::to_string(op.groups) + " group" + (op.groups == 1 ? "" : "s") +
                            ", got " + formatDims(w.dims));
    return {};
  }
  if (b.batched || b.dims.size() != 1 || b.dims[0] != outChannels) {
    diags.error(op.loc, describe(op) + " expects bias of shape [" + std::to_string(outChannels) +
                            "], got " + b.str());
    return {};
  }
  if (isRowwise(op.fn.kind)) {
    diags.error(op.loc, describe(op) + " cannot apply " + actName(op.fn.kind) +
                            ": it needs whole rows; use an activation op");
    return {};
  }
  std::vector<int64_t> dims = {outChannels};
  const std::vector<int64_t> kernel(w.dims.begin() + 2, w.dims.end());
  if (!sweep(op, x, kernel, op.dilations, dims, diags))
    return {};
  return TensorType::make(x.batched, dims);
}

TensorType inferPool(const Op &op, DiagnosticEngine &diags) {
  const TensorType &x = op.operands[0]->type;
  const size_t rank = op.kernel.size();
  if (rank != 1 && rank != 2) {
    diags.error(op.loc, describe(op) + " has a kernel of " + std::to_string(rank) +
                            " axes; it needs 1 ([C, L] input) or 2 ([C, H, W] input)");
    return {};
  }
  if (!checkSpatialInput(op, x, rank, layoutOf(rank), diags))
    return {};
  std::vector<int64_t> dims = {x.dims[0]};
  if (!sweep(op, x, op.kernel, {}, dims, diags))
    return {};
  return TensorType::make(x.batched, dims);
}

} // namespace

bool isSpatial(OpKind kind) {
  return isConv(kind) || kind == OpKind::MaxPool || kind == OpKind::AvgPool ||
         kind == OpKind::GlobalAvgPool;
}

TensorType inferSpatialType(const Op &op, DiagnosticEngine &diags) {
  TensorType result;
  switch (op.kind) {
  case OpKind::Conv:
    result = inferConv(op, diags);
    break;
  case OpKind::ConvAdd:
    result = inferConv(op, diags);
    if (result.known && op.operands[3]->type != result) {
      diags.error(op.loc, describe(op) + " residual '" + op.operands[3]->name + "' is " +
                              op.operands[3]->type.str() + ", but its result is " + result.str());
      return {};
    }
    break;
  case OpKind::MaxPool:
  case OpKind::AvgPool:
    result = inferPool(op, diags);
    break;
  case OpKind::GlobalAvgPool: {
    const TensorType &x = op.operands[0]->type;
    if (x.dims.size() != 2 && x.dims.size() != 3) {
      diags.error(op.loc, describe(op) + " expects an input [C, L] or [C, H, W], got '" +
                              op.operands[0]->name + "' of type " + x.str());
      return {};
    }
    return TensorType::make(x.batched, {x.dims[0]});
  }
  default:
    assert(false && "not a spatial op");
    return {};
  }
  int64_t count;
  if (result.known && !checkedElementCount(result.dims, count)) {
    diags.error(op.loc, describe(op) + " result " + result.str() + " exceeds the limit of " +
                            std::to_string(kMaxTensorElements) + " elements per sample");
    return {};
  }
  return result;
}

std::string convNotPackable(const Op &op) {
  if (!isConv(op.kind))
    return "not a convolution";
  for (size_t i : {1, 2})
    if (op.operands[i]->kind != OpKind::Const || !op.operands[i]->data)
      return std::string("its ") + (i == 1 ? "filters are" : "bias is") + " not a constant";
  return "";
}

WindowGeometry windowGeometry(const Op &op) {
  const TensorType &x = op.operands[0]->type;
  WindowGeometry g;
  const bool conv = isConv(op.kind);
  const std::vector<int64_t> &w = conv ? op.operands[1]->type.dims : op.kernel;
  const size_t rank = conv ? w.size() - 2 : w.size();
  const int64_t *kernel = conv ? w.data() + 2 : w.data();
  assert((rank == 1 || rank == 2) && x.dims.size() == rank + 1 && "a verified window op");
  g.spatialRank = static_cast<int>(rank);
  g.inChannels = x.dims[0];
  g.outChannels = op.type.dims[0];
  g.groups = conv ? op.groups : 1;
  const size_t h = rank == 2 ? 0 : rank; // rank 1: no vertical axis
  g.inW = x.dims[rank];
  g.outW = op.type.dims[rank];
  g.kW = kernel[rank - 1];
  g.strideW = op.strides[rank - 1];
  g.dilW = conv ? op.dilations[rank - 1] : 1;
  g.padLeft = op.pads[rank - 1];
  g.padRight = op.pads[2 * rank - 1];
  if (h == 0) {
    g.inH = x.dims[1];
    g.outH = op.type.dims[1];
    g.kH = kernel[0];
    g.strideH = op.strides[0];
    g.dilH = conv ? op.dilations[0] : 1;
    g.padTop = op.pads[0];
    g.padBottom = op.pads[2];
  }
  return g;
}

} // namespace soma::ir
