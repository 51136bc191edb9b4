// The sequential executor: one pass over the steps per call. Temporaries
// are laid out back to back in one arena, each 64-byte aligned.
#include "soma/runtime/Executor.h"

#include <cstring>

namespace soma::runtime {

namespace {
/// Rounds a float count up to a whole number of 64-byte lines.
int64_t alignedFloats(int64_t n) { return (n + 15) / 16 * 16; }
} // namespace

Executor::Executor(Program program) : prog(std::move(program)) {}

std::unique_ptr<Executor::Arena> Executor::acquire() const {
  {
    std::lock_guard<std::mutex> lock(poolMutex);
    if (!pool.empty()) {
      std::unique_ptr<Arena> arena = std::move(pool.back());
      pool.pop_back();
      return arena;
    }
  }
  auto arena = std::make_unique<Arena>();
  arena->slots.assign(prog.slots.size(), nullptr);
  for (size_t i = 0; i < prog.slots.size(); ++i)
    if (prog.slots[i].kind == SlotKind::Constant)
      arena->slots[i] = const_cast<float *>(prog.slots[i].data->data());
  return arena;
}

void Executor::release(std::unique_ptr<Arena> arena) const {
  std::lock_guard<std::mutex> lock(poolMutex);
  pool.push_back(std::move(arena));
}

void Executor::run(int64_t batch, const float *const *inputs, float *const *outputs) const {
  std::unique_ptr<Arena> arena = acquire();
  int64_t temps = 0;
  for (const Slot &s : prog.slots)
    if (s.kind == SlotKind::Temp)
      temps += alignedFloats(batch * s.sampleElements);
  if (static_cast<int64_t>(arena->storage.size()) < temps)
    arena->storage.resize(static_cast<size_t>(temps));
  int64_t offset = 0;
  for (size_t i = 0; i < prog.slots.size(); ++i) {
    const Slot &s = prog.slots[i];
    switch (s.kind) {
    case SlotKind::Input:
      arena->slots[i] = const_cast<float *>(inputs[s.index]);
      break;
    case SlotKind::Output:
      arena->slots[i] = outputs[s.index];
      break;
    case SlotKind::Temp:
      arena->slots[i] = arena->storage.data() + offset;
      offset += alignedFloats(batch * s.sampleElements);
      break;
    case SlotKind::Constant:
      break;
    }
  }
  if (batch > 0)
    for (const Step &step : prog.steps) {
      if (step.contextFn)
        step.contextFn(step.context.get(), arena->slots.data(), 0, batch * step.rowsPerSample, 0,
                       step.cols);
      else
        step.fn(arena->slots.data(), 0, batch * step.rowsPerSample, 0, step.cols);
    }
  for (const OutputCopy &c : prog.copies)
    if (batch > 0)
      std::memcpy(outputs[c.toOutput], arena->slots[c.fromSlot],
                  static_cast<size_t>(batch * c.sampleElements) * sizeof(float));
  release(std::move(arena));
}

} // namespace soma::runtime
