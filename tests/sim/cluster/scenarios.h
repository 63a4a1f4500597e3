#pragma once
// Scenarios built in code, so these tests do not depend on the scenario parser.
#include <string>

#include "model/config/parse.h"
#include "sim/scenario/scenario.h"

namespace omni::sim::testing {

inline Scenario cluster_of(int nodes, int orchestrators) {
  std::string yaml =
      "cluster: {name: t, orchestrators: " + std::to_string(orchestrators) + "}\nnodes:\n";
  for (int i = 1; i <= nodes; ++i)
    yaml += "  - {name: n" + std::to_string(i) + ", resources: {cpu: 8, memory: 32Gi}}\n";
  Scenario s;
  s.name = "test";
  s.file = "inline";
  s.cluster_yaml = yaml;
  s.cluster = *config::parse_cluster_config(yaml, "inline").config;
  s.duration = 30min;
  return s;
}

}  // namespace omni::sim::testing
