// The scenario parser on valid files: every key of docs/scenarios.md and its defaults.
#include "sim/scenario/parse.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "tests/sim/scenario/test_files.h"

namespace omni::sim {
namespace {

// The example of docs/scenarios.md, with a network fault and infrastructure added.
const char* kFull = R"(name: partition-during-takeover
description: Split one node away while the orchestrators take control.
cluster: ../examples/cluster-3node.yaml
seed: 7
duration: 15m
network:
  latency: 1ms..5ms
  drop: 0
  duplicate: 0.1
  reorder: 0.25
timing:
  vm_boot: 10s..30s
  container_start: 1s..3s
infrastructure:
  worker-02: {memory: 12Gi}
faults:
  - at: phase:takeover
    partition: [[worker-01], [worker-02, worker-03]]
  - at: +20s
    heal: all
  - at: 5m
    crash: leader
    restart_after: 10s
  - at: 6m
    isolate: worker-02
    direction: out
  - at: 7m
    clock_skew: {target: director:worker-03, rate: 1.05}
  - at: 8m
    disk_fail: {target: orchestrator:1, mode: corrupt}
  - at: 9m
    power_off: all
    restart_after: 1m
  - at: 10m
    network: {drop: 0.2}
  - at: +1s
    crash: agent:demo-worker-01-worker-1
swarm:
  until: 10m
  kinds: [partition, crash]
clients:
  count: 5
  keys: 3
  ops: [read, cas]
  rate: 90/m
  timeout: 3s
expect:
  init: complete
  linearizable: false
  init_within: 5m
  converge_within: 2m
  leader_changes: ">= 1"
  messages: 100
)";

ScenarioResult parse_full(std::string text) {
  return parse_scenario(text, "scenarios/full.yaml", testing::read_disk);
}

TEST(ScenarioParse, EveryKeyOfTheFormat) {
  const auto result = parse_full(kFull);
  if (auto* errors = std::get_if<std::vector<config::Diagnostic>>(&result))
    FAIL() << errors->front().to_string();
  const Scenario& s = std::get<Scenario>(result);
  EXPECT_EQ(s.name, "partition-during-takeover");
  EXPECT_EQ(s.cluster.nodes.size(), 3u);
  EXPECT_NE(s.cluster_yaml.find("worker-03"), std::string::npos);
  EXPECT_EQ(s.seed, 7u);
  EXPECT_EQ(s.duration, 15min);
  EXPECT_EQ(s.network.latency.min, 1ms);
  EXPECT_EQ(s.network.latency.max, 5ms);
  EXPECT_DOUBLE_EQ(s.network.duplicate, 0.1);
  EXPECT_DOUBLE_EQ(s.network.reorder, 0.25);
  EXPECT_EQ(s.timing.vm_boot.max, 30s);
  EXPECT_EQ(s.hypervisor_capacity.at("worker-02").memory_bytes, 12LL << 30);
  EXPECT_EQ(s.hypervisor_capacity.at("worker-02").cpu_millis, 8000) << "cpu as declared";
  ASSERT_EQ(s.faults.size(), 9u);
  EXPECT_EQ(s.faults[0].at.kind, FaultTime::Kind::phase);
  EXPECT_EQ(s.faults[0].at.phase, root::Phase::takeover);
  const auto& partition = std::get<PartitionFault>(s.faults[0].what);
  ASSERT_EQ(partition.groups.size(), 2u);
  EXPECT_EQ(partition.groups[1][1], "worker-03");
  EXPECT_EQ(s.faults[0].where.line, 17);
  EXPECT_EQ(s.faults[1].at.kind, FaultTime::Kind::relative);
  EXPECT_EQ(s.faults[1].at.offset, 20s);
  EXPECT_TRUE(std::holds_alternative<HealFault>(s.faults[1].what));
  EXPECT_EQ(std::get<CrashFault>(s.faults[2].what).target.kind, Target::Kind::leader);
  EXPECT_EQ(s.faults[2].restart_after, 10s);
  EXPECT_EQ(std::get<IsolateFault>(s.faults[3].what).direction, Direction::out);
  const auto& skew = std::get<ClockSkewFault>(s.faults[4].what);
  EXPECT_EQ(skew.target.kind, Target::Kind::director);
  EXPECT_EQ(skew.target.name, "worker-03");
  EXPECT_DOUBLE_EQ(skew.rate, 1.05);
  const auto& disk = std::get<DiskFailFault>(s.faults[5].what);
  EXPECT_EQ(disk.target.name, "1");
  EXPECT_EQ(disk.mode, DiskFailMode::corrupt);
  EXPECT_EQ(std::get<PowerOffFault>(s.faults[6].what).node, "");
  EXPECT_EQ(s.faults[6].restart_after, 1min);
  EXPECT_EQ(s.faults[7].at.offset, 10min);
  EXPECT_DOUBLE_EQ(*std::get<NetworkFault>(s.faults[7].what).drop, 0.2);
  EXPECT_FALSE(std::get<NetworkFault>(s.faults[7].what).reorder.has_value());
  EXPECT_EQ(std::get<CrashFault>(s.faults[8].what).target.kind, Target::Kind::agent);
  ASSERT_TRUE(s.swarm.has_value());
  EXPECT_EQ(s.swarm->until, 10min);
  EXPECT_EQ(s.swarm->kinds, (std::vector<std::string>{"partition", "crash"}));
  EXPECT_TRUE(s.expect.init_complete);
  EXPECT_EQ(s.expect.init_within, 5min);
  EXPECT_EQ(s.expect.converge_within, 2min);
  ASSERT_EQ(s.expect.counters.size(), 2u);
  EXPECT_EQ(s.expect.counters[0].counter, "leader_changes");
  EXPECT_EQ(s.expect.counters[0].op, ">=");
  EXPECT_EQ(s.expect.counters[0].value, 1);
  EXPECT_EQ(s.expect.counters[1].op, "==");
  EXPECT_EQ(s.expect.counters[1].value, 100);
  ASSERT_TRUE(s.clients.has_value());
  EXPECT_EQ(s.clients->count, 5);
  EXPECT_EQ(s.clients->keys, 3);
  EXPECT_EQ(s.clients->ops, (std::vector<ClientOp>{ClientOp::read, ClientOp::cas}));
  EXPECT_DOUBLE_EQ(s.clients->ops_per_s, 1.5);
  EXPECT_EQ(s.clients->timeout, 3s);
  EXPECT_FALSE(s.expect.linearizable);
}

TEST(ScenarioParse, DefaultsOfAMinimalScenario) {
  const auto result =
      parse_scenario("name: m\ncluster:\n  nodes: [{name: a, resources: {cpu: 8, memory: 32Gi}}]\n",
                     "m.yaml", testing::read_disk);
  if (auto* errors = std::get_if<std::vector<config::Diagnostic>>(&result))
    FAIL() << errors->front().to_string();
  const Scenario& s = std::get<Scenario>(result);
  EXPECT_EQ(s.seed, 1u);
  EXPECT_EQ(s.duration, 30min);
  EXPECT_EQ(s.network.latency.min, 1ms);
  EXPECT_EQ(s.network.latency.max, 5ms);
  EXPECT_EQ(s.network.drop, 0);
  EXPECT_EQ(s.timing.vm_boot.min, 10s);
  EXPECT_EQ(s.timing.container_start.max, 3s);
  EXPECT_TRUE(s.faults.empty());
  EXPECT_FALSE(s.swarm.has_value());
  EXPECT_TRUE(s.expect.init_complete);
  EXPECT_EQ(s.cluster.orchestrators, 1);
  // The inline cluster is handed on as YAML that parses back to the same config.
  const auto again = config::parse_cluster_config(s.cluster_yaml, "rendered");
  ASSERT_TRUE(again.config.has_value());
  EXPECT_EQ(*again.config, s.cluster);
}

TEST(ScenarioParse, ExpectInitFailWithPhaseAndSwarmAll) {
  const auto result = parse_scenario(
      "name: f\ncluster: c.yaml\nswarm: {until: 1m, kinds: all}\nexpect: {init: fail, "
      "fail_phase: register}\n",
      "f.yaml", [](const std::string&) {
        return std::variant<std::string, config::Diagnostic>(
            "nodes: [{name: a, resources: {cpu: 8, memory: 32Gi}}]\n");
      });
  if (auto* errors = std::get_if<std::vector<config::Diagnostic>>(&result))
    FAIL() << errors->front().to_string();
  const Scenario& s = std::get<Scenario>(result);
  EXPECT_FALSE(s.expect.init_complete);
  EXPECT_EQ(s.expect.fail_phase, root::Phase::reg);
  EXPECT_EQ(s.swarm->kinds.size(), 9u);
}

TEST(ScenarioParse, TargetsAreCheckedAgainstTheCluster) {
  struct Case {
    std::string target;
    bool valid;
  };
  const std::vector<Case> cases{
      {"leader", true},
      {"root", true},
      {"orchestrator:1", true},
      {"orchestrator:3", true},
      {"orchestrator:0", false},
      {"orchestrator:4", false},
      {"orchestrator:x", false},
      {"director:worker-01", true},
      {"director:worker-09", false},
      {"node:worker-02", true},
      {"vm:demo-worker-01-director", true},
      {"vm:demo-worker-01-worker-1", true},
      {"agent:demo-worker-01-worker-1", true},
      {"agent:demo-worker-01-director", false},
      {"vm:nope", false},
      {"\"director:\"", false},
      {"leader:1", false},
      {"pod:x", false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.target);
    const std::string text =
        "name: t\ncluster: ../examples/cluster-3node.yaml\nfaults:\n  - at: "
        "1m\n    crash: " +
        c.target + "\n";
    const auto result = parse_scenario(text, "scenarios/t.yaml", testing::read_disk);
    EXPECT_EQ(std::holds_alternative<Scenario>(result), c.valid);
    if (!c.valid && std::holds_alternative<std::vector<config::Diagnostic>>(result)) {
      const auto& d = std::get<std::vector<config::Diagnostic>>(result).front();
      EXPECT_EQ(d.where.line, 5) << d.to_string();
      EXPECT_EQ(d.where.column, 12) << d.to_string();
    }
  }
}

// "orchestrator:03" is replica 3, and the fault is aimed at the process of that name: it was
// checked as 3 and kept as "03", a process that does not exist, so the crash did nothing.
TEST(ScenarioParse, AReplicaNumberIsTheReplicasName) {
  const std::string text =
      "name: t\ncluster: ../examples/cluster-3node.yaml\nfaults:\n  - at: 1m\n    crash: "
      "orchestrator:03\n";
  const auto result = parse_scenario(text, "scenarios/t.yaml", testing::read_disk);
  ASSERT_TRUE(std::holds_alternative<Scenario>(result));
  const auto& fault = std::get<Scenario>(result).faults.at(0);
  EXPECT_EQ(std::get<CrashFault>(fault.what).target.name, "3");
}

// After delete_app the app is gone: an apply of it makes a new app and needs an image (it was
// taken without one and dropped at run time with nothing said).
TEST(ScenarioParse, AnApplyAfterADeleteIsANewApp) {
  const std::string head =
      "name: t\ncluster: ../examples/cluster-3node.yaml\nfaults:\n"
      "  - {at: 1m, apply: {name: web, image: omni/web, replicas: 1}}\n"
      "  - {at: 2m, delete_app: web}\n";
  const auto without = parse_scenario(head + "  - {at: 3m, apply: {name: web, replicas: 3}}\n",
                                      "scenarios/t.yaml", testing::read_disk);
  ASSERT_TRUE(std::holds_alternative<std::vector<config::Diagnostic>>(without));
  const auto& d = std::get<std::vector<config::Diagnostic>>(without).front();
  EXPECT_NE(d.message.find("needs an \"image:\""), std::string::npos) << d.to_string();
  const auto with =
      parse_scenario(head + "  - {at: 3m, apply: {name: web, image: omni/web, replicas: 3}}\n",
                     "scenarios/t.yaml", testing::read_disk);
  EXPECT_TRUE(std::holds_alternative<Scenario>(with));
  const auto twice = parse_scenario(head + "  - {at: 3m, delete_app: web}\n", "scenarios/t.yaml",
                                    testing::read_disk);
  EXPECT_TRUE(std::holds_alternative<std::vector<config::Diagnostic>>(twice)) << "deleted already";
}

TEST(ScenarioParse, EveryShippedScenarioParses) {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator("scenarios")) {
    if (entry.path().extension() != ".yaml") continue;
    SCOPED_TRACE(entry.path().string());
    ++count;
    const auto result = testing::parse_file(entry.path().string());
    if (auto* errors = std::get_if<std::vector<config::Diagnostic>>(&result))
      ADD_FAILURE() << errors->front().to_string();
  }
  EXPECT_GE(count, 9);
}

}  // namespace
}  // namespace omni::sim
