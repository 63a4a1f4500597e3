// Every bad scenario file under tests/data/scenarios/bad/ is rejected with one located error.
#include <gtest/gtest.h>

#include "tests/sim/scenario/test_files.h"

namespace omni::sim {
namespace {

struct BadFile {
  std::string file;
  int line;
  int column;
  std::string message_part;
};

const std::vector<BadFile> kBadFiles{
    {"unknown-top-key.yaml", 3, 1,
     "unknown key \"faultz\" in the scenario; did you mean \"faults\"?"},
    {"missing-name.yaml", 1, 1, "missing \"name:\""},
    {"bad-duration.yaml", 3, 11, "invalid duration \"15x\""},
    {"latency-range-reversed.yaml", 4, 12, "the low end is above the high end"},
    {"drop-out-of-range.yaml", 4, 9, "drop must be a probability from 0 to 1"},
    {"unknown-node-in-partition.yaml", 5, 18,
     "unknown node \"worker-1\"; did you mean \"worker-01\"?"},
    {"unknown-target.yaml", 5, 12, "unknown target \"leeder\" in crash; did you mean \"leader\"?"},
    {"orchestrator-out-of-range.yaml", 5, 12, "the cluster has replicas 1 to 3"},
    {"unknown-director-node.yaml", 5, 12, "unknown node \"worker-04\""},
    {"unknown-phase.yaml", 4, 9, "did you mean \"phase:takeover\"?"},
    {"two-fault-kinds.yaml", 4, 5, "a fault does one thing"},
    {"restart-after-on-heal.yaml", 6, 20, "restart_after goes with crash or power_off, not heal"},
    {"fault-without-at.yaml", 3, 5, "a fault needs \"at:\""},
    {"cluster-file-missing.yaml", 2, 10,
     "cluster file \"tests/data/scenarios/missing-cluster.yaml\": cannot read the file"},
    {"inline-cluster-bad-cpu.yaml", 5, 24, "cpu must be greater than 0"},
    {"yaml-syntax-error.yaml", 4, 1, "invalid YAML"},
    {"non-utf8.yaml", 3, 17, "not valid UTF-8 (byte 0xff)"},
    {"counter-not-a-comparison.yaml", 4, 19, "must be a comparison like \">= 1\""},
    {"expect-typo.yaml", 4, 3, "did you mean \"init_within\"?"},
    {"expect-counter-typo.yaml", 4, 3, "did you mean \"leader_changes\"?"},
    {"expect-unknown-counter.yaml", 4, 3,
     "unknown key \"replicas_replaced\" in expect; expect takes init, fail_phase, init_within, "
     "converge_within, apps_running, linearizable, leader_changes, crashes, messages, "
     "orchestrators"},
    {"apply-new-app-without-image.yaml", 5, 12, "apply of a new app \"web\" needs an \"image:\""},
    {"delete-unknown-app.yaml", 7, 17, "unknown app \"wbe\"; did you mean \"web\"?"},
    {"apps-running-bad.yaml", 4, 17, "apps_running (all or a number)"},
    {"fail-phase-without-init-fail.yaml", 4, 15, "fail_phase needs \"init: fail\""},
    {"faults-out-of-order.yaml", 6, 9, "is before the previous one (at 5m0.000s)"},
    {"fault-after-end.yaml", 5, 9, "after the run ends (duration 10m0.000s)"},
    {"swarm-unknown-kind.yaml", 5, 22, "unknown swarm kind \"crashh\"; did you mean \"crash\"?"},
    {"infrastructure-unknown-node.yaml", 4, 3, "unknown node \"worker-1\""},
    {"isolate-bad-direction.yaml", 6, 16, "direction must be both, in or out"},
    {"empty.yaml", 1, 1, "the scenario is empty"},
    {"clock-skew-negative.yaml", 5, 52, "rate must be a number from 0.01 to 100"},
    // A rate the simulated clock cannot run at was an assertion in the run (exit 1).
    {"clock-skew-too-slow.yaml", 5, 52, "rate must be a number from 0.01 to 100"},
    {"partition-one-group.yaml", 5, 16, "a partition needs at least two groups"},
    // Groups of aliases to a list of a thousand nodes took seconds a fault to read.
    {"partition-more-nodes-than-the-cluster.yaml", 5, 52,
     "the partition's groups name more nodes than the cluster has (3)"},
    {"swarm-until-after-end.yaml", 5, 10, "swarm until 600h"},
    // Their sum overflowed 64 bits (UBSan stopped the parser).
    {"relative-faults-past-any-clock.yaml", 6, 10, "after the run ends (duration 1000h"},
    {"disk-fail-bad-mode.yaml", 5, 47, "lose_unsynced, corrupt or eio, got \"melt\""},
    {"seed-negative.yaml", 3, 7, "seed must be a whole number from 0"},
    {"vm-boot-half-range.yaml", 4, 12, "vm_boot: invalid duration \"\""},
    {"clients-without-count.yaml", 4, 3, "clients needs \"count:\""},
    {"clients-count-zero.yaml", 4, 10, "clients count"},
    {"clients-bad-rate.yaml", 5, 9,
     "clients rate must be operations per client and time, like 20/s"},
    // A file that never ends was read until the machine ran out of memory.
    {"cluster-never-ends.yaml", 2, 10,
     "cluster file \"/dev/zero\": cannot read the file: it is larger than 16 MiB"},
    // Its mean gap in nanoseconds did not fit 64 bits, and the client ran at 1000/s instead.
    {"clients-rate-too-low.yaml", 5, 9, "at least 1 in 1000h), got \"1e-12/s\""},
    {"clients-unknown-op.yaml", 5, 15, "unknown clients op \"wirte\"; use read, write and cas"},
    {"linearizable-without-clients.yaml", 4, 17, "linearizable needs a \"clients:\" block"},
};

TEST(ScenarioBadFiles, EveryBadFileGetsOneLocatedError) {
  ASSERT_GE(kBadFiles.size(), 12u);
  for (const auto& bad : kBadFiles) {
    SCOPED_TRACE(bad.file);
    const std::string path = "tests/data/scenarios/bad/" + bad.file;
    const ScenarioResult result = testing::parse_file(path);
    ASSERT_TRUE(std::holds_alternative<std::vector<config::Diagnostic>>(result));
    const auto& errors = std::get<std::vector<config::Diagnostic>>(result);
    ASSERT_EQ(errors.size(), 1u) << errors.front().to_string() << "\n" << errors.back().to_string();
    const config::Diagnostic& d = errors.front();
    EXPECT_EQ(d.where.line, bad.line) << d.to_string();
    EXPECT_EQ(d.where.column, bad.column) << d.to_string();
    EXPECT_NE(d.message.find(bad.message_part), std::string::npos) << d.to_string();
  }
}

// A file-level error names the scenario file; an error in a referenced cluster file names it.
TEST(ScenarioBadFiles, ErrorsNameTheFileTheyAreIn) {
  const std::string path = "tests/data/scenarios/bad/unknown-target.yaml";
  const auto result = testing::parse_file(path);
  const auto& errors = std::get<std::vector<config::Diagnostic>>(result);
  EXPECT_EQ(errors.front().to_string().rfind(path + ":5:12: ", 0), 0u)
      << errors.front().to_string();

  const auto bad_cluster =
      parse_scenario("name: t\ncluster: c.yaml\n", "dir/s.yaml", [](const std::string& file) {
        EXPECT_EQ(file, "dir/c.yaml");
        return std::variant<std::string, config::Diagnostic>("nodes: []\n");
      });
  const auto& cluster_errors = std::get<std::vector<config::Diagnostic>>(bad_cluster);
  ASSERT_EQ(cluster_errors.size(), 1u);
  EXPECT_EQ(cluster_errors.front().where.file, "dir/c.yaml");
  EXPECT_NE(cluster_errors.front().message.find("nodes is empty"), std::string::npos);
}

}  // namespace
}  // namespace omni::sim
