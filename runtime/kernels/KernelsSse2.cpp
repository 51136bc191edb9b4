// The kernels compiled for SSE2 (baseline x86-64, no FMA): runtime/CMakeLists.txt gives this
// file, and only this file, its instruction-set flags.
#define SOMA_XSIMD_NAMESPACE soma_xsimd_sse2
#include "KernelsImpl.h"

#if !defined(__SSE2__) || defined(__AVX__)
#error "compile KernelsImpl.h here with the Sse2 flags of runtime/CMakeLists.txt"
#endif

namespace soma::runtime::kernels {

const KernelTable kSse2Kernels = Impl<xsimd::sse2>::table(Isa::Sse2);

} // namespace soma::runtime::kernels
