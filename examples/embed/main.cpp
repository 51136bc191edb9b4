// embed: a standalone application that uses soma through its installed
// package. It compiles a network file, looks up its first input and output,
// runs one sample and prints the result.
//
//   embed examples/neuron.nn      prints   n[0] = 0.78
#include <soma/soma.h>

#include <cstdio>
#include <iostream>
#include <vector>

int main(int argc, char **argv) {
  if (argc != 2) {
    std::cerr << "usage: embed NETWORK.nn\n";
    return 2;
  }

  // Compile for this machine's CPU with the LLVM JIT (the default options).
  // Errors are values: a failed compile carries the diagnostics, as
  // `file:line:col: error: ...` lines.
  soma::Result<soma::Model> model = soma::Model::compileFile(argv[1]);
  if (!model) {
    std::cerr << model.error();
    return 1;
  }

  // Shapes are per sample; a buffer adds the batch dimension in front.
  const soma::TensorInfo &in = model->inputs().at(0);
  const soma::TensorInfo &out = model->outputs().at(0);
  if (in.shape != std::vector<int64_t>{2} || out.shape != std::vector<int64_t>{1}) {
    std::cerr << "embed: expected a network from f32[2] to f32[1]\n";
    return 1;
  }

  // One sample (batch 1). The buffers belong to the caller; run() reads the
  // inputs and writes the outputs, and may be called from many threads.
  std::vector<float> x = {0.5f, 0.3f};
  std::vector<float> y(1);
  soma::Status status = model->run({{in.name, x.data(), {1, 2}}}, {{out.name, y.data(), {1, 1}}});
  if (!status) {
    std::cerr << status.message(); // `net.nn: error: ...` and a newline
    return 1;
  }
  std::printf("%s[0] = %.6g\n", out.name.c_str(), static_cast<double>(y[0]));
  return 0;
}
