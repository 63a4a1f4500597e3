#pragma once
// Shrinking a failing run (`omni-sim shrink`): the faults one seed fired, scripted and drawn by
// the swarm, replayed as a script and reduced by delta debugging (a swarm fault with the heal
// that undoes it first, then fault by fault) to a set from which no single fault can be taken
// without the failure going away. The result is a scenario without a swarm
// that fails the same way.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "sim/cluster/run.h"
#include "sim/scenario/scenario.h"

namespace omni::sim {

using ScenarioRunner = std::function<RunResult(const Scenario& scenario, std::uint64_t seed,
                                               const RunOptions& options)>;

// How a run failed, for "fails the same way": the invariant that broke, or that an expectation
// was not met; empty when the run passed.
std::string failure_signature(const RunResult& result);

struct ShrinkResult {
  // Set when there is nothing to shrink: the seed passes, or its faults replayed as a script no
  // longer fail the same way. Then `minimal` is unset.
  std::optional<std::string> refused;
  std::string signature;
  // Faults as a script counts them: a swarm's partition and the heal that ends it are two.
  std::size_t faults_fired = 0;
  std::size_t faults_swarm = 0;  // of those fired, how many the swarm drew
  std::size_t faults_kept = 0;
  std::size_t runs = 0;
  std::optional<Scenario> minimal;
  RunResult original;
  RunResult minimal_run;
};

// `progress` hears a line whenever a smaller failing set is found.
ShrinkResult shrink_run(const Scenario& scenario, std::uint64_t seed, const ScenarioRunner& runner,
                        const RunOptions& options,
                        const std::function<void(const std::string&)>& progress);

}  // namespace omni::sim
