// Random clusters (1-15 nodes, 1/3/5/7 Orchestrators, random capacities) under random fault
// schedules: the whole invariant catalog holds, init completes and the cluster converges.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "model/config/parse.h"
#include "model/root/plan.h"
#include "sim/cluster/run.h"
#include "sim/scenario/parse.h"

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

// The same cluster as a scenario file: how a user would hand it to omni-sim.
std::string as_scenario_file(const std::string& cluster_yaml) {
  std::string indented;
  for (std::size_t start = 0; start < cluster_yaml.size();) {
    const std::size_t end = cluster_yaml.find('\n', start);
    indented += "  " + cluster_yaml.substr(start, end - start) + "\n";
    start = end == std::string::npos ? cluster_yaml.size() : end + 1;
  }
  return "name: property\ncluster:\n" + indented + "duration: 30m\n";
}

RC_GTEST_PROP(ClusterProps, RandomClustersAndFaultsKeepEveryInvariant, ()) {
  const Scenario s = random_scenario();
  // Small nodes with several Orchestrators may not plan. run_scenario takes only scenarios
  // that parse_scenario accepted, so what must hold then is that the format refuses it.
  if (std::holds_alternative<std::vector<config::Diagnostic>>(root::make_plan(s.cluster))) {
    RC_TAG("does not plan");
    const auto parsed = parse_scenario(
        as_scenario_file(s.cluster_yaml), "generated.yaml",
        [](const std::string& path) -> std::variant<std::string, config::Diagnostic> {
          return config::Diagnostic{{path, 0, 0}, "no files here"};
        });
    const auto* errors = std::get_if<std::vector<config::Diagnostic>>(&parsed);
    RC_ASSERT(errors != nullptr);
    RC_ASSERT(!errors->empty());
    return;
  }
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
