// Model.run from Python: NumPy arrays in, a dict of NumPy arrays out.
//
// An input that is already a C-contiguous, aligned, native-endian f32
// array is handed to soma as it is: soma reads the caller's memory. Any
// other value (f64, integers, a strided view, a list) is converted once
// into a new f32 array, and the conversion is counted (convertedInputs).
// The outputs are new f32 arrays that soma writes directly. The GIL is
// released while the model runs, so Python threads may run one model at
// once (Model::run is thread-safe).
//
// Shapes: a value of shape [batch, per-sample dims...] is a batch; a value
// of exactly the per-sample shape is one sample, and when every input is
// given so, the outputs are returned without the batch dimension too.
//
// The call costs about as much as a NumPy allocation, so it bypasses
// pybind11's dispatcher (a vectorcall method) and allocates nothing in C++
// (a CallScratch per concurrent call, reused). A call that binds every
// input once, by a known name, with a fitting shape takes that path; any
// other goes to the general one (bindGeneral), which hands what it was
// given to Model::run so that soma's own diagnostics explain the mistake.
#include "PyModel.h"

#include <atomic>

namespace soma::python {

namespace {

std::atomic<uint64_t> convertedCount{0};
/// The input addresses this thread's last run handed to Model::run, for
/// the tests of the zero-copy path (soma._core.last_input_addresses).
thread_local std::vector<uintptr_t> lastInputs;
PyObject *errorType = nullptr; // soma.Error

using NpyApi = py::detail::npy_api;

[[noreturn]] void inputError(const PyModel &m, const std::string &what) {
  throw Error(m.source + ": error: " + what);
}

/// Whether `value` is an f32 array soma can read in place.
bool isReadableF32(PyObject *value) {
  const NpyApi &api = NpyApi::get();
  if (!api.PyArray_Check_(value))
    return false;
  auto *array = reinterpret_cast<py::detail::PyArray_Proxy *>(value);
  auto *descr = reinterpret_cast<py::detail::PyArrayDescr_Proxy *>(array->descr);
  constexpr int flags = NpyApi::NPY_ARRAY_C_CONTIGUOUS_ | NpyApi::NPY_ARRAY_ALIGNED_;
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "native f32 is '<' here");
  return descr->type_num == NpyApi::NPY_FLOAT_ &&
         (descr->byteorder == '=' || descr->byteorder == '<') && (array->flags & flags) == flags;
}

/// `value` converted to a C-contiguous f32 array. Complex, string, object
/// and other non-real values are refused (their conversion would invent
/// numbers).
py::object convertToF32(const PyModel &m, const std::string &name, py::handle value) {
  py::array any = py::array::ensure(value);
  if (!any) {
    PyErr_Clear();
    inputError(m, "input '" + name + "' is not an array of numbers (got a value of type '" +
                      std::string(py::str(value.get_type().attr("__name__"))) + "')");
  }
  char kind = any.dtype().kind();
  if (kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b')
    inputError(m, "input '" + name + "' has dtype " + std::string(py::str(any.dtype())) +
                      ", which does not convert to f32");
  // A new array (NumPy's FromAny, which copies: `any` is not readable as
  // it is), aligned and C-contiguous, of native f32.
  const NpyApi &api = NpyApi::get();
  constexpr int flags = NpyApi::NPY_ARRAY_ENSUREARRAY_ | NpyApi::NPY_ARRAY_C_CONTIGUOUS_ |
                        NpyApi::NPY_ARRAY_ALIGNED_ | NpyApi::NPY_ARRAY_FORCECAST_;
  PyObject *converted = api.PyArray_FromAny_(
      any.ptr(), api.PyArray_DescrFromType_(NpyApi::NPY_FLOAT_), 0, 0, flags, nullptr);
  if (!converted) {
    // Out of memory stays a MemoryError; anything else names the input.
    if (PyErr_ExceptionMatches(PyExc_MemoryError))
      throw py::error_already_set();
    py::error_already_set why;
    inputError(m, "input '" + name + "' of dtype " + std::string(py::str(any.dtype())) +
                      " could not be converted to f32: " + why.what());
  }
  convertedCount.fetch_add(1, std::memory_order_relaxed);
  return py::reinterpret_steal<py::object>(converted);
}

/// `value` as an array soma can read: itself, or a conversion kept alive in
/// `keep` for the call.
PyObject *readable(const PyModel &m, const std::string &name, PyObject *value,
                   std::vector<py::object> &keep) {
  if (isReadableF32(value))
    return value;
  keep.push_back(convertToF32(m, name, value));
  return keep.back().ptr();
}

/// Sets `shape` to the array's, with a batch of one in front when it has
/// exactly the per-sample shape (then returns true).
bool arrayShape(PyObject *array, const std::vector<int64_t> &sample, std::vector<int64_t> &shape) {
  auto *a = reinterpret_cast<py::detail::PyArray_Proxy *>(array);
  bool oneSample = static_cast<size_t>(a->nd) == sample.size() &&
                   std::equal(sample.begin(), sample.end(), a->dimensions);
  shape.clear();
  if (oneSample)
    shape.push_back(1);
  shape.insert(shape.end(), a->dimensions, a->dimensions + a->nd);
  return oneSample;
}

/// Where the Python string `name` is among the model's inputs, or -1.
/// Keyword names are interned, as the model's are: most compare by pointer.
int findInput(const PyModel &m, PyObject *name) {
  for (size_t i = 0; i < m.inputNames.size(); ++i)
    if (m.inputNames[i].ptr() == name)
      return static_cast<int>(i);
  if (!PyUnicode_Check(name))
    return -1;
  for (size_t i = 0; i < m.inputNames.size(); ++i)
    if (PyUnicode_Compare(m.inputNames[i].ptr(), name) == 0)
      return static_cast<int>(i);
  return -1;
}

/// Whether a buffer of `shape` has fewer than 2^60 elements.
bool addressable(const std::vector<int64_t> &shape) {
  int64_t elements = 1;
  for (int64_t d : shape)
    if (d < 0 || __builtin_mul_overflow(elements, d, &elements))
      return false;
  return elements < (int64_t(1) << 60);
}

/// A new f32 array of `dims` (C order), or an exception.
py::object newArray(const int64_t *dims, size_t rank) {
  const NpyApi &api = NpyApi::get();
  static_assert(sizeof(int64_t) == sizeof(Py_intptr_t), "NumPy dims are 64-bit here");
  PyObject *descr = api.PyArray_DescrFromType_(NpyApi::NPY_FLOAT_);
  auto *array = api.PyArray_NewFromDescr_(api.PyArray_Type_, descr, static_cast<int>(rank),
                                          reinterpret_cast<const Py_intptr_t *>(dims), nullptr,
                                          nullptr, 0, nullptr);
  if (!array)
    throw py::error_already_set();
  return py::reinterpret_steal<py::object>(array);
}

/// Runs the bound call: makes the outputs (with the first input's batch;
/// Model::run checks that every buffer agrees, before writing anything),
/// runs with the GIL released, and returns {name: array}.
py::object runBound(const PyModel &m, CallScratch &call, bool oneSample) {
  int64_t batch = call.inputs.empty() || call.inputs[0].shape.empty() ? 0 : call.inputs[0].shape[0];
  PyObject *result = PyDict_New();
  if (!result)
    throw py::error_already_set();
  py::object resultOwner = py::reinterpret_steal<py::object>(result);
  for (size_t o = 0; o < call.outputs.size(); ++o) {
    std::vector<int64_t> &shape = call.outputs[o].shape;
    shape.assign(1, batch);
    shape.insert(shape.end(), m.outputShapes[o].begin(), m.outputShapes[o].end());
    // An output too large to address is left empty: run refuses the batch.
    bool fits = addressable(shape);
    std::vector<int64_t> empty(fits ? 0 : shape.size(), 0);
    py::object array = !fits       ? newArray(empty.data(), empty.size())
                       : oneSample ? newArray(shape.data() + 1, shape.size() - 1)
                                   : newArray(shape.data(), shape.size());
    call.outputs[o].data =
        reinterpret_cast<float *>(reinterpret_cast<py::detail::PyArray_Proxy *>(array.ptr())->data);
    if (PyDict_SetItem(result, m.outputNames[o].ptr(), array.ptr()) != 0)
      throw py::error_already_set();
  }
  lastInputs.clear();
  for (const InputBuffer &in : call.inputs)
    lastInputs.push_back(reinterpret_cast<uintptr_t>(in.data));
  PyThreadState *state = PyEval_SaveThread();
  Status status = m.model.run(call.inputs, call.outputs);
  PyEval_RestoreThread(state);
  if (!status) {
    std::string message = status.message();
    if (!message.empty() && message.back() == '\n')
      message.pop_back();
    throw Error(message);
  }
  return resultOwner;
}

/// The general path: inputs bound in the order given, whatever their names
/// and shapes; Model::run explains what is wrong. The InputBuffers are
/// built here, as names may be unknown or repeated.
py::object runGeneral(const PyModel &m, CallScratch &call,
                      const std::vector<std::pair<PyObject *, PyObject *>> &given) {
  std::vector<InputBuffer> inputs;
  bool oneSample = !given.empty();
  for (auto [key, value] : given) {
    if (!PyUnicode_Check(key))
      throw py::type_error("soma: input names must be strings");
    std::string name = py::reinterpret_borrow<py::str>(key);
    PyObject *array = readable(m, name, value, call.converted);
    int index = findInput(m, key);
    std::vector<int64_t> shape;
    bool sample = arrayShape(
        array, index < 0 ? std::vector<int64_t>{-1} : m.inputShapes[static_cast<size_t>(index)],
        shape);
    oneSample = oneSample && sample;
    auto *a = reinterpret_cast<py::detail::PyArray_Proxy *>(array);
    inputs.push_back({std::move(name), reinterpret_cast<const float *>(a->data), shape});
  }
  std::swap(inputs, call.inputs);
  struct Restore {
    std::vector<InputBuffer> &a, &b;
    ~Restore() { std::swap(a, b); }
  } restore{inputs, call.inputs};
  return runBound(m, call, oneSample);
}

/// The fast path: every input bound once by a known name, each with a
/// fitting rank. Returns false (having bound nothing for good) otherwise.
bool bindFast(const PyModel &m, CallScratch &call,
              const std::vector<std::pair<PyObject *, PyObject *>> &given, bool &oneSample) {
  if (given.size() != m.inputNames.size())
    return false;
  std::fill(call.values.begin(), call.values.end(), nullptr);
  for (auto [key, value] : given) {
    int index = findInput(m, key);
    if (index < 0 || call.values[static_cast<size_t>(index)])
      return false;
    call.values[static_cast<size_t>(index)] = value;
  }
  oneSample = true;
  for (size_t i = 0; i < call.inputs.size(); ++i) {
    PyObject *array = readable(m, call.inputs[i].name, call.values[i], call.converted);
    auto *a = reinterpret_cast<py::detail::PyArray_Proxy *>(array);
    size_t rank = m.inputShapes[i].size();
    if (static_cast<size_t>(a->nd) != rank && static_cast<size_t>(a->nd) != rank + 1)
      return false;
    oneSample = arrayShape(array, m.inputShapes[i], call.inputs[i].shape) && oneSample;
    call.inputs[i].data = reinterpret_cast<const float *>(a->data);
  }
  return true;
}

/// Takes a CallScratch from the model's pool (or makes one) and gives it
/// back, emptied of references, when the call ends; the GIL is held both
/// times.
class ScratchLease {
public:
  explicit ScratchLease(PyModel &m) : model(m) {
    if (m.scratch.empty()) {
      call = std::make_unique<CallScratch>();
      for (const TensorInfo &t : m.model.inputs())
        call->inputs.push_back({t.name, nullptr, {}});
      for (const TensorInfo &t : m.model.outputs())
        call->outputs.push_back({t.name, nullptr, {}});
      call->values.resize(call->inputs.size());
    } else {
      call = std::move(m.scratch.back());
      m.scratch.pop_back();
    }
  }
  ~ScratchLease() {
    call->converted.clear();
    call->given.clear();
    call->held.clear();
    model.scratch.push_back(std::move(call));
  }
  CallScratch &operator*() { return *call; }

private:
  PyModel &model;
  std::unique_ptr<CallScratch> call;
};

/// The (name, value) pairs of a call: a positional dict's, then the
/// keywords (which the call's arguments hold).
void gather(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
            std::vector<std::pair<PyObject *, PyObject *>> &given, std::vector<py::object> &held) {
  given.clear();
  if (nargs > 1)
    throw py::type_error("soma: run takes one dict of inputs, or inputs as keywords");
  if (nargs == 1) {
    if (!PyDict_Check(args[0]))
      throw py::type_error("soma: run's positional argument must be a dict {name: array}");
    // The dict's items are borrowed: held, so that converting one value
    // (which may run Python code) cannot free another.
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(args[0], &pos, &key, &value)) {
      given.emplace_back(key, value);
      held.push_back(py::reinterpret_borrow<py::object>(key));
      held.push_back(py::reinterpret_borrow<py::object>(value));
    }
  }
  Py_ssize_t keywords = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  for (Py_ssize_t k = 0; k < keywords; ++k)
    given.emplace_back(PyTuple_GET_ITEM(kwnames, k), args[nargs + k]);
}

PyObject *runMethod(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
  try {
    auto *instance = reinterpret_cast<py::detail::instance *>(self);
    auto *m = instance->get_value_and_holder().value_ptr<PyModel>();
    if (!m)
      throw py::type_error("soma: run called on an uninitialised soma.Model");
    ScratchLease lease(*m);
    CallScratch &call = *lease;
    gather(args, nargs, kwnames, call.given, call.held);
    bool oneSample = false;
    if (bindFast(*m, call, call.given, oneSample))
      return runBound(*m, call, oneSample).release().ptr();
    call.converted.clear();
    return runGeneral(*m, call, call.given).release().ptr();
  } catch (Error &e) {
    PyErr_SetString(errorType, e.what());
  } catch (py::error_already_set &e) {
    e.restore();
  } catch (py::builtin_exception &e) {
    e.set_error();
  } catch (std::bad_alloc &) {
    PyErr_NoMemory();
  } catch (std::exception &e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  }
  return nullptr;
}

} // namespace

uint64_t convertedInputs() { return convertedCount.load(std::memory_order_relaxed); }

std::vector<uintptr_t> lastInputAddresses() { return lastInputs; }

void defineRun(py::handle modelClass, py::handle error) {
  errorType = error.ptr();
  static PyMethodDef def = {
      "run", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&runMethod)),
      METH_FASTCALL | METH_KEYWORDS,
      "run(feeds=None, /, **inputs) -> {output name: numpy.ndarray}\n\n"
      "Inputs by name, as keywords or one dict, each of shape [batch, per-sample dims...] or "
      "one sample's shape. C-contiguous f32 arrays are read in place; other values are "
      "converted to f32. The GIL is released while the model runs."};
  PyObject *method = PyDescr_NewMethod(reinterpret_cast<PyTypeObject *>(modelClass.ptr()), &def);
  if (!method)
    throw py::error_already_set();
  py::setattr(modelClass, "run", py::reinterpret_steal<py::object>(method));
}

} // namespace soma::python
