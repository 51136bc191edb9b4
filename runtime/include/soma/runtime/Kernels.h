// soma's hand-vectorised kernels (the vec engine's building blocks), written
// once with xsimd and compiled three times: for SSE2, AVX2+FMA and AVX-512.
// The instruction set is chosen at run time from the CPU, so one binary runs
// on any x86-64; tests can force each one the CPU supports. This header has
// no xsimd in it: callers pass plain pointers and sizes.
//
// Every kernel is noexcept, allocates nothing, and works on caller-owned
// memory. Kernels that take a row range [r0, r1) and a column range
// [c0, c1) compute exactly that tile of their result, so an executor can
// split an op into tiles; a row's result never depends on how the rows or
// columns were split (each output is summed in one order). Their semantics
// are the reference interpreter's (ir::evaluateOp), within the tolerances
// in docs/architecture.md ("The kernel library").
#pragma once

#include "soma/ir/Activation.h"
#include "soma/ir/OpKind.h"

#include <cstdint>

namespace soma::runtime::kernels {

/// The instruction sets the kernels are compiled for: x86-64's narrowest
/// first, then aarch64's. A build holds the kernels of its own machine's
/// architecture only (SSE2, AVX2 and AVX-512 on x86-64; NEON on aarch64).
enum class Isa { Sse2, Avx2, Avx512, Neon };

/// "sse2", "avx2", "avx512", "neon"
const char *isaName(Isa isa) noexcept;
/// Whether this build has `isa`'s kernels and this CPU (and the OS, for
/// the AVX register state) runs them: AVX2 needs AVX2 and FMA; AVX-512
/// needs F, CD, BW, DQ and VL; NEON (with FMA) is in every aarch64 CPU.
bool isaSupported(Isa isa) noexcept;
/// What isaSupported(isa) asks of the CPU, by LLVM's feature names,
/// comma-separated: "sse2"; "avx2,fma"; "avx512f,avx512cd,avx512bw,
/// avx512dq,avx512vl,fma"; "neon".
const char *isaFeatures(Isa isa) noexcept;
/// The widest instruction set this CPU runs.
Isa bestIsa() noexcept;
/// The instruction set the kernels use now: bestIsa() unless forced.
Isa activeIsa() noexcept;
/// Makes the kernels use `isa` from now on (for tests and benchmarks);
/// false, changing nothing, when the CPU cannot run it. Not meant to be
/// called while other threads run kernels: weights packed for the old
/// panel width stay valid (see DenseArgs::panel), but results may differ
/// in the last bits between instruction sets.
bool forceIsa(Isa isa) noexcept;
/// f32 lanes in one vector register: 4 (SSE2, NEON), 8 or 16.
int64_t vectorWidth(Isa isa) noexcept;
/// Architectural vector registers: 16 (SSE2, AVX2) or 32 (AVX-512, NEON).
int64_t vectorRegisters(Isa isa) noexcept;
/// The width of the weight panels dense() reads fastest on `isa`: two
/// vectors of output neurons (8, 16 or 32). Pack with
/// runtime::packPanels(w, panelWidth()).
int64_t panelWidth(Isa isa) noexcept;
inline int64_t panelWidth() noexcept { return panelWidth(activeIsa()); }
/// The rows of the register block dense() runs on `isa` for a request of
/// `wanted` rows (DenseArgs::rowBlock): the largest block it has that is
/// at most `wanted` (its smallest, 4, for fewer), or its largest (8 with
/// AVX-512, 6 with AVX2, 4 with SSE2) for 0. Row tiles on multiples of it
/// keep every tile's blocks full.
int64_t denseRowBlock(Isa isa, int64_t wanted = 0) noexcept;

/// A matrix a kernel reads. Row r of the op's rows is at
/// `data + (period ? r % period : r) * stride`: period 0 for a value with
/// one row per result row, period p for an operand that repeats every p
/// rows (an unbatched value broadcast over the batch; 1 for a per-feature
/// vector such as a bias).
struct Src {
  const float *data = nullptr;
  int64_t stride = 0; // elements from one row to the next
  int64_t period = 0;
};

/// A matrix a kernel writes: row r at data + r * stride.
struct Dst {
  float *data = nullptr;
  int64_t stride = 0;
};

/// What the fused layers (dense(), sparse()) share:
///   y[n, u] = act((sum_k x[n, k] * W[u, k] + bias[u]) + residual[n, u])
/// with the weights W [units, inputs] packed for the kernel.
struct LayerArgs {
  Src x; // [rows, inputs]
  /// The weights, packed as the kernel's own arguments say.
  const float *packed = nullptr;
  int64_t inputs = 0;
  int64_t units = 0;
  const float *bias = nullptr; // [units] (no padding needed), or nullptr
  Src residual;                // [rows, units], or data == nullptr
  Dst y;                       // [rows, units]
  ir::Activation act;
};

/// The fused dense layer, with `packed` = packPanels(W, panel):
/// ceil(units / panel) * inputs * panel floats.
struct DenseArgs : LayerArgs {
  /// The panel width the weights were packed at: a positive multiple of 4.
  /// panelWidth() is fastest; any multiple of the active vector width works
  /// at full speed, and a multiple of 4 that is not runs on SSE2.
  int64_t panel = 0;
  /// The register block's rows asked for (the cost model's, from
  /// MachineInfo::blockRows); denseRowBlock(isa, rowBlock) is the block
  /// run. 0: the largest.
  int64_t rowBlock = 0;
};

/// Computes rows [r0, r1) and columns [c0, c1) of the dense layer. c0 must
/// be a multiple of `panel`, c1 <= units. Softmax needs whole rows: with
/// act softmax, [c0, c1) must be [0, units). Register-blocked: several rows
/// times two vectors of outputs accumulate across the whole sum with FMA
/// (multiply and add without it, on SSE2); the bias, residual and
/// activation are applied in registers before the one store of each output
/// vector. Rows left over after the blocks (and batches smaller than a
/// block) run one at a time over up to eight vectors of outputs at once.
void dense(const DenseArgs &args, int64_t r0, int64_t r1, int64_t c0, int64_t c1) noexcept;

/// The fused dense layer of dense() over the nonzero weights only, with
/// `packed` = packSparseGroups(W, stripInputs): y[n, u] = act((sum over k
/// with W[u, k] != 0 of x[n, k] * W[u, k] + bias[u]) + residual[n, u]).
struct SparseArgs : LayerArgs {
  /// Row r's scratch starts at scratch + r * sparseScratchPerRow(...): a
  /// call over rows [r0, r1) with at least sparseLoneRows() rows writes
  /// the scratch of those rows (and only those); a smaller call uses none
  /// (scratch may be null for it).
  float *scratch = nullptr;
};

/// Output neurons per group of the sparse weights: column ranges of
/// sparse() start on a multiple of it.
constexpr int64_t kSparseGroup = 4;
/// The longest strip of inputs packSparseGroups takes (the lone-row path
/// holds one strip of x on the stack: at most 16 KiB).
constexpr int64_t kSparseMaxStrip = 4096;
/// Rows per sample block of sparse() on `isa` (its vector width): the
/// samples of a block share every load of a weight and its input index,
/// so row tiles should be multiples of it.
int64_t sparseRowBlock(Isa isa) noexcept;
inline int64_t sparseRowBlock() noexcept { return sparseRowBlock(activeIsa()); }
/// Calls of fewer rows than this (half a block) take sparse()'s lone-row
/// path: no scratch, any column range on groups, so such calls on the
/// same rows may run at once. Calls of at least this many rows use their
/// rows' scratch: two at once must not share a row (tile them by rows,
/// whole rows each).
int64_t sparseLoneRows(Isa isa) noexcept;
inline int64_t sparseLoneRows() noexcept { return sparseLoneRows(activeIsa()); }
/// The strip width to pack a layer of `inputs` inputs at for `isa`: the
/// transposed inputs of a strip for a pair of sample blocks fill 64 KiB
/// (512 inputs with AVX-512, 1024 with AVX2, 2048 with SSE2). Any width
/// gives the same results on any instruction set; this one is fast.
int64_t sparseStripInputs(Isa isa, int64_t inputs) noexcept;
inline int64_t sparseStripInputs(int64_t inputs) noexcept {
  return sparseStripInputs(activeIsa(), inputs);
}
/// Floats of scratch per row for weights of `inputs` x `units` packed in
/// strips of `stripInputs`, the same on every instruction set: 2 / W of
/// what a sample block of W rows uses (its transposed inputs and partial
/// sums), so that a call of half a block's rows holds one block and a
/// call of more than a block a pair.
int64_t sparseScratchPerRow(int64_t inputs, int64_t units, int64_t stripInputs) noexcept;

/// Computes rows [r0, r1) and columns [c0, c1) of the sparse layer. c0 must
/// be a multiple of kSparseGroup, c1 <= units; softmax needs whole rows
/// ([c0, c1) = [0, units)). Each output is one chain of FMAs (multiply and
/// add without FMA, on SSE2) over its neuron's nonzero weights in input
/// order, plus exact +0 terms (0 * 0) for padding, then + bias, +
/// residual and the activation as in dense(): for finite inputs the same
/// bits as dense() on the same instruction set (a zero weight's FMA there
/// adds an exact zero; only the sign of a sum that is exactly zero may
/// differ). A NaN or infinite input under a zero weight does not
/// propagate here. A call of at least sparseLoneRows() rows runs in
/// blocks of sparseRowBlock() rows (the last may be partial), samples in
/// the lanes, over transposed inputs in the scratch of its first rows; a
/// smaller call runs its rows one at a time.
void sparse(const SparseArgs &args, int64_t r0, int64_t r1, int64_t c0, int64_t c1) noexcept;

/// y = act(a op b) elementwise over rows [r0, r1), columns [c0, c1), for
/// the binary op `kind` (ir::isBinary: add, ...; soma/ir/Binary.h). act is
/// not softmax or log_softmax (use rowActivation()). y may alias a or b.
void binary(ir::OpKind kind, const Src &a, const Src &b, const Dst &y, const ir::Activation &act,
            int64_t r0, int64_t r1, int64_t c0, int64_t c1) noexcept;
/// y = x + bias[c]: binary() add with the bias as a per-feature operand.
void biasAdd(const Src &x, const float *bias, const Dst &y, int64_t r0, int64_t r1, int64_t c0,
             int64_t c1) noexcept;
/// y = act(x) elementwise. For softmax and log_softmax (ir::isRowwise),
/// rows [r0, r1) are taken over columns [c0, c1), which must then be whole
/// rows. y may alias x.
void activation(const Src &x, const Dst &y, const ir::Activation &act, int64_t r0, int64_t r1,
                int64_t c0, int64_t c1) noexcept;
/// y = x * scale[c] + shift[c] (one rounding with FMA, two without).
void scaleShift(const Src &x, const float *scale, const float *shift, const Dst &y, int64_t r0,
                int64_t r1, int64_t c0, int64_t c1) noexcept;
/// Where prelu's slope runs: along the last axis (rowsPerChannel 0: slope[c]
/// for column c), or along an axis before it, so that each row of a sample
/// lies in one channel, (r % rowsPerSample) / rowsPerChannel % channels.
/// With `block` > 0 the value is ChannelLayout::Blocked (channels on axis
/// 0, blocks of `block` channels, the kernels' vector width): rows [r0, r1)
/// must then be whole blocks (multiples of block * rowsPerChannel), and
/// columns whole rows.
struct PreluShape {
  int64_t rowsPerChannel = 0;
  int64_t rowsPerSample = 1;
  int64_t channels = 1;
  int64_t block = 0;
};
/// y = x where x > 0 or NaN, else x * slope of its channel (PreluShape);
/// one rounding. y may alias x.
void prelu(const Src &x, const float *slope, const PreluShape &shape, const Dst &y, int64_t r0,
           int64_t r1, int64_t c0, int64_t c1) noexcept;
/// Batch normalisation, inference form:
/// y = (x - mean[c]) / sqrt(var[c] + epsilon) * scale[c] + shift[c].
void batchNorm(const Src &x, const float *mean, const float *var, const float *scale,
               const float *shift, float epsilon, const Dst &y, int64_t r0, int64_t r1, int64_t c0,
               int64_t c1) noexcept;

/// y[r, :] = softmax(x[r, :]) over rows of `cols` elements, rows [r0, r1).
/// A NaN in a row makes the whole row NaN; y may alias x.
void softmax(const Src &x, const Dst &y, int64_t cols, int64_t r0, int64_t r1) noexcept;
/// y[r, :] = log_softmax(x[r, :]) = d - log(sum_j exp(d_j)), d = x[r, :] - max,
/// the same way; y may alias x.
void logSoftmax(const Src &x, const Dst &y, int64_t cols, int64_t r0, int64_t r1) noexcept;
/// softmax() or logSoftmax(), as `kind` (ir::isRowwise) says.
void rowActivation(ir::ActKind kind, const Src &x, const Dst &y, int64_t cols, int64_t r0,
                   int64_t r1) noexcept;
/// Each row normalised to mean 0 and variance 1 (population variance, two
/// passes), then y = norm * scale[c] + shift[c].
void layerNorm(const Src &x, const float *scale, const float *shift, float epsilon, const Dst &y,
               int64_t cols, int64_t r0, int64_t r1) noexcept;
/// Copies rows [r0, r1) of x (`cols` elements each) into columns
/// [offset, offset + cols) of y: one operand of a concat.
void concat(const Src &x, int64_t cols, const Dst &y, int64_t offset, int64_t r0,
            int64_t r1) noexcept;

/// How a per-sample [C, H, W] value (a 1-D one with H = 1) is stored in its
/// slot. Planar: channels first, [C, H, W], the IR's layout (NCHW).
/// Blocked: in blocks of B = vectorWidth(activeIsa()) channels,
/// [C / B, H, W, B] (NCHW16c for B = 16), element (c, h, w) at
/// ((c / B * H + h) * W + w) * B + c % B; only for C a multiple of B. The
/// same size as Planar. A program stores a value Blocked only between vec
/// kernels that read and write it so (a chain of convolutions and pools),
/// never at an input, an output or any other kernel.
enum class ChannelLayout : uint8_t { Planar, Blocked };

/// A direct convolution (the IR's conv op) over channels-first samples,
/// a 1-D one as 2-D with a height of 1:
///   y[n, o, oh, ow] = act(sum over ci, kh, kw of x[n, g * cg + ci, ih, iw] *
///                     w[o, ci, kh, kw] + bias[o] + residual[n, o, oh, ow])
/// with g = o / (O / groups), cg = C / groups, ih = oh * strideH - padTop +
/// kh * dilH, iw likewise, and taps outside x adding nothing. The weights
/// are packed by packConvFilters(w, block): `block` output channels of one
/// group side by side for every (ci, kh, kw).
struct ConvArgs {
  const float *x = nullptr; // [N, C, inH, inW]
  const float *packed = nullptr;
  const float *bias = nullptr;     // [O]
  float *y = nullptr;              // [N, O, outH, outW]
  const float *residual = nullptr; // conv_add: [N, O, outH, outW]; else null (no term)
  /// Per (ci, kh, kw) in packed order, the tap's input offset from its
  /// position's first input: ci * inH * inW + kh * dilH * inW + kw * dilW;
  /// for the channel-lane kernel with a Blocked x, in x's layout:
  /// ci / W * inH * inW * W + ci % W + (kh * dilH * inW + kw * dilW) * W.
  const int64_t *tapOffsets = nullptr;
  /// The row-tile kernel's zero-padded strip (convStrip): per (ci, kh, kw)
  /// in packed order, the tap's offset in a strip of stripRows x stripCols
  /// positions per channel in x's layout (ci * rows * cols + kh * dilH *
  /// cols + kw * dilW; Blocked: ci / W * rows * cols * W + ci % W + (kh *
  /// dilH * cols + kw * dilW) * W); null: conv does not run that kernel.
  const int64_t *stripOffsets = nullptr;
  int64_t stripRows = 0, stripCols = 0;
  int64_t inChannels = 0, outChannels = 0, groups = 1, block = 1;
  int64_t inH = 1, inW = 1, outH = 1, outW = 1, kH = 1, kW = 1;
  int64_t strideH = 1, strideW = 1, dilH = 1, dilW = 1, padTop = 0, padLeft = 0;
  ir::Activation act; // not softmax
  /// The layouts of x, and of y and the residual (ChannelLayout).
  ChannelLayout in = ChannelLayout::Planar, out = ChannelLayout::Planar;
};
/// A depthwise convolution: one input and one output channel per group.
inline bool convIsDepthwise(int64_t inChannels, int64_t outChannels, int64_t groups) {
  return groups == inChannels && outChannels == groups;
}
/// The output channels packed side by side (packConvFilters). Depthwise: W
/// (the active instruction set's vector width) when the channels fill whole
/// vectors, so they can run in the lanes (and be Blocked), else 1.
/// Otherwise a divisor of a group's output channels (so a block never spans
/// two groups): 2 W or W (W > 4 for a block of one vector), where conv runs
/// the output channels in the vector lanes; else 8, 4, 2 or 1, where it
/// runs the output positions in the lanes.
int64_t convBlock(int64_t inChannels, int64_t outChannels, int64_t groups) noexcept;
/// The row-tile kernel's strip: floats on the stack (64 KiB).
constexpr int64_t kConvStripFloats = 16384;
/// The output positions of the row-tile kernel's widest tile for vectors
/// of w lanes (its stripCols: that many positions and their taps).
constexpr int64_t convTileColumns(int64_t w) { return w >= 16 ? 14 : 12; }
/// The strip of the row-tile kernel (ConvTileImpl.h) for a's geometry,
/// layouts and block: rows and columns of input positions per channel; {0,
/// 0} where conv runs another kernel (depthwise, positions in the lanes, a
/// horizontal stride above 2, or a window too large for W channels' strip).
struct ConvStrip {
  int64_t rows = 0, cols = 0;
};
ConvStrip convStrip(const ConvArgs &a) noexcept;
/// Computes rows [r0, r1) of the result's rows (n, o, oh), which must start
/// and end on a block of channels (multiples of block * outH). A depthwise
/// convolution runs its own kernel (DepthwiseImpl.h): the channels of a
/// block in the lanes when x or y is Blocked, else output positions in the
/// lanes, 8 vectors of them side by side. Otherwise, with a block
/// of W or 2 W, output channels run in the vector lanes: a register block of
/// output positions times the block's channels, one broadcast input per
/// position and tap (a tap in the padding reads 0); at a horizontal stride
/// of 1 or 2 (convStrip) the positions are one or two rows of a tile
/// (ConvTileImpl.h), else any run of the plane's positions. Otherwise output
/// positions run in the vector lanes (contiguous loads for a stride of 1
/// inside the input, gathered lanes at the edges and for longer strides),
/// `block` channels share each load. Either way each output is one chain of FMAs in
/// (ci, kh, kw) order (multiply and add on SSE2), then + bias, + residual
/// and the activation in registers, so results do not depend on the tiling.
/// The channel-lane kernel reads x and writes y and the residual in either
/// ChannelLayout (ConvArgs::in, out; Blocked in blocks of this instruction
/// set's W, a group's first input channel on a block), with the same sums
/// and so the same bits; the position-lane kernel takes Planar only.
void conv(const ConvArgs &args, int64_t r0, int64_t r1) noexcept;

} // namespace soma::runtime::kernels
