// The Python module's view of a compiled model (soma._core.Model) and the
// pieces its two source files share: Module.cpp defines the module, compile
// and the model's attributes; Run.cpp the per-call path of Model.run.
#pragma once

#include "soma/soma.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace soma::python {

namespace py = pybind11;

/// Raised as soma.Error: the message is soma's diagnostics, `WHERE: error:
/// ...` lines, without the final newline.
class Error : public std::runtime_error {
public:
  explicit Error(const std::string &diagnostics);
};

/// The buffers of one call to run, kept between calls so that a call
/// allocates nothing on the C++ side: names set once, shapes reusing their
/// capacity. Taken from and returned to PyModel::scratch with the GIL held.
struct CallScratch {
  std::vector<InputBuffer> inputs;   // in the model's order
  std::vector<OutputBuffer> outputs; // in the model's order
  std::vector<PyObject *> values;    // per input: the value given (borrowed)
  std::vector<py::object> converted; // inputs converted to f32, kept for the call
  std::vector<std::pair<PyObject *, PyObject *>> given; // (name, value), borrowed
  std::vector<py::object> held; // a positional dict's names and values, held for the call
};

/// A compiled model and what the Python side needs around it.
struct PyModel {
  PyModel(Model model, std::string source, py::object spec);

  Model model;
  /// What the model's errors name: the file or compile's `name`.
  std::string source;
  /// What soma._rebuild compiles (or loads) again to unpickle the model (a
  /// tuple; see soma/__init__.py), or None.
  py::object spec;
  /// Made by soma.load_bundle: runs a bundle's shared library.
  bool bundle = false;
  /// The names as Python strings (the keys of run's result) and the
  /// per-sample shapes, in the model's order.
  std::vector<py::str> inputNames, outputNames;
  std::vector<std::vector<int64_t>> inputShapes, outputShapes;
  /// Scratch of calls not running now (guarded by the GIL).
  std::vector<std::unique_ptr<CallScratch>> scratch;
};

/// Model.run(feeds=None, /, **inputs): binds the inputs (without a copy
/// when a value is a C-contiguous, aligned, native f32 array), runs with
/// the GIL released, and returns {output name: array}. A vectorcall method
/// (METH_FASTCALL | METH_KEYWORDS) of soma.Model, installed by
/// defineRun: pybind11's dispatcher would cost more than the run.
void defineRun(py::handle modelClass, py::handle errorType);

/// How many input arrays run had to convert (copy) since the module was
/// loaded: the test of the zero-copy path reads it.
uint64_t convertedInputs();

/// The data pointers of the inputs this thread's last run bound, in the
/// order they were bound: the test that f32 arrays reach soma uncopied.
std::vector<uintptr_t> lastInputAddresses();

} // namespace soma::python
