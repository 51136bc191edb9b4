// A dense f32 tensor in host memory, 64-byte aligned so every SIMD width can
// load it with aligned loads. Used for weights, inputs and outputs alike.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <string>
#include <vector>

namespace soma {

/// 64-byte aligned storage of `bytes` bytes (throws std::bad_alloc). From
/// 4 MiB on, aligned to 2 MiB and marked for transparent huge pages where
/// the kernel has them, so that a model's weights (tens of megabytes, each
/// copy a fresh allocation) fault in 2 MiB at a time instead of 4 KiB.
void *allocateAligned(size_t bytes);
/// Frees what allocateAligned(bytes) gave.
void deallocateAligned(void *p, size_t bytes) noexcept;

/// Allocator giving 64-byte aligned storage (one cache line, one zmm).
template <class T> struct AlignedAllocator {
  using value_type = T;

  AlignedAllocator() = default;
  template <class U> AlignedAllocator(const AlignedAllocator<U> &) {}

  T *allocate(size_t n) {
    if (n > SIZE_MAX / sizeof(T))
      throw std::bad_array_new_length();
    return static_cast<T *>(allocateAligned(n * sizeof(T)));
  }
  void deallocate(T *p, size_t n) { deallocateAligned(p, n * sizeof(T)); }
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
