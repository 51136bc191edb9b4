// .npy reading and writing, including hostile headers.
#include "soma/support/Npy.h"
#include "soma/support/File.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <sys/stat.h>
#include <unistd.h>

using namespace soma;

namespace {
std::string npyImage(const std::string &dict, const std::string &data) {
  std::string header = dict;
  while ((10 + header.size() + 1) % 64)
    header += ' ';
  header += '\n';
  std::string out = std::string("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  return out + header + data;
}
std::string floats(std::initializer_list<float> v) {
  return std::string(reinterpret_cast<const char *>(std::data(v)), v.size() * 4);
}
} // namespace

TEST(Npy, ReadsFloat32) {
  auto arr = parseNpy(
      npyImage("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", floats({1, 2, 3, 4})),
      "t.npy");
  ASSERT_TRUE(arr) << arr.error();
  EXPECT_EQ(arr->tensor.dims, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(arr->tensor.values[3], 4.0f);
}

TEST(Npy, ConvertsFloat64) {
  double d[2] = {0.5, -2.25};
  auto arr = parseNpy(npyImage("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }",
                               std::string(reinterpret_cast<char *>(d), 16)),
                      "t.npy");
  ASSERT_TRUE(arr) << arr.error();
  EXPECT_EQ(arr->dtype, "<f8");
  EXPECT_EQ(arr->tensor.values[1], -2.25f);
}

TEST(Npy, ReordersFortranOrder) {
  // Column-major [[1, 2, 3], [4, 5, 6]] is stored 1 4 2 5 3 6.
  auto arr = parseNpy(npyImage("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
                               floats({1, 4, 2, 5, 3, 6})),
                      "t.npy");
  ASSERT_TRUE(arr) << arr.error();
  EXPECT_EQ(std::vector<float>(arr->tensor.values.begin(), arr->tensor.values.end()),
            (std::vector<float>{1, 2, 3, 4, 5, 6}));
}

TEST(Npy, RejectsTruncatedData) {
  auto arr = parseNpy(
      npyImage("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", floats({1, 2})),
      "t.npy");
  ASSERT_FALSE(arr);
  EXPECT_NE(arr.error().find("truncated"), std::string::npos) << arr.error();
}

TEST(Npy, RejectsOtherDtypes) {
  auto arr = parseNpy(
      npyImage("{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }", floats({1})), "t.npy");
  ASSERT_FALSE(arr);
  EXPECT_NE(arr.error().find("'<i4'"), std::string::npos) << arr.error();
}

TEST(Npy, RejectsHeaderLongerThanFile) {
  std::string img =
      npyImage("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", floats({1}));
  img[8] = '\xff';
  img[9] = '\x7f';
  EXPECT_FALSE(parseNpy(img, "t.npy"));
}

TEST(Npy, RejectsHugeShapeWithoutAllocating) {
  auto arr = parseNpy(
      npyImage("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", ""),
      "t.npy");
  ASSERT_FALSE(arr);
  EXPECT_NE(arr.error().find("limit"), std::string::npos) << arr.error();
}

TEST(Npy, RejectsGarbage) {
  EXPECT_FALSE(parseNpy("", "t.npy"));
  EXPECT_FALSE(parseNpy("\x93NUMPY\x01\x00\x05\x00{'des", "t.npy"));
  EXPECT_FALSE(parseNpy(npyImage("{'descr': '<f4', 'shape': (1,", ""), "t.npy"));
  EXPECT_FALSE(parseNpy(
      npyImage("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1,), }", floats({1})), "t.npy"));
}

TEST(Npy, WriteThenReadRoundTrips) {
  Tensor t({2, 3});
  for (size_t i = 0; i < t.values.size(); ++i)
    t.values[i] = static_cast<float>(i) * 0.5f - 1.0f;
  std::string path = ::testing::TempDir() + "/roundtrip.npy";
  ASSERT_TRUE(writeNpy(path, t));
  auto back = readNpy(path);
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(back->tensor.dims, t.dims);
  EXPECT_TRUE(std::equal(t.values.begin(), t.values.end(), back->tensor.values.begin()));
  std::remove(path.c_str());
}

TEST(Npy, MissingFileIsAnError) {
  auto arr = readNpy("/nonexistent/x.npy");
  ASSERT_FALSE(arr);
  EXPECT_NE(arr.error().find("cannot open"), std::string::npos);
}

TEST(Npy, OnlyRegularFilesAreRead) {
  // /dev/zero once read 2 GiB before failing; a FIFO blocked for a writer.
  auto zero = readNpy("/dev/zero");
  ASSERT_FALSE(zero);
  EXPECT_EQ(zero.error(), "'/dev/zero' is not a regular file (a device, pipe or socket)");
  std::string fifo = ::testing::TempDir() + "/soma-npy-test.fifo";
  std::remove(fifo.c_str());
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  auto piped = readNpy(fifo);
  ASSERT_FALSE(piped);
  EXPECT_NE(piped.error().find("is not a regular file"), std::string::npos) << piped.error();
  std::remove(fifo.c_str());
  auto dir = readNpy("/");
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error(), "'/' is a directory, not a file");
}

TEST(Npy, SizeIsCheckedBeforeReading) {
  std::string path = ::testing::TempDir() + "/soma-npy-test-big.npy";
  std::FILE *f = std::fopen(path.c_str(), "wb");
  ASSERT_TRUE(f);
  std::fclose(f);
  ASSERT_EQ(truncate(path.c_str(), kMaxWeightFileBytes + 1), 0); // sparse: takes no disk
  auto big = readNpy(path);
  ASSERT_FALSE(big);
  EXPECT_NE(big.error().find("more than the limit of " + std::to_string(kMaxWeightFileBytes)),
            std::string::npos)
      << big.error();
  auto raw = readRegularFile(path, 16);
  ASSERT_FALSE(raw);
  std::remove(path.c_str());
}

TEST(Npy, AFullDiskIsAWriteError) {
  Tensor t({2, 3});
  auto written = writeNpy("/dev/full", t);
  ASSERT_FALSE(written);
  EXPECT_EQ(written.error(), "cannot write '/dev/full': No space left on device");
  auto file = writeFile("/dev/full", "some bytes");
  ASSERT_FALSE(file);
  EXPECT_EQ(file.error(), "cannot write '/dev/full': No space left on device");
}

TEST(TensorShape, CheckedElementCount) {
  int64_t n = 0;
  EXPECT_TRUE(checkedElementCount({3, 4}, n));
  EXPECT_EQ(n, 12);
  EXPECT_TRUE(checkedElementCount({}, n));
  EXPECT_EQ(n, 1);
  EXPECT_FALSE(checkedElementCount({int64_t(1) << 40, int64_t(1) << 40}, n));
  EXPECT_FALSE(checkedElementCount({kMaxTensorElements + 1}, n));
  EXPECT_FALSE(checkedElementCount({-1}, n));
}
