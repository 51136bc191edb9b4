// The kernels compiled for aarch64's Advanced SIMD (NEON, with FMA: the
// baseline of every aarch64 CPU), in an aarch64 build only:
// runtime/CMakeLists.txt compiles this file instead of the x86-64 ones.
#define SOMA_XSIMD_NAMESPACE soma_xsimd_neon
#include "KernelsImpl.h"

#if !defined(__aarch64__) || !defined(__ARM_NEON) || !defined(__ARM_FEATURE_FMA)
#error "KernelsNeon.cpp is the aarch64 build's kernel object (runtime/CMakeLists.txt)"
#endif

namespace soma::runtime::kernels {

const KernelTable kNeonKernels = Impl<xsimd::neon64>::table(Isa::Neon);

} // namespace soma::runtime::kernels
