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
// Everything else (unknown names, missing inputs, wrong shapes, batches
// that disagree) is left to Model::run, whose diagnostics become soma.Error.
#include "PyModel.h"

#include <atomic>
#include <cstring>

namespace soma::python {

namespace {

std::atomic<uint64_t> convertedCount{0};

/// One bound input: the array soma reads (kept alive for the call) and the
/// shape it is bound with.
struct BoundInput {
  std::string name;
  py::array array;
  std::vector<int64_t> shape;
  bool oneSample = false;
};

[[noreturn]] void inputError(const PyModel &m, const std::string &what) {
  throw Error(m.source + ": error: " + what);
}

/// The value as an f32 array soma can read in place: `value` itself when it
/// already is one, else a converted copy. Complex, string, object and other
/// non-real values are refused (their conversion would invent numbers).
py::array asFloatArray(const PyModel &m, const std::string &name, py::handle value) {
  if (py::array_t<float, py::array::c_style>::check_(value)) {
    auto array = py::reinterpret_borrow<py::array>(value);
    if (array.flags() & py::detail::npy_api::NPY_ARRAY_ALIGNED_)
      return array;
  }
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
  auto converted = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(any);
  if (!converted) {
    PyErr_Clear();
    inputError(m, "input '" + name + "' of dtype " + std::string(py::str(any.dtype())) +
                      " could not be converted to f32");
  }
  convertedCount.fetch_add(1, std::memory_order_relaxed);
  return converted;
}

/// Where `name` is among the model's inputs, or -1.
int findInput(const PyModel &m, const std::string &name) {
  const std::vector<TensorInfo> &inputs = m.model.inputs();
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].name == name)
      return static_cast<int>(i);
  return -1;
}

void bindInput(const PyModel &m, std::vector<BoundInput> &bound, py::handle key, py::handle value) {
  if (!PyUnicode_Check(key.ptr()))
    throw py::type_error("soma: input names must be strings");
  BoundInput in;
  in.name = py::reinterpret_borrow<py::str>(key);
  in.array = asFloatArray(m, in.name, value);
  in.shape.assign(in.array.shape(), in.array.shape() + in.array.ndim());
  // One sample: exactly the per-sample shape; soma sees a batch of one.
  int index = findInput(m, in.name);
  if (index >= 0 && in.shape == m.inputShapes[static_cast<size_t>(index)]) {
    in.shape.insert(in.shape.begin(), 1);
    in.oneSample = true;
  }
  bound.push_back(std::move(in));
}

/// The batch the outputs get: the first input's (Model::run checks that
/// all agree; with no inputs, 0 makes the run report the missing one).
int64_t batchOf(const std::vector<BoundInput> &bound) {
  return bound.empty() || bound.front().shape.empty() ? 0 : bound.front().shape.front();
}

/// Whether a buffer of `shape` has fewer than 2^62 bytes.
bool addressable(const std::vector<int64_t> &shape) {
  int64_t elements = 1;
  for (int64_t d : shape)
    if (d < 0 || __builtin_mul_overflow(elements, d, &elements))
      return false;
  return elements < (int64_t(1) << 60);
}

/// "SOURCE: error: ...\n" as soma.Error, without the final newline.
[[noreturn]] void raise(const Status &status) {
  std::string message = status.message();
  if (!message.empty() && message.back() == '\n')
    message.pop_back();
  throw Error(message);
}

} // namespace

uint64_t convertedInputs() { return convertedCount.load(std::memory_order_relaxed); }

py::dict run(const PyModel &m, const py::args &args, const py::kwargs &kwargs) {
  std::vector<BoundInput> bound;
  bound.reserve(m.inputNames.size());
  if (args.size() > 1)
    throw py::type_error("soma: run takes one dict of inputs, or inputs as keywords");
  if (args.size() == 1) {
    if (!PyDict_Check(args[0].ptr()))
      throw py::type_error("soma: run's positional argument must be a dict {name: array}");
    for (auto item : py::reinterpret_borrow<py::dict>(args[0]))
      bindInput(m, bound, item.first, item.second);
  }
  for (auto item : kwargs)
    bindInput(m, bound, item.first, item.second);

  bool oneSample = !bound.empty();
  for (const BoundInput &in : bound)
    oneSample = oneSample && in.oneSample;
  int64_t batch = batchOf(bound);

  std::vector<InputBuffer> inputs;
  inputs.reserve(bound.size());
  for (const BoundInput &in : bound)
    inputs.push_back({in.name, static_cast<const float *>(in.array.data()), in.shape});

  // Every output, written in place by soma. An output too large to
  // address is left empty: run refuses such a batch before writing.
  std::vector<py::array_t<float>> arrays;
  std::vector<OutputBuffer> outputs;
  arrays.reserve(m.outputNames.size());
  outputs.reserve(m.outputNames.size());
  for (size_t o = 0; o < m.outputShapes.size(); ++o) {
    std::vector<int64_t> shape = m.outputShapes[o];
    shape.insert(shape.begin(), batch);
    std::vector<py::ssize_t> dims(shape.begin(), shape.end());
    if (!addressable(shape))
      dims.assign(dims.size(), 0);
    arrays.emplace_back(std::move(dims));
    outputs.push_back({m.model.outputs()[o].name, arrays.back().mutable_data(), std::move(shape)});
  }

  Status status = Status::success();
  {
    py::gil_scoped_release release;
    status = m.model.run(inputs, outputs);
  }
  if (!status)
    raise(status);

  py::dict result;
  for (size_t o = 0; o < arrays.size(); ++o) {
    if (oneSample) {
      const std::vector<int64_t> &shape = m.outputShapes[o];
      result[m.outputNames[o]] =
          arrays[o].reshape(std::vector<py::ssize_t>(shape.begin(), shape.end()));
    } else {
      result[m.outputNames[o]] = std::move(arrays[o]);
    }
  }
  return result;
}

} // namespace soma::python
