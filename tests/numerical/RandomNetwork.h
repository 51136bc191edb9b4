// Seeded random networks for the differential tier: a network is generated
// as a small in-memory description (values, layers, the exact f32 numbers
// every tensor attribute will hold) and printed as network-language text,
// so the harness knows the weights soma reads without asking soma for them.
// The same profile and seed give the same network on every machine: the
// generator is the harness's own SplitMix64, not the C++ library's.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace soma::numerical {

/// SplitMix64 with the few draws the generator needs.
class Rng {
public:
  explicit Rng(uint64_t seed) : state(seed) {}
  uint64_t next();
  /// Uniform in [0, 1).
  double uniform();
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  /// Uniform integer in [lo, hi].
  int64_t intIn(int64_t lo, int64_t hi);
  bool chance(double p) { return uniform() < p; }
  template <class T> const T &pick(const std::vector<T> &v) {
    return v[static_cast<size_t>(intIn(0, static_cast<int64_t>(v.size()) - 1))];
  }

private:
  uint64_t state;
};

/// The activations of docs/language.md, in its order.
enum class Act {
  Identity,
  Relu,
  LeakyRelu,
  Sigmoid,
  Tanh,
  Softmax,
  Gelu,
  Silu,
  Elu,
  Softplus,
  HardSigmoid,
  Step,
  LogSoftmax,
  Selu,
  Softsign,
  GeluTanh,
  Clip
};
inline constexpr int kNumActs = 17;
/// The activation's name in the language ("gelu_tanh" for gelu(approximate
/// = tanh), a name for test names).
const char *actName(Act a);
std::vector<Act> allActs();

struct Activation {
  Act kind = Act::Identity;
  /// alpha (leaky_relu, elu, selu) or threshold (step), as soma stores it: f32.
  float param = 0;
  /// The spelling in the network: "gelu", "elu(0.5)", "step(threshold = 0.25)";
  /// empty for an identity left to the default.
  std::string text;
  /// selu's gamma, hard_sigmoid's beta, clip's max.
  float param2 = 0;
};

/// A tensor attribute: its spelling in the network and the values soma
/// reads from it (row-major, already expanded to the expected shape).
struct Param {
  std::string text;
  std::vector<float> values;
};

enum class LayerKind {
  Dense,
  Neuron,
  Add,
  Concat,
  BatchNorm,
  LayerNorm,
  ScaleShift,
  Activation,
  Mul
};

/// A value of the network: an input or a layer's result, with its
/// per-sample shape.
struct Value {
  std::string name;
  std::vector<int64_t> dims;
  int64_t size() const;
  int64_t last() const { return dims.back(); }
  int64_t rows() const { return size() / last(); }
};

struct Layer {
  LayerKind kind = LayerKind::Dense;
  std::string name;
  std::vector<int> operands; // value ids
  int result = -1;           // value id
  int64_t units = 0;         // dense, neuron (1)
  Activation act;            // dense, neuron, activation
  // Only those the kind uses are set; an empty text leaves the attribute out
  // (the values then hold soma's default).
  Param weights, bias, mean, variance, scale, shift;
  std::string epsilonText;
  float epsilon = 1e-5f;
};

struct Network {
  std::string name;
  std::vector<Value> values;
  std::vector<int> inputs; // value ids
  std::vector<Layer> layers;
  /// Exported name and value id, in `output` statement order.
  std::vector<std::pair<std::string, int>> outputs;
  int64_t batch = 1;
  /// Half-width of the uniform distribution the inputs are drawn from.
  double inputScale = 1;

  std::string text() const;
  /// Multiply-adds per sample in dense and neuron layers.
  int64_t macsPerSample() const;
};

/// What a test asks of its networks.
struct Profile {
  std::vector<Act> acts;       // drawn for dense, neuron and activation layers
  std::vector<int64_t> widths; // drawn for units and input sizes
  int minDepth = 1, maxDepth = 6;
  int maxInputs = 3;
  /// Chance that a layer's x is the previous layer's value (else any value
  /// so far).
  double previousOperand = 0.65;
  /// Chance that a dense layer takes a second value (concatenated).
  double secondOperand = 0.2;
  double multiDimInputs = 0.2; // chance of an input f32[r, w] or f32[r1, r2, w]
  // Relative weights of the layer kinds (residual = dense + add).
  double dense = 6, neuron = 1, residual = 1.5, concat = 1, batchnorm = 1, layernorm = 1,
         scaleshift = 1, activation = 1.5;
  /// mul layers (gates: x * g(x)); 0 unless a test asks, so that every other
  /// test's seeds keep drawing the same networks.
  double gate = 0;
  double literalWeights = 0.25; // chance of literal weight arrays (when small)
  int64_t maxBatch = 300;
  /// Multiply-adds per run the batch is chosen to stay under.
  int64_t macBudget = 1500000;
  /// A single activation layer on wide-ranged inputs: measures the
  /// activation itself.
  bool activationProbe = false;
  /// When not empty: every dense and neuron layer's weights are a literal
  /// array with one of these fractions of zeros (drawn per layer; 1: all
  /// zero), and sometimes a whole row and a whole column of zeros.
  std::vector<double> zeroFractions;
  /// With zeroFractions: the zeros come in aligned blocks of this many rows
  /// (4: sparsity-analysis's "4x1" pattern) in layers whose units are a
  /// multiple of it; a zero row zeroes its whole block.
  int64_t zeroBlockRows = 1;
};

Network generateNetwork(const Profile &profile, uint64_t seed);

/// Inputs for `net`, [batch, dims...] each, uniform in +-inputScale.
std::vector<std::vector<float>> generateInputs(const Network &net, uint64_t seed);

/// Width lists for profiles.
namespace widths {
/// 1, 3, 7, 15, 16, 17, 31, 33, 127, 257, 599: every vector width's edges.
std::vector<int64_t> special();
std::vector<int64_t> tiny();
std::vector<int64_t> vectorEdges();
std::vector<int64_t> primes();
std::vector<int64_t> wide();
/// special, primes and every width from 1 to 600.
std::vector<int64_t> any();
} // namespace widths

} // namespace soma::numerical
