// Networks the API test programs share (ApiTest, AllocTest), as language
// text.
#pragma once

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

} // namespace soma::testnets
