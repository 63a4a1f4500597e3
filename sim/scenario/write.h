#pragma once
// A scenario back as the YAML of docs/scenarios.md, the cluster inline: what `omni-sim shrink`
// writes. Parsing the text gives back an equal scenario (times to the nanosecond, rates to the
// last bit), so the file replays the run it was written from.
#include <string>

#include "sim/scenario/scenario.h"

namespace omni::sim {

std::string write_scenario_yaml(const Scenario& scenario);

// A target as scenarios spell it: leader, root, orchestrator:N, director:NODE, agent:VM, vm:VM,
// node:NODE. Apart from `leader`, that is also the address of what it names.
std::string target_text(const Target& target);

// One fault as a line of a scenario's `faults:` (flow YAML): "{at: 10m, crash: leader}".
std::string fault_text(const Fault& fault);

// A duration that parse_duration reads back exactly: "90s", "1.5s", "12.000000001s".
std::string exact_duration_text(Duration duration);

}  // namespace omni::sim
