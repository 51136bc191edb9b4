// The kernels compiled for AVX2 with FMA: runtime/CMakeLists.txt gives this
// file, and only this file, its instruction-set flags.
#define SOMA_XSIMD_NAMESPACE soma_xsimd_avx2
#include "KernelsImpl.h"

#if !defined(__AVX2__) || !defined(__FMA__) || defined(__AVX512F__)
#error "compile KernelsImpl.h here with the Avx2 flags of runtime/CMakeLists.txt"
#endif

namespace soma::runtime::kernels {

const KernelTable kAvx2Kernels = Impl<xsimd::fma3<xsimd::avx2>>::table(Isa::Avx2);

} // namespace soma::runtime::kernels
