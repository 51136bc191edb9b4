// The safetensors reader against well-formed and hostile files.
#include "soma/frontend/Safetensors.h"

#include <gtest/gtest.h>

#include <cstring>

using namespace soma;
using soma::frontend::SafetensorsFile;

namespace {
std::string image(const std::string &header, const std::string &data) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i)
    out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}
std::string f32(std::initializer_list<float> v) {
  return std::string(reinterpret_cast<const char *>(std::data(v)), v.size() * 4);
}
} // namespace

TEST(Safetensors, ReadsNamedTensors) {
  auto file = SafetensorsFile::parse(
      image(
          R"({"__metadata__": {"format": "pt"}, "fc.weight": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}, "fc.bias": {"dtype":"F32","shape":[2],"data_offsets":[16,24]}})",
          f32({1, 2, 3, 4, 5, 6})),
      "m.safetensors");
  ASSERT_TRUE(file) << file.error();
  auto w = file->tensor("fc.weight");
  ASSERT_TRUE(w) << w.error();
  EXPECT_EQ(w->dims, (std::vector<int64_t>{2, 2}));
  auto b = file->tensor("fc.bias");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->values[1], 6.0f);
}

TEST(Safetensors, ConvertsF64) {
  double d[2] = {1.5, -3};
  auto file = SafetensorsFile::parse(
      image(R"({"t": {"dtype": "F64", "shape": [2], "data_offsets": [0, 16]}})",
            std::string(reinterpret_cast<char *>(d), 16)),
      "m");
  ASSERT_TRUE(file) << file.error();
  bool converted = false;
  auto t = file->tensor("t", &converted);
  ASSERT_TRUE(t);
  EXPECT_TRUE(converted);
  EXPECT_EQ(t->values[1], -3.0f);
}

TEST(Safetensors, MissingNameListsKnownOnes) {
  auto file = SafetensorsFile::parse(
      image(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", f32({1})), "m");
  ASSERT_TRUE(file);
  auto t = file->tensor("b");
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().find("no tensor named 'b'; it holds 'a'"), std::string::npos) << t.error();
}

TEST(Safetensors, RejectsOffsetsBeyondData) {
  auto file = SafetensorsFile::parse(
      image(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", f32({1})), "m");
  ASSERT_FALSE(file);
  EXPECT_NE(file.error().find("outside"), std::string::npos) << file.error();
}

TEST(Safetensors, RejectsShapeOffsetDisagreement) {
  auto file = SafetensorsFile::parse(
      image(R"({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", f32({1, 2})), "m");
  ASSERT_FALSE(file);
  EXPECT_NE(file.error().find("needs 12 bytes"), std::string::npos) << file.error();
}

TEST(Safetensors, RejectsHeaderSizeBeyondFile) {
  std::string img = image("{}", "");
  img[5] = '\x7f';
  auto file = SafetensorsFile::parse(img, "m");
  ASSERT_FALSE(file);
  EXPECT_NE(file.error().find("exceeds the file size"), std::string::npos);
}

TEST(Safetensors, RejectsUnreadableDtypeOnRead) {
  auto file = SafetensorsFile::parse(
      image(R"({"a": {"dtype": "I32", "shape": [1], "data_offsets": [0, 4]}})", f32({1})), "m");
  ASSERT_TRUE(file) << file.error();
  auto t = file->tensor("a");
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().find("dtype I32"), std::string::npos);
}

TEST(Safetensors, RejectsMalformedJson) {
  for (const char *h :
       {"", "{", "{\"a\": ", "{\"a\": {\"dtype\": \"F32\"}}", "[1, 2]",
        "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}", "{} trailing"}) {
    auto file = SafetensorsFile::parse(image(h, f32({1})), "m");
    EXPECT_FALSE(file) << h;
  }
  EXPECT_FALSE(SafetensorsFile::parse("short", "m"));
}
