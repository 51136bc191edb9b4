// Model::compileFile takes an ONNX model (a path ending in .onnx) as it
// takes a network: the models are built at test time by
// tests/tools/onnx_models.py (the ctest fixture onnx_models), with NumPy
// references, so nothing binary is in the repository.
#include "soma/soma.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

using soma::Model;
using soma::Result;
using soma::Status;

namespace {
std::string modelDir(const std::string &name) {
  return std::string(SOMA_ONNX_MODELS_DIR) + "/" + name;
}

/// The values of a version 1 .npy file of float32 or float64, and its
/// shape; what onnx_models.py writes.
std::vector<double> readNpy(const std::string &path, std::vector<int64_t> &shape) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_GT(bytes.size(), 10u) << path;
  if (bytes.size() <= 10)
    return {};
  size_t headerLen = static_cast<uint8_t>(bytes[8]) | (static_cast<uint8_t>(bytes[9]) << 8);
  std::string header = bytes.substr(10, headerLen);
  bool f8 = header.find("<f8") != std::string::npos;
  size_t open = header.find("'shape': (") + 10;
  shape.clear();
  for (size_t i = open; header[i] != ')';) {
    shape.push_back(std::stoll(header.substr(i)));
    i = header.find_first_of(",)", i);
    if (header[i] == ',')
      i += header[i + 1] == ' ' ? 2 : 1;
  }
  std::vector<double> values;
  const char *data = bytes.data() + 10 + headerLen;
  size_t n = (bytes.size() - 10 - headerLen) / (f8 ? 8 : 4);
  for (size_t i = 0; i < n; ++i) {
    if (f8) {
      double v;
      std::memcpy(&v, data + 8 * i, 8);
      values.push_back(v);
    } else {
      float v;
      std::memcpy(&v, data + 4 * i, 4);
      values.push_back(v);
    }
  }
  return values;
}
} // namespace

TEST(OnnxApi, CompileFileRunsAnOnnxModelWithinTheContract) {
  Result<Model> m = Model::compileFile(modelDir("mlp_gemm/mlp_gemm.onnx"));
  ASSERT_TRUE(m) << m.error();
  std::vector<int64_t> xShape, refShape;
  std::vector<double> x64 = readNpy(modelDir("mlp_gemm/x.npy"), xShape);
  std::vector<double> ref = readNpy(modelDir("mlp_gemm/ref.npy"), refShape);
  ASSERT_EQ(xShape, (std::vector<int64_t>{5, 8}));
  ASSERT_EQ(refShape, (std::vector<int64_t>{5, 4}));
  std::vector<float> x(x64.begin(), x64.end()), y(ref.size());
  Status s = m->run({{"x", x.data(), xShape}}, {{"y", y.data(), refShape}});
  ASSERT_TRUE(s) << s.message();
  double scale = 0;
  for (double r : ref)
    scale = std::max(scale, std::fabs(r));
  for (size_t i = 0; i < ref.size(); ++i)
    EXPECT_LE(std::fabs(y[i] - ref[i]), 1e-5 * (std::fabs(ref[i]) + scale)) << "element " << i;
}

TEST(OnnxApi, CompileFileReportsAnUnsupportedOp) {
  Result<Model> m = Model::compileFile(modelDir("unsupported_op/unsupported_op.onnx"));
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().find("node '/act/Cos' (Cos, opset 13): op 'Cos' is not supported"),
            std::string::npos)
      << m.error();
}
