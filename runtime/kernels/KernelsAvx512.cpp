// The kernels compiled for AVX-512 (F, CD, BW, DQ, VL) with FMA: runtime/CMakeLists.txt gives this
// file, and only this file, its instruction-set flags.
#define SOMA_XSIMD_NAMESPACE soma_xsimd_avx512
#include "KernelsImpl.h"

#if !defined(__AVX512F__) || !defined(__AVX512CD__) || !defined(__AVX512BW__) ||                   \
    !defined(__AVX512DQ__) || !defined(__AVX512VL__) || !defined(__FMA__)
#error "compile KernelsImpl.h here with the Avx512 flags of runtime/CMakeLists.txt"
#endif

namespace soma::runtime::kernels {

const KernelTable kAvx512Kernels = Impl<xsimd::avx512bw>::table(Isa::Avx512);

} // namespace soma::runtime::kernels
