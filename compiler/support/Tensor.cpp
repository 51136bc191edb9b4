// Shape arithmetic with overflow checks, shared by the frontend, IR and runtime.
#include "soma/support/Tensor.h"

#include <algorithm>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace soma {

namespace {
constexpr size_t kHugePage = size_t(2) << 20;
constexpr size_t kHugeFrom = size_t(4) << 20;
std::align_val_t alignmentFor(size_t bytes) {
  return std::align_val_t{bytes >= kHugeFrom ? kHugePage : 64};
}
} // namespace

void *allocateAligned(size_t bytes) {
  void *p = ::operator new(bytes, alignmentFor(bytes));
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  // Only whole huge pages; a kernel without them (or with them off) says
  // no, and the memory stays as it is.
  if (bytes >= kHugeFrom)
    ::madvise(p, bytes / kHugePage * kHugePage, MADV_HUGEPAGE);
#endif
  return p;
}

void deallocateAligned(void *p, size_t bytes) noexcept {
  ::operator delete(p, alignmentFor(bytes));
}

bool checkedElementCount(const std::vector<int64_t> &dims, int64_t &count) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0)
      return false;
    if (d != 0 && n > kMaxTensorElements / d)
      return false;
    n *= d;
  }
  if (n > kMaxTensorElements)
    return false;
  count = n;
  return true;
}

std::string formatDims(const std::vector<int64_t> &dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i)
      s += ", ";
    s += std::to_string(dims[i]);
  }
  return s + "]";
}

int64_t countNonzeros(const Tensor &t) {
  return std::count_if(t.values.begin(), t.values.end(), [](float v) { return v != 0.0f; });
}

Tensor::Tensor(std::vector<int64_t> d) : dims(std::move(d)) {
  int64_t n = 0;
  bool ok = checkedElementCount(dims, n);
  (void)ok;
  values.assign(static_cast<size_t>(ok ? n : 0), 0.0f);
}

} // namespace soma
