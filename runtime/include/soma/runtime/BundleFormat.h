// What a bundle's object file holds, as the compiler writes it and the
// runtime reads it: a descriptor (a C struct, soma_NET_bundle), the
// JIT's kernels in a table, the program's plan serialized, and the packed
// weights (in read-only data, or in a file with --weights=external). The
// plan is the runtime::Program with each step's kernel as an index into the
// table and each constant slot as a byte range of the weights.
#pragma once

#include "soma/bundle.h"
#include "soma/runtime/Program.h"
#include "soma/support/Expected.h"

#include <cstdint>
#include <string>
#include <vector>

extern "C" {

/// The layout the compiler emits as an LLVM struct (jit/BundleEmitter.cpp):
/// i32, i32, then pointers and 64-bit integers in this order. A later
/// version may change anything after `version`, which the loader reads
/// first.
struct soma_bundle_descriptor {
  uint32_t magic;   // soma::runtime::kBundleMagic
  uint32_t version; // soma::runtime::kBundleVersion
  const char *name; // the network's name
  const unsigned char *plan;
  uint64_t planSize;
  /// The weights, 64-byte aligned; null with --weights=external.
  const unsigned char *weights;
  uint64_t weightsSize;
  /// --weights=external: the file's name as soma wrote it; null otherwise.
  const char *weightsFile;
  const soma::runtime::KernelFn *kernels;
  uint64_t kernelCount;
  /// A hash of the weights: an external file must carry the same.
  uint64_t weightsId;
  /// What the code needs of the CPU that loads it (checked before anything
  /// runs): the architecture ("x86_64", "aarch64"), the CPU it was compiled
  /// for ("znver4", "x86-64-v3", "generic"), and the instruction-set
  /// features its kernels and the runtime's steps use, by LLVM's names,
  /// comma-separated (runtime/CpuFeatures.h).
  const char *arch;
  const char *cpu;
  const char *features;
};

/// soma_NET_run: soma_bundle_run, after checking `loaded` was loaded from
/// `bundle`.
int soma_bundle_run_checked(const soma_bundle_descriptor *bundle, soma_bundle *loaded,
                            int64_t batch, const float *const *inputs, float *const *outputs);
}

namespace soma::runtime {

constexpr uint32_t kBundleMagic = 0x424d4f53; // "SOMB", little-endian
constexpr uint32_t kBundleVersion = 3;        // 2: pooling steps carry their layouts; 3: CPU needs
/// An external weights file starts with this header; the weights follow at
/// byte kWeightsFileHeader (64, so they stay aligned when mapped).
constexpr uint64_t kWeightsFileMagic = 0x5354485745414d4fULL; // "OMAEWHTS"
constexpr uint64_t kWeightsFileHeader = 64;

/// A network input or output: name and per-sample dims.
struct BundleTensor {
  std::string name;
  std::vector<int64_t> dims;
};

/// What the plan holds besides the program.
struct BundleIO {
  std::vector<BundleTensor> inputs, outputs;
};

/// Serializes `program` into a plan and its constants into `weights`
/// (appended, each 64-byte aligned). `kernelOf(step)` is the step's index
/// in the kernel table, or -1 for a step of the runtime's own that a plan
/// holds (a convolution, a pooling or a reshape: VecConv.h, VecPool.h); an
/// error for any other step (the vec engine's or the interpreter's).
Expected<std::string> serializePlan(const Program &program, const BundleIO &io,
                                    const std::vector<int> &kernelOfStep, std::string &weights);

/// The program back from a plan, its constants pointing into `weights`
/// (`weightsSize` bytes) and its steps at `kernels`: an error for any
/// index or range out of bounds, and for a convolution whose filters were
/// packed for another vector width than this CPU's kernels use.
Expected<Program> deserializePlan(const unsigned char *plan, uint64_t planSize,
                                  const unsigned char *weights, uint64_t weightsSize,
                                  const KernelFn *kernels, uint64_t kernelCount, BundleIO &io);

/// A 64-bit FNV-1a hash of `bytes` (the weights' id).
uint64_t bundleHash(const unsigned char *bytes, uint64_t size);

} // namespace soma::runtime
