// What the libFuzzer harnesses share: the oracles a harness checks beyond
// "no crash" (docs/testing.md, "Robustness"). A broken oracle aborts, so
// libFuzzer saves the input as a crash.
#pragma once

#include "soma/ir/Graph.h"
#include "soma/support/Limits.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace soma::fuzz {

/// The model limits the harnesses compile with: 2^22 weight elements (16 MiB)
/// and 2^22 activation elements per sample, far below the defaults, so no
/// execution allocates much (libFuzzer's RSS limit is 2.5 GB).
inline const ModelLimits kFuzzLimits{int64_t(1) << 22, int64_t(1) << 22};

/// Prints `what` and `detail` and aborts: libFuzzer reports a crash.
[[noreturn]] void fail(const std::string &what, const std::string &detail = "");

inline void check(bool ok, const std::string &what, const std::string &detail = "") {
  if (!ok)
    fail(what, detail);
}

/// The fuzz input as text.
inline std::string_view asText(const uint8_t *data, size_t size) {
  return {reinterpret_cast<const char *>(data), size};
}

/// Elements held by the graph's constants (weights, biases, parameters).
int64_t constantElements(const ir::Graph &graph);

/// Whether the graph is small enough for the oracles that print it or run
/// it: at most 2^16 constant elements and 2^14 elements per sample in any
/// value. A larger graph is still built and checked; only the oracles that
/// cost time in its size are skipped, so each execution stays fast.
bool smallEnough(const ir::Graph &graph);

/// The round-trip oracle: `graph` (verified) prints as IR text that parses
/// back without a diagnostic, verifies, and prints the same text again.
void checkRoundTrip(const ir::Graph &graph);

/// A 64-bit hash of the input (FNV-1a), to seed the harnesses' choices.
uint64_t hashBytes(const uint8_t *data, size_t size);

} // namespace soma::fuzz
