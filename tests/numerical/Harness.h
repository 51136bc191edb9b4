// What the numerical tests share: the targets the JIT is asked for, caller
// buffers fenced by an inaccessible page, running a Model on a generated
// network, and a crash report that names the network being run.
#pragma once

#include "RandomNetwork.h"
#include "Reference.h"

#include "soma/soma.h"

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace soma::numerical {

/// Where and how a network is compiled by the JIT (or, with engine Vec,
/// run on the xsimd kernels after the graph passes of `optLevel`).
struct Target {
  const char *label;
  int optLevel;
  const char *cpu;      // empty: this machine
  const char *features; // LLVM features added to the CPU's
  Engine engine = Engine::Jit;
};

inline const Target kHostO0{"host -O0", 0, "", ""};
inline const Target kHostO1{"host -O1", 1, "", ""};
inline const Target kHostO2{"host -O2", 2, "", ""};
inline const Target kHostO3{"host -O3", 3, "", ""};
inline const Target kHaswell{"haswell -O2", 2, "haswell", ""};
inline const Target kHaswellO0{"haswell -O0", 0, "haswell", ""};
inline const Target kNoAvx512{"host,-avx512f -O2", 2, "", "-avx512f"};
inline const Target kNoAvx512O0{"host,-avx512f -O0", 0, "", "-avx512f"};
// SSE only: 4 lanes, and no FMA instructions.
inline const Target kSse{"host,-avx,-avx2,-fma -O2", 2, "", "-avx,-avx2,-fma"};
inline const Target kSseO0{"host,-avx,-avx2,-fma -O0", 0, "", "-avx,-avx2,-fma"};
// The vec engine (the kernels' widest instruction set on this CPU), after
// the -O3 and the -O0 graph pipelines.
inline const Target kVecO3{"vec -O3", 3, "", "", Engine::Vec};
inline const Target kVecO0{"vec -O0", 0, "", "", Engine::Vec};

/// Whether this machine can run code generated for `target` (Haswell code
/// needs x86-64-v3: AVX2, FMA, BMI2, ...; the host with features removed
/// always runs).
bool hostCanRun(const Target &target);

/// `n` floats that end exactly where a PROT_NONE page starts, so a kernel
/// that reads or writes past the end faults instead of passing silently.
class GuardedBuffer {
public:
  explicit GuardedBuffer(size_t n);
  ~GuardedBuffer();
  GuardedBuffer(const GuardedBuffer &) = delete;
  GuardedBuffer &operator=(const GuardedBuffer &) = delete;

  float *data() { return ptr; }
  size_t size() const { return count; }

private:
  char *base = nullptr;
  size_t length = 0, count = 0;
  float *ptr = nullptr;
  std::unique_ptr<float[]> storage; // only if mmap failed
};

/// Text printed to stderr if the process dies of a signal (a JIT kernel
/// faulting on a guard page, say) while it is set.
void setCrashContext(std::string text);

/// Compiles `net` for `engine` on `target`; on failure, `error` says why.
std::optional<Model> compileNetwork(const Network &net, Engine engine, const Target &target,
                                    std::string &error);
/// Compiles `net` with `options`; on failure, `error` says why.
std::optional<Model> compileNetwork(const Network &net, const CompileOptions &options,
                                    std::string &error);

/// The first `n` elements of `got` that lie outside the JIT's bound around
/// the exact values (`e.errJit`), described (at most 4 listed); empty when
/// every element is within it.
std::string outOfJitBound(const std::vector<float> &got, const BoundedValue &e, size_t n);

/// Runs `model` on the first `batch` samples of `inputs` (net.inputs order)
/// in guarded buffers; outputs in net.outputs order, unwritten elements NaN.
std::optional<std::vector<std::vector<float>>>
runNetwork(const Model &model, const Network &net, const std::vector<std::vector<float>> &inputs,
           int64_t batch, std::string &error);

/// `values` as the language's nested literal array of shape `dims`
/// ("[[1, -0.5], [2, 3]]"), each printed so that it reads back exactly;
/// with `absolute`, their magnitudes.
std::string literalArray(const std::vector<int64_t> &dims, const std::vector<float> &values,
                         bool absolute = false);

/// Compiles network text; a test failure naming `name` and the error, and
/// nullopt, when it does not compile.
std::optional<Model> compileText(const std::string &text, const CompileOptions &options,
                                 const std::string &name);

/// Runs a model of one input and one output on `batch` samples `x` of
/// per-sample shape `inShape`; the output, NaN where it was not written.
std::vector<float> runSingle(const Model &model, const std::vector<int64_t> &inShape,
                             const std::vector<float> &x, int64_t batch);

/// Runs `model` on `batch` samples `x` of per-sample shape `inShape`: the
/// elements of its outputs (runSingle, or all outputs one after the other).
using RunFn = std::function<std::vector<float>(const Model &, const std::vector<int64_t> &,
                                               const std::vector<float> &, int64_t)>;

/// Compiles `text` (named `name` in errors) for the interpreter and for each
/// of `targets` this host can run, each with planar and with blocked
/// layouts on 1 and 2 threads, and runs them all on seeded inputs (seed
/// `seed`) of each of `batches` samples: every compiled model must give the
/// same bits, and those within 1e-4 (1 + |interpreter's|). Returns the
/// (target, batch) pairs checked.
int checkLayoutsAndThreads(const std::string &text, const std::string &name,
                           const std::vector<int64_t> &inShape, const std::vector<Target> &targets,
                           uint32_t seed, const std::vector<int64_t> &batches, const RunFn &run);

/// Compiles `text` for `target` with 1 and with 2 threads and runs both on
/// each batch `inputs[k]` (`batches[k]` samples of shape `inShape`): the
/// two outputs must be the same bits; `check(k, output)` checks the rest.
/// False (after a test failure) when a model did not compile.
bool runAtOneAndTwoThreads(const std::string &text, const Target &target,
                           const std::vector<int64_t> &inShape,
                           const std::vector<std::vector<float>> &inputs,
                           const std::vector<int64_t> &batches,
                           const std::function<void(size_t, const std::vector<float> &)> &check);

/// "[n, i, j]" for element `flat` of a [batch, dims...] array.
std::string indexText(int64_t flat, int64_t batch, const std::vector<int64_t> &dims);

} // namespace soma::numerical
