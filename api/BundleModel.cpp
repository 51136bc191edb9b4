// Model::loadBundle: a bundle's shared library (libNET.so, which holds the
// compiled network and soma's runtime) opened with dlopen and run through
// its own C functions (soma/bundle.h), found with dlsym in that library:
// its runtime, not the one linked into this program, loads and runs it,
// so a bundle runs as it would in any C program. Loading checks the CPU
// first (docs/deploy.md#errors); nothing of the bundle's code runs before.
#include "Internal.h"

#include "soma/bundle.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace soma {

namespace {

/// The library's C functions this model calls.
struct BundleFunctions {
  int (*load)(const soma_bundle_descriptor *, const soma_bundle_options *, soma_bundle **);
  int (*run)(soma_bundle *, int64_t, const float *const *, float *const *);
  void (*free)(soma_bundle *);
  const char *(*lastError)();
  int (*count[2])(const soma_bundle *);
  const char *(*name[2])(const soma_bundle *, int);
  int (*rank[2])(const soma_bundle *, int);
  const int64_t *(*dims[2])(const soma_bundle *, int);
};

class LibraryRunner final : public api::BundleRunner {
public:
  LibraryRunner(void *handle, BundleFunctions fns) : handle(handle), fns(fns) {}
  ~LibraryRunner() override {
    if (loaded)
      fns.free(loaded);
    dlclose(handle);
  }
  Status run(int64_t batch, const float *const *inputs, float *const *outputs) const override {
    if (fns.run(loaded, batch, inputs, outputs) != SOMA_BUNDLE_OK)
      return Status::failure(fns.lastError());
    return Status::success();
  }

  void *handle;
  BundleFunctions fns;
  soma_bundle *loaded = nullptr;
};

/// NET of a library named libNET.so; empty for any other name.
std::string networkOf(const std::string &path) {
  const std::string file = path.substr(path.rfind('/') + 1);
  if (file.size() <= 6 || file.compare(0, 3, "lib") != 0 ||
      file.compare(file.size() - 3, 3, ".so") != 0)
    return {};
  return file.substr(3, file.size() - 6);
}

template <class Fn> bool lookup(void *handle, const std::string &symbol, Fn &fn) {
  fn = reinterpret_cast<Fn>(dlsym(handle, symbol.c_str()));
  return fn != nullptr;
}

Status failure(const std::string &library, const std::string &what) {
  return Status::failure(library + ": error: " + what + "\n");
}

} // namespace

Result<Model> Model::loadBundle(const std::string &library, const BundleLoadOptions &options) {
  if (options.threads < 0)
    return failure(library, "threads must be 0 or more, got " + std::to_string(options.threads));
  struct stat st {};
  if (stat(library.c_str(), &st) != 0)
    return failure(library, std::string("cannot open the bundle: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode))
    return failure(library, "cannot open the bundle: not a regular file");
  const std::string net = options.name.empty() ? networkOf(library) : options.name;
  if (net.empty())
    return failure(library, "cannot tell the bundle's network from the file name (a bundle's "
                            "library is libNET.so): name it in BundleLoadOptions::name");
  // A path with no '/' would be looked for on the library path.
  const std::string path = library.find('/') == std::string::npos ? "./" + library : library;
  void *handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) // glibc's dlerror is the calling thread's
    return failure(library, std::string("not a bundle's shared library (") + dlerror() + ")");
  BundleFunctions fns{};
  const soma_bundle_descriptor *descriptor = nullptr;
  const char *kind[2] = {"input", "output"};
  bool ok = lookup(handle, "soma_" + net + "_bundle", descriptor);
  ok = ok && lookup(handle, "soma_bundle_load", fns.load) &&
       lookup(handle, "soma_bundle_run", fns.run) && lookup(handle, "soma_bundle_free", fns.free) &&
       lookup(handle, "soma_bundle_last_error", fns.lastError);
  for (int k = 0; k < 2 && ok; ++k)
    ok = lookup(handle, std::string("soma_bundle_") + kind[k] + "_count", fns.count[k]) &&
         lookup(handle, std::string("soma_bundle_") + kind[k] + "_name", fns.name[k]) &&
         lookup(handle, std::string("soma_bundle_") + kind[k] + "_rank", fns.rank[k]) &&
         lookup(handle, std::string("soma_bundle_") + kind[k] + "_dims", fns.dims[k]);
  if (!ok) {
    dlclose(handle);
    return failure(library,
                   "not a bundle of network '" + net +
                       "': the library defines no "
                       "soma_" +
                       net +
                       "_bundle and the runtime's functions with it (a "
                       "bundle's shared library, as soma compile --emit=bundle writes it)");
  }
  auto runner = std::make_unique<LibraryRunner>(handle, fns);
  soma_bundle_options bundleOptions{};
  bundleOptions.threads = options.threads;
  bundleOptions.weights_path = options.weightsPath.empty() ? nullptr : options.weightsPath.c_str();
  if (fns.load(descriptor, &bundleOptions, &runner->loaded) != SOMA_BUNDLE_OK)
    return failure(library, fns.lastError());
  std::vector<TensorInfo> tensors[2];
  for (int k = 0; k < 2; ++k)
    for (int i = 0; i < fns.count[k](runner->loaded); ++i) {
      const int64_t *dims = fns.dims[k](runner->loaded, i);
      tensors[k].push_back({fns.name[k](runner->loaded, i),
                            std::vector<int64_t>(dims, dims + fns.rank[k](runner->loaded, i))});
    }
  return api::makeBundleModel(std::move(runner), std::move(tensors[0]), std::move(tensors[1]),
                              options.source.empty() ? library : options.source);
}

} // namespace soma
