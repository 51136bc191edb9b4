// soma._core: the Python extension over soma's C++ API. It defines the
// exception soma.Error, compile (the options as keywords, the GIL released
// while soma compiles) and the Model class: its inputs and outputs, engine,
// warnings, run (Run.cpp) and pickling. soma/__init__.py wraps compile with
// the choice between a file and text, and rebuilds pickled models.
#include "PyModel.h"

#include <pybind11/stl.h>

#include <optional>
#include <sstream>
#include <utility>

namespace soma::python {

Error::Error(const std::string &diagnostics) : std::runtime_error(diagnostics) {}

namespace {

/// Names the tools use for engines and sparsity modes, and back.
Engine parseEngine(const std::string &name) {
  for (Engine e : {Engine::Auto, Engine::Jit, Engine::Vec, Engine::Interp})
    if (name == soma::name(e))
      return e;
  throw Error("soma: error: unknown engine '" + name + "' (expected auto, jit, vec or interp)");
}

Sparsity parseSparsity(const std::string &name) {
  for (Sparsity s : {Sparsity::Auto, Sparsity::Dense, Sparsity::Sparse})
    if (name == soma::name(s))
      return s;
  throw Error("soma: error: unknown sparsity '" + name + "' (expected auto, dense or sparse)");
}

/// soma.Error's text: the diagnostics without their final newline.
std::string withoutFinalNewline(std::string text) {
  if (!text.empty() && text.back() == '\n')
    text.pop_back();
  return text;
}

py::str toStr(const std::string &s) { return py::str(s.data(), s.size()); }

/// An interned Python string: keyword names are interned, so run finds an
/// input by comparing pointers.
py::str interned(const std::string &s) {
  PyObject *p = toStr(s).release().ptr();
  PyUnicode_InternInPlace(&p);
  return py::reinterpret_steal<py::str>(p);
}

/// {name: per-sample shape}, in the model's order.
py::dict describe(const std::vector<TensorInfo> &tensors) {
  py::dict result;
  for (const TensorInfo &t : tensors)
    result[toStr(t.name)] = py::tuple(py::cast(t.shape));
  return result;
}

std::string shapeText(const std::vector<int64_t> &shape) {
  std::string text = "f32[";
  for (size_t i = 0; i < shape.size(); ++i)
    text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

std::string repr(const PyModel &m) {
  std::ostringstream os;
  os << "<soma.Model '" << m.source << "' inputs";
  for (const TensorInfo &t : m.model.inputs())
    os << " " << t.name << ": " << shapeText(t.shape);
  os << ", outputs";
  for (const TensorInfo &t : m.model.outputs())
    os << " " << t.name << ": " << shapeText(t.shape);
  if (m.bundle)
    os << ", bundle>";
  else
    os << ", engine " << m.model.engine() << ">";
  return os.str();
}

/// compile's keywords, as soma::CompileOptions.
struct Options {
  std::string engine = "auto";
  int threads = 0;
  int optLevel = 2;
  std::string cpu, features;
  std::string sparsity = "auto";
  double prune = 0;

  CompileOptions toCompileOptions() const {
    CompileOptions o;
    o.engine = parseEngine(engine);
    o.threads = threads;
    o.optLevel = optLevel;
    o.cpu = cpu;
    o.features = features;
    o.sparsity = parseSparsity(sparsity);
    o.prune = prune;
    return o;
  }
};

/// Compiles a file (`isFile`) or text labelled `name`, with the GIL
/// released: other Python threads run, and several models may compile at
/// once.
std::unique_ptr<PyModel> compile(const std::string &source, bool isFile, const std::string &name,
                                 const Options &options, py::object spec) {
  CompileOptions compileOptions = options.toCompileOptions();
  std::optional<Result<Model>> model;
  {
    py::gil_scoped_release release;
    model.emplace(isFile ? Model::compileFile(source, compileOptions)
                         : Model::compileString(source, compileOptions, name));
  }
  if (!*model)
    throw Error(withoutFinalNewline(model->error()));
  return std::make_unique<PyModel>(std::move(**model), isFile ? source : name, std::move(spec));
}

/// Loads a bundle's shared library (Model::loadBundle), the GIL released.
std::unique_ptr<PyModel> loadBundle(const std::string &library, const std::string &name,
                                    int threads, const std::string &weights,
                                    const std::string &source, py::object spec) {
  BundleLoadOptions options;
  options.threads = threads;
  options.name = name;
  options.weightsPath = weights;
  options.source = source;
  std::optional<Result<Model>> model;
  {
    py::gil_scoped_release release;
    model.emplace(Model::loadBundle(library, options));
  }
  if (!*model)
    throw Error(withoutFinalNewline(model->error()));
  auto loaded = std::make_unique<PyModel>(std::move(**model), source.empty() ? library : source,
                                          std::move(spec));
  loaded->bundle = true;
  return loaded;
}

void defineModel(py::module_ &m) {
  py::class_<PyModel>(m, "Model", "A compiled network; made by soma.compile.")
      .def_property_readonly(
          "inputs", [](const PyModel &p) { return describe(p.model.inputs()); },
          "{name: per-sample shape} of the inputs, in declaration order")
      .def_property_readonly(
          "outputs", [](const PyModel &p) { return describe(p.model.outputs()); },
          "{name: per-sample shape} of the outputs, in `output` order")
      .def_property_readonly(
          "engine", [](const PyModel &p) { return std::string(name(p.model.engine())); },
          "the engine asked for: 'auto', 'jit', 'vec' or 'interp'")
      .def_property_readonly(
          "active_engine",
          [](const PyModel &p) { return std::string(name(p.model.activeEngine())); },
          "the engine a run started now goes to ('vec', then 'jit' for auto)")
      .def_property_readonly(
          "warnings", [](const PyModel &p) { return p.model.warnings(); },
          "the compile's warnings (diagnostics text), '' if none")
      .def_readonly("source", &PyModel::source,
                    "the file, or the name given with text; a bundle's library")
      .def_readonly("bundle", &PyModel::bundle, "whether soma.load_bundle made the model")
      .def(
          "wait_for_jit",
          [](const PyModel &p) {
            Status s = Status::success();
            {
              py::gil_scoped_release release;
              s = p.model.waitForJit();
            }
            if (!s)
              throw Error(withoutFinalNewline(s.message()));
          },
          "auto: blocks until the background JIT compile has ended; raises soma.Error if it "
          "failed (runs then stay on the vec engine)")
      .def("__repr__", &repr)
      .def("__reduce__", [](const PyModel &p) {
        if (p.spec.is_none())
          throw py::type_error("soma: this model cannot be pickled (it was not made by "
                               "soma.compile or soma.load_bundle)");
        return py::make_tuple(py::module_::import("soma").attr("_rebuild"), py::make_tuple(p.spec));
      });
}

} // namespace

PyModel::PyModel(Model model, std::string source, py::object spec)
    : model(std::move(model)), source(std::move(source)), spec(std::move(spec)) {
  for (const TensorInfo &t : this->model.inputs()) {
    inputNames.push_back(interned(t.name));
    inputShapes.push_back(t.shape);
  }
  for (const TensorInfo &t : this->model.outputs()) {
    outputNames.push_back(interned(t.name));
    outputShapes.push_back(t.shape);
  }
}

} // namespace soma::python

PYBIND11_MODULE(_core, m) {
  namespace py = pybind11;
  using namespace soma::python;
  m.doc() = "soma's compiler and runtime (the extension behind the package soma)";
  m.attr("__version__") = SOMA_VERSION_STRING;
  auto error = py::register_exception<Error>(m, "Error", PyExc_RuntimeError);
  defineModel(m);
  defineRun(m.attr("Model"), error);
  // Shown (and pickled) as soma.Error and soma.Model, as the package exports them.
  m.attr("Error").attr("__module__") = "soma";
  m.attr("Model").attr("__module__") = "soma";
  m.def(
      "compile",
      [](const std::string &source, bool isFile, const std::string &name, const std::string &engine,
         int threads, int optLevel, const std::string &cpu, const std::string &features,
         const std::string &sparsity, double prune, py::object spec) {
        Options options{engine, threads, optLevel, cpu, features, sparsity, prune};
        return compile(source, isFile, name, options, std::move(spec));
      },
      py::arg("source"), py::arg("is_file"), py::arg("name"), py::arg("engine"), py::arg("threads"),
      py::arg("opt_level"), py::arg("cpu"), py::arg("features"), py::arg("sparsity"),
      py::arg("prune"), py::arg("spec"),
      "Compiles a file or network text; soma.compile is the interface to use.");
  m.def("load_bundle", &loadBundle, py::arg("library"), py::arg("name"), py::arg("threads"),
        py::arg("weights"), py::arg("source"), py::arg("spec"),
        "Loads a bundle's shared library; soma.load_bundle is the interface to use.");
  m.def("last_input_addresses", &lastInputAddresses,
        "The addresses of the input buffers this thread's last Model.run handed to soma");
  m.def("converted_inputs", &convertedInputs,
        "How many input arrays Model.run has converted (copied) to f32 so far, in this process");
}
