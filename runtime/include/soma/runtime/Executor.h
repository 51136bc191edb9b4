// Runs a Program: binds the caller's buffers and the arena to slots and
// calls each step's kernel. Safe to call from many threads at once: each
// call takes its own arena from a pool.
#pragma once

#include "soma/runtime/Program.h"

#include <mutex>

namespace soma::runtime {

class Executor {
public:
  explicit Executor(Program program);

  /// `inputs[i]` / `outputs[i]` point at the i-th input / output, each
  /// holding `batch` samples. Shapes are the caller's responsibility (the
  /// public API checks them).
  void run(int64_t batch, const float *const *inputs, float *const *outputs) const;

  const Program &program() const { return prog; }

private:
  struct Arena {
    AlignedVector<float> storage;
    std::vector<void *> slots;
  };
  std::unique_ptr<Arena> acquire() const;
  void release(std::unique_ptr<Arena> arena) const;

  Program prog;
  mutable std::mutex poolMutex;
  mutable std::vector<std::unique_ptr<Arena>> pool;
};

} // namespace soma::runtime
