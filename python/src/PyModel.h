// The Python module's view of a compiled model (soma._core.Model) and the
// pieces its two source files share: Module.cpp defines the module, compile
// and the model's attributes; Run.cpp the per-call path of Model.run.
#pragma once

#include "soma/soma.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace soma::python {

namespace py = pybind11;

/// Raised as soma.Error: the message is soma's diagnostics, `WHERE: error:
/// ...` lines, without the final newline.
class Error : public std::runtime_error {
public:
  explicit Error(const std::string &diagnostics);
};

/// A compiled model and what the Python side needs around it.
struct PyModel {
  PyModel(Model model, std::string source, py::object spec);

  Model model;
  /// What the model's errors name: the file or compile's `name`.
  std::string source;
  /// What soma._rebuild compiles again to unpickle the model (a tuple; see
  /// soma/__init__.py), or None.
  py::object spec;
  /// The names as Python strings (the keys of run's result) and the
  /// per-sample shapes, in the model's order.
  std::vector<py::str> inputNames, outputNames;
  std::vector<std::vector<int64_t>> inputShapes, outputShapes;
};

/// Model.run(feeds=None, /, **inputs): binds the inputs (without a copy
/// when a value is a C-contiguous, aligned, native f32 array), runs with
/// the GIL released, and returns {output name: array}.
py::dict run(const PyModel &model, const py::args &args, const py::kwargs &kwargs);

/// How many input arrays run had to convert (copy) since the module was
/// loaded: the test of the zero-copy path reads it.
uint64_t convertedInputs();

} // namespace soma::python
