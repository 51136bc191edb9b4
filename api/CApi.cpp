// The C API (the extern "C" half of soma/soma.h): a thin layer over the C++
// API. A soma_model is a soma::Model; failures become codes, their message
// kept per thread for soma_last_error(); no C++ exception crosses it.
#include "soma/soma.h"

#include <cstring>
#include <new>
#include <string>

struct soma_model {
  soma::Model model;
};

namespace {

thread_local std::string lastError;

int fail(int code, std::string message) {
  lastError = std::move(message);
  return code;
}

/// The options a caller's struct gives: its fields up to its struct_size,
/// the defaults after (a program built against an older, shorter struct).
int toOptions(const soma_compile_options *given, soma::CompileOptions &out) {
  soma_compile_options o;
  soma_compile_options_init(&o);
  if (given) {
    if (given->struct_size < offsetof(soma_compile_options, opt_level) + sizeof(int) ||
        given->struct_size > sizeof o)
      return fail(SOMA_ERROR_ARGUMENT, "soma: error: soma_compile_options.struct_size is " +
                                           std::to_string(given->struct_size) +
                                           ": fill the options with soma_compile_options_init\n");
    std::memcpy(&o, given, given->struct_size);
  }
  if (o.opt_level < 0 || o.opt_level > 3)
    return fail(SOMA_ERROR_ARGUMENT,
                "soma: error: opt_level must be 0 to 3, got " + std::to_string(o.opt_level) + "\n");
  if (o.engine < SOMA_ENGINE_AUTO || o.engine > SOMA_ENGINE_INTERP)
    return fail(SOMA_ERROR_ARGUMENT,
                "soma: error: unknown engine " + std::to_string(o.engine) + "\n");
  if (o.sparsity < SOMA_SPARSITY_AUTO || o.sparsity > SOMA_SPARSITY_SPARSE)
    return fail(SOMA_ERROR_ARGUMENT,
                "soma: error: unknown sparsity " + std::to_string(o.sparsity) + "\n");
  if (o.threads < 0)
    return fail(SOMA_ERROR_ARGUMENT,
                "soma: error: threads must be 0 or more, got " + std::to_string(o.threads) + "\n");
  if (!(o.prune >= 0 && o.prune < 1))
    return fail(SOMA_ERROR_ARGUMENT, "soma: error: prune must be in [0, 1)\n");
  static const soma::Engine engines[] = {soma::Engine::Auto, soma::Engine::Jit, soma::Engine::Vec,
                                         soma::Engine::Interp};
  static const soma::Sparsity sparsities[] = {soma::Sparsity::Auto, soma::Sparsity::Dense,
                                              soma::Sparsity::Sparse};
  out.optLevel = o.opt_level;
  out.engine = engines[o.engine];
  out.threads = o.threads;
  out.arena = o.caller_arena ? soma::ThreadArena::Caller : soma::ThreadArena::Model;
  out.sparsity = sparsities[o.sparsity];
  out.prune = o.prune;
  out.cpu = o.cpu ? o.cpu : "";
  out.features = o.features ? o.features : "";
  return SOMA_OK;
}

template <class Compile>
int compile(const soma_compile_options *given, soma_model **out, Compile &&compileModel) {
  if (!out)
    return fail(SOMA_ERROR_ARGUMENT, "soma: error: null result pointer\n");
  *out = nullptr;
  soma::CompileOptions options;
  if (int code = toOptions(given, options); code != SOMA_OK)
    return code;
  try {
    soma::Result<soma::Model> model = compileModel(options);
    if (!model)
      return fail(SOMA_ERROR_COMPILE, model.error());
    *out = new soma_model{std::move(*model)};
    return SOMA_OK;
  } catch (const std::bad_alloc &) {
    return fail(SOMA_ERROR_MEMORY, "soma: error: out of memory\n");
  } catch (const std::exception &e) {
    return fail(SOMA_ERROR_INTERNAL, std::string("soma: error: internal: ") + e.what() + "\n");
  }
}

const soma::TensorInfo *infoAt(const soma_model *m, int i, bool input) {
  if (!m)
    return nullptr;
  const auto &list = input ? m->model.inputs() : m->model.outputs();
  return i >= 0 && static_cast<size_t>(i) < list.size() ? &list[static_cast<size_t>(i)] : nullptr;
}

/// A caller's buffer as the C++ API takes it; an error for a null name,
/// data or shape.
template <class Buffer, class Tensor>
int toBuffers(const Tensor *given, size_t count, const char *what, std::vector<Buffer> &out) {
  if (count && !given)
    return fail(SOMA_ERROR_ARGUMENT, std::string("soma: error: null ") + what + " array\n");
  for (size_t i = 0; i < count; ++i) {
    const Tensor &t = given[i];
    if (!t.name || (t.rank > 0 && !t.shape) || t.rank < 0)
      return fail(SOMA_ERROR_ARGUMENT, std::string("soma: error: ") + what + " " +
                                           std::to_string(i) +
                                           " has a null name or shape, or a negative rank\n");
    out.push_back({t.name, t.data, std::vector<int64_t>(t.shape, t.shape + t.rank)});
  }
  return SOMA_OK;
}

} // namespace

extern "C" {

void soma_compile_options_init(soma_compile_options *o) {
  if (!o)
    return;
  std::memset(o, 0, sizeof *o);
  o->struct_size = sizeof *o;
  o->opt_level = 2;
  o->engine = SOMA_ENGINE_AUTO;
  o->sparsity = SOMA_SPARSITY_AUTO;
}

int soma_compile_file(const char *path, const soma_compile_options *options, soma_model **out) {
  if (!path)
    return fail(SOMA_ERROR_ARGUMENT, "soma: error: null path\n");
  return compile(options, out,
                 [&](const soma::CompileOptions &o) { return soma::Model::compileFile(path, o); });
}

int soma_compile_string(const char *source, size_t length, const char *name,
                        const soma_compile_options *options, soma_model **out) {
  if (!source && length)
    return fail(SOMA_ERROR_ARGUMENT, "soma: error: null source\n");
  return compile(options, out, [&](const soma::CompileOptions &o) {
    return soma::Model::compileString(std::string_view(source ? source : "", length), o,
                                      name ? name : "<string>");
  });
}

void soma_model_free(soma_model *model) { delete model; }

int soma_model_input_count(const soma_model *m) {
  return m ? static_cast<int>(m->model.inputs().size()) : 0;
}
int soma_model_output_count(const soma_model *m) {
  return m ? static_cast<int>(m->model.outputs().size()) : 0;
}
const char *soma_model_input_name(const soma_model *m, int i) {
  const soma::TensorInfo *t = infoAt(m, i, true);
  return t ? t->name.c_str() : nullptr;
}
const char *soma_model_output_name(const soma_model *m, int i) {
  const soma::TensorInfo *t = infoAt(m, i, false);
  return t ? t->name.c_str() : nullptr;
}
int soma_model_input_rank(const soma_model *m, int i) {
  const soma::TensorInfo *t = infoAt(m, i, true);
  return t ? static_cast<int>(t->shape.size()) : 0;
}
int soma_model_output_rank(const soma_model *m, int i) {
  const soma::TensorInfo *t = infoAt(m, i, false);
  return t ? static_cast<int>(t->shape.size()) : 0;
}
const int64_t *soma_model_input_dims(const soma_model *m, int i) {
  const soma::TensorInfo *t = infoAt(m, i, true);
  return t ? t->shape.data() : nullptr;
}
const int64_t *soma_model_output_dims(const soma_model *m, int i) {
  const soma::TensorInfo *t = infoAt(m, i, false);
  return t ? t->shape.data() : nullptr;
}
int soma_model_active_engine(const soma_model *m) {
  if (!m)
    return -1;
  switch (m->model.activeEngine()) {
  case soma::Engine::Auto:
    return SOMA_ENGINE_AUTO;
  case soma::Engine::Jit:
    return SOMA_ENGINE_JIT;
  case soma::Engine::Vec:
    return SOMA_ENGINE_VEC;
  case soma::Engine::Interp:
    return SOMA_ENGINE_INTERP;
  }
  return -1;
}
const char *soma_model_warnings(const soma_model *m) {
  return m ? m->model.warnings().c_str() : "";
}

int soma_model_run(const soma_model *model, const soma_input *inputs, size_t inputCount,
                   const soma_output *outputs, size_t outputCount) {
  if (!model)
    return fail(SOMA_ERROR_ARGUMENT, "soma: error: null model\n");
  try {
    std::vector<soma::InputBuffer> in;
    std::vector<soma::OutputBuffer> out;
    if (int code = toBuffers(inputs, inputCount, "input", in); code != SOMA_OK)
      return code;
    if (int code = toBuffers(outputs, outputCount, "output", out); code != SOMA_OK)
      return code;
    soma::Status status = model->model.run(in, out);
    if (!status)
      return fail(SOMA_ERROR_RUN, status.message());
    return SOMA_OK;
  } catch (const std::bad_alloc &) {
    return fail(SOMA_ERROR_MEMORY, "soma: error: out of memory\n");
  } catch (const std::exception &e) {
    return fail(SOMA_ERROR_INTERNAL, std::string("soma: error: internal: ") + e.what() + "\n");
  }
}

const char *soma_last_error(void) { return lastError.c_str(); }

const char *soma_version(void) { return SOMA_VERSION_STRING; }

} // extern "C"
