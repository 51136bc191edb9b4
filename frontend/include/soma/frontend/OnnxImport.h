// ONNX import: an .onnx model in, the same network in soma's language out,
// with its tensors in a safetensors image. No ONNX or protobuf header is
// visible here; the importer is its own library (frontend/onnx/).
#pragma once

#include "soma/support/Expected.h"
#include "soma/support/Tensor.h"

#include <map>
#include <memory>
#include <string>

namespace soma::frontend {

/// An imported model: the network's text, and the tensors its
/// `safetensors(...)` calls read, as a safetensors image (to write beside
/// the text) or decoded (to compile at once, with no image in between).
struct ImportedModel {
  std::string text;
  std::string weights;                                    // WeightsAs::Image
  std::map<std::string, std::shared_ptr<Tensor>> tensors; // WeightsAs::Tensors
};

enum class WeightsAs { Image, Tensors };

/// Reads the ONNX model at `path` (opsets 7 to 17, external data files
/// resolved beside it) and writes it in soma's language; its tensors go to
/// a safetensors image that the text names `weightsName`. An unsupported op
/// or attribute, a dynamic dimension other than the batch axis or a broken
/// file is an error naming the model, the node, its op type and the opset;
/// nothing is returned then.
Expected<ImportedModel> importOnnx(const std::string &path, const std::string &weightsName,
                                   WeightsAs as = WeightsAs::Image);

/// Whether `path` names an ONNX model (it ends in ".onnx").
bool isOnnxPath(const std::string &path);

} // namespace soma::frontend
