// soma import: an ONNX model to a network in soma's language.
#pragma once

namespace soma::cli {

/// soma import MODEL.onnx [-o OUT.nn] [-q]: the exit status.
int importCommand(int argc, char **argv);

} // namespace soma::cli
