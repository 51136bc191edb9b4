// The public API: compile (frontend, passes, then the JIT, the vec engine,
// both (auto: vec at once, the JIT in the background), or the reference
// interpreter) and run with checked buffers.
#include "Internal.h"
#include "soma/soma.h"

#include "soma/frontend/Frontend.h"
#include "soma/jit/JitEngine.h"
#include "soma/passes/Passes.h"
#include "soma/runtime/Executor.h"
#include "soma/runtime/Interpreter.h"
#include "soma/runtime/ProgramBuilder.h"
#include "soma/runtime/VecEngine.h"

#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <unordered_map>

namespace soma {

struct Model::Impl {
  std::unique_ptr<ir::Graph> graph;
  CompileOptions options;
  std::vector<TensorInfo> inputs, outputs;
  std::string warnings;
  /// What run failures name: the source file (or compileString's name).
  std::string source = "soma";
  /// Per output: elements per sample.
  std::vector<int64_t> outputSampleElements;
  // Engine::Jit (and Auto once its background compile is done)
  std::unique_ptr<jit::CompiledCode> code;
  std::unique_ptr<runtime::Executor> executor;
  // Engine::Vec and Auto
  std::unique_ptr<runtime::Executor> vecExecutor;
  /// The executor runs go to: vecExecutor, then (Auto) executor once the
  /// JIT is ready. Stored with release after `executor` is complete, loaded
  /// with acquire by run(); both executors live as long as the model.
  std::atomic<const runtime::Executor *> active{nullptr};
  /// The largest batch whose outputs and intermediate values all stay
  /// within kMaxTensorElements.
  int64_t maxBatch = INT64_MAX;

  // Auto's background JIT compile: a task enqueued in `background`.
  enum class JitState { None, Running, Ready, Failed };
  mutable std::mutex jitMutex;
  mutable std::condition_variable jitDone;
  JitState jitState = JitState::None; // guarded by jitMutex
  std::string jitError;               // guarded by jitMutex; set when Failed
  std::unique_ptr<tbb::task_arena> background;
  /// The copy of the graph the background compile lowers; freed by it.
  std::unique_ptr<ir::Graph> jitGraph;
  /// Set when the model is destroyed: a background compile that has not
  /// begun yet does not begin (one already in LLVM runs to its end).
  std::atomic<bool> cancelJit{false};
  /// Engine::Auto built for one run only (api::ModelUse::OneShot): the vec
  /// engine serves and no JIT compile was started.
  bool oneShot = false;
  /// Model::loadBundle: what runs the bundle (no graph, no executor here).
  std::unique_ptr<api::BundleRunner> bundle;

  Impl() = default;
  Impl(const Impl &) = delete;
  Impl &operator=(const Impl &) = delete;
  /// Cancels a background compile that has not begun, and waits for one
  /// still running: it writes into *this. A failed compile is no error here.
  ~Impl() {
    cancelJit.store(true, std::memory_order_relaxed);
    (void)waitForJit();
  }

  /// Blocks until no background compile is running; its result.
  Status waitForJit() const {
    std::unique_lock<std::mutex> lock(jitMutex);
    jitDone.wait(lock, [&] { return jitState != JitState::Running; });
    if (jitState == JitState::Failed)
      return Status::failure(jitError);
    return Status::success();
  }
};

namespace {

void addTimes(api::Timings *timings, const jit::CompileTimes &t) {
  if (!timings)
    return;
  timings->push_back({"llvm: lower to LLVM IR", t.lowerSeconds});
  timings->push_back({"llvm: optimise", t.optimizeSeconds});
  timings->push_back({"llvm: code generation", t.codegenSeconds});
}

/// What buildJit makes: published into the model at once (Engine::Jit) or
/// when the background compile ends (Engine::Auto).
struct JitBuild {
  std::unique_ptr<jit::CompiledCode> code;
  std::unique_ptr<runtime::Executor> executor;
};

runtime::ExecutorOptions executorOptions(const CompileOptions &options) {
  runtime::ExecutorOptions exec;
  exec.threads = options.threads;
  exec.callerArena = options.arena == ThreadArena::Caller;
  return exec;
}

/// The largest batch for which every temporary of `program` stays within
/// kMaxTensorElements.
int64_t maxBatchOf(const runtime::Program &program) {
  int64_t maxBatch = INT64_MAX;
  for (const runtime::Step &step : program.steps) {
    const runtime::Slot &slot = program.slots[static_cast<size_t>(step.result)];
    if (slot.kind == runtime::SlotKind::Temp && slot.sampleElements > 0)
      maxBatch = std::min(maxBatch, kMaxTensorElements / slot.sampleElements);
  }
  return maxBatch;
}

/// `runsHere`: the code will run in this process (false: only emitted,
/// so it may be for another machine).
jit::JitOptions jitOptions(const CompileOptions &options, bool runsHere = true) {
  jit::JitOptions jo;
  jo.target = {options.cpu, options.features, runsHere, options.triple};
  jo.optLevel = options.optLevel;
  jo.sparsity = api::sparsityMode(options);
  return jo;
}

/// JIT-compiles `graph` (which the program builder changes) into an
/// executor: the JIT's kernel families first, then the vec engine's and the
/// interpreter's for any op the JIT does not run.
Expected<JitBuild> buildJit(ir::Graph &graph, const CompileOptions &options,
                            api::Timings *timings) {
  auto engine = jit::JitEngine::create(jitOptions(options));
  if (!engine)
    return Error{"soma: error: " + engine.error() + "\n"};
  auto program =
      runtime::ProgramBuilder(graph).build(api::builderTarget((*engine)->target(), options));
  if (!program)
    return Error{"soma: error: " + program.error() + "\n"};
  addTimes(timings, (*engine)->times());
  JitBuild build;
  build.code = (*engine)->takeCode();
  build.executor =
      std::make_unique<runtime::Executor>(std::move(*program), executorOptions(options));
  return build;
}

/// The vec engine's executor for `graph` (which the program builder changes).
Expected<std::unique_ptr<runtime::Executor>> buildVec(ir::Graph &graph,
                                                      const CompileOptions &options) {
  auto program =
      runtime::ProgramBuilder(graph).build(api::builderTarget(runtime::vecTarget(), options));
  if (!program)
    return Error{"soma: error: " + program.error() + "\n"};
  return std::make_unique<runtime::Executor>(std::move(*program), executorOptions(options));
}

/// Engine::Auto: the JIT compile of `graph` (a clone of the model's) as a
/// oneTBB task enqueued in an arena of its own, so it never runs inside a
/// caller's parallel loop. When it ends, runs switch to its executor.
void startBackgroundJit(Model::Impl &impl, std::unique_ptr<ir::Graph> graph) {
  impl.jitState = Model::Impl::JitState::Running;
  // One thread and no slot kept for an application thread: a oneTBB worker
  // runs the task (oneTBB adds one when it has none).
  impl.background = std::make_unique<tbb::task_arena>(1, 0);
  // The task owns nothing: oneTBB may destroy a finished task object after
  // the model, even after the process has begun to exit. Its graph lives
  // in the model and is freed as soon as the compile is done.
  impl.jitGraph = std::move(graph);
  impl.background->enqueue([&impl] {
    Expected<JitBuild> build = Error{"soma: error: the JIT compile was cancelled\n"};
    try {
      if (!impl.cancelJit.load(std::memory_order_relaxed))
        build = buildJit(*impl.jitGraph, impl.options, nullptr);
    } catch (const std::exception &e) {
      build = Error{std::string("soma: error: background JIT compile: ") + e.what() + "\n"};
    }
    impl.jitGraph.reset();
    std::lock_guard<std::mutex> lock(impl.jitMutex);
    if (build) {
      impl.code = std::move(build->code);
      impl.executor = std::move(build->executor);
      impl.active.store(impl.executor.get(), std::memory_order_release);
      impl.jitState = Model::Impl::JitState::Ready;
    } else {
      impl.jitError = build.error();
      impl.jitState = Model::Impl::JitState::Failed;
    }
    impl.jitDone.notify_all();
  });
}

double secondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string shapeText(const std::vector<int64_t> &dims) { return formatDims(dims); }

/// 'a', 'b', 'c'
std::string quotedNames(const std::vector<TensorInfo> &infos) {
  std::string names;
  for (const TensorInfo &t : infos)
    names += (names.empty() ? "'" : ", '") + t.name + "'";
  return names;
}

std::string expectedShape(const TensorInfo &info) {
  std::string s = "f32[N";
  for (int64_t d : info.shape)
    s += ", " + std::to_string(d);
  return s + "]";
}

/// Matches buffers to the model's tensors by name and checks their shapes
/// and batch, calling bind(i, buffer) for the buffer of tensor i. Inputs
/// must all be bound, outputs at least one. Allocates nothing unless it
/// fails (Model::run allocates nothing after warm-up).
template <class Buffer, class Bind>
Status bindBuffers(const std::vector<Buffer> &buffers, const std::vector<TensorInfo> &infos,
                   const char *what, int64_t &batch, Bind bind) {
  const bool isOutput = std::string_view(what) == "output";
  if (isOutput && buffers.empty() && !infos.empty())
    return Status::failure("no output is bound; bind at least one of " + quotedNames(infos));
  for (size_t k = 0; k < buffers.size(); ++k) {
    const Buffer &buf = buffers[k];
    auto it = std::find_if(infos.begin(), infos.end(),
                           [&](const TensorInfo &t) { return t.name == buf.name; });
    if (it == infos.end()) {
      return Status::failure(std::string("the model has no ") + what + " named '" + buf.name +
                             "'; its " + what + "s are " + quotedNames(infos));
    }
    for (size_t j = 0; j < k; ++j)
      if (buffers[j].name == buf.name)
        return Status::failure(std::string(what) + " '" + buf.name + "' is bound twice");
    bool shapeOk = buf.shape.size() == it->shape.size() + 1 && buf.shape[0] >= 0 &&
                   std::equal(it->shape.begin(), it->shape.end(), buf.shape.begin() + 1);
    if (!shapeOk)
      return Status::failure(std::string(what) + " '" + buf.name + "' must have shape " +
                             expectedShape(*it) + ", got " + shapeText(buf.shape));
    if (batch >= 0 && buf.shape[0] != batch)
      return Status::failure(std::string(what) + " '" + buf.name + "' has batch size " +
                             std::to_string(buf.shape[0]) + ", but other buffers have " +
                             std::to_string(batch));
    batch = buf.shape[0];
    // A buffer of no elements (batch 0, or a zero-width value) is never read
    // or written: its pointer may be null, as std::vector::data() gives.
    const bool empty =
        batch == 0 || std::find(it->shape.begin(), it->shape.end(), 0) != it->shape.end();
    if (!buf.data && !empty)
      return Status::failure(std::string(what) + " '" + buf.name + "' has no data pointer");
    bind(static_cast<size_t>(it - infos.begin()), buf);
  }
  // Every buffer named a distinct tensor: fewer buffers than tensors means
  // some tensor has none.
  if (!isOutput && buffers.size() < infos.size())
    for (const TensorInfo &info : infos)
      if (std::none_of(buffers.begin(), buffers.end(),
                       [&](const Buffer &b) { return b.name == info.name; }))
        return Status::failure(std::string("missing ") + what + " '" + info.name + "' of shape " +
                               expectedShape(info));
  return Status::success();
}

} // namespace

namespace api {

/// CompileOptions::threads above this is surely a mistake.
constexpr int kMaxThreads = 1024;

struct ModelAccess {
  static Model make(std::unique_ptr<Model::Impl> impl) { return Model(std::move(impl)); }
  static const Model::Impl *impl(const Model &model) { return model.impl.get(); }
};

ir::SparsityMode sparsityMode(const CompileOptions &options) {
  return options.sparsity == Sparsity::Dense    ? ir::SparsityMode::Dense
         : options.sparsity == Sparsity::Sparse ? ir::SparsityMode::Sparse
                                                : ir::SparsityMode::Auto;
}

runtime::Target builderTarget(runtime::Target target, const CompileOptions &options) {
  target.blockedLayouts = options.blockedLayouts;
  return target;
}

void applyPassOptions(const CompileOptions &options, passes::PassContext &ctx) {
  ctx.sparsity = sparsityMode(options);
  // A named target is planned for with its published parameters (the JIT
  // re-plans when --mattr changes its vector width); another machine's
  // triple with its modelled or generic CPU's (jit::planningMachine).
  if (!options.triple.empty()) {
    if (auto target = jit::resolveTarget({options.cpu, options.features, false, options.triple}))
      ctx.machine = jit::planningMachine(*target);
  } else if (!options.cpu.empty()) {
    if (std::optional<MachineInfo> m = modelledMachine(options.cpu))
      ctx.machine = *m;
  }
  if (options.prune > 0)
    ctx.prune = options.prune;
}

FrontResult compileToGraph(SourceManager &sm, uint32_t file, const CompileOptions &options,
                           Timings *timings) {
  FrontResult result;
  const int optLevel = options.optLevel;
  if (!(options.prune >= 0 && options.prune < 1)) {
    result.diagnostics =
        "soma: error: prune " + std::to_string(options.prune) + " is not a fraction in [0, 1)\n";
    return result;
  }
  if (optLevel < 0 || optLevel > 3) {
    result.diagnostics =
        "soma: error: optimisation level " + std::to_string(optLevel) + " is not in 0..3\n";
    return result;
  }
  if (options.maxWeights < 1 || options.maxActivations < 1) {
    result.diagnostics =
        "soma: error: the limits maxWeights and maxActivations must be at least 1\n";
    return result;
  }
  // Another machine's triple decides what the passes plan for: a mistake
  // in it (or in its CPU or features) is reported before they run.
  if (!options.triple.empty())
    if (auto target = jit::resolveTarget({options.cpu, options.features, false, options.triple});
        !target) {
      result.diagnostics = "soma: error: " + target.error() + "\n";
      return result;
    }
  DiagnosticEngine diags(sm);
  auto t0 = std::chrono::steady_clock::now();
  frontend::TensorViews tensors;
  for (const auto &[name, t] : options.tensors)
    tensors[name] = {t.data, t.shape};
  result.graph =
      frontend::loadGraph(file, sm, diags, {options.maxWeights, options.maxActivations}, &tensors);
  if (timings)
    timings->push_back({"frontend: parse, check, build IR", secondsSince(t0)});
  if (result.graph) {
    passes::PassContext ctx(diags);
    applyPassOptions(options, ctx);
    bool ok = passes::runPipeline(
        *result.graph,
        passes::pipelineForLevel(optLevel, passes::pruneRequested(*result.graph, ctx.prune)), ctx,
        {});
    if (timings)
      for (auto &[name, seconds] : ctx.passSeconds)
        timings->push_back({"pass: " + name, seconds});
    if (!ok)
      result.graph.reset();
  }
  if (diags.hasErrors())
    result.graph.reset();
  result.diagnostics = diags.renderToString();
  return result;
}

Expected<std::string> emit(std::unique_ptr<ir::Graph> graph, const CompileOptions &options,
                           jit::EmitKind kind, Timings *timings) {
  auto t0 = std::chrono::steady_clock::now();
  auto engine = jit::JitEngine::create(jitOptions(options, /*runsHere=*/false));
  if (!engine)
    return Error{engine.error()};
  runtime::ProgramBuilder builder(*graph);
  if (auto planned = builder.plan(builderTarget((*engine)->target(), options)); !planned)
    return Error{planned.error()};
  auto text = (*engine)->emit(builder, kind);
  if (timings)
    timings->push_back({"llvm: lower, optimise, emit", secondsSince(t0)});
  return text;
}

Expected<std::string> emitProgram(std::unique_ptr<ir::Graph> graph, const CompileOptions &options,
                                  Timings *timings) {
  auto t0 = std::chrono::steady_clock::now();
  runtime::ProgramBuilder builder(*graph);
  std::unique_ptr<jit::JitEngine> engine;
  runtime::Target target;
  switch (options.engine) {
  case Engine::Auto:
  case Engine::Jit: {
    // The program's kernels are compiled, never run.
    auto made = jit::JitEngine::create(jitOptions(options, /*runsHere=*/false));
    if (!made)
      return Error{made.error()};
    engine = std::move(*made);
    target = engine->target();
    break;
  }
  case Engine::Vec:
    // Its kernels are chosen when it is loaded, for the CPU it runs on.
    if (!options.triple.empty())
      if (auto t = jit::resolveTarget({options.cpu, options.features, false, options.triple});
          t && !t->native)
        return Error{"the vec engine's program is made on the machine it runs on: "
                     "--emit=program for '" +
                     options.triple + "' shows the JIT's (--engine=jit)"};
    target = runtime::vecTarget();
    break;
  case Engine::Interp:
    target.name = "interp";
    target.families = {&runtime::interpFamily()};
    break;
  }
  auto program = builder.build(builderTarget(std::move(target), options));
  if (!program)
    return Error{program.error()};
  if (timings)
    timings->push_back({"program: build", secondsSince(t0)});
  return runtime::printProgram(builder, *program);
}

Model makeBundleModel(std::unique_ptr<BundleRunner> runner, std::vector<TensorInfo> inputs,
                      std::vector<TensorInfo> outputs, std::string source) {
  auto impl = std::make_unique<Model::Impl>();
  impl->bundle = std::move(runner);
  impl->options.engine = Engine::Jit;
  impl->source = std::move(source);
  impl->inputs = std::move(inputs);
  impl->outputs = std::move(outputs);
  for (const TensorInfo &out : impl->outputs) {
    int64_t elements = 1;
    for (int64_t d : out.shape)
      elements *= d;
    impl->outputSampleElements.push_back(std::max<int64_t>(1, elements));
    impl->maxBatch =
        std::min(impl->maxBatch, kMaxTensorElements / impl->outputSampleElements.back());
  }
  return ModelAccess::make(std::move(impl));
}

Result<Model> makeModel(std::unique_ptr<ir::Graph> graph, const CompileOptions &options,
                        std::string warnings, Timings *timings, ModelUse use, std::string source) {
  auto impl = std::make_unique<Model::Impl>();
  impl->graph = std::move(graph);
  impl->source = std::move(source);
  impl->options = options;
  impl->options.tensors.clear(); // copied into the graph; the caller's pointers are not kept
  impl->warnings = std::move(warnings);
  for (ir::Op *in : impl->graph->inputs())
    impl->inputs.push_back({in->name, in->type.dims});
  for (const ir::GraphOutput &out : impl->graph->outputs) {
    impl->outputs.push_back({out.name, out.value->type.dims});
    impl->outputSampleElements.push_back(std::max<int64_t>(1, out.value->type.sampleElements()));
    impl->maxBatch =
        std::min(impl->maxBatch, kMaxTensorElements / impl->outputSampleElements.back());
  }
  if (options.threads < 0 || options.threads > kMaxThreads)
    return Status::failure("soma: error: thread count " + std::to_string(options.threads) +
                           " is not in 0.." + std::to_string(kMaxThreads) + " (0: all cores)\n");
  // A model runs here, on every engine: a triple must be this machine's.
  if (!options.triple.empty())
    if (auto target = jit::resolveTarget({options.cpu, options.features, true, options.triple});
        !target)
      return Status::failure("soma: error: " + target.error() + "\n");
  switch (options.engine) {
  case Engine::Interp:
    break;
  case Engine::Jit: {
    auto build = buildJit(*impl->graph, options, timings);
    if (!build)
      return Status::failure(build.error());
    impl->code = std::move(build->code);
    impl->executor = std::move(build->executor);
    impl->maxBatch = std::min(impl->maxBatch, maxBatchOf(impl->executor->program()));
    impl->active.store(impl->executor.get(), std::memory_order_release);
    break;
  }
  case Engine::Vec:
  case Engine::Auto: {
    // The program builder changes the graph: the JIT gets a
    // clone made before the vec engine folds the original.
    std::unique_ptr<ir::Graph> jitGraph;
    if (options.engine == Engine::Auto) {
      // A mistake in `cpu` or `features` is the caller's: reported by
      // compile, as for Engine::Jit, not left to the background.
      if (auto target = jit::resolveTarget({options.cpu, options.features, true, options.triple});
          !target)
        return Status::failure("soma: error: " + target.error() + "\n");
      // One run (a tool's one-shot run) ends before the JIT could serve.
      impl->oneShot = use == ModelUse::OneShot;
      if (!impl->oneShot)
        jitGraph = impl->graph->clone();
    }
    auto t0 = std::chrono::steady_clock::now();
    auto vec = buildVec(*impl->graph, options);
    if (!vec)
      return Status::failure(vec.error());
    if (timings)
      timings->push_back({"vec: fold, pack weights, plan tiles", secondsSince(t0)});
    impl->vecExecutor = std::move(*vec);
    impl->maxBatch = std::min(impl->maxBatch, maxBatchOf(impl->vecExecutor->program()));
    impl->active.store(impl->vecExecutor.get(), std::memory_order_release);
    if (!jitGraph)
      break;
    startBackgroundJit(*impl, std::move(jitGraph));
    break;
  }
  }
  return ModelAccess::make(std::move(impl));
}

Serving describeServing(const Model &model) {
  Serving serving;
  serving.engine = model.activeEngine();
  const Model::Impl *impl = ModelAccess::impl(model);
  if (!impl)
    return serving;
  serving.oneShot = impl->oneShot;
  if (serving.engine == Engine::Interp)
    return serving;
  const runtime::Executor *active = impl->active.load(std::memory_order_acquire);
  for (const runtime::Step &step : active->program().steps)
    serving.steps.push_back({step.name, step.family});
  return serving;
}

} // namespace api

namespace {
Result<Model> compileSource(SourceManager &sm, uint32_t file, const CompileOptions &options) {
  api::FrontResult front = api::compileToGraph(sm, file, options, nullptr);
  if (!front.graph)
    return Status::failure(front.diagnostics);
  return api::makeModel(std::move(front.graph), options, std::move(front.diagnostics), nullptr,
                        api::ModelUse::Serving, sm.name(file));
}
} // namespace

Model::Model(std::unique_ptr<Impl> impl) : impl(std::move(impl)) {}
Model::Model(Model &&) noexcept = default;
Model &Model::operator=(Model &&) noexcept = default;
Model::~Model() = default;

Result<Model> Model::compileFile(const std::string &path, const CompileOptions &options) {
  SourceManager sm;
  Expected<uint32_t> file = frontend::loadSourceFile(path, sm);
  if (!file)
    return Status::failure("soma: error: " + file.error() + "\n");
  return compileSource(sm, *file, options);
}

Result<Model> Model::compileString(std::string_view source, const CompileOptions &options,
                                   const std::string &name) {
  SourceManager sm;
  return compileSource(sm, sm.addBuffer(name, std::string(source)), options);
}

// A moved-from model has no Impl; its accessors answer as an empty model.
static const Model::Impl &implOrEmpty(const std::unique_ptr<Model::Impl> &impl) {
  static const Model::Impl empty;
  return impl ? *impl : empty;
}

const std::vector<TensorInfo> &Model::inputs() const { return implOrEmpty(impl).inputs; }
const std::vector<TensorInfo> &Model::outputs() const { return implOrEmpty(impl).outputs; }
Engine Model::engine() const { return implOrEmpty(impl).options.engine; }

Engine Model::activeEngine() const {
  const Impl &i = implOrEmpty(impl);
  switch (i.options.engine) {
  case Engine::Auto: {
    const runtime::Executor *active = i.active.load(std::memory_order_acquire);
    return active && active != i.vecExecutor.get() ? Engine::Jit : Engine::Vec;
  }
  default:
    return i.options.engine;
  }
}

Status Model::waitForJit() const {
  if (!impl)
    return Status::success();
  return impl->waitForJit();
}
const std::string &Model::warnings() const { return implOrEmpty(impl).warnings; }

namespace {

/// Refuses a batch that would make an output or an intermediate value
/// larger than kMaxTensorElements (a value of no elements never is).
Status checkBatch(const Model::Impl &impl, const runtime::Executor *executor, int64_t batch) {
  if (batch <= impl.maxBatch)
    return Status::success();
  for (size_t o = 0; o < impl.outputs.size(); ++o)
    if (batch > kMaxTensorElements / impl.outputSampleElements[o])
      return Status::failure("batch size " + std::to_string(batch) + " is too large for output '" +
                             impl.outputs[o].name + "'");
  if (executor)
    for (const runtime::Step &step : executor->program().steps) {
      const runtime::Slot &slot = executor->program().slots[static_cast<size_t>(step.result)];
      if (slot.kind == runtime::SlotKind::Temp && slot.sampleElements > 0 &&
          batch > kMaxTensorElements / slot.sampleElements)
        return Status::failure("batch size " + std::to_string(batch) +
                               " is too large for the intermediate value '" + step.name + "'");
    }
  return Status::success();
}

Status runInterp(const Model::Impl &impl, const std::vector<InputBuffer> &inputs,
                 const std::vector<OutputBuffer> &outputs) {
  int64_t batch = -1;
  std::vector<const InputBuffer *> in(impl.inputs.size());
  std::vector<const OutputBuffer *> out(impl.outputs.size());
  if (Status s = bindBuffers(inputs, impl.inputs, "input", batch,
                             [&](size_t i, const InputBuffer &b) { in[i] = &b; });
      !s)
    return s;
  if (Status s = bindBuffers(outputs, impl.outputs, "output", batch,
                             [&](size_t o, const OutputBuffer &b) { out[o] = &b; });
      !s)
    return s;
  if (Status s = checkBatch(impl, nullptr, batch); !s)
    return s;
  std::vector<runtime::NamedTensor> tensors;
  for (const InputBuffer *b : in) {
    runtime::NamedTensor t{b->name, Tensor(b->shape)};
    if (!t.tensor.values.empty())
      std::memcpy(t.tensor.values.data(), b->data, t.tensor.values.size() * sizeof(float));
    tensors.push_back(std::move(t));
  }
  auto result = runtime::Interpreter(*impl.graph).run(tensors);
  if (!result)
    return Status::failure(result.error());
  for (size_t o = 0; o < out.size(); ++o)
    if (out[o] && !(*result)[o].tensor.values.empty())
      std::memcpy(out[o]->data, (*result)[o].tensor.values.data(),
                  (*result)[o].tensor.values.size() * sizeof(float));
  return Status::success();
}

/// A bundle's run (Model::loadBundle): the buffers checked as for the
/// engines, then handed to the bundle's runtime; an output left unbound
/// gets a buffer of its own for the call (the bundle writes every output).
Status runBundle(const Model::Impl &impl, const std::vector<InputBuffer> &inputs,
                 const std::vector<OutputBuffer> &outputs) {
  thread_local std::vector<const float *> in;
  thread_local std::vector<float *> out;
  in.assign(impl.inputs.size(), nullptr);
  out.assign(impl.outputs.size(), nullptr);
  int64_t batch = -1;
  if (Status s = bindBuffers(inputs, impl.inputs, "input", batch,
                             [&](size_t i, const InputBuffer &b) { in[i] = b.data; });
      !s)
    return s;
  if (Status s = bindBuffers(outputs, impl.outputs, "output", batch,
                             [&](size_t o, const OutputBuffer &b) { out[o] = b.data; });
      !s)
    return s;
  if (Status s = checkBatch(impl, nullptr, batch); !s)
    return s;
  if (batch == 0)
    return Status::success();
  // A zero-width input may come without data; the bundle wants a pointer.
  static const float none = 0;
  for (const float *&p : in)
    p = p ? p : &none;
  std::vector<std::vector<float>> unbound;
  for (size_t o = 0; o < out.size(); ++o)
    if (!out[o])
      out[o] =
          unbound.emplace_back(static_cast<size_t>(batch * impl.outputSampleElements[o])).data();
  return impl.bundle->run(batch, in.data(), out.data());
}

/// A run's failure in the diagnostics' form, `source: error: what`.
Status runFailure(const std::string &source, const Status &failure) {
  return Status::failure(source + ": error: " + failure.message() + "\n");
}

Status runOn(const Model::Impl &impl, const std::vector<InputBuffer> &inputs,
             const std::vector<OutputBuffer> &outputs, std::vector<double> *stepSeconds = nullptr) {
  if (impl.bundle && stepSeconds)
    return Status::failure("a per-step profile needs a compiled model: a bundle's steps run in "
                           "its own runtime");
  if (impl.bundle)
    return runBundle(impl, inputs, outputs);
  if (impl.options.engine == Engine::Interp && stepSeconds)
    return Status::failure("a per-step profile needs the vec or JIT engine: the interpreter runs "
                           "the graph, not steps");
  if (impl.options.engine == Engine::Interp)
    return runInterp(impl, inputs, outputs);

  // The JIT or vec executor (Auto: whichever is active when the call
  // starts; the call finishes on it): buffers go straight into a run
  // context's slot table. Nothing here allocates once the context has run
  // this batch size (tested by soma_alloc_tests).
  const runtime::Executor *executor = impl.active.load(std::memory_order_acquire);
  int64_t batch = -1;
  runtime::Executor::Lease lease = executor->lease();
  if (Status s = bindBuffers(inputs, impl.inputs, "input", batch,
                             [&](size_t i, const InputBuffer &b) { lease.setInput(i, b.data); });
      !s)
    return s;
  if (Status s = bindBuffers(outputs, impl.outputs, "output", batch,
                             [&](size_t o, const OutputBuffer &b) { lease.setOutput(o, b.data); });
      !s)
    return s;
  if (Status s = checkBatch(impl, executor, batch); !s)
    return s;
  if (stepSeconds)
    lease.runProfiled(batch, *stepSeconds);
  else
    lease.run(batch);
  return Status::success();
}

} // namespace

namespace api {
Status runProfiled(const Model &model, const std::vector<InputBuffer> &inputs,
                   const std::vector<OutputBuffer> &outputs, std::vector<double> &stepSeconds) {
  const Model::Impl *impl = ModelAccess::impl(model);
  if (!impl)
    return runFailure("soma", Status::failure("run called on a moved-from model"));
  Status s = runOn(*impl, inputs, outputs, &stepSeconds);
  return s ? s : runFailure(impl->source, s);
}
} // namespace api

Status Model::run(const std::vector<InputBuffer> &inputs,
                  const std::vector<OutputBuffer> &outputs) const {
  if (!impl)
    return runFailure("soma", Status::failure("run called on a moved-from model"));
  Status s = runOn(*impl, inputs, outputs);
  return s ? s : runFailure(impl->source, s);
}

} // namespace soma
