#pragma once
// The whole `omni-sim` command line, testable without a process: the run of one seed is a
// callback (the real one is run_scenario; tests hand in a fake).
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "sim/cluster/run.h"

namespace omni::sim::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitBadInput = 2;

inline constexpr std::uint64_t kMaxSeedsPerRun = 1'000'000;
inline constexpr int kMaxJobs = 256;

using Runner = std::function<RunResult(const Scenario& scenario, std::uint64_t seed,
                                       const RunOptions& options)>;

// args exclude the program name. Exit 0 all seeds passed, 1 any failed, 2 bad input.
int run_sim_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                const Runner& runner);

}  // namespace omni::sim::cli
