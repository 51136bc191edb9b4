// The random network generator. Every number a network holds is decided
// here: literals are formatted and read back exactly as soma reads them
// (decimal to double, then to f32), and seeded initialisers are expanded
// with soma's own fillInitializer, the one routine the harness shares with
// the compiler (the initialisers have their own independent tests).
#include "RandomNetwork.h"

#include "soma/frontend/Initializers.h"
#include "soma/support/Tensor.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <tuple>

namespace soma::numerical {

uint64_t Rng::next() {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

double Rng::uniform() { return static_cast<double>(next() >> 11) * 0x1p-53; }

int64_t Rng::intIn(int64_t lo, int64_t hi) {
  assert(lo <= hi && "empty range");
  return lo + static_cast<int64_t>(next() % static_cast<uint64_t>(hi - lo + 1));
}

const char *actName(Act a) {
  static const char *const names[] = {"identity",     "relu", "leaky_relu",  "sigmoid", "tanh",
                                      "softmax",      "gelu", "silu",        "elu",     "softplus",
                                      "hard_sigmoid", "step", "log_softmax", "selu",    "softsign",
                                      "gelu_tanh",    "clip"};
  return names[static_cast<int>(a)];
}

std::vector<Act> allActs() {
  std::vector<Act> acts;
  for (int i = 0; i < kNumActs; ++i)
    acts.push_back(static_cast<Act>(i));
  return acts;
}

int64_t Value::size() const {
  int64_t n = 1;
  for (int64_t d : dims)
    n *= d;
  return n;
}

namespace widths {
std::vector<int64_t> special() { return {1, 3, 7, 15, 16, 17, 31, 33, 127, 257, 599}; }
std::vector<int64_t> tiny() { return {1, 1, 2, 3, 4, 5}; }
std::vector<int64_t> vectorEdges() {
  return {3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 24, 31, 32, 33, 47, 48, 49, 63, 64, 65, 95, 96, 97};
}
std::vector<int64_t> primes() {
  return {2,  3,  5,  7,  11, 13, 17, 19, 23,  29,  31,  37,  41,  43,  47,  53,  59,
          61, 67, 71, 73, 79, 83, 89, 97, 101, 127, 131, 251, 257, 509, 521, 557, 599};
}
std::vector<int64_t> wide() {
  return {100, 127, 128, 129, 200, 255, 257, 300, 384, 450, 511, 512, 513, 577, 599, 600};
}
std::vector<int64_t> any() {
  std::vector<int64_t> w = special();
  std::vector<int64_t> p = primes();
  w.insert(w.end(), p.begin(), p.end());
  for (int64_t i = 1; i <= 600; i += 7)
    w.push_back(i);
  return w;
}
} // namespace widths

namespace {

/// Formats `v` and returns the f32 soma will read from the text.
float formatted(double v, const char *format, std::string &text) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  text = buf;
  return static_cast<float>(std::strtod(buf, nullptr)); // decimal -> double -> f32, as soma reads
}

/// A short decimal (4 significant digits) and the double soma parses from
/// it, for initialiser arguments (which stay double).
double shortNumber(double v, std::string &text) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  text = buf;
  return std::strtod(buf, nullptr);
}

std::string joinDims(const std::vector<int64_t> &dims) {
  std::string s;
  for (size_t i = 0; i < dims.size(); ++i)
    s += (i ? ", " : "") + std::to_string(dims[i]);
  return s;
}

class Generator {
public:
  Generator(const Profile &profile, uint64_t seed) : p(profile), rng(seed), seed(seed) {}

  Network run();

private:
  const Profile &p;
  Rng rng;
  uint64_t seed;
  Network net;
  std::vector<int> uses; // per value: how many operands name it

  int addValue(std::string name, std::vector<int64_t> dims) {
    net.values.push_back({std::move(name), std::move(dims)});
    uses.push_back(0);
    return static_cast<int>(net.values.size()) - 1;
  }
  std::string layerName(const char *kind) {
    return std::string(kind) + std::to_string(net.layers.size());
  }
  Layer &addLayer(LayerKind kind, const char *prefix, std::vector<int> operands,
                  std::vector<int64_t> dims) {
    Layer layer;
    layer.kind = kind;
    layer.name = layerName(prefix);
    layer.operands = std::move(operands);
    for (int v : layer.operands)
      ++uses[static_cast<size_t>(v)];
    layer.result = addValue(layer.name, std::move(dims));
    net.layers.push_back(std::move(layer));
    return net.layers.back();
  }
  int64_t width() { return rng.pick(p.widths); }
  uint64_t initSeed() {
    // Mostly small seeds, sometimes the extremes of the 64-bit range.
    if (rng.chance(0.05))
      return rng.chance(0.5) ? 0 : 18446744073709551615ULL;
    return static_cast<uint64_t>(rng.intIn(1, 1000000));
  }

  Activation activation(Act kind);
  Activation randomActivation() { return activation(rng.pick(p.acts)); }

  /// With `zeros` > 0 each value is 0 with that chance; the last two dims'
  /// indices zeroRow and zeroCol (when >= 0) are all 0.
  Param literal(const std::vector<int64_t> &dims, double lo, double hi, double zeros = 0,
                int64_t zeroRow = -1, int64_t zeroCol = -1);
  Param initialiser(const std::string &call, const frontend::InitSpec &spec,
                    const std::vector<int64_t> &dims, int64_t fanIn, int64_t fanOut);
  Param scalar(double v, int64_t n);
  Param weights(int64_t units, int64_t inputs, bool neuron);
  Param bias(int64_t units);
  /// A per-feature vector around `center` with spread `spread` (> 0), or
  /// nothing (the default) when `optional`.
  Param featureVector(int64_t c, double center, double spread, bool optional, double defaultValue);

  int chooseOperand(int current) {
    if (rng.chance(p.previousOperand))
      return current;
    return static_cast<int>(rng.intIn(0, static_cast<int64_t>(net.values.size()) - 1));
  }
  /// Values whose dims agree with `v`'s in every axis but the last.
  std::vector<int> sameLeading(int v) const;
  std::vector<int> sameShape(int v) const;

  int dense(int x, bool neuron);
  int binary(LayerKind kind, int x);
  int concat(int x);
  int unary(LayerKind kind, int x);
  void chooseOutputs();
  void chooseBatch();
};

Activation Generator::activation(Act kind) {
  Activation a;
  a.kind = kind;
  a.text = actName(kind);
  auto withParam = [&](double dflt, const char *name, std::vector<double> choices) {
    a.param = static_cast<float>(dflt);
    if (rng.chance(0.4))
      return; // the default
    double v = rng.pick(choices);
    std::string num;
    a.param = formatted(v, "%g", num);
    a.text += rng.chance(0.5) ? "(" + num + ")" : "(" + std::string(name) + " = " + num + ")";
  };
  switch (kind) {
  case Act::LeakyRelu:
    withParam(0.01, "alpha", {0.2, 0.0, 0.1, -0.5, 0.01});
    break;
  case Act::Elu:
    withParam(1.0, "alpha", {0.5, 2.0, 1.0, 0.1});
    break;
  case Act::Step:
    withParam(0.0, "threshold", {0.25, -0.5, 0.0, 0.1});
    break;
  case Act::Softplus:
    withParam(1.0, "beta", {2.0, 0.5, 10.0, 0.01});
    break;
  case Act::Selu:
    // ONNX's defaults, or other alpha and gamma named or by position
    a.param = static_cast<float>(1.6732632423543772);
    a.param2 = static_cast<float>(1.0507009873554805);
    if (rng.chance(0.4))
      break;
    a.param = rng.pick(std::vector<float>{0.5f, 2.0f, 1.5f});
    a.param2 = rng.pick(std::vector<float>{1.0f, 0.5f, 2.0f});
    a.text +=
        rng.chance(0.5)
            ? "(" + std::to_string(a.param) + ", " + std::to_string(a.param2) + ")"
            : "(gamma = " + std::to_string(a.param2) + ", alpha = " + std::to_string(a.param) + ")";
    break;
  case Act::GeluTanh:
    a.text = "gelu(approximate = tanh)";
    break;
  case Act::HardSigmoid:
    // PyTorch's default, or ONNX's (0.2, 0.5), or a falling one
    a.param = static_cast<float>(1.0 / 6.0);
    a.param2 = 0.5f;
    if (rng.chance(0.5))
      break;
    a.param = rng.pick(std::vector<float>{0.2f, -0.5f, 2.0f});
    a.param2 = rng.pick(std::vector<float>{0.5f, 0.25f, -1.0f});
    a.text += "(alpha = " + std::to_string(a.param) + ", beta = " + std::to_string(a.param2) + ")";
    break;
  case Act::Clip: {
    // ReLU6, a band around 0, and bounds open on one side
    const std::pair<float, float> bounds[] = {
        {0.0f, 6.0f}, {-1.0f, 1.0f}, {-INFINITY, 0.5f}, {-0.25f, INFINITY}};
    std::tie(a.param, a.param2) = bounds[rng.intIn(0, 3)];
    auto text = [](float v) {
      return std::isinf(v) ? std::string(v > 0 ? "inf" : "-inf") : std::to_string(v);
    };
    a.text += rng.chance(0.5) ? "(" + text(a.param) + ", " + text(a.param2) + ")"
                              : "(max = " + text(a.param2) + ", min = " + text(a.param) + ")";
    break;
  }
  case Act::Identity:
    if (rng.chance(0.5))
      a.text.clear(); // the default: no activation attribute at all
    break;
  default:
    break;
  }
  return a;
}

Param Generator::literal(const std::vector<int64_t> &dims, double lo, double hi, double zeros,
                         int64_t zeroRow, int64_t zeroCol) {
  Param prm;
  int64_t n = 1;
  for (int64_t d : dims)
    n *= d;
  prm.values.resize(static_cast<size_t>(n));
  // Mostly full-precision f32 values; sometimes short decimals ("0.125").
  const char *format = rng.chance(0.7) ? "%.9g" : "%.3g";
  // Zeros in aligned blocks of `block` rows (Profile::zeroBlockRows): the
  // first row of a block draws each column's choice for the block.
  const int64_t rows = dims.size() > 1 ? dims[dims.size() - 2] : 1;
  const int64_t block = rows % p.zeroBlockRows == 0 ? p.zeroBlockRows : 1;
  std::vector<char> blockZero(static_cast<size_t>(dims.back()), 0);
  std::string text;
  for (int64_t i = 0; i < n; ++i) {
    std::string num;
    prm.values[static_cast<size_t>(i)] = formatted(rng.uniform(lo, hi), format, num);
    const int64_t col = i % dims.back(),
                  row = dims.size() > 1 ? i / dims.back() % dims[dims.size() - 2] : 0;
    if (row % block == 0)
      blockZero[static_cast<size_t>(col)] = zeros > 0 && rng.chance(zeros);
    if (blockZero[static_cast<size_t>(col)] || col == zeroCol ||
        (zeroRow >= 0 && row / block == zeroRow / block))
      prm.values[static_cast<size_t>(i)] = formatted(0.0, "%g", num);
    // Brackets: open every dimension whose index starts here.
    int64_t stride = n;
    std::string open, close;
    for (int64_t d : dims) {
      stride /= d;
      if (i % (stride * d) == 0)
        open += "[";
    }
    stride = 1;
    for (size_t k = dims.size(); k-- > 0;) {
      if ((i + 1) % (stride * dims[k]) == 0)
        close += "]";
      stride *= dims[k];
    }
    text += (i ? ", " : "") + open + num + close;
  }
  prm.text = text;
  return prm;
}

Param Generator::initialiser(const std::string &call, const frontend::InitSpec &spec,
                             const std::vector<int64_t> &dims, int64_t fanIn, int64_t fanOut) {
  Tensor t(dims);
  frontend::fillInitializer(t, spec, std::max<int64_t>(fanIn, 1), std::max<int64_t>(fanOut, 1));
  return {call, std::vector<float>(t.values.begin(), t.values.end())};
}

Param Generator::scalar(double v, int64_t n) {
  Param prm;
  float f = formatted(v, "%.4g", prm.text);
  prm.values.assign(static_cast<size_t>(n), f);
  return prm;
}

Param Generator::weights(int64_t units, int64_t inputs, bool neuron) {
  std::vector<int64_t> dims = {units, inputs};
  const double gain = rng.pick(std::vector<double>{0.5, 1, 1, 1, 1.5, 2});
  const double limit = gain * std::sqrt(3.0 / static_cast<double>(inputs));
  if (!p.zeroFractions.empty()) {
    const double zeros = rng.pick(p.zeroFractions);
    const int64_t zeroRow = rng.chance(0.5) ? rng.intIn(0, units - 1) : -1;
    const int64_t zeroCol = rng.chance(0.5) ? rng.intIn(0, inputs - 1) : -1;
    return literal(dims, -limit, limit, zeros, zeroRow, zeroCol);
  }
  if (units * inputs <= 4096 && rng.chance(p.literalWeights)) {
    if (neuron && rng.chance(0.5))
      return literal({inputs}, -limit, limit); // a flat list: a neuron's usual spelling
    return literal(dims, -limit, limit);
  }
  frontend::InitSpec spec;
  spec.seed = initSeed();
  std::string s = std::to_string(spec.seed);
  switch (rng.intIn(0, 5)) {
  case 0:
    spec.kind = frontend::InitKind::He;
    return initialiser(rng.chance(0.5) ? "he(seed = " + s + ")" : "kaiming(" + s + ")", spec, dims,
                       inputs, units);
  case 1:
    spec.kind = frontend::InitKind::Xavier;
    return initialiser(rng.chance(0.5) ? "xavier(seed = " + s + ")" : "glorot(" + s + ")", spec,
                       dims, inputs, units);
  case 2:
  case 3: {
    spec.kind = frontend::InitKind::Uniform;
    std::string lo, hi;
    spec.a = shortNumber(-limit, lo);
    spec.b = shortNumber(limit, hi);
    return initialiser(rng.chance(0.5)
                           ? "uniform(" + lo + ", " + hi + ", " + s + ")"
                           : "uniform(low = " + lo + ", high = " + hi + ", seed = " + s + ")",
                       spec, dims, inputs, units);
  }
  default: {
    spec.kind = frontend::InitKind::Normal;
    std::string sd;
    spec.a = 0;
    spec.b = shortNumber(gain / std::sqrt(static_cast<double>(inputs)), sd);
    return initialiser("normal(mean = 0, stddev = " + sd + ", seed = " + s + ")", spec, dims,
                       inputs, units);
  }
  }
}

Param Generator::bias(int64_t units) {
  frontend::InitSpec spec;
  spec.seed = initSeed();
  std::string s = std::to_string(spec.seed);
  switch (rng.intIn(0, 6)) {
  case 0: // none: soma's default 0
    return {"", std::vector<float>(static_cast<size_t>(units), 0.0f)};
  case 1:
    return scalar(rng.uniform(-0.5, 0.5), units);
  case 2:
    if (units <= 600)
      return literal({units}, -0.5, 0.5);
    [[fallthrough]];
  case 3:
    spec.kind = frontend::InitKind::Uniform;
    spec.a = -0.5;
    spec.b = 0.5;
    return initialiser("uniform(-0.5, 0.5, seed = " + s + ")", spec, {units}, units, units);
  case 4:
    spec.kind = frontend::InitKind::Normal;
    spec.a = 0;
    spec.b = 0.25;
    return initialiser("normal(0, 0.25, " + s + ")", spec, {units}, units, units);
  case 5:
    spec.kind = rng.chance(0.5) ? frontend::InitKind::Zeros : frontend::InitKind::Ones;
    return initialiser(spec.kind == frontend::InitKind::Zeros ? "zeros" : "ones", spec, {units},
                       units, units);
  default: {
    spec.kind = frontend::InitKind::Constant;
    std::string v;
    spec.a = shortNumber(rng.uniform(-1, 1), v);
    return initialiser("constant(" + v + ")", spec, {units}, units, units);
  }
  }
}

Param Generator::featureVector(int64_t c, double center, double spread, bool optional,
                               double defaultValue) {
  switch (rng.intIn(optional ? 0 : 1, 3)) {
  case 0:
    return {"", std::vector<float>(static_cast<size_t>(c), static_cast<float>(defaultValue))};
  case 1:
    return scalar(center + rng.uniform(-spread, spread), c);
  case 2:
    if (c <= 600)
      return literal({c}, center - spread, center + spread);
    [[fallthrough]];
  default: {
    frontend::InitSpec spec;
    spec.kind = frontend::InitKind::Uniform;
    spec.seed = initSeed();
    std::string lo, hi;
    spec.a = shortNumber(center - spread, lo);
    spec.b = shortNumber(center + spread, hi);
    return initialiser("uniform(low = " + lo + ", high = " + hi +
                           ", seed = " + std::to_string(spec.seed) + ")",
                       spec, {c}, c, c);
  }
  }
}

std::vector<int> Generator::sameLeading(int v) const {
  const std::vector<int64_t> &d = net.values[static_cast<size_t>(v)].dims;
  std::vector<int> out;
  for (size_t i = 0; i < net.values.size(); ++i) {
    const std::vector<int64_t> &e = net.values[i].dims;
    if (static_cast<int>(i) != v && e.size() == d.size() &&
        std::equal(d.begin(), d.end() - 1, e.begin()))
      out.push_back(static_cast<int>(i));
  }
  return out;
}

std::vector<int> Generator::sameShape(int v) const {
  std::vector<int> out;
  for (size_t i = 0; i < net.values.size(); ++i)
    if (static_cast<int>(i) != v && net.values[i].dims == net.values[static_cast<size_t>(v)].dims)
      out.push_back(static_cast<int>(i));
  return out;
}

int Generator::dense(int x, bool neuron) {
  std::vector<int> operands = {x};
  std::vector<int> partners = sameLeading(x);
  if (!partners.empty() && rng.chance(p.secondOperand))
    operands.push_back(rng.pick(partners));
  int64_t inputs = 0;
  for (int v : operands)
    inputs += net.values[static_cast<size_t>(v)].size();
  int64_t units = neuron ? 1 : width();
  Layer &l = addLayer(neuron ? LayerKind::Neuron : LayerKind::Dense, neuron ? "neuron" : "dense",
                      operands, {units});
  l.units = units;
  l.weights = weights(units, inputs, neuron);
  l.bias = neuron ? (rng.chance(0.3) ? Param{"", {0.0f}} : scalar(rng.uniform(-0.5, 0.5), 1))
                  : bias(units);
  l.act = randomActivation();
  return l.result;
}

/// An add (a residual) or a mul (a gate) layer: y = x op g(x), g a dense
/// layer of x's width, or x op another value of x's shape; sometimes op a
/// third one.
int Generator::binary(LayerKind kind, int x) {
  const bool add = kind == LayerKind::Add;
  const char *name = add ? "add" : "mul";
  const Value &v = net.values[static_cast<size_t>(x)];
  const std::vector<int64_t> dims = v.dims; // (addLayer may move `v`)
  std::vector<int> operands = {x};
  if (dims.size() == 1 && (add || rng.chance(0.7))) {
    // Half the time an activation follows the op, which fuse-elementwise
    // folds into it. For add, g then has none: act(x + W x + b), the
    // residual block fuse-elementwise turns into one dense_add.
    const int64_t n = v.size();
    const bool then = rng.chance(0.5);
    Layer &g = addLayer(LayerKind::Dense, add ? "branch" : "gate", {x}, {n});
    g.units = n;
    g.weights = weights(n, n, false);
    g.bias = bias(n);
    g.act = then && add ? activation(Act::Identity) : randomActivation();
    operands.push_back(g.result);
    if (then)
      return unary(LayerKind::Activation, addLayer(kind, name, operands, dims).result);
  } else {
    std::vector<int> same = sameShape(x);
    operands.push_back(same.empty() ? x : rng.pick(same));
  }
  std::vector<int> same = sameShape(x);
  if (!same.empty() && rng.chance(0.3))
    operands.push_back(rng.pick(same)); // (a op b) op c
  return addLayer(kind, name, operands, dims).result;
}

int Generator::concat(int x) {
  std::vector<int> operands = {x};
  std::vector<int> partners = sameLeading(x);
  int parts = static_cast<int>(rng.intIn(1, 2));
  for (int i = 0; i < parts; ++i)
    operands.push_back(partners.empty() || rng.chance(0.1) ? x : rng.pick(partners));
  std::vector<int64_t> dims = net.values[static_cast<size_t>(x)].dims;
  int64_t last = 0;
  for (int v : operands)
    last += net.values[static_cast<size_t>(v)].last();
  if (last > 1200)
    return unary(LayerKind::Activation, x); // keep widths in range
  dims.back() = last;
  return addLayer(LayerKind::Concat, "concat", operands, dims).result;
}

int Generator::unary(LayerKind kind, int x) {
  static const char *const prefix[] = {"dense",     "neuron",     "add", "concat", "batchnorm",
                                       "layernorm", "scaleshift", "act", "mul"};
  std::vector<int64_t> dims = net.values[static_cast<size_t>(x)].dims;
  Layer &l = addLayer(kind, prefix[static_cast<int>(kind)], {x}, dims);
  const int64_t c = dims.back();
  auto epsilon = [&] {
    if (rng.chance(0.5))
      return;
    l.epsilon =
        formatted(rng.pick(std::vector<double>{1e-3, 0.1, 1e-5, 1e-6}), "%g", l.epsilonText);
  };
  switch (kind) {
  case LayerKind::BatchNorm:
    l.mean = featureVector(c, 0, 0.5, false, 0);
    if (rng.chance(0.1)) {
      l.variance = scalar(0, c); // allowed; epsilon keeps it finite
      l.epsilon = formatted(1e-3, "%g", l.epsilonText);
    } else {
      l.variance = featureVector(c, 1.05, 0.95, false, 1);
      epsilon();
    }
    l.scale = featureVector(c, 1, 0.5, true, 1);
    l.shift = featureVector(c, 0, 0.5, true, 0);
    break;
  case LayerKind::LayerNorm:
    l.scale = featureVector(c, 1, 0.5, true, 1);
    l.shift = featureVector(c, 0, 0.5, true, 0);
    epsilon();
    break;
  case LayerKind::ScaleShift:
    l.scale = featureVector(c, 0, 2, true, 1);
    l.shift = featureVector(c, 0, 1, true, 0);
    break;
  case LayerKind::Activation:
    l.act = randomActivation();
    if (l.act.text.empty())
      l.act.text = "identity"; // required for an activation layer
    break;
  default:
    assert(false && "not a unary layer");
  }
  return l.result;
}

void Generator::chooseOutputs() {
  std::vector<bool> exported(net.values.size(), false);
  for (const Layer &l : net.layers)
    if (uses[static_cast<size_t>(l.result)] == 0) {
      net.outputs.push_back({l.name, l.result});
      exported[static_cast<size_t>(l.result)] = true;
    }
  // Sometimes also a hidden layer (an output that feeds others), an input
  // (an output copied from the caller's buffer) or a second name for a value.
  if (net.layers.size() > 1 && rng.chance(0.25)) {
    const Layer &l =
        net.layers[static_cast<size_t>(rng.intIn(0, static_cast<int64_t>(net.layers.size()) - 2))];
    if (!exported[static_cast<size_t>(l.result)]) {
      net.outputs.push_back({l.name, l.result});
      exported[static_cast<size_t>(l.result)] = true;
    }
  }
  if (rng.chance(0.1)) {
    int in = rng.pick(net.inputs);
    net.outputs.push_back({"copy_" + net.values[static_cast<size_t>(in)].name, in});
  }
  if (rng.chance(0.15)) {
    auto [name, v] = net.outputs[static_cast<size_t>(
        rng.intIn(0, static_cast<int64_t>(net.outputs.size()) - 1))];
    net.outputs.push_back({"alias_" + name, v});
  }
  // Unused inputs are bound but feed nothing (a warning, not an error).
}

void Generator::chooseBatch() {
  int64_t elements = 0;
  for (const Value &v : net.values)
    elements += v.size();
  int64_t cost = std::max<int64_t>(net.macsPerSample() + 8 * elements, 1);
  int64_t cap = std::clamp<int64_t>(p.macBudget / cost, 1, p.maxBatch);
  static const std::vector<int64_t> batches = {1,  2,  3,  4,  5,  6,  7,   8,   9,   11,  13,
                                               16, 17, 31, 32, 33, 64, 100, 127, 255, 256, 300};
  std::vector<int64_t> fit;
  for (int64_t b : batches)
    if (b <= cap)
      fit.push_back(b);
  if (cap > 1 && rng.chance(0.3))
    fit = {cap}; // the largest that fits, often an odd number
  net.batch = rng.pick(fit);
}

Network Generator::run() {
  net.name = "n" + std::to_string(seed);
  net.inputScale = rng.pick(std::vector<double>{0.5, 1, 1, 2, 4});

  if (p.activationProbe) {
    // One activation layer straight on the inputs, over a wide range.
    int64_t w = width();
    int x = addValue("x", {w});
    net.inputs.push_back(x);
    net.inputScale = rng.pick(std::vector<double>{4, 20, 20, 100});
    unary(LayerKind::Activation, x);
    chooseOutputs();
    chooseBatch();
    return std::move(net);
  }

  int nInputs = static_cast<int>(rng.intIn(1, p.maxInputs));
  std::vector<int64_t> shared; // later inputs often share the first's shape
  for (int i = 0; i < nInputs; ++i) {
    std::vector<int64_t> dims;
    if (i > 0 && rng.chance(0.5)) {
      dims = shared;
    } else {
      if (rng.chance(p.multiDimInputs)) {
        dims.push_back(rng.intIn(1, 4));
        if (rng.chance(0.3))
          dims.push_back(rng.intIn(1, 3));
      }
      dims.push_back(width());
    }
    if (i == 0)
      shared = dims;
    net.inputs.push_back(addValue("x" + std::to_string(i), dims));
  }

  const int depth = static_cast<int>(rng.intIn(p.minDepth, p.maxDepth));
  const double weightsOf[] = {p.dense,     p.neuron,     p.residual,   p.concat, p.batchnorm,
                              p.layernorm, p.scaleshift, p.activation, p.gate};
  double total = 0;
  for (double w : weightsOf)
    total += w;
  int current = net.inputs[0];
  for (int d = 0; d < depth; ++d) {
    int x = chooseOperand(current);
    double r = rng.uniform(0, total);
    int kind = 0;
    while (kind < 8 && r >= weightsOf[kind]) {
      r -= weightsOf[kind];
      ++kind;
    }
    // Ensure at least one dense layer: the tier is about the dense kernel first.
    if (d == depth - 1 && std::none_of(net.layers.begin(), net.layers.end(), [](const Layer &l) {
          return l.kind == LayerKind::Dense || l.kind == LayerKind::Neuron;
        }))
      kind = 0;
    switch (kind) {
    case 0:
      current = dense(x, false);
      break;
    case 1:
      current = dense(x, true);
      break;
    case 2:
      current = binary(LayerKind::Add, x);
      break;
    case 3:
      current = concat(x);
      break;
    case 4:
      current = unary(LayerKind::BatchNorm, x);
      break;
    case 5:
      current = unary(LayerKind::LayerNorm, x);
      break;
    case 6:
      current = unary(LayerKind::ScaleShift, x);
      break;
    case 7:
      current = unary(LayerKind::Activation, x);
      break;
    default:
      current = binary(LayerKind::Mul, x);
      break;
    }
  }
  chooseOutputs();
  chooseBatch();
  return std::move(net);
}

} // namespace

int64_t Network::macsPerSample() const {
  int64_t macs = 0;
  for (const Layer &l : layers)
    if (l.kind == LayerKind::Dense || l.kind == LayerKind::Neuron)
      macs +=
          l.units * static_cast<int64_t>(l.weights.values.size() / static_cast<size_t>(l.units));
  return macs;
}

std::string Network::text() const {
  std::string s = "network " + name + " {\n";
  for (int in : inputs)
    s += "  input " + values[static_cast<size_t>(in)].name + ": f32[" +
         joinDims(values[static_cast<size_t>(in)].dims) + "]\n";
  static const char *const kinds[] = {"dense",      "neuron",     "add",
                                      "concat",     "batchnorm",  "layernorm",
                                      "scaleshift", "activation", "mul"};
  for (const Layer &l : layers) {
    s += "  " + std::string(kinds[static_cast<int>(l.kind)]) + " " + l.name + "(";
    for (size_t i = 0; i < l.operands.size(); ++i)
      s += (i ? ", " : "") + values[static_cast<size_t>(l.operands[i])].name;
    s += ")";
    std::vector<std::string> attrs;
    auto attr = [&](const char *name, const std::string &value) {
      if (!value.empty())
        attrs.push_back(std::string(name) + " = " + value);
    };
    switch (l.kind) {
    case LayerKind::Dense:
      attr("units", std::to_string(l.units));
      [[fallthrough]];
    case LayerKind::Neuron:
      attr("weights", l.weights.text);
      attr("bias", l.bias.text);
      attr("activation", l.act.text); // empty: identity, left out
      break;
    case LayerKind::BatchNorm:
      attr("mean", l.mean.text);
      attr("variance", l.variance.text);
      [[fallthrough]];
    case LayerKind::LayerNorm:
    case LayerKind::ScaleShift:
      attr("scale", l.scale.text);
      attr("shift", l.shift.text);
      attr("epsilon", l.kind == LayerKind::ScaleShift ? "" : l.epsilonText);
      break;
    case LayerKind::Activation:
      attr("activation", l.act.text);
      break;
    case LayerKind::Add:
    case LayerKind::Mul:
    case LayerKind::Concat:
      break;
    }
    if (!attrs.empty()) {
      s += " {";
      for (size_t i = 0; i < attrs.size(); ++i)
        s += (i ? "; " : " ") + attrs[i];
      s += " }";
    }
    s += "\n";
  }
  for (const auto &[exported, v] : outputs)
    s += exported == values[static_cast<size_t>(v)].name
             ? "  output " + exported + "\n"
             : "  output " + exported + " = " + values[static_cast<size_t>(v)].name + "\n";
  return s + "}\n";
}

std::vector<std::vector<float>> generateInputs(const Network &net, uint64_t seed) {
  Rng rng(seed ^ 0x1b873593cc9e2d51ULL);
  std::vector<std::vector<float>> inputs;
  for (int in : net.inputs) {
    std::vector<float> v(
        static_cast<size_t>(net.batch * net.values[static_cast<size_t>(in)].size()));
    for (float &f : v)
      f = static_cast<float>(rng.uniform(-net.inputScale, net.inputScale));
    inputs.push_back(std::move(v));
  }
  return inputs;
}

Network generateNetwork(const Profile &profile, uint64_t seed) {
  return Generator(profile, seed).run();
}

} // namespace soma::numerical
