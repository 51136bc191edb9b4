// What the API test programs share (ApiTest, AllocTest, EnginesTest):
// networks as language text, and caller buffers shaped from a model.
#pragma once

#include "soma/soma.h"

#include <cstdint>
#include <random>
#include <vector>

namespace soma::testnets {

/// The worked single neuron: two inputs, relu.
inline const char *const neuronNet = R"(network neuron {
  input x: f32[2]
  neuron n(x) { weights = [0.8, 0.6]; bias = 0.2; activation = relu }
  output n
}
)";

/// Two inputs (one of them a matrix per sample) and five outputs: a
/// layernorm keeps the [2, 17] shape, dense layers of odd widths leave
/// vector tails, softmax, an input is exported as it is, and one value is
/// exported twice (copies after the steps). (Rows of 17 random values keep
/// the layernorm well conditioned: on a row of nearly equal values f32 and
/// the interpreter's f64 differ by more than 1e-5 for good reason.)
inline const char *const richNet = R"(network rich {
  input grid: f32[2, 17]
  input meta: f32[4]
  layernorm g(grid) { scale = 1.5; shift = 0.1 }
  dense h(grid) { units = 37; weights = he(seed = 3); bias = 0.1; activation = gelu }
  dense m(meta, h) { units = 19; weights = xavier(seed = 4); bias = -0.05; activation = tanh }
  activation p(m) { activation = softmax }
  output g
  output probs = p
  output h
  output echo = meta
  output again = h
}
)";

inline int64_t product(const std::vector<int64_t> &dims) {
  int64_t n = 1;
  for (int64_t d : dims)
    n *= d;
  return n;
}

/// [batch, sample dims...].
inline std::vector<int64_t> batched(int64_t batch, const std::vector<int64_t> &sample) {
  std::vector<int64_t> dims = {batch};
  dims.insert(dims.end(), sample.begin(), sample.end());
  return dims;
}

/// Owns one run's buffers, shaped from the model's introspection, with
/// seeded random inputs in [-2, 2] and outputs filled with -12345 (a value
/// no run writes, so an element left unwritten shows).
struct Buffers {
  std::vector<std::vector<float>> in, out;
  std::vector<InputBuffer> inputs;
  std::vector<OutputBuffer> outputs;

  Buffers(const Model &model, int64_t batch, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
    for (const TensorInfo &t : model.inputs()) {
      in.emplace_back(static_cast<size_t>(batch * product(t.shape)));
      for (float &v : in.back())
        v = dist(rng);
    }
    for (const TensorInfo &t : model.outputs())
      out.emplace_back(static_cast<size_t>(batch * product(t.shape)), -12345.0f);
    for (size_t i = 0; i < in.size(); ++i)
      inputs.push_back(
          {model.inputs()[i].name, in[i].data(), batched(batch, model.inputs()[i].shape)});
    for (size_t o = 0; o < out.size(); ++o)
      outputs.push_back(
          {model.outputs()[o].name, out[o].data(), batched(batch, model.outputs()[o].shape)});
  }
  Buffers(const Buffers &) = delete;
};

} // namespace soma::testnets
