// The vec engine in a program of its own, built against the runtime alone
// (tests/cross/cross_check.py builds it for aarch64 and runs it under
// qemu): runs a network given as graph IR text on the runtime's xsimd
// kernels (the NEON build on aarch64), so they can be compared with this
// machine's. Prints the instruction set and each step's kernel family.
//
//   vec_main IR_FILE BATCH THREADS OUT_PREFIX INPUT_FILE...
//
// Each input is read, in the graph's order, from a raw f32 file; output i
// is written, raw, to OUT_PREFIX.i.
#include "soma/ir/Parser.h"
#include "soma/ir/Verifier.h"
#include "soma/runtime/Executor.h"
#include "soma/runtime/Kernels.h"
#include "soma/runtime/VecEngine.h"
#include "soma/support/Diagnostics.h"
#include "soma/support/SourceManager.h"

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

bool readFloats(const std::string &path, std::vector<float> &into) {
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char *>(into.data()), static_cast<std::streamsize>(into.size() * 4));
  return in.gcount() == static_cast<std::streamsize>(into.size() * 4);
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 5) {
    std::cerr << "usage: vec_main IR_FILE BATCH THREADS OUT_PREFIX INPUT_FILE...\n";
    return 2;
  }
  std::ifstream file(argv[1]);
  std::stringstream text;
  text << file.rdbuf();
  soma::SourceManager sm;
  soma::DiagnosticEngine diags(sm);
  auto graph = soma::ir::parseGraph(sm.addBuffer(argv[1], text.str()), sm, diags);
  if (!graph || !soma::ir::verifyGraph(*graph, diags)) {
    std::cerr << diags.renderToString();
    return 1;
  }
  const int64_t batch = std::atoll(argv[2]);
  std::vector<std::vector<float>> inputs, outputs;
  for (const soma::ir::Op *in : graph->inputs())
    inputs.emplace_back(static_cast<size_t>(batch * in->type.sampleElements()));
  for (const soma::ir::GraphOutput &out : graph->outputs)
    outputs.emplace_back(static_cast<size_t>(batch * out.value->type.sampleElements()));
  if (static_cast<size_t>(argc - 5) != inputs.size()) {
    std::cerr << "vec_main: the network has " << inputs.size() << " inputs\n";
    return 2;
  }
  for (size_t i = 0; i < inputs.size(); ++i)
    if (!readFloats(argv[5 + i], inputs[i])) {
      std::cerr << "vec_main: cannot read " << inputs[i].size() << " floats from " << argv[5 + i]
                << '\n';
      return 1;
    }

  auto program = soma::runtime::buildVecProgram(*graph);
  if (!program) {
    std::cerr << "vec_main: " << program.error() << '\n';
    return 1;
  }
  namespace k = soma::runtime::kernels;
  std::cout << "isa: " << k::isaName(k::activeIsa()) << '\n';
  for (const soma::runtime::Step &step : program->steps)
    std::cout << step.name << ": " << step.family << '\n';
  soma::runtime::ExecutorOptions options;
  options.threads = std::atoi(argv[3]);
  soma::runtime::Executor executor(std::move(*program), options);
  auto lease = executor.lease();
  for (size_t i = 0; i < inputs.size(); ++i)
    lease.setInput(i, inputs[i].data());
  for (size_t o = 0; o < outputs.size(); ++o)
    lease.setOutput(o, outputs[o].data());
  lease.run(batch);
  for (size_t o = 0; o < outputs.size(); ++o) {
    const std::string path = std::string(argv[4]) + "." + std::to_string(o);
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char *>(outputs[o].data()),
              static_cast<std::streamsize>(outputs[o].size() * 4));
    if (!out) {
      std::cerr << "vec_main: cannot write " << path << '\n';
      return 1;
    }
  }
  return 0;
}
