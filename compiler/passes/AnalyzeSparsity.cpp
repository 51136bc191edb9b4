// sparsity-analysis: records on each dense and linear op with constant
// weights how sparse its weight matrix W ([units, inputs]) is, for the
// cost model to choose a sparse kernel: the density (nonzeros / all), the
// number of all-zero rows (neurons with no input) and columns (inputs no
// neuron reads), and the first structured pattern that holds:
//   "1x4": every aligned block of 4 consecutive weights in a row is all
//          zero or all nonzero (inputs % 4 == 0);
//   "4x1": the same for 4 consecutive rows in a column (units % 4 == 0);
//   "2:4": every aligned group of 4 weights in a row holds at most 2
//          nonzeros (inputs % 4 == 0);
// otherwise "none". A matrix with no zeros, or only zeros, is "none".
//
// A conv's filters [O, C / groups, kernel...] are measured as the matrix
// [O, C / groups * taps]: a zero row is an output channel whose filter is
// zero, a zero column an (input channel, tap) pair no filter reads. No
// kernel reads a conv's record yet; with --remarks each conv with zeros
// says what a sparse kernel would skip.
//
// Preconditions: the weights are a constant. The graph is not changed
// beyond the SparsityInfo field. Tolerance class: exact (analysis only).
#include "soma/passes/Passes.h"

#include <cmath>
#include <cstdio>

namespace soma::passes {

namespace {

ir::SparsityInfo analyze(const Tensor &w, int64_t rows, int64_t cols) {
  ir::SparsityInfo info;
  const auto &v = w.values;
  auto nz = [&](int64_t r, int64_t c) { return v[r * cols + c] != 0; };
  int64_t nonzeros = 0;
  // Branch-free, so the compiler vectorises it: a model's weights are tens
  // of millions of values.
  std::vector<uint8_t> colUsed(static_cast<size_t>(cols), 0);
  for (int64_t r = 0; r < rows; ++r) {
    const float *row = v.data() + r * cols;
    int64_t rowNonzeros = 0;
    for (int64_t c = 0; c < cols; ++c) {
      const uint8_t used = row[c] != 0;
      rowNonzeros += used;
      colUsed[static_cast<size_t>(c)] |= used;
    }
    nonzeros += rowNonzeros;
    info.zeroRows += rowNonzeros == 0;
  }
  for (int64_t c = 0; c < cols; ++c)
    info.zeroCols += !colUsed[c];
  const int64_t total = rows * cols;
  info.density = total ? static_cast<double>(nonzeros) / static_cast<double>(total) : 1.0;
  if (nonzeros == 0 || nonzeros == total)
    return info;

  // Counts nonzeros in the aligned group of 4 starting at (r, c), stepping
  // along a row (dr = 0, dc = 1) or a column (dr = 1, dc = 0).
  auto groupCount = [&](int64_t r, int64_t c, int64_t dr, int64_t dc) {
    int n = 0;
    for (int k = 0; k < 4; ++k)
      n += nz(r + k * dr, c + k * dc);
    return n;
  };
  auto allGroups = [&](int64_t dr, int64_t dc, auto accept) {
    for (int64_t r = 0; r < rows; r += dr ? 4 : 1)
      for (int64_t c = 0; c < cols; c += dc ? 4 : 1)
        if (!accept(groupCount(r, c, dr, dc)))
          return false;
    return true;
  };
  auto wholeBlock = [](int n) { return n == 0 || n == 4; };
  if (cols % 4 == 0 && allGroups(0, 1, wholeBlock))
    info.block = "1x4";
  else if (rows % 4 == 0 && allGroups(1, 0, wholeBlock))
    info.block = "4x1";
  else if (cols % 4 == 0 && allGroups(0, 1, [](int n) { return n <= 2; }))
    info.block = "2:4";
  return info;
}

/// A conv's record, its statistics and, when its filters hold zeros, a
/// remark on what a sparse kernel would skip.
void analyzeConv(ir::Op &op, PassContext &ctx) {
  const ir::Op *w = op.operands[1];
  if (w->kind != ir::OpKind::Const || !w->data)
    return; // filters computed at run time, or elided: nothing to measure
  const int64_t channels = w->type.dims[0], cols = w->data->numElements() / channels;
  const int64_t taps = cols / w->type.dims[1];
  op.sparsity = analyze(*w->data, channels, cols);
  const ir::SparsityInfo &s = *op.sparsity;
  ctx.count("sparsity-analysis.convs-analysed");
  if (s.block != "none")
    ctx.count("sparsity-analysis.convs-structured");
  if (s.zeroRows)
    ctx.count("sparsity-analysis.convs-with-zero-filters");
  if (s.density == 1)
    return;
  int64_t unreadChannels = 0; // input channels whose every tap is a zero column
  for (int64_t c = 0; c < w->type.dims[1]; ++c) {
    bool read = false;
    for (int64_t o = 0; o < channels && !read; ++o)
      for (int64_t t = 0; t < taps && !read; ++t)
        read = w->data->values[(o * w->type.dims[1] + c) * taps + t] != 0;
    unreadChannels += !read;
  }
  const int64_t total = channels * cols;
  const auto nonzeros = static_cast<int64_t>(std::llround(s.density * static_cast<double>(total)));
  char skipped[16];
  std::snprintf(skipped, sizeof skipped, "%.1f%%", 100.0 * (1.0 - s.density));
  ctx.remark(op.loc, "conv '" + op.name + "' filters: " + std::to_string(nonzeros) + " of " +
                         std::to_string(total) + " weights nonzero, " + std::to_string(s.zeroRows) +
                         " of " + std::to_string(channels) + " filters zero, " +
                         std::to_string(unreadChannels) + " of " + std::to_string(w->type.dims[1]) +
                         " input channels unread, block \"" + s.block +
                         "\": a sparse kernel would skip " + skipped + " of its multiply-adds");
}

} // namespace

bool analyzeSparsity(ir::Graph &graph, PassContext &ctx) {
  for (auto &opPtr : graph.ops) {
    ir::Op &op = *opPtr;
    if (ir::isConv(op.kind)) {
      analyzeConv(op, ctx);
      continue;
    }
    if (!ir::isWeightedSum(op.kind))
      continue;
    const ir::Op *w = op.operands[1];
    if (w->kind != ir::OpKind::Const || !w->data || w->type.dims.size() != 2)
      continue; // weights computed at run time, or elided: nothing to measure
    op.sparsity = analyze(*w->data, w->type.dims[0], w->type.dims[1]);
    ctx.count("sparsity-analysis.layers-analysed");
    if (op.sparsity->block != "none")
      ctx.count("sparsity-analysis.layers-structured");
    if (op.sparsity->zeroRows || op.sparsity->zeroCols)
      ctx.count("sparsity-analysis.layers-with-zero-rows-or-cols");
  }
  return true;
}

} // namespace soma::passes
