// Random clusters (1-15 nodes, 1/3/5/7 Orchestrators, random capacities) under random fault
// schedules: the whole invariant catalog holds, init completes and the cluster converges.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "model/config/parse.h"
#include "sim/cluster/run.h"

namespace omni::sim {
namespace {

Scenario random_scenario() {
  const int nodes = *rc::gen::inRange(1, 16);
  const int max_orchestrators = std::min(7, nodes % 2 ? nodes : nodes - 1);
  const int orchestrators = 2 * *rc::gen::inRange(0, (max_orchestrators + 1) / 2) + 1;
  std::string yaml =
      "cluster: {name: p, orchestrators: " + std::to_string(orchestrators) + "}\nnodes:\n";
  for (int i = 1; i <= nodes; ++i) {
    const int cpu = *rc::gen::inRange(4, 65);
    const int memory_gi = *rc::gen::inRange(4, 257);
    yaml += "  - {name: n" + std::to_string(i) + ", resources: {cpu: " + std::to_string(cpu) +
            ", memory: " + std::to_string(memory_gi) +
            "Gi}, worker_vms: " + std::to_string(*rc::gen::inRange(1, 3)) + "}\n";
  }
  Scenario s;
  s.name = "property";
  s.file = "generated";
  s.cluster_yaml = yaml;
  auto parsed = config::parse_cluster_config(yaml, "generated");
  RC_ASSERT(parsed.config.has_value());
  s.cluster = *parsed.config;
  s.duration = 30min;
  s.network.drop = *rc::gen::element(0.0, 0.05, 0.2);
  s.network.reorder = *rc::gen::element(0.0, 0.1);
  // A few faults in order, each healed or restarted.
  const int faults = *rc::gen::inRange(0, 4);
  Duration at = 0s;
  for (int i = 0; i < faults; ++i) {
    at += std::chrono::seconds(*rc::gen::inRange(5, 120));
    const std::string node = "n" + std::to_string(*rc::gen::inRange(1, nodes + 1));
    Fault f;
    f.at = FaultTime{FaultTime::Kind::absolute, at, root::Phase::preflight};
    switch (*rc::gen::inRange(0, 6)) {
      case 0:
        f.what = IsolateFault{node, Direction::both};
        break;
      case 1:
        f.what = CrashFault{Target{Target::Kind::leader, ""}};
        break;
      case 2:
        f.what = CrashFault{Target{Target::Kind::root, ""}};
        f.restart_after = 5s;
        break;
      case 3:
        f.what = PowerOffFault{node};
        f.restart_after = 30s;
        break;
      case 4:
        f.what = CrashFault{Target{Target::Kind::director, node}};
        f.restart_after = 3s;
        break;
      default:
        f.what = PartitionFault{{{node}, {"root-host"}}};
        break;
    }
    s.faults.push_back(f);
    Fault heal;
    heal.at = FaultTime{FaultTime::Kind::relative, std::chrono::seconds(*rc::gen::inRange(1, 30)),
                        root::Phase::preflight};
    heal.what = HealFault{};
    s.faults.push_back(heal);
  }
  return s;
}

RC_GTEST_PROP(ClusterProps, RandomClustersAndFaultsKeepEveryInvariant, ()) {
  const Scenario s = random_scenario();
  const auto seed = *rc::gen::inRange<std::uint64_t>(1, 1'000'000);
  const RunResult r = run_scenario(s, seed);
  if (!r.passed) {
    RC_LOG() << s.cluster_yaml << "seed " << seed << " faults " << s.faults.size() << "\n";
    if (r.violation) RC_LOG() << r.violation->to_string() << "\n";
    for (const auto& f : r.expectation_failures) RC_LOG() << f << "\n";
  }
  RC_ASSERT(r.passed);
  RC_ASSERT(r.init_completed);
}

}  // namespace
}  // namespace omni::sim
