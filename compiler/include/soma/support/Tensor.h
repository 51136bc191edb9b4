// A dense f32 tensor in host memory, 64-byte aligned so every SIMD width can
// load it with aligned loads. Used for weights, inputs and outputs alike.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <string>
#include <vector>

namespace soma {

/// Allocator giving 64-byte aligned storage (one cache line, one zmm).
template <class T> struct AlignedAllocator {
  using value_type = T;
  static constexpr std::align_val_t alignment{64};

  AlignedAllocator() = default;
  template <class U> AlignedAllocator(const AlignedAllocator<U> &) {}

  T *allocate(size_t n) {
    if (n > SIZE_MAX / sizeof(T))
      throw std::bad_array_new_length();
    return static_cast<T *>(::operator new(n * sizeof(T), alignment));
  }
  void deallocate(T *p, size_t) { ::operator delete(p, alignment); }
  template <class U> bool operator==(const AlignedAllocator<U> &) const { return true; }
};

template <class T> using AlignedVector = std::vector<T, AlignedAllocator<T>>;

/// Largest number of elements soma accepts in one tensor: 2^28 f32 values
/// (1 GiB). Larger shapes are diagnosed instead of allocated.
inline constexpr int64_t kMaxTensorElements = int64_t(1) << 28;
/// Largest rank soma accepts.
inline constexpr size_t kMaxRank = 8;

/// Multiplies dims into `count`; false when a dim is negative, the product
/// overflows or it exceeds kMaxTensorElements.
bool checkedElementCount(const std::vector<int64_t> &dims, int64_t &count);

/// "[2, 3]"
std::string formatDims(const std::vector<int64_t> &dims);

struct Tensor {
  std::vector<int64_t> dims;
  AlignedVector<float> values;

  Tensor() = default;
  /// Zero-filled tensor; dims must already be checked.
  explicit Tensor(std::vector<int64_t> dims);
  int64_t numElements() const { return static_cast<int64_t>(values.size()); }
};

/// The values of `t` that compare unequal to 0: NaN counts, +-0 does not
/// (the nonzeros the sparse kernel stores, runtime::packSparse).
int64_t countNonzeros(const Tensor &t);

} // namespace soma
