// soma bench: how long a network takes to compile, to give its first answer,
// and then per run (latency percentiles) and per sample (throughput), on
// seeded random inputs.
#pragma once

#include "SomaOptions.h"

#include "soma/ir/Graph.h"

#include <chrono>
#include <memory>

namespace soma::cli {

/// Times `graph` (the front half of compilation began at `start`) as
/// `opts` says (--batch, --threads, --engine, --duration, --seed, --json)
/// and prints the results; the exit status.
int benchCommand(std::unique_ptr<ir::Graph> graph, const Options &opts,
                 std::chrono::steady_clock::time_point start);

} // namespace soma::cli
