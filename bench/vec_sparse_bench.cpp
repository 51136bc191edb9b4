// The vec engine's sparse kernel against its dense kernel, side by side in
// one process: kernels::sparse (weights packed by packSparseGroups) and
// kernels::dense (packPanels) on the same relu layer whose weights are a
// given fraction of zeros at uniformly random positions, one thread, on
// each instruction set the CPU has (or one: --isa=avx512). Both results
// are checked bit for bit against each other first (they must agree for
// finite inputs). Then windows of calls alternate between the two kernels;
// each window's time is the calling thread's CPU time (so time spent
// descheduled on a shared machine does not count), and the report gives
// the median time per call of each and the median of the pairwise ratios.
//
//   soma_vec_sparse_bench [--isa=sse2|avx2|avx512] [--size=1024] [--units=0]
//                         [--zeros=0.9] [--strip=0] [--batches=1,64]
//                         [--windows=31] [--window-ms=20]
//
// --size: the layer's inputs, and its units unless --units is given.
// --strip: the sparse weights' strip width (0: sparseStripInputs()).
#include "soma/runtime/Kernels.h"
#include "soma/runtime/Packing.h"

#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace k = soma::runtime::kernels;
using soma::AlignedVector;
using soma::Tensor;

namespace {

double threadSeconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/// Seconds per call of f over one window of about `seconds`.
template <class F> double window(F &&f, int64_t calls) {
  const double t0 = threadSeconds();
  for (int64_t i = 0; i < calls; ++i)
    f();
  return (threadSeconds() - t0) / static_cast<double>(calls);
}

struct Options {
  std::string isa;
  int64_t size = 1024;
  double zeros = 0.9;
  int64_t strip = 0;
  int64_t units = 0;
  std::vector<int64_t> batches = {1, 64};
  int windows = 31;
  double windowMs = 20;
};

int run(k::Isa isa, const Options &o) {
  const int64_t K = o.size, U = o.units ? o.units : o.size;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> unit(-1, 1), coin(0, 1);
  Tensor w({U, K});
  for (float &v : w.values)
    v = coin(rng) < o.zeros ? 0.0f : unit(rng);
  std::vector<float> bias(static_cast<size_t>(U));
  for (float &v : bias)
    v = unit(rng);
  const int64_t panel = k::panelWidth(isa),
                strip = o.strip ? o.strip : k::sparseStripInputs(isa, K);
  const AlignedVector<float> panels = soma::runtime::packPanels(w, panel);
  const AlignedVector<float> groups = soma::runtime::packSparseGroups(w, strip);
  // Entries of 4 weights, padding included (the start table's last word).
  uint32_t entries;
  std::memcpy(&entries,
              groups.data() + (K + strip - 1) / strip * ((U + 3) / 4) +
                  soma::runtime::kSparseGroupsHeaderFields,
              sizeof entries);
  const int64_t nonzeros = soma::countNonzeros(w);
  std::printf("%s, %lld x %lld, %.1f %% zeros (%lld nonzeros), strips of %lld inputs, "
              "%.3f x the nonzeros packed\n",
              k::isaName(isa), static_cast<long long>(K), static_cast<long long>(U), 100 * o.zeros,
              static_cast<long long>(nonzeros), static_cast<long long>(strip),
              4.0 * entries / static_cast<double>(nonzeros));
  std::printf("%6s %12s %12s %8s %8s\n", "batch", "dense us", "sparse us", "ratio", "(med)");
  for (int64_t batch : o.batches) {
    AlignedVector<float> x(static_cast<size_t>(batch * K)), yd(static_cast<size_t>(batch * U)),
        ys(yd.size());
    for (float &v : x)
      v = unit(rng);
    AlignedVector<float> scratch(static_cast<size_t>(batch * k::sparseScratchPerRow(K, U, strip)));
    const soma::ir::Activation relu = soma::ir::makeActivation(soma::ir::ActKind::Relu);
    k::DenseArgs d;
    d.x = {x.data(), K, 0};
    d.packed = panels.data();
    d.panel = panel;
    d.inputs = K;
    d.units = U;
    d.bias = bias.data();
    d.y = {yd.data(), U};
    d.act = relu;
    k::SparseArgs s;
    s.x = d.x;
    s.packed = groups.data();
    s.inputs = K;
    s.units = U;
    s.bias = bias.data();
    s.y = {ys.data(), U};
    s.act = relu;
    s.scratch = scratch.data();
    auto dense = [&] { k::dense(d, 0, batch, 0, U); };
    auto sparse = [&] { k::sparse(s, 0, batch, 0, U); };
    dense();
    sparse();
    if (std::memcmp(yd.data(), ys.data(), yd.size() * sizeof(float)) != 0) {
      std::fprintf(stderr, "%s batch %lld: sparse and dense results differ\n", k::isaName(isa),
                   static_cast<long long>(batch));
      return 1;
    }
    // Calls per window from a first estimate of each.
    auto callsFor = [&](double perCall) {
      return std::max<int64_t>(1, static_cast<int64_t>(o.windowMs * 1e-3 / perCall));
    };
    const int64_t dc = callsFor(window(dense, 3)), sc = callsFor(window(sparse, 3));
    std::vector<double> td, ts, ratio;
    for (int i = 0; i < o.windows; ++i) {
      td.push_back(window(dense, dc));
      ts.push_back(window(sparse, sc));
      ratio.push_back(td.back() / ts.back());
    }
    const double md = median(td), ms = median(ts);
    std::printf("%6lld %12.1f %12.1f %8.2f %8.2f\n", static_cast<long long>(batch), 1e6 * md,
                1e6 * ms, md / ms, median(ratio));
  }
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const char *name) -> const char * {
      const size_t n = std::strlen(name);
      return a.compare(0, n, name) == 0 ? a.c_str() + n : nullptr;
    };
    if (const char *v = value("--isa="))
      o.isa = v;
    else if (const char *v = value("--size="))
      o.size = std::atoll(v);
    else if (const char *v = value("--zeros="))
      o.zeros = std::atof(v);
    else if (const char *v = value("--units="))
      o.units = std::atoll(v);
    else if (const char *v = value("--strip="))
      o.strip = std::atoll(v);
    else if (const char *v = value("--batches=")) {
      o.batches.clear();
      for (const char *p = v; *p;) {
        char *end;
        o.batches.push_back(std::max<int64_t>(1, std::strtoll(p, &end, 10)));
        p = *end == ',' ? end + 1 : end + std::strlen(end);
      }
    } else if (const char *v = value("--windows="))
      o.windows = std::atoi(v);
    else if (const char *v = value("--window-ms="))
      o.windowMs = std::atof(v);
    else {
      std::fprintf(stderr, "unknown argument '%s'\n", argv[i]);
      return 2;
    }
  }
  int status = 0;
  for (k::Isa isa : {k::Isa::Avx512, k::Isa::Avx2, k::Isa::Sse2}) {
    if ((!o.isa.empty() && o.isa != k::isaName(isa)) || !k::forceIsa(isa))
      continue;
    status |= run(isa, o);
  }
  return status;
}
