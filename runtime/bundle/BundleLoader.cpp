// The bundle runtime's C functions (soma/bundle.h): a loaded bundle is the
// program read from its plan, run by an Executor with the caller's thread
// options; its weights stay where they are (the library's read-only data,
// or the external file mapped read-only). Errors are codes, with the
// message kept per thread; no C++ exception leaves these functions.
#include "soma/bundle.h"
#include "soma/runtime/BundleFormat.h"
#include "soma/runtime/CpuFeatures.h"
#include "soma/runtime/Executor.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

struct soma_bundle {
  const soma_bundle_descriptor *descriptor = nullptr;
  soma::runtime::BundleIO io;
  std::unique_ptr<soma::runtime::Executor> executor;
  /// --weights=external: the mapping.
  void *mapped = nullptr;
  size_t mappedSize = 0;
  ~soma_bundle() {
    executor.reset();
    if (mapped)
      munmap(mapped, mappedSize);
  }
};

namespace {

thread_local std::string lastError;

int fail(int code, std::string message) {
  lastError = std::move(message);
  return code;
}

/// The directory of the library or executable that holds `address`, with
/// a final '/'; empty when unknown.
std::string directoryOf(const void *address) {
  Dl_info info{};
  if (!dladdr(address, &info) || !info.dli_fname)
    return {};
  std::string path = info.dli_fname;
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
}

/// Maps the external weights file into `loaded` and returns its weights.
int mapWeights(soma_bundle &loaded, const soma_bundle_options &options,
               const unsigned char **weights) {
  const soma_bundle_descriptor &d = *loaded.descriptor;
  const std::string path =
      options.weights_path ? std::string(options.weights_path) : directoryOf(&d) + d.weightsFile;
  const std::string what = "weights file '" + path + "'";
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return fail(SOMA_BUNDLE_ERROR_WEIGHTS, "cannot open " + what + ": " + std::strerror(errno));
  struct stat st {};
  const uint64_t expected = soma::runtime::kWeightsFileHeader + d.weightsSize;
  if (fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) != expected) {
    close(fd);
    return fail(SOMA_BUNDLE_ERROR_WEIGHTS, what + " has " + std::to_string(st.st_size) +
                                               " bytes, but bundle '" + d.name + "' expects " +
                                               std::to_string(expected));
  }
  void *map = mmap(nullptr, expected, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (map == MAP_FAILED)
    return fail(SOMA_BUNDLE_ERROR_WEIGHTS, "cannot map " + what + ": " + std::strerror(errno));
  loaded.mapped = map;
  loaded.mappedSize = expected;
  uint64_t header[2];
  std::memcpy(header, map, sizeof header);
  if (header[0] != soma::runtime::kWeightsFileMagic || header[1] != d.weightsId)
    return fail(SOMA_BUNDLE_ERROR_WEIGHTS, what + " does not hold the weights of bundle '" +
                                               d.name + "' (compiled from other weights?)");
  *weights = static_cast<const unsigned char *>(map) + soma::runtime::kWeightsFileHeader;
  return SOMA_BUNDLE_OK;
}

/// Refuses a bundle whose code this CPU cannot run (another architecture,
/// or instruction-set features it lacks), before any of it runs: such
/// code would die of SIGILL at its first instruction this CPU lacks.
int checkCpu(const soma_bundle_descriptor &d) {
  const std::string arch = d.arch ? d.arch : "", cpu = d.cpu ? d.cpu : "";
  const std::string compiledFor =
      "bundle '" + std::string(d.name) + "' was compiled for CPU '" + cpu + "' (" + arch + ")";
  if (arch != soma::runtime::hostArch())
    return fail(SOMA_BUNDLE_ERROR_CPU, compiledFor + ", which this " + soma::runtime::hostArch() +
                                           " machine cannot run: compile it for " +
                                           soma::runtime::hostArch());
  std::vector<std::string> missing =
      soma::runtime::missingHostFeatures(d.features ? d.features : "");
  std::sort(missing.begin(), missing.end());
  if (missing.empty())
    return SOMA_BUNDLE_OK;
  std::string names;
  for (const std::string &m : missing)
    names += (names.empty() ? "" : ", ") + m;
  return fail(SOMA_BUNDLE_ERROR_CPU,
              compiledFor + ", and this CPU (" + soma::runtime::hostCpuName() + ") lacks " + names +
                  ": compile the bundle for the oldest CPU it must run on (--mcpu=" +
                  (arch == "aarch64" ? "generic" : "x86-64-v3") + ", say)");
}

int load(const soma_bundle_descriptor *d, const soma_bundle_options *given, soma_bundle **out) {
  if (!d || !out)
    return fail(SOMA_BUNDLE_ERROR_ARGUMENT, "soma_bundle_load: null bundle or result pointer");
  *out = nullptr;
  if (d->magic != soma::runtime::kBundleMagic || d->version != soma::runtime::kBundleVersion)
    return fail(SOMA_BUNDLE_ERROR_FORMAT, "bundle format " + std::to_string(d->version) +
                                              " is not this runtime's (" +
                                              std::to_string(soma::runtime::kBundleVersion) +
                                              "): recompile the network with this soma");
  if (int code = checkCpu(*d); code != SOMA_BUNDLE_OK)
    return code;
  const soma_bundle_options options = given ? *given : soma_bundle_options{};
  if (options.threads < 0)
    return fail(SOMA_BUNDLE_ERROR_ARGUMENT, "soma_bundle_load: threads must be 0 or more, got " +
                                                std::to_string(options.threads));
  auto loaded = std::make_unique<soma_bundle>();
  loaded->descriptor = d;
  const unsigned char *weights = d->weights;
  if (d->weightsFile)
    if (int code = mapWeights(*loaded, options, &weights); code != SOMA_BUNDLE_OK)
      return code;
  auto program = soma::runtime::deserializePlan(d->plan, d->planSize, weights, d->weightsSize,
                                                d->kernels, d->kernelCount, loaded->io);
  if (!program)
    return fail(SOMA_BUNDLE_ERROR_FORMAT,
                std::string("bundle '") + d->name + "': " + program.error());
  soma::runtime::ExecutorOptions exec;
  exec.threads = options.threads;
  exec.callerArena = options.caller_arena != 0;
  loaded->executor = std::make_unique<soma::runtime::Executor>(std::move(*program), exec);
  *out = loaded.release();
  return SOMA_BUNDLE_OK;
}

const soma::runtime::BundleTensor *tensorAt(const soma_bundle *b, int i, bool input) {
  if (!b)
    return nullptr;
  const auto &list = input ? b->io.inputs : b->io.outputs;
  return i >= 0 && static_cast<size_t>(i) < list.size() ? &list[static_cast<size_t>(i)] : nullptr;
}

} // namespace

extern "C" {

int soma_bundle_load(const soma_bundle_descriptor *bundle, const soma_bundle_options *options,
                     soma_bundle **out) {
  try {
    return load(bundle, options, out);
  } catch (const std::bad_alloc &) {
    return fail(SOMA_BUNDLE_ERROR_MEMORY, "out of memory loading the bundle");
  }
}

int soma_bundle_run(soma_bundle *loaded, int64_t batch, const float *const *inputs,
                    float *const *outputs) {
  if (!loaded || !inputs || !outputs)
    return fail(SOMA_BUNDLE_ERROR_ARGUMENT, "soma_bundle_run: null bundle, inputs or outputs");
  if (batch < 0)
    return fail(SOMA_BUNDLE_ERROR_ARGUMENT,
                "soma_bundle_run: batch must be 0 or more, got " + std::to_string(batch));
  for (size_t i = 0; i < loaded->io.inputs.size(); ++i)
    if (!inputs[i] && batch > 0)
      return fail(SOMA_BUNDLE_ERROR_ARGUMENT,
                  "soma_bundle_run: input '" + loaded->io.inputs[i].name + "' is null");
  for (size_t o = 0; o < loaded->io.outputs.size(); ++o)
    if (!outputs[o] && batch > 0)
      return fail(SOMA_BUNDLE_ERROR_ARGUMENT,
                  "soma_bundle_run: output '" + loaded->io.outputs[o].name + "' is null");
  if (batch == 0)
    return SOMA_BUNDLE_OK;
  try {
    loaded->executor->run(batch, inputs, outputs);
  } catch (const std::bad_alloc &) {
    return fail(SOMA_BUNDLE_ERROR_MEMORY,
                "out of memory running a batch of " + std::to_string(batch));
  }
  return SOMA_BUNDLE_OK;
}

int soma_bundle_run_checked(const soma_bundle_descriptor *bundle, soma_bundle *loaded,
                            int64_t batch, const float *const *inputs, float *const *outputs) {
  if (loaded && loaded->descriptor != bundle)
    return fail(SOMA_BUNDLE_ERROR_ARGUMENT, std::string("soma_") + bundle->name +
                                                "_run: the bundle was loaded from '" +
                                                loaded->descriptor->name + "', not this one");
  return soma_bundle_run(loaded, batch, inputs, outputs);
}

void soma_bundle_free(soma_bundle *loaded) { delete loaded; }

const char *soma_bundle_last_error(void) { return lastError.c_str(); }

int soma_bundle_input_count(const soma_bundle *b) {
  return b ? static_cast<int>(b->io.inputs.size()) : 0;
}
int soma_bundle_output_count(const soma_bundle *b) {
  return b ? static_cast<int>(b->io.outputs.size()) : 0;
}
const char *soma_bundle_input_name(const soma_bundle *b, int i) {
  const auto *t = tensorAt(b, i, true);
  return t ? t->name.c_str() : nullptr;
}
const char *soma_bundle_output_name(const soma_bundle *b, int i) {
  const auto *t = tensorAt(b, i, false);
  return t ? t->name.c_str() : nullptr;
}
int soma_bundle_input_rank(const soma_bundle *b, int i) {
  const auto *t = tensorAt(b, i, true);
  return t ? static_cast<int>(t->dims.size()) : 0;
}
int soma_bundle_output_rank(const soma_bundle *b, int i) {
  const auto *t = tensorAt(b, i, false);
  return t ? static_cast<int>(t->dims.size()) : 0;
}
const int64_t *soma_bundle_input_dims(const soma_bundle *b, int i) {
  const auto *t = tensorAt(b, i, true);
  return t ? t->dims.data() : nullptr;
}
const int64_t *soma_bundle_output_dims(const soma_bundle *b, int i) {
  const auto *t = tensorAt(b, i, false);
  return t ? t->dims.data() : nullptr;
}

} // extern "C"
