// A scenario written back as YAML (what omni-sim shrink writes) reads back as the same scenario:
// every field, every fault kind, times to the nanosecond and rates to the last bit.
#include "sim/scenario/write.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "sim/scenario/duration_text.h"
#include "tests/scenarios/load.h"

namespace omni::sim {
namespace {

TEST(ScenarioWrite, EveryFieldAndFaultKindReadsBackTheSame) {
  const Scenario first = testing::parse_scenario_text(R"(name: every-kind
description: One fault of each kind.
cluster: ../examples/cluster-3node.yaml
seed: 7
duration: 12m
network: {latency: 1ms..7.5ms, drop: 0.01, duplicate: 0.02, reorder: 0.03}
timing: {vm_boot: 5s..9s, container_start: 500ms..1.25s}
infrastructure: {worker-02: {cpu: 2, memory: 4Gi}}
faults:
  - {at: phase:takeover, partition: [[worker-01], [worker-02, worker-03, root-host]]}
  - {at: +20.000000001s, heal: all}
  - {at: 5m, crash: leader, restart_after: 10s}
  - {at: 5m1s, crash: director:worker-01}
  - {at: 6m, isolate: worker-02, direction: in}
  - {at: 7m, clock_skew: {target: director:worker-03, rate: 1.05}}
  - {at: 8m, disk_fail: {target: orchestrator:1, mode: corrupt}}
  - {at: 9m, power_off: all, restart_after: 1m}
  - {at: 9m30s, power_off: worker-03}
  - {at: 10m, network: {drop: 0.1, reorder: 0.3}}
  - at: 10m1ms
    apply: {name: web, image: "omni/omni-node:dev", args: [demo-web, "a b"], replicas: 2,
            resources: {cpu: 250m, memory: 64Mi}, spread: none}
  - {at: 11m, apply: {name: web, replicas: 3}}
  - {at: 11m30s, delete_app: web}
swarm: {until: 3m, kinds: [partition, crash, clock_skew]}
clients: {count: 2, keys: 3, ops: [read, cas], rate: 7.5/s, timeout: 1500ms}
expect: {init: complete, init_within: 5m, converge_within: 2m, leader_changes: ">= 1",
         apps_running: all, linearizable: false}
)");
  const std::string text = write_scenario_yaml(first);
  const Scenario second = testing::parse_scenario_text(text, "elsewhere/written.yaml");
  EXPECT_EQ(write_scenario_yaml(second), text);
  EXPECT_EQ(second.name, "every-kind");
  EXPECT_EQ(second.seed, 7u);
  EXPECT_EQ(second.cluster.nodes.size(), 3u) << "the cluster is inline: no path to resolve";
  ASSERT_EQ(second.faults.size(), first.faults.size());
  EXPECT_EQ(second.faults[0].at.kind, FaultTime::Kind::phase);
  EXPECT_EQ(second.faults[1].at.offset, 20s + 1ns);
  EXPECT_EQ(std::get<ClockSkewFault>(second.faults[5].what).rate, 1.05);
  EXPECT_EQ(std::get<NetworkFault>(second.faults[9].what).drop, 0.1);
  EXPECT_FALSE(std::get<NetworkFault>(second.faults[9].what).duplicate.has_value());
  EXPECT_EQ(std::get<ApplyFault>(second.faults[10].what).patch.args,
            (std::vector<std::string>{"demo-web", "a b"}));
  EXPECT_EQ(second.network.latency.max, 7500us);
  EXPECT_EQ(second.clients->ops_per_s, 7.5);
  EXPECT_EQ(second.clients->timeout, 1500ms);
  EXPECT_EQ(second.hypervisor_capacity.at("worker-02").cpu_millis, 2000);
  EXPECT_FALSE(second.expect.linearizable);
  EXPECT_TRUE(second.expect.apps_running_all);
  ASSERT_EQ(second.expect.counters.size(), 1u);
  EXPECT_EQ(second.expect.counters[0].op, ">=");
}

TEST(ScenarioWrite, DurationsAreWrittenExactly) {
  EXPECT_EQ(exact_duration_text(0ns), "0");
  EXPECT_EQ(exact_duration_text(90s), "90s");
  EXPECT_EQ(exact_duration_text(1500ms), "1.5s");
  EXPECT_EQ(exact_duration_text(12s + 1ns), "12.000000001s");
}

RC_GTEST_PROP(ScenarioWriteProps, AnyDurationReadsBackToTheNanosecond, ()) {
  const auto ns = *rc::gen::inRange<std::int64_t>(0, 1000LL * 3600 * 1'000'000'000);
  const auto parsed = parse_duration(exact_duration_text(Duration{ns}));
  RC_ASSERT(std::holds_alternative<Duration>(parsed));
  RC_ASSERT(std::get<Duration>(parsed).count() == ns);
}

}  // namespace
}  // namespace omni::sim
