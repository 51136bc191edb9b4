// soma run's printing of outputs and its --expect check: the comparison of
// an output with a golden .npy array, and the report of the elements that
// drift.
#pragma once

#include "soma/support/Tensor.h"

#include <optional>
#include <string>

namespace soma::cli {

/// `v` as soma run prints it: the shortest text that reads back to the same
/// f32 (digits 0), or `digits` significant digits; "nan" for every NaN.
std::string formatValue(float v, int digits);

/// The golden array of `--expect NAME=PATH` for an output of shape `dims`
/// ([batch, per-sample dims...]); nullopt after printing why it cannot be
/// used (unreadable, another shape).
std::optional<Tensor> loadGolden(const std::string &name, const std::string &path,
                                 const std::vector<int64_t> &dims);

/// Compares output `name`, computed by `engines` ("vec", "interp, vec,
/// jit"), with `golden` (from `path`, of the same shape): every element
/// within atol + rtol |expected| (NaN matches NaN, an infinity only
/// itself). Prints a line saying so on success (unless `quiet`), a report
/// of the worst elements on failure, which returns false.
bool compareWithGolden(const std::string &name, const std::string &engines, const Tensor &got,
                       const Tensor &golden, const std::string &path, double rtol, double atol,
                       bool quiet);

} // namespace soma::cli
