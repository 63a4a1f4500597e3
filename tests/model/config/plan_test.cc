#include "model/root/plan.h"

#include <gtest/gtest.h>

#include <set>

#include "model/config/parse.h"

namespace omni::root {
namespace {

config::ClusterConfig parse(const std::string& yaml) {
  auto result = config::parse_cluster_config(yaml, "inline");
  EXPECT_TRUE(result.config.has_value()) << result.errors.front().to_string();
  return *result.config;
}

std::string nodes_yaml(int count, const std::string& cpu, const std::string& memory,
                       int orchestrators) {
  std::string yaml =
      "cluster: {name: t, orchestrators: " + std::to_string(orchestrators) + "}\nnodes:\n";
  for (int i = 1; i <= count; ++i)
    yaml += "  - {name: n" + std::to_string(i) + ", resources: {cpu: " + cpu +
            ", memory: " + memory + "}}\n";
  return yaml;
}

TEST(Plan, ReplicasOnDistinctNodesWithDeterministicNames) {
  const Plan plan = std::get<Plan>(make_plan(parse(nodes_yaml(5, "8", "32Gi", 5))));
  ASSERT_EQ(plan.replicas.size(), 5u);
  std::set<std::string> nodes;
  for (const auto& r : plan.replicas) nodes.insert(r.node);
  EXPECT_EQ(nodes.size(), 5u);
  EXPECT_EQ(plan.replicas[0].name, "t-orchestrator-1");
  EXPECT_EQ(plan.replicas[0].vm, "t-n1-worker-1");
  EXPECT_EQ(plan.quorum, 3);
  EXPECT_EQ(plan.vms.size(), 10u);
  EXPECT_EQ(plan.vms[0].name, "t-n1-director");
  EXPECT_EQ(plan.phases.size(), 9u);
}

TEST(Plan, CapacityLeftAddsUp) {
  const auto c = parse(nodes_yaml(3, "8", "32Gi", 3));
  const Plan plan = std::get<Plan>(make_plan(c));
  for (const auto& cap : plan.capacity) {
    // Director 1 cpu / 1Gi; one worker VM takes the rest; the Orchestrator 1 cpu / 2Gi in it.
    EXPECT_EQ(cap.unallocated.cpu_millis, 0);
    EXPECT_EQ(cap.app_free.cpu_millis, 6000);
    EXPECT_EQ(cap.app_free.memory_bytes, 29LL << 30);
  }
}

TEST(Plan, SplitsWorkerVmsEvenly) {
  const auto c = parse("nodes: [{name: a, worker_vms: 3, resources: {cpu: 8, memory: 16Gi}}]");
  const Plan plan = std::get<Plan>(make_plan(c));
  ASSERT_EQ(plan.vms.size(), 4u);
  EXPECT_EQ(plan.vms[1].resources.cpu_millis, 7000 / 3);
  EXPECT_EQ(plan.capacity[0].unallocated.cpu_millis, 7000 % 3);
}

TEST(Plan, RejectsANodeTooSmallWithItsLocation) {
  const auto c = parse("nodes:\n  - name: a\n    resources: {cpu: 2, memory: 2Gi}\n");
  const auto result = make_plan(c);
  const auto* errors = std::get_if<std::vector<config::Diagnostic>>(&result);
  ASSERT_NE(errors, nullptr);
  ASSERT_EQ(errors->size(), 1u);
  EXPECT_EQ(errors->front().where.line, 2);
  EXPECT_NE(errors->front().message.find("too little"), std::string::npos);
}

}  // namespace
}  // namespace omni::root
