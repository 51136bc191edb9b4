// Guarded buffers, the crash report and the Model plumbing of Harness.h.
#include "Harness.h"

#include <gtest/gtest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>

namespace soma::numerical {

bool hostCanRun(const Target &target) {
  if (std::string(target.cpu) == "haswell")
    return __builtin_cpu_supports("x86-64-v3");
  return *target.cpu == 0; // this machine, maybe with features removed
}

GuardedBuffer::GuardedBuffer(size_t n) : count(n) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t dataPages = (n * sizeof(float) + page - 1) / page;
  length = (dataPages + 1) * page;
  void *p = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    ADD_FAILURE() << "mmap of " << length << " bytes failed";
    length = 0;
    storage = std::make_unique<float[]>(n + 1); // unguarded, but usable
    ptr = storage.get();
    return;
  }
  base = static_cast<char *>(p);
  if (mprotect(base + dataPages * page, page, PROT_NONE) != 0)
    ADD_FAILURE() << "mprotect failed";
  ptr = reinterpret_cast<float *>(base + dataPages * page - n * sizeof(float));
}

GuardedBuffer::~GuardedBuffer() {
  if (base)
    munmap(base, length);
}

namespace {

std::string crashText;

extern "C" void reportFatalSignal(int sig) {
  static const char header[] = "\n*** fatal signal while running a numerical test network:\n";
  ssize_t ignored = write(STDERR_FILENO, header, sizeof header - 1);
  ignored = write(STDERR_FILENO, crashText.data(), crashText.size());
  (void)ignored;
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

} // namespace

void setCrashContext(std::string text) {
  static std::once_flag once;
  std::call_once(once, [] {
    for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT})
      std::signal(sig, reportFatalSignal);
  });
  crashText = std::move(text);
}

std::optional<Model> compileNetwork(const Network &net, Engine engine, const Target &target,
                                    std::string &error) {
  CompileOptions options;
  options.optLevel = target.optLevel;
  options.engine = engine;
  options.cpu = target.cpu;
  options.features = target.features;
  return compileNetwork(net, options, error);
}

std::optional<Model> compileNetwork(const Network &net, const CompileOptions &options,
                                    std::string &error) {
  Result<Model> model = Model::compileString(net.text(), options, net.name + ".nn");
  if (!model) {
    error = model.error();
    return std::nullopt;
  }
  return std::move(*model);
}

std::string outOfJitBound(const std::vector<float> &got, const BoundedValue &e, size_t n) {
  std::string report;
  int bad = 0;
  for (size_t i = 0; i < n; ++i) {
    const double diff = std::fabs(static_cast<double>(got[i]) - e.ref[i]);
    if (diff <= e.errJit[i] * (1 + 0x1p-10) + kTiny)
      continue;
    if (++bad <= 4)
      report += "  [" + std::to_string(i) + "] got " + std::to_string(got[i]) + ", exact " +
                std::to_string(e.ref[i]) + ", bound " + std::to_string(e.errJit[i]) + "\n";
  }
  return bad ? std::to_string(bad) + " elements out of bound:\n" + report : "";
}

std::optional<std::vector<std::vector<float>>>
runNetwork(const Model &model, const Network &net, const std::vector<std::vector<float>> &inputs,
           int64_t batch, std::string &error) {
  std::vector<std::unique_ptr<GuardedBuffer>> in, out;
  std::vector<InputBuffer> ins;
  std::vector<OutputBuffer> outs;
  auto shapeOf = [&](const Value &v) {
    std::vector<int64_t> shape = {batch};
    shape.insert(shape.end(), v.dims.begin(), v.dims.end());
    return shape;
  };
  for (size_t i = 0; i < net.inputs.size(); ++i) {
    const Value &v = net.values[static_cast<size_t>(net.inputs[i])];
    const size_t n = static_cast<size_t>(batch * v.size());
    in.push_back(std::make_unique<GuardedBuffer>(n));
    std::copy_n(inputs[i].begin(), n, in.back()->data());
    ins.push_back({v.name, in.back()->data(), shapeOf(v)});
  }
  for (const auto &[name, id] : net.outputs) {
    const Value &v = net.values[static_cast<size_t>(id)];
    const size_t n = static_cast<size_t>(batch * v.size());
    out.push_back(std::make_unique<GuardedBuffer>(n));
    std::fill_n(out.back()->data(), n, NAN);
    outs.push_back({name, out.back()->data(), shapeOf(v)});
  }
  Status s = model.run(ins, outs);
  if (!s) {
    error = s.message();
    return std::nullopt;
  }
  std::vector<std::vector<float>> result;
  for (auto &buf : out)
    result.emplace_back(buf->data(), buf->data() + buf->size());
  return result;
}

namespace {
void appendLiteral(std::ostringstream &s, const std::vector<int64_t> &dims,
                   const std::vector<float> &values, size_t d, size_t &at, bool absolute) {
  s << "[";
  for (int64_t i = 0; i < dims[d]; ++i) {
    if (i)
      s << ", ";
    if (d + 1 == dims.size())
      s << (absolute ? std::fabs(values[at++]) : values[at++]);
    else
      appendLiteral(s, dims, values, d + 1, at, absolute);
  }
  s << "]";
}
} // namespace

std::string literalArray(const std::vector<int64_t> &dims, const std::vector<float> &values,
                         bool absolute) {
  std::ostringstream s;
  s.precision(9);
  size_t at = 0;
  appendLiteral(s, dims, values, 0, at, absolute);
  return s.str();
}

std::string indexText(int64_t flat, int64_t batch, const std::vector<int64_t> &dims) {
  std::vector<int64_t> full = {batch};
  full.insert(full.end(), dims.begin(), dims.end());
  std::vector<int64_t> index(full.size());
  for (size_t d = full.size(); d-- > 0;) {
    index[d] = flat % full[d];
    flat /= full[d];
  }
  std::string s = "[";
  for (size_t i = 0; i < index.size(); ++i)
    s += (i ? ", " : "") + std::to_string(index[i]);
  return s + "]";
}

std::optional<Model> compileText(const std::string &text, const CompileOptions &options,
                                 const std::string &name) {
  Result<Model> m = Model::compileString(text, options, name);
  if (!m) {
    ADD_FAILURE() << m.error() << "\n" << text;
    return std::nullopt;
  }
  return std::move(*m);
}

std::vector<float> runSingle(const Model &model, const std::vector<int64_t> &inShape,
                             const std::vector<float> &x, int64_t batch) {
  std::vector<int64_t> shape = {batch};
  shape.insert(shape.end(), inShape.begin(), inShape.end());
  const TensorInfo &out = model.outputs()[0];
  std::vector<int64_t> yShape = {batch};
  yShape.insert(yShape.end(), out.shape.begin(), out.shape.end());
  int64_t n = 1;
  for (int64_t d : yShape)
    n *= d;
  std::vector<float> y(static_cast<size_t>(n), NAN);
  Status s = model.run({{model.inputs()[0].name, x.data(), shape}}, {{out.name, y.data(), yShape}});
  EXPECT_TRUE(s.ok()) << s.message();
  return y;
}

bool runAtOneAndTwoThreads(const std::string &text, const Target &target,
                           const std::vector<int64_t> &inShape,
                           const std::vector<std::vector<float>> &inputs,
                           const std::vector<int64_t> &batches,
                           const std::function<void(size_t, const std::vector<float> &)> &check) {
  CompileOptions options;
  options.engine = target.engine;
  options.optLevel = target.optLevel;
  options.cpu = target.cpu;
  options.features = target.features;
  std::optional<Model> models[2];
  for (int threads : {1, 2}) {
    options.threads = threads;
    models[threads - 1] = compileText(text, options, "net.nn");
    if (!models[threads - 1])
      return false;
  }
  for (size_t k = 0; k < batches.size(); ++k) {
    SCOPED_TRACE(std::string(target.label) + ", batch " + std::to_string(batches[k]));
    const std::vector<float> one = runSingle(*models[0], inShape, inputs[k], batches[k]);
    const std::vector<float> two = runSingle(*models[1], inShape, inputs[k], batches[k]);
    EXPECT_EQ(0, std::memcmp(one.data(), two.data(), one.size() * sizeof(float)))
        << "1 and 2 threads differ";
    check(k, one);
  }
  return true;
}

int checkLayoutsAndThreads(const std::string &text, const std::string &name,
                           const std::vector<int64_t> &inShape, const std::vector<Target> &targets,
                           uint32_t seed, const std::vector<int64_t> &batches, const RunFn &run) {
  int checked = 0;
  CompileOptions interp;
  interp.engine = Engine::Interp;
  auto reference = compileText(text, interp, name);
  if (!reference)
    return 0;
  int64_t sample = 1;
  for (int64_t v : inShape)
    sample *= v;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<std::vector<float>> xs, want;
  for (int64_t batch : batches) {
    xs.emplace_back(static_cast<size_t>(batch * sample));
    for (float &v : xs.back())
      v = dist(rng);
    want.push_back(run(*reference, inShape, xs.back(), batch));
  }
  for (const Target &t : targets) {
    if (!hostCanRun(t))
      continue;
    CompileOptions options;
    options.engine = t.engine;
    options.optLevel = t.optLevel;
    options.cpu = t.cpu;
    options.features = t.features;
    std::vector<Model> models; // planar and blocked, on 1 and 2 threads
    for (bool blocked : {false, true})
      for (int threads : {1, 2}) {
        options.blockedLayouts = blocked;
        options.threads = threads;
        auto model = compileText(text, options, name);
        if (!model)
          return checked;
        models.push_back(std::move(*model));
      }
    for (size_t b = 0; b < batches.size(); ++b) {
      SCOPED_TRACE(std::string(t.label) + ", batch " + std::to_string(batches[b]));
      std::vector<std::vector<float>> got;
      for (const Model &m : models)
        got.push_back(run(m, inShape, xs[b], batches[b]));
      for (size_t k = 1; k < got.size(); ++k)
        EXPECT_EQ(0, std::memcmp(got[0].data(), got[k].data(), got[0].size() * sizeof(float)))
            << "run " << k << " (blocked " << (k >= 2) << ", threads " << (k % 2 + 1)
            << ") differs from planar on 1 thread";
      int bad = 0;
      for (size_t i = 0; i < want[b].size(); ++i) {
        const double e = want[b][i];
        if (!(std::fabs(double(got[0][i]) - e) <= 1e-4 * (1 + std::fabs(e))) && ++bad <= 4)
          ADD_FAILURE() << "output element " << i << ": " << got[0][i] << ", interpreter " << e;
      }
      EXPECT_EQ(bad, 0);
      ++checked;
    }
  }
  return checked;
}

} // namespace soma::numerical
