// Seeded initialisers. SplitMix64 is small, fast and has no bad seeds.
#include "soma/frontend/Initializers.h"

#include <cmath>

namespace soma::frontend {

namespace {

class SplitMix64 {
public:
  explicit SplitMix64(uint64_t seed) : state(seed) {}
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  /// Standard normal by Marsaglia's polar method: one log and one sqrt per
  /// pair of values, no trigonometry (the initialisers of a large network
  /// are a visible part of its compile time). The pair's second value is
  /// kept for the next call.
  double normal() {
    if (haveSpare) {
      haveSpare = false;
      return spare;
    }
    double u, v, s;
    do {
      u = 2.0 * uniform() - 1.0;
      v = 2.0 * uniform() - 1.0;
      s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    double m = std::sqrt(-2.0 * std::log(s) / s);
    spare = v * m;
    haveSpare = true;
    return u * m;
  }

private:
  uint64_t state;
  double spare = 0;
  bool haveSpare = false;
};

} // namespace

void fillInitializer(Tensor &t, const InitSpec &spec, int64_t fanIn, int64_t fanOut) {
  SplitMix64 rng(spec.seed);
  auto fillWith = [&](auto gen) {
    for (float &v : t.values)
      v = static_cast<float>(gen());
  };
  switch (spec.kind) {
  case InitKind::Zeros:
    fillWith([] { return 0.0; });
    break;
  case InitKind::Ones:
    fillWith([] { return 1.0; });
    break;
  case InitKind::Constant:
    fillWith([&] { return spec.a; });
    break;
  case InitKind::Uniform:
    fillWith([&] { return spec.a + (spec.b - spec.a) * rng.uniform(); });
    break;
  case InitKind::Normal:
    fillWith([&] { return spec.a + spec.b * rng.normal(); });
    break;
  case InitKind::Xavier: {
    double limit = std::sqrt(6.0 / static_cast<double>(fanIn + fanOut));
    fillWith([&] { return -limit + 2.0 * limit * rng.uniform(); });
    break;
  }
  case InitKind::He: {
    double stddev = std::sqrt(2.0 / static_cast<double>(fanIn));
    fillWith([&] { return stddev * rng.normal(); });
    break;
  }
  }
}

} // namespace soma::frontend
