/* soma's public API, for C and C++: compile a network description, run it
 * on your buffers. This header is self-contained (the standard library
 * only, no LLVM), so an application needs nothing else from soma to use it.
 *
 * From C (and from any language with a C FFI): the C API below, a stable
 * ABI of opaque handles, plain structs and int error codes
 * (docs/deploy.md#the-c-api):
 *
 *   soma_model *model;
 *   if (soma_compile_file("net.nn", NULL, &model) != SOMA_OK) {
 *     fprintf(stderr, "%s", soma_last_error()); return 1;
 *   }
 *
 * From C++ (C++17 or later): the classes after it, in namespace soma
 * (docs/api.md), which the C API is a thin layer over:
 *
 *   soma::Result<soma::Model> model = soma::Model::compileFile("net.nn");
 *   if (!model) { std::cerr << model.error(); return 1; }
 *   std::vector<float> x = {0.5f, 0.3f}, y(1);
 *   soma::Status s = model->run({{"x", x.data(), {1, 2}}}, {{"n", y.data(), {1, 1}}});
 */
#pragma once

#include "soma/Version.h" /* SOMA_VERSION_MAJOR, _MINOR, _PATCH, _STRING */

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- The C API ---------------------------------------------------------
 * Every function that can fail returns SOMA_OK (0) or an error code; the
 * failure's message (diagnostics `WHERE: error: ...`, one per line, as the
 * tools print them) is then soma_last_error()'s, per thread, until the
 * thread's next failing call. Structs grow only at their end, and each
 * carries its size, so a program built against this header keeps working
 * with a later soma of the same major version. */

/* A compiled network. Many threads may run one model at once. */
typedef struct soma_model soma_model;

enum {
  SOMA_OK = 0,
  SOMA_ERROR_ARGUMENT = 1, /* a null pointer, an unknown option value, a bad struct size */
  SOMA_ERROR_COMPILE =
      2,              /* the network cannot be read or does not compile: the diagnostics say why */
  SOMA_ERROR_RUN = 3, /* a run's buffers do not fit the model (names, shapes, batch) */
  SOMA_ERROR_MEMORY = 4,  /* out of memory */
  SOMA_ERROR_INTERNAL = 5 /* a failure inside soma: a bug, please report it */
};

/* Engines and thread arenas, as in the C++ API (soma::Engine). */
enum { SOMA_ENGINE_AUTO = 0, SOMA_ENGINE_JIT = 1, SOMA_ENGINE_VEC = 2, SOMA_ENGINE_INTERP = 3 };
enum { SOMA_SPARSITY_AUTO = 0, SOMA_SPARSITY_DENSE = 1, SOMA_SPARSITY_SPARSE = 2 };

/* Compile options (soma::CompileOptions): fill with
 * soma_compile_options_init, then change what you need. */
typedef struct soma_compile_options {
  size_t struct_size;   /* sizeof(soma_compile_options), set by _init */
  int opt_level;        /* 0..3 (default 2) */
  int engine;           /* SOMA_ENGINE_* (default AUTO) */
  int threads;          /* threads one run may use: 0 all cores (default), 1 none */
  int caller_arena;     /* nonzero: run in the calling thread's oneTBB arena */
  int sparsity;         /* SOMA_SPARSITY_* (default AUTO) */
  double prune;         /* fraction of each layer's weights to zero, in [0, 1) (default 0) */
  const char *cpu;      /* JIT target CPU; NULL or "": this machine's */
  const char *features; /* JIT target features ("+avx2,-avx512f"); NULL or "": none */
} soma_compile_options;

/* The defaults, with struct_size set. */
void soma_compile_options_init(soma_compile_options *options);

/* Compiles the network (or graph IR) in file `path`; `options` NULL: the
 * defaults. On success *out is a model to free with soma_model_free. */
int soma_compile_file(const char *path, const soma_compile_options *options, soma_model **out);
/* Compiles `length` bytes of network text; `name` labels its diagnostics
 * (NULL: "<string>"). */
int soma_compile_string(const char *source, size_t length, const char *name,
                        const soma_compile_options *options, soma_model **out);
/* Frees a model (NULL: nothing). No run may be in progress. */
void soma_model_free(soma_model *model);

/* Inspecting a model: its inputs and outputs, by index, with per-sample
 * shapes (no batch dimension). Out-of-range indexes give NULL or 0. The
 * strings and arrays live as long as the model. */
int soma_model_input_count(const soma_model *model);
int soma_model_output_count(const soma_model *model);
const char *soma_model_input_name(const soma_model *model, int i);
const char *soma_model_output_name(const soma_model *model, int i);
int soma_model_input_rank(const soma_model *model, int i);
int soma_model_output_rank(const soma_model *model, int i);
const int64_t *soma_model_input_dims(const soma_model *model, int i);
const int64_t *soma_model_output_dims(const soma_model *model, int i);
/* The engine runs go to now (SOMA_ENGINE_*; see soma::Model::activeEngine);
 * -1 for NULL. */
int soma_model_active_engine(const soma_model *model);
/* Warnings from compiling ("" when none). */
const char *soma_model_warnings(const soma_model *model);

/* A caller's buffers for a run: `rank` dims in `shape`, the first being
 * the batch, row-major f32 `data`. */
typedef struct soma_input {
  const char *name;
  const float *data;
  const int64_t *shape;
  int rank;
} soma_input;
typedef struct soma_output {
  const char *name;
  float *data;
  const int64_t *shape;
  int rank;
} soma_output;

/* Runs one batch (soma::Model::run): every input, and at least one output,
 * bound by name with the same batch. */
int soma_model_run(const soma_model *model, const soma_input *inputs, size_t input_count,
                   const soma_output *outputs, size_t output_count);

/* The calling thread's last failure message ("" when none). */
const char *soma_last_error(void);
/* SOMA_VERSION_STRING of the library linked (which may be newer than the
 * header's). */
const char *soma_version(void);

#ifdef __cplusplus
} /* extern "C" */

/* ---- The C++ API -------------------------------------------------------- */
#include <cstdint>
#include <iosfwd>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace soma {

namespace api {
struct ModelAccess;
}

/// Success, or a failure carrying a readable message: diagnostic lines
/// `WHERE: error: ...`, each ending in a newline, exactly as the tools
/// print them. WHERE is `file:line:col` for a mistake in the source, the
/// model's file for a failed run, and `soma` for a bad option.
/// [[nodiscard]]: a Status ignored is a compiler warning.
class [[nodiscard]] Status {
public:
  static Status success() { return Status(); }
  static Status failure(std::string message) { return Status(std::move(message), false); }

  bool ok() const { return isOk; }
  explicit operator bool() const { return isOk; }
  const std::string &message() const { return text; }

private:
  Status() = default;
  Status(std::string message, bool ok) : text(std::move(message)), isOk(ok) {}
  std::string text;
  bool isOk = true;
};

namespace api {
/// Prints "soma: <what> of a failed Result: <message>" to stderr and
/// aborts: what dereferencing a failed Result does, in every build.
[[noreturn]] void failedResultAccess(const char *what, const std::string &message);
} // namespace api

/// A value, or the Status that explains why there is none. [[nodiscard]]
/// as Status is. Reaching the value of a failed Result (*, ->, value())
/// prints the failure's message and aborts, in every build.
template <class T> class [[nodiscard]] Result {
public:
  Result(T value) : storage(std::move(value)) {}
  Result(Status failure) : storage(std::move(failure)) {}

  bool ok() const { return storage.index() == 0; }
  explicit operator bool() const { return ok(); }
  T &value() { return checked("value()"); }
  const T &value() const { return checked("value()"); }
  T &operator*() { return checked("operator*"); }
  const T &operator*() const { return checked("operator*"); }
  T *operator->() { return &checked("operator->"); }
  const T *operator->() const { return &checked("operator->"); }
  /// The failure's message; empty on success.
  std::string error() const { return ok() ? std::string() : std::get<1>(storage).message(); }
  Status status() const { return ok() ? Status::success() : std::get<1>(storage); }

private:
  T &checked(const char *what) {
    if (!ok())
      api::failedResultAccess(what, std::get<1>(storage).message());
    return *std::get_if<0>(&storage);
  }
  const T &checked(const char *what) const {
    if (!ok())
      api::failedResultAccess(what, std::get<1>(storage).message());
    return *std::get_if<0>(&storage);
  }
  std::variant<T, Status> storage;
};

enum class Engine {
  Jit,    ///< LLVM-compiled, vectorised kernels for the target CPU
  Interp, ///< the reference interpreter (scalar, double accumulation)
  Vec,    ///< soma's hand-vectorised xsimd kernels: no LLVM, ready at once
  /// Tiered (the default): compile returns once the vec engine is built and
  /// runs go to it; the JIT compiles in the background and runs switch to
  /// it when it is ready (Model::activeEngine, Model::waitForJit).
  Auto,
};

/// Where a run's parallel work goes (see CompileOptions::arena).
enum class ThreadArena {
  Model,  ///< a oneTBB task arena the model owns, with CompileOptions::threads threads
  Caller, ///< the oneTBB task arena the thread calling run() is in
};

/// Dense or sparse code for the weighted sums (see CompileOptions::sparsity).
enum class Sparsity {
  Auto,   ///< the cost model chooses per layer (the default)
  Dense,  ///< the dense kernel for every layer
  Sparse, ///< the sparse kernel for every layer with constant weights
};

/// The names the tools use: "jit", "interp", "vec", "auto"; "dense",
/// "sparse", "auto"; "ok" or the failure's message (every message names
/// what failed: compile errors as `file:line:col: error: ...` lines).
const char *name(Engine engine);
const char *name(Sparsity sparsity);
std::ostream &operator<<(std::ostream &os, Engine engine);
std::ostream &operator<<(std::ostream &os, Sparsity sparsity);
std::ostream &operator<<(std::ostream &os, const Status &status);

/// A tensor handed to compile from memory (CompileOptions::tensors):
/// row-major f32 `data` of shape `shape`.
struct TensorData {
  const float *data = nullptr;
  std::vector<int64_t> shape;
};

struct CompileOptions {
  /// 0..3: the graph passes and the LLVM pipeline (0: none, 2: default).
  int optLevel = 2;
  Engine engine = Engine::Auto;
  /// Target CPU for the JIT ("znver4", "haswell"); empty: this machine's.
  std::string cpu;
  /// LLVM target features added to the CPU's ("-avx512f", "+avx2,+fma").
  std::string features;
  /// Target triple ("aarch64-linux-gnu"); empty: this machine's. Code for
  /// another machine is only emitted (a bundle, an object file): compiling
  /// a Model to run here with a foreign triple fails.
  std::string triple;
  /// Threads one run may use (ThreadArena::Model): 0: all cores; 1: every
  /// layer on the calling thread; at most the machine's cores are used.
  /// Small layers always run on the calling thread; results are
  /// bit-identical for any value.
  int threads = 0;
  /// ThreadArena::Caller runs the parallel layers in the calling thread's
  /// oneTBB arena (`arena.execute([&] { model.run(...); })` in an
  /// application that uses oneTBB), with that arena's concurrency;
  /// `threads` is then ignored.
  ThreadArena arena = ThreadArena::Model;
  /// Dense or sparse kernels for the layers whose source does not say
  /// (`sparsity = ...` in a layer beats this, which beats the cost model).
  /// Only the speed changes, never the results beyond rounding.
  Sparsity sparsity = Sparsity::Auto;
  /// Magnitude pruning: in (0, 1), the fraction of each layer's weights, the
  /// smallest in magnitude, set to zero before the sparsity analysis (a
  /// layer's own `prune = ...` beats this). 0 (the default): no pruning but
  /// what layers ask for. This changes the results: each pruned layer, with
  /// the sparsity it reached, is reported in Model::warnings().
  double prune = 0;
  /// Whether the values between convolutions and pools are stored in
  /// blocks of channels (NCHW16c with AVX-512), which their kernels read
  /// and write faster (docs/architecture.md, "Channel layouts"). false:
  /// every value in the graph's own layout. Only the speed changes: the
  /// results are the same bits.
  bool blockedLayouts = true;
  /// Limits on the model, each at least 1 (docs/language.md, "Limits"):
  /// elements of all its constants together (weights, biases, parameters;
  /// default 2^30, 4 GiB of f32), checked before each tensor is filled or
  /// read, and of all its values for one sample (default 2^28). Beyond
  /// either, compiling fails with an error that names the limit.
  int64_t maxWeights = int64_t(1) << 30;
  int64_t maxActivations = int64_t(1) << 28;
  /// Weights from memory, by name: `weights = tensor("fc1.weight")` in the
  /// network takes the tensor given here as "fc1.weight", as `npy(...)`
  /// takes one from a file (its shape must be the one the layer expects).
  /// compile copies what the network uses; the buffers may be freed once
  /// it returns.
  std::map<std::string, TensorData> tensors;
};

/// A network input or output: its name and its per-sample shape (the batch
/// dimension is not included).
struct TensorInfo {
  std::string name;
  std::vector<int64_t> shape;
};

/// A caller-owned input buffer: `shape` is [batch, per-sample dims...],
/// row-major f32.
struct InputBuffer {
  std::string name;
  const float *data;
  std::vector<int64_t> shape;
};

/// A caller-owned output buffer, shaped like InputBuffer.
struct OutputBuffer {
  std::string name;
  float *data;
  std::vector<int64_t> shape;
};

/// How Model::loadBundle loads a bundle's shared library.
struct BundleLoadOptions {
  /// Threads one run may use: 0 all cores, 1 the calling thread.
  int threads = 0;
  /// The network's C name, NET in soma_NET_bundle; empty: taken from the
  /// library's file name, libNET.so.
  std::string name;
  /// A bundle compiled with --weights=external: its weights file; empty:
  /// NET.weights next to the library.
  std::string weightsPath;
  /// What the model's errors name; empty: `library`.
  std::string source;
};

/// A compiled network. Movable, not copyable. `run` may be called from many
/// threads at once.
class Model {
public:
  /// Compiles the network (or graph IR text) in `path`.
  static Result<Model> compileFile(const std::string &path, const CompileOptions &options = {});
  /// Compiles network text held in memory; `name` labels diagnostics, and
  /// weight files are found relative to the current directory.
  static Result<Model> compileString(std::string_view source, const CompileOptions &options = {},
                                     const std::string &name = "<string>");
  /// Loads the shared library of a bundle (`soma compile --emit=bundle`
  /// writes it as libNET.so) and runs it with the runtime inside it: no
  /// compiler, no source. The model's engine is Jit (a bundle holds the
  /// JIT's code) and its runs give the bundle's bits. A failure when the
  /// file is missing or not a bundle's library, or the bundle cannot run
  /// on this CPU (docs/deploy.md#errors).
  static Result<Model> loadBundle(const std::string &library,
                                  const BundleLoadOptions &options = {});

  Model(Model &&) noexcept;
  Model &operator=(Model &&) noexcept;
  ~Model();

  const std::vector<TensorInfo> &inputs() const;
  const std::vector<TensorInfo> &outputs() const;
  /// The engine asked for (CompileOptions::engine).
  Engine engine() const;
  /// The engine that serves a run started now: Vec or Jit for Engine::Auto
  /// (Vec until the background JIT compile has finished and succeeded; the
  /// switch happens once and never back), otherwise engine().
  Engine activeEngine() const;
  /// Engine::Auto: blocks until the background JIT compile has finished.
  /// Success when runs now go to the JIT; the compile's error when it
  /// failed, in which case runs stay on the vec engine. Other engines:
  /// success at once (Engine::Jit compiled, or failed, in compile itself).
  Status waitForJit() const;
  /// Warnings from compilation (diagnostics text), empty when there were none.
  const std::string &warnings() const;

  /// Runs one batch. Every input, and at least one output, must be bound
  /// once, by name, with shape [batch, per-sample dims...] and the same
  /// batch (which may be 0). Outputs left unbound are not written, and the
  /// JIT and vec engines compute only what the bound ones need (the
  /// interpreter computes everything). Mistakes are returned as failures,
  /// never crashes: `SOURCE: error: what went wrong` and a newline, SOURCE
  /// being the model's file (compileString's `name`), as compile errors
  /// name it.
  Status run(const std::vector<InputBuffer> &inputs,
             const std::vector<OutputBuffer> &outputs) const;

  struct Impl;

private:
  friend struct api::ModelAccess;
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl;
};

} // namespace soma

#endif /* __cplusplus */
