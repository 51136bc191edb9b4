// The kernels, written once over an xsimd architecture A. Each
// Kernels<Isa>.cpp includes this header, compiled with its instruction set's
// flags, and instantiates Impl<A> into its KernelTable. Everything lives in
// an unnamed namespace and xsimd in a namespace per instruction set
// (VecMath.h), so no inline function is shared between the objects.
//
// Conventions: F is one vector of W floats. A row's columns run as whole
// vectors, then one partial vector for the tail (masked loads and stores on
// AVX2 and AVX-512, a small stack buffer on SSE2 and NEON), never past c1.
#pragma once

#include "KernelTable.h"
#include "VecMath.h"

#include "soma/ir/Binary.h"
#include "soma/runtime/Packing.h"

#include <cassert>
#include <cmath> // INFINITY, NAN
#include <cstdint>
#include <cstring> // memcpy

namespace soma::runtime::kernels {
namespace {

/// 0, 1, 2, ...: lane numbers, for tail masks.
alignas(64) constexpr float kLaneIndex[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

template <class A> struct ConvImpl;      // ConvImpl.h
template <class A> struct ConvTileImpl;  // ConvTileImpl.h
template <class A> struct DepthwiseImpl; // DepthwiseImpl.h
template <class A> struct RowsImpl;      // RowsImpl.h
template <class A> struct PreluImpl;     // PreluImpl.h

template <class A> struct Impl {
  using F = xsimd::batch<float, A>;
  using M = xsimd::batch_bool<float, A>;
  using Math = VecMath<A>;
  static constexpr int64_t W = static_cast<int64_t>(F::size);
  static_assert(W <= 16, "lane masks are built for at most 16 lanes");

  /// Rows of the dense register blocks: R rows times two vectors of
  /// accumulators, plus the two weight vectors and a broadcast input. The
  /// large block fills the registers as far as 8 rows: 11 of 16 registers
  /// with SSE2 (which also needs a product register, no FMA), 15 of 16
  /// with AVX2, 19 of 32 with AVX-512. The small one, 4 rows, is for a
  /// core with fewer FMAs in flight (one 512-bit pipe: the cost model's
  /// MachineInfo::blockRows). At batch 64, 1024 x 1024, AVX2 peaked at
  /// 104 GFLOP/s with 6 rows, 99 with 4 (on a noisy machine; 6 also means
  /// fewer weight loads per FMA).
  static constexpr int kSmallBlockRows = 4;
  static constexpr int kBlockRows = W == 16 ? 8 : W == 8 ? 6 : 4;
  /// Vectors of outputs in the one-row path (8 independent accumulators,
  /// enough to hide the FMA latency without a second row).
  static constexpr int kRowVectors = 8;

  // --- memory ---------------------------------------------------------

  static const float *rowOf(const Src &s, int64_t r) {
    return s.data + (s.period ? r % s.period : r) * s.stride;
  }
  static float *rowOf(const Dst &d, int64_t r) { return d.data + r * d.stride; }

  static F load(const float *p) { return F::load_unaligned(p); }
  static void store(float *p, F v) { v.store_unaligned(p); }

  /// Lanes [0, n) set, for 0 <= n <= W.
  static M laneMask(int64_t n) { return F::load_aligned(kLaneIndex) < F(static_cast<float>(n)); }

  /// p[0, n) into lanes [0, n), zeros above; reads nothing past p + n.
  static F loadPartial(const float *p, int64_t n) {
#if defined(__AVX512F__)
    if constexpr (W == 16)
      return F(_mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1), p));
    else
#elif defined(__AVX2__)
    if constexpr (W == 8)
      return F(_mm256_maskload_ps(p, avx2Mask(n)));
    else
#endif
    {
      alignas(64) float tmp[W] = {};
      for (int64_t i = 0; i < n; ++i)
        tmp[i] = p[i];
      return F::load_aligned(tmp);
    }
  }

  /// Lanes [0, n) of v to p[0, n); writes nothing else.
  static void storePartial(float *p, F v, int64_t n) {
#if defined(__AVX512F__)
    if constexpr (W == 16)
      _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1), v);
    else
#elif defined(__AVX2__)
    if constexpr (W == 8)
      _mm256_maskstore_ps(p, avx2Mask(n), v);
    else
#endif
    {
      alignas(64) float tmp[W];
      v.store_aligned(tmp);
      for (int64_t i = 0; i < n; ++i)
        p[i] = tmp[i];
    }
  }

#if defined(__AVX2__) && !defined(__AVX512F__)
  static __m256i avx2Mask(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
#endif

  /// Loads n lanes (W: a whole vector).
  static F loadN(const float *p, int64_t n) { return n == W ? load(p) : loadPartial(p, n); }
  static void storeN(float *p, F v, int64_t n) {
    if (n == W)
      store(p, v);
    else
      storePartial(p, v, n);
  }

  static float reduceMax(F v) {
    alignas(64) float tmp[W];
    v.store_aligned(tmp);
    float m = tmp[0];
    for (int64_t i = 1; i < W; ++i)
      m = tmp[i] > m ? tmp[i] : m;
    return m;
  }

  /// Transposes the W x W matrix whose rows are v[0], ..., v[W - 1]: lane
  /// j of v[i] moves to lane i of v[j]. In registers: log2(W) rounds of
  /// interleaves and lane shuffles.
  static void transpose(F (&v)[W]) {
#if defined(__AVX512F__)
    if constexpr (W == 16) {
      __m512 t[16], r[16];
      // Pairs of rows interleaved, then pairs of pairs: r[4q + c] holds,
      // in 128-bit lane L, column 4L + c of rows 4q .. 4q + 3.
      for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(v[i], v[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(v[i], v[i + 1]);
      }
      auto lo = [](__m512 a, __m512 b) {
        return _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a), _mm512_castps_pd(b)));
      };
      auto hi = [](__m512 a, __m512 b) {
        return _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a), _mm512_castps_pd(b)));
      };
      for (int i = 0; i < 16; i += 4) {
        r[i] = lo(t[i], t[i + 2]);
        r[i + 1] = hi(t[i], t[i + 2]);
        r[i + 2] = lo(t[i + 1], t[i + 3]);
        r[i + 3] = hi(t[i + 1], t[i + 3]);
      }
      // Then a 4 x 4 transpose of 128-bit lanes across r[c], r[4 + c],
      // r[8 + c], r[12 + c].
      for (int c = 0; c < 4; ++c) {
        const __m512 u0 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x44);
        const __m512 u1 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xEE);
        const __m512 u2 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x44);
        const __m512 u3 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xEE);
        v[c] = F(_mm512_shuffle_f32x4(u0, u2, 0x88));
        v[4 + c] = F(_mm512_shuffle_f32x4(u0, u2, 0xDD));
        v[8 + c] = F(_mm512_shuffle_f32x4(u1, u3, 0x88));
        v[12 + c] = F(_mm512_shuffle_f32x4(u1, u3, 0xDD));
      }
    } else
#elif defined(__AVX__)
    if constexpr (W == 8) {
      __m256 t[8], r[8];
      for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(v[i], v[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(v[i], v[i + 1]);
      }
      for (int i = 0; i < 8; i += 4) {
        r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
      }
      for (int c = 0; c < 4; ++c) {
        v[c] = F(_mm256_permute2f128_ps(r[c], r[4 + c], 0x20));
        v[4 + c] = F(_mm256_permute2f128_ps(r[c], r[4 + c], 0x31));
      }
    } else
#endif
    {
      static_assert(W == 4, "a transpose for each vector width");
#if defined(__aarch64__)
      // Pairs of rows transposed as 2 x 2 blocks, then the halves swapped:
      // t0 = {a0 b0 a2 b2}, {a1 b1 a3 b3}; t1 the same of rows c and d.
      const float32x4x2_t t0 = vtrnq_f32(v[0], v[1]), t1 = vtrnq_f32(v[2], v[3]);
      v[0] = F(vcombine_f32(vget_low_f32(t0.val[0]), vget_low_f32(t1.val[0])));
      v[1] = F(vcombine_f32(vget_low_f32(t0.val[1]), vget_low_f32(t1.val[1])));
      v[2] = F(vcombine_f32(vget_high_f32(t0.val[0]), vget_high_f32(t1.val[0])));
      v[3] = F(vcombine_f32(vget_high_f32(t0.val[1]), vget_high_f32(t1.val[1])));
#else
      __m128 r0 = v[0], r1 = v[1], r2 = v[2], r3 = v[3];
      _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
      v[0] = F(r0);
      v[1] = F(r1);
      v[2] = F(r2);
      v[3] = F(r3);
#endif
    }
  }

  // --- the fused layers' epilogue (dense, sparse) ---------------------

  /// One vector of a fused layer's sums for one row (lanes = columns
  /// [col, col + n)): + bias, + residual, the activation, one store. `res`
  /// and `y` are the row's residual (or null) and output.
  template <class Op>
  static void finishVec(Op op, F s, const float *bias, const float *res, float *y, int64_t col,
                        int64_t n) {
    if (bias)
      s = s + loadN(bias + col, n);
    if (res)
      s = s + loadN(res + col, n);
    storeN(y + col, op(s), n);
  }

  /// Runs tile(op) with the layer's activation as `op` (softmax and
  /// log_softmax as the identity), then applies those to rows [r0, r1) of
  /// y, which must then be whole rows of `units` columns.
  template <class Tile>
  static void fusedLayer(const ir::Activation &act, const Dst &y, int64_t units, int64_t r0,
                         int64_t r1, [[maybe_unused]] int64_t c0, [[maybe_unused]] int64_t c1,
                         Tile &&tile) {
    withAct<A>(act, tile);
    if (ir::isRowwise(act.kind)) {
      assert(c0 == 0 && c1 == units && "softmax needs whole rows");
      RowsImpl<A>::rows(act.kind, Src{y.data, y.stride, 0}, y, units, r0, r1);
    }
  }

  // --- dense ----------------------------------------------------------

  /// Where one vector of outputs comes from and goes: its first column,
  /// its weights (panel p, lane offset; the next input is `panel` floats
  /// on) and how many of its lanes are real outputs (0: a duplicate that
  /// only fills a register block and is not stored).
  struct OutVec {
    int64_t col;
    const float *w;
    int64_t lanes;
  };

  static OutVec outVec(const DenseArgs &a, int64_t col, int64_t c1) {
    const int64_t p = col / a.panel;
    const int64_t n = c1 - col < W ? c1 - col : W;
    return {col, a.packed + p * a.inputs * a.panel + (col - p * a.panel), n};
  }

  /// acc[i][v] = sum_k x[row i][k] * w_v[k], k ascending: the same order
  /// in every block shape, so a row's result does not depend on the block
  /// it falls in. Always inlined into its block, so that the accumulators
  /// stay in registers: once this file also held the sparse kernel, GCC
  /// kept it out of line and the dense kernel ran 2.4x slower at batch 64.
  template <int R, int NV>
  [[gnu::always_inline]] static inline void accumulate(const DenseArgs &a,
                                                       const float *const (&xr)[R],
                                                       const OutVec (&vec)[NV], F (&acc)[R][NV]) {
#pragma GCC unroll 16
    for (int i = 0; i < R; ++i)
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v)
        acc[i][v] = F(0.0f);
    const int64_t K = a.inputs, P = a.panel;
    const float *w[NV];
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v)
      w[v] = vec[v].w;
    for (int64_t k = 0, kp = 0; k < K; ++k, kp += P) {
      F wv[NV];
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v)
        wv[v] = load(w[v] + kp);
#pragma GCC unroll 16
      for (int i = 0; i < R; ++i) {
        const F xb(xr[i][k]);
#pragma GCC unroll 16
        for (int v = 0; v < NV; ++v)
          acc[i][v] = fmadd<A>(xb, wv[v], acc[i][v]);
      }
    }
  }

  /// The epilogue of a block: each output vector through finishVec.
  template <int R, int NV, class Op>
  static void finish(const DenseArgs &a, Op op, int64_t row, const OutVec (&vec)[NV],
                     F (&acc)[R][NV]) {
    for (int i = 0; i < R; ++i) {
      float *y = rowOf(a.y, row + i);
      const float *res = a.residual.data ? rowOf(a.residual, row + i) : nullptr;
      for (int v = 0; v < NV; ++v)
        if (vec[v].lanes > 0)
          finishVec(op, acc[i][v], a.bias, res, y, vec[v].col, vec[v].lanes);
    }
  }

  template <int R, int NV, class Op>
  static void block(const DenseArgs &a, Op op, int64_t row, const OutVec (&vec)[NV]) {
    const float *xr[R];
    for (int i = 0; i < R; ++i)
      xr[i] = rowOf(a.x, row + i);
    F acc[R][NV];
    accumulate<R, NV>(a, xr, vec, acc);
    finish<R, NV>(a, op, row, vec, acc);
  }

  template <int R, class Op>
  static void denseTile(const DenseArgs &a, Op op, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    constexpr int H = R > 4 ? R / 2 : 0;
    const int64_t rowsInBlocks = (r1 - r0) / R * R;
    const int64_t half = H > 0 && r1 - r0 - rowsInBlocks >= H ? H : 0;
    // Blocked rows: for each pair of output vectors, every block of R rows
    // (the pair's weights stay in cache across the blocks), then one block
    // of H = R / 2 rows if that many are left (as the JIT's kernel does).
    if (rowsInBlocks + half > 0)
      for (int64_t col = c0; col < c1; col += 2 * W) {
        OutVec vec[2] = {outVec(a, col, c1), {}};
        // An odd last vector is paired with itself and stored once.
        vec[1] = col + W < c1 ? outVec(a, col + W, c1) : OutVec{col, vec[0].w, 0};
        for (int64_t row = r0; row < r0 + rowsInBlocks; row += R)
          block<R, 2>(a, op, row, vec);
        if constexpr (H > 0)
          if (half > 0)
            block<H, 2>(a, op, r0 + rowsInBlocks, vec);
      }
    // Rows left over (all of them for a batch smaller than a block): one
    // row at a time over eight output vectors, then pairs.
    for (int64_t row = r0 + rowsInBlocks + half; row < r1; ++row) {
      int64_t col = c0;
      for (; c1 - col >= kRowVectors * W; col += kRowVectors * W) {
        OutVec vec[kRowVectors];
        for (int v = 0; v < kRowVectors; ++v)
          vec[v] = outVec(a, col + v * W, c1);
        block<1, kRowVectors>(a, op, row, vec);
      }
      for (; col < c1; col += 2 * W) {
        OutVec vec[2] = {outVec(a, col, c1), {}};
        vec[1] = col + W < c1 ? outVec(a, col + W, c1) : OutVec{col, vec[0].w, 0};
        block<1, 2>(a, op, row, vec);
      }
    }
  }

  static void dense(const DenseArgs &a, int64_t r0, int64_t r1, int64_t c0, int64_t c1) noexcept {
    assert(a.panel > 0 && a.panel % W == 0 && "weights packed for a wider instruction set");
    assert(c0 % a.panel == 0 && c1 <= a.units && "a tile starts on a panel");
    if (r0 >= r1 || c0 >= c1)
      return;
    const bool small = a.rowBlock > 0 && a.rowBlock < kBlockRows;
    fusedLayer(a.act, a.y, a.units, r0, r1, c0, c1, [&](auto op) {
      if constexpr (kSmallBlockRows < kBlockRows)
        if (small)
          return denseTile<kSmallBlockRows>(a, op, r0, r1, c0, c1);
      denseTile<kBlockRows>(a, op, r0, r1, c0, c1);
    });
  }

  // --- sparse ---------------------------------------------------------

  static constexpr int64_t G = kSparseGroup;
  static constexpr int64_t kEntry = kSparseGroupsEntryFloats;
  /// Calls of fewer rows run them alone; from half a block, the blocks
  /// (W samples each, one per lane) pay.
  static constexpr int64_t kLoneRows = W / 2;
  /// Neurons per chunk of the lone-row path: their sums wait on the stack
  /// between strips.
  static constexpr int64_t kLoneChunk = 512;
  static_assert(kLoneChunk % W == 0 && kLoneChunk % G == 0, "chunks of whole vectors and groups");

  /// packSparseGroups's header, read once per call.
  struct SparseLayout {
    int64_t inputs, units, stripInputs, strips, groups;
    const float *starts, *entries;

    explicit SparseLayout(const float *packed) {
      auto field = [&](int i) {
        uint32_t v;
        std::memcpy(&v, packed + i, sizeof v);
        return static_cast<int64_t>(v);
      };
      inputs = field(kSparseGroupsInputs);
      units = field(kSparseGroupsUnits);
      stripInputs = field(kSparseGroupsStripInputs);
      strips = field(kSparseGroupsStrips);
      groups = field(kSparseGroupsGroups);
      starts = packed + field(kSparseGroupsStartsAt);
      entries = packed + field(kSparseGroupsEntriesAt);
    }
    /// The entries of strip s, group g.
    const float *first(int64_t s, int64_t g) const {
      return entries + start(s * groups + g) * kEntry;
    }
    const float *end(int64_t s, int64_t g) const { return first(s, g + 1); }
    int64_t stripLength(int64_t s) const {
      const int64_t k0 = s * stripInputs;
      return (inputs - k0 < stripInputs ? inputs - k0 : stripInputs);
    }
    /// Floats of one block's transposed inputs: each strip's rows and a
    /// zero row after it, W floats each.
    int64_t transposedFloats() const { return (inputs + strips) * W; }

  private:
    int64_t start(int64_t i) const {
      uint32_t v;
      std::memcpy(&v, starts + i, sizeof v);
      return v;
    }
  };

  /// The input positions of an entry's G neurons.
  static void entryPositions(const float *e, int64_t (&pos)[G]) {
    uint64_t bits;
    std::memcpy(&bits, e + G, sizeof bits);
    for (int64_t j = 0; j < G; ++j)
      pos[j] = static_cast<int64_t>((bits >> (16 * j)) & 0xffff);
  }

  /// Rows [row, row + m) of x (m <= W) transposed into xT, samples in the
  /// lanes (lanes m and up zero): strip s's input k0 + i at
  /// xT + (s * (stripInputs + 1) + i) * W, and a zero row after each strip
  /// for the padding's position.
  static void transposeBlock(const SparseArgs &a, const SparseLayout &L, int64_t row, int64_t m,
                             float *xT) {
    const float *xr[W];
    for (int64_t i = 0; i < W; ++i)
      xr[i] = i < m ? rowOf(a.x, row + i) : nullptr;
    for (int64_t s = 0; s < L.strips; ++s) {
      const int64_t k0 = s * L.stripInputs, len = L.stripLength(s);
      float *dst = xT + s * (L.stripInputs + 1) * W;
      for (int64_t i = 0; i < len; i += W) {
        const int64_t n = len - i < W ? len - i : W;
        F v[W];
        for (int64_t r = 0; r < W; ++r)
          v[r] = r < m ? loadN(xr[r] + k0 + i, n) : F(0.0f);
        transpose(v);
        for (int64_t j = 0; j < n; ++j)
          store(dst + (i + j) * W, v[j]);
      }
      store(dst + len * W, F(0.0f));
    }
  }

  /// acc[b][j] += the products of one strip's entries [e, end) for the
  /// group's neuron j and block b (xs[b]: the block's transposed strip),
  /// entry by entry in order: one FMA per entry, neuron and block.
  /// (The sums are copied into locals: through the reference, GCC kept
  /// them in memory, since the loads of x might alias them.)
  template <int NB>
  static void sparseRun(const float *e, const float *end, const float *const (&xs)[NB],
                        F (&acc)[NB][G]) {
    F a[NB][G];
    for (int b = 0; b < NB; ++b)
      for (int64_t j = 0; j < G; ++j)
        a[b][j] = acc[b][j];
    for (; e != end; e += kEntry) {
      int64_t pos[G];
      entryPositions(e, pos);
#pragma GCC unroll 4
      for (int64_t j = 0; j < G; ++j) {
        const F wb(e[j]);
#pragma GCC unroll 2
        for (int b = 0; b < NB; ++b)
          a[b][j] = fmadd<A>(load(xs[b] + pos[j] * W), wb, a[b][j]);
      }
    }
    for (int b = 0; b < NB; ++b)
      for (int64_t j = 0; j < G; ++j)
        acc[b][j] = a[b][j];
  }

  /// NB sample blocks (rows [row[b], row[b] + m[b]), 1 <= m[b] <= W),
  /// columns [c0, c1), in `scratch`: the blocks transposed, then strip by
  /// strip each group's sums, waiting between strips in the scratch (one
  /// vector per neuron and block), then per W neurons the sums transposed
  /// back to rows for the epilogue.
  template <int NB, class Op>
  static void sparseBlocks(const SparseArgs &a, const SparseLayout &L, Op op, float *scratch,
                           const int64_t (&row)[NB], const int64_t (&m)[NB], int64_t c0,
                           int64_t c1) {
    float *xT[NB], *part[NB];
    for (int b = 0; b < NB; ++b) {
      xT[b] = scratch + b * blockScratch(L);
      part[b] = xT[b] + L.transposedFloats();
      transposeBlock(a, L, row[b], m[b], xT[b]);
    }
    const int64_t g0 = c0 / G, g1 = (c1 + G - 1) / G;
    for (int64_t s = 0; s < L.strips; ++s) {
      const float *xs[NB];
      for (int b = 0; b < NB; ++b)
        xs[b] = xT[b] + s * (L.stripInputs + 1) * W;
      for (int64_t g = g0; g < g1; ++g) {
        F acc[NB][G];
        for (int b = 0; b < NB; ++b)
          for (int64_t j = 0; j < G; ++j)
            acc[b][j] = s == 0 ? F(0.0f) : load(part[b] + ((g - g0) * G + j) * W);
        sparseRun<NB>(L.first(s, g), L.end(s, g), xs, acc);
        for (int b = 0; b < NB; ++b)
          for (int64_t j = 0; j < G; ++j)
            store(part[b] + ((g - g0) * G + j) * W, acc[b][j]);
      }
    }
    for (int b = 0; b < NB; ++b)
      for (int64_t col = c0; col < c1; col += W) {
        const int64_t n = c1 - col < W ? c1 - col : W;
        F v[W];
        for (int64_t j = 0; j < W; ++j)
          v[j] = j < n ? load(part[b] + (col - c0 + j) * W) : F(0.0f);
        transpose(v);
        for (int64_t i = 0; i < m[b]; ++i) {
          const float *res = a.residual.data ? rowOf(a.residual, row[b] + i) : nullptr;
          finishVec(op, v[i], a.bias, res, rowOf(a.y, row[b] + i), col, n);
        }
      }
  }

  /// Floats of scratch one block uses: its transposed inputs, then a
  /// vector of sums per neuron (sparseScratchPerRow() is 2 / W of it,
  /// rounded up).
  static int64_t blockScratch(const SparseLayout &L) {
    return L.transposedFloats() + (L.units + G - 1) / G * G * W;
  }

  /// acc (lane j: the group's neuron j) += the products of one row's
  /// entry e, xs the row's strip.
  static Vec4 loneStep(Vec4 acc, const float *e, const float *xs) {
    static_assert(G == 4, "one four-lane register per group");
    int64_t pos[G];
    entryPositions(e, pos);
    const Vec4 x = set4(xs[pos[0]], xs[pos[1]], xs[pos[2]], xs[pos[3]]);
    return fmadd4(x, loadu4(e), acc);
  }

  /// One row on its own, columns [c0, c1): per chunk of neurons, strip by
  /// strip, the strip of x copied to the stack with a 0 after it (the
  /// padding's position), then one 4-lane chain per group (lanes =
  /// neurons), two groups side by side over the entries they both have
  /// (their FMA chains overlap), then the longer one's rest alone.
  template <class Op>
  static void sparseLoneRow(const SparseArgs &a, const SparseLayout &L, Op op, int64_t row,
                            int64_t c0, int64_t c1) {
    alignas(64) float xs[kSparseMaxStrip + 1];
    alignas(64) float sums[kLoneChunk];
    const float *x = rowOf(a.x, row);
    const float *res = a.residual.data ? rowOf(a.residual, row) : nullptr;
    float *y = rowOf(a.y, row);
    for (int64_t u0 = c0; u0 < c1; u0 += kLoneChunk) {
      const int64_t u1 = c1 - u0 < kLoneChunk ? c1 : u0 + kLoneChunk;
      const int64_t g0 = u0 / G, g1 = (u1 + G - 1) / G;
      for (int64_t s = 0; s < L.strips; ++s) {
        const int64_t len = L.stripLength(s);
        std::memcpy(xs, x + s * L.stripInputs, static_cast<size_t>(len) * sizeof(float));
        xs[len] = 0.0f;
        for (int64_t g = g0; g < g1; g += 2) {
          const bool two = g + 1 < g1;
          float *out = sums + (g - g0) * G;
          Vec4 acc0 = s == 0 ? zero4() : load4(out);
          Vec4 acc1 = s == 0 || !two ? zero4() : load4(out + G);
          const float *e0 = L.first(s, g), *end0 = L.end(s, g);
          const float *e1 = two ? end0 : nullptr, *end1 = two ? L.end(s, g + 1) : nullptr;
          for (; e0 != end0 && e1 != end1; e0 += kEntry, e1 += kEntry) {
            acc0 = loneStep(acc0, e0, xs);
            acc1 = loneStep(acc1, e1, xs);
          }
          for (; e0 != end0; e0 += kEntry)
            acc0 = loneStep(acc0, e0, xs);
          for (; e1 != end1; e1 += kEntry)
            acc1 = loneStep(acc1, e1, xs);
          store4(out, acc0);
          if (two)
            store4(out + G, acc1);
        }
      }
      for (int64_t col = u0; col < u1; col += W) {
        const int64_t n = u1 - col < W ? u1 - col : W;
        finishVec(op, loadN(sums + (col - u0), n), a.bias, res, y, col, n);
      }
    }
  }

  template <class Op>
  static void sparseTile(const SparseArgs &a, const SparseLayout &L, Op op, int64_t r0, int64_t r1,
                         int64_t c0, int64_t c1) {
    const int64_t rows = r1 - r0;
    if (rows < kLoneRows) {
      for (int64_t row = r0; row < r1; ++row)
        sparseLoneRow(a, L, op, row, c0, c1);
      return;
    }
    // Blocks of W rows in pairs (each entry's index and weight serve both),
    // the last one partial. They run one after the other, each pair in the
    // scratch of the first rows: a pair needs W rows' worth, one block
    // W / 2 rows' (sparseScratchPerRow), and a call with a pair has more
    // than W rows.
    float *scratch = a.scratch + r0 * sparseScratchPerRow(L.inputs, L.units, L.stripInputs);
    const int64_t full = rows / W, rest = rows % W;
    int64_t row = r0;
    for (int64_t b = 0; b + 1 < full; b += 2, row += 2 * W)
      sparseBlocks<2>(a, L, op, scratch, {row, row + W}, {W, W}, c0, c1);
    if (full % 2 == 1 && rest > 0)
      sparseBlocks<2>(a, L, op, scratch, {row, row + W}, {W, rest}, c0, c1);
    else if (full % 2 == 1)
      sparseBlocks<1>(a, L, op, scratch, {row}, {W}, c0, c1);
    else if (rest > 0)
      sparseBlocks<1>(a, L, op, scratch, {row}, {rest}, c0, c1);
  }

  static void sparse(const SparseArgs &a, int64_t r0, int64_t r1, int64_t c0, int64_t c1) noexcept {
    const SparseLayout L(a.packed);
    assert(L.inputs == a.inputs && L.units == a.units && "weights packed for another shape");
    assert(L.stripInputs <= kSparseMaxStrip && "the lone-row path holds one strip on the stack");
    assert(c0 % G == 0 && c1 <= a.units && "a tile starts on a group");
    assert((r1 - r0 < kLoneRows || a.scratch) && "sample blocks need the scratch");
    if (r0 >= r1 || c0 >= c1)
      return;
    fusedLayer(a.act, a.y, a.units, r0, r1, c0, c1,
               [&](auto op) { sparseTile(a, L, op, r0, r1, c0, c1); });
  }

  // --- elementwise ----------------------------------------------------

  static void binary(ir::OpKind kind, const Src &a, const Src &b, const Dst &y,
                     const ir::Activation &act, int64_t r0, int64_t r1, int64_t c0,
                     int64_t c1) noexcept {
    assert(!ir::isRowwise(act.kind) && "a binary op's activation is elementwise");
    ir::withBinary(kind, [&](auto f) {
      withAct<A>(act, [&](auto op) {
        for (int64_t r = r0; r < r1; ++r) {
          const float *pa = rowOf(a, r), *pb = rowOf(b, r);
          float *py = rowOf(y, r);
          int64_t c = c0;
          for (; c + W <= c1; c += W)
            store(py + c, op(f(load(pa + c), load(pb + c))));
          if (c < c1)
            storePartial(py + c, op(f(loadPartial(pa + c, c1 - c), loadPartial(pb + c, c1 - c))),
                         c1 - c);
        }
      });
    });
  }

  static void activation(const Src &x, const Dst &y, const ir::Activation &act, int64_t r0,
                         int64_t r1, int64_t c0, int64_t c1) noexcept {
    if (ir::isRowwise(act.kind)) {
      RowsImpl<A>::rows(act.kind, Src{x.data + c0, x.stride, x.period}, Dst{y.data + c0, y.stride},
                        c1 - c0, r0, r1);
      return;
    }
    withAct<A>(act, [&](auto op) {
      for (int64_t r = r0; r < r1; ++r) {
        const float *px = rowOf(x, r);
        float *py = rowOf(y, r);
        int64_t c = c0;
        for (; c + W <= c1; c += W)
          store(py + c, op(load(px + c)));
        if (c < c1)
          storePartial(py + c, op(loadPartial(px + c, c1 - c)), c1 - c);
      }
    });
  }

  static void scaleShift(const Src &x, const float *scale, const float *shift, const Dst &y,
                         int64_t r0, int64_t r1, int64_t c0, int64_t c1) noexcept {
    for (int64_t r = r0; r < r1; ++r) {
      const float *px = rowOf(x, r);
      float *py = rowOf(y, r);
      for (int64_t c = c0; c < c1; c += W) {
        const int64_t n = c1 - c < W ? c1 - c : W;
        storeN(py + c, fmadd<A>(loadN(px + c, n), loadN(scale + c, n), loadN(shift + c, n)), n);
      }
    }
  }

  static void batchNorm(const Src &x, const float *mean, const float *var, const float *scale,
                        const float *shift, float epsilon, const Dst &y, int64_t r0, int64_t r1,
                        int64_t c0, int64_t c1) noexcept {
    const F eps(epsilon);
    for (int64_t r = r0; r < r1; ++r) {
      const float *px = rowOf(x, r);
      float *py = rowOf(y, r);
      for (int64_t c = c0; c < c1; c += W) {
        const int64_t n = c1 - c < W ? c1 - c : W;
        // Lanes past n read zeros: var + eps > 0 there, and they are not stored.
        const F sd = xsimd::sqrt(loadN(var + c, n) + eps);
        const F norm = (loadN(px + c, n) - loadN(mean + c, n)) / sd;
        storeN(py + c, fmadd<A>(norm, loadN(scale + c, n), loadN(shift + c, n)), n);
      }
    }
  }

  // --- row-wise (softmax and log_softmax: RowsImpl.h) -----------------

  static void layerNorm(const Src &x, const float *scale, const float *shift, float epsilon,
                        const Dst &y, int64_t cols, int64_t r0, int64_t r1) noexcept {
    const float invCols = static_cast<float>(1.0 / static_cast<double>(cols));
    for (int64_t r = r0; r < r1; ++r) {
      const float *px = rowOf(x, r);
      float *py = rowOf(y, r);
      const int64_t tail = cols % W, body = cols - tail;
      // The mean, then the population variance around it (two passes: no
      // cancellation from sum(x^2) - mean^2).
      F s1(0.0f);
      for (int64_t c = 0; c < body; c += W)
        s1 = s1 + load(px + c);
      if (tail)
        s1 = s1 + loadPartial(px + body, tail);
      const F mean(xsimd::hadd(s1) * invCols);
      F s2(0.0f);
      for (int64_t c = 0; c < body; c += W) {
        const F d = load(px + c) - mean;
        s2 = fmadd<A>(d, d, s2);
      }
      if (tail) {
        const F d = xsimd::select(laneMask(tail), loadPartial(px + body, tail) - mean, F(0.0f));
        s2 = fmadd<A>(d, d, s2);
      }
      const float var = xsimd::hadd(s2) * invCols;
      const F inv = F(1.0f) / xsimd::sqrt(F(var + epsilon));
      for (int64_t c = 0; c < cols; c += W) {
        const int64_t n = cols - c < W ? cols - c : W;
        const F norm = (loadN(px + c, n) - mean) * inv;
        storeN(py + c, fmadd<A>(norm, loadN(scale + c, n), loadN(shift + c, n)), n);
      }
    }
  }

  static void exp(const float *in, float *out, int64_t n) noexcept {
    int64_t i = 0;
    for (; i + W <= n; i += W)
      store(out + i, Math::exp(load(in + i)));
    if (i < n)
      storePartial(out + i, Math::exp(loadPartial(in + i, n - i)), n - i);
  }

  static void log1p(const float *in, float *out, int64_t n) noexcept {
    int64_t i = 0;
    for (; i + W <= n; i += W)
      store(out + i, Math::log1p(load(in + i)));
    if (i < n)
      storePartial(out + i, Math::log1p(loadPartial(in + i, n - i)), n - i);
  }

  static constexpr KernelTable table(Isa isa) {
    return {isa,
            W,
            {kSmallBlockRows, kBlockRows},
            2 * W,
            W,
            kLoneRows,
            &dense,
            &sparse,
            &binary,
            &activation,
            &scaleShift,
            &PreluImpl<A>::prelu,
            &batchNorm,
            &RowsImpl<A>::softmax,
            &RowsImpl<A>::logSoftmax,
            &layerNorm,
            &ConvImpl<A>::conv,
            &exp,
            &log1p};
  }
};

} // namespace
} // namespace soma::runtime::kernels

#include "ConvImpl.h"
#include "ConvTileImpl.h"
#include "DepthwiseImpl.h"
#include "PreluImpl.h"
#include "RowsImpl.h"
