#pragma once
// Running a list of seeds on J threads and handing each result over in seed order, as soon as
// it and every seed before it are done.
#include <cstdint>
#include <functional>
#include <vector>

#include "sim/cli/sim_cli.h"

namespace omni::sim::cli {

using ResultSink = std::function<void(RunResult&& result)>;

// Each run is independent and deterministic; a runner that throws gives a failed result
// whose violation is the exception.
void run_seeds(const Scenario& scenario, const std::vector<std::uint64_t>& seeds, int jobs,
               const Runner& runner, const ResultSink& sink);

}  // namespace omni::sim::cli
