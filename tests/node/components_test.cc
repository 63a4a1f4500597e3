// What an omni-node process runs, made from its role and args: the right component for good
// args, a reason for anything else.
#include "node/components.h"

#include <gtest/gtest.h>

#include "model/agent/agent.h"
#include "model/director/director.h"
#include "model/orchestrator/orchestrator.h"

namespace omni::node {
namespace {

using Args = std::vector<std::string>;

std::string refusal(const std::string& role, const Args& args, const std::string& identity) {
  std::string error;
  const auto made = make_component(role, args, identity, 1, error);
  EXPECT_EQ(made, nullptr) << role;
  EXPECT_FALSE(error.empty());
  return error;
}

TEST(Components, EachRoleMakesItsComponentFromItsArgs) {
  std::string error;
  const auto director =
      make_component("director",
                     {"director", "--node=host-1", "--own-vm=prod-host-1-director",
                      "--cpu-millis=4000", "--memory-bytes=8589934592",
                      "--director-vm-cpu-millis=500", "--director-vm-memory-bytes=268435456"},
                     "director:host-1", 1, error);
  ASSERT_NE(director, nullptr) << error;
  const auto& d = dynamic_cast<const director::Director&>(*director);
  EXPECT_EQ(d.config().node, "host-1");
  EXPECT_EQ(d.config().own_vm, "prod-host-1-director");
  EXPECT_EQ(d.config().capacity.memory_bytes, 8589934592);
  EXPECT_EQ(d.config().director_vm.cpu_millis, 500);
  EXPECT_EQ(d.config().root, "root");

  const auto agent =
      make_component("agent",
                     {"agent", "--vm=prod-host-1-worker-1", "--director=director:host-1",
                      "--cpu-millis=1000", "--memory-bytes=536870912"},
                     "agent:prod-host-1-worker-1", 1, error);
  ASSERT_NE(agent, nullptr) << error;
  EXPECT_NE(dynamic_cast<const agent::Agent*>(agent.get()), nullptr);

  const auto orchestrator = make_component(
      "orchestrator", {"orchestrator", "--replica=2", "--members=orchestrator:1,orchestrator:2"},
      "orchestrator:2", 1, error);
  ASSERT_NE(orchestrator, nullptr) << error;
  EXPECT_NE(dynamic_cast<const orchestrator::Orchestrator*>(orchestrator.get()), nullptr);
}

TEST(Components, BadArgsOrAnIdentityTheyDoNotMakeAreRefusedWithTheReason) {
  const Args director{"director", "--node=h", "--own-vm=p-h-director", "--cpu-millis=4000",
                      "--memory-bytes=1000000"};
  EXPECT_NE(refusal("director", director, "director:other").find("the identity is director:other"),
            std::string::npos);
  EXPECT_NE(refusal("director", {"director", "--node=h"}, "director:h").find("missing --own-vm"),
            std::string::npos);
  Args negative = director;
  negative[3] = "--cpu-millis=-5";
  EXPECT_NE(refusal("director", negative, "director:h").find("positive whole number"),
            std::string::npos);
  Args unknown = director;
  unknown.push_back("--colour=blue");
  EXPECT_NE(refusal("director", unknown, "director:h").find("unknown argument `--colour=blue`"),
            std::string::npos);
  Args too_big = director;
  too_big.push_back("--director-vm-memory-bytes=2000000");
  too_big.push_back("--director-vm-cpu-millis=1");
  EXPECT_NE(refusal("director", too_big, "director:h").find("larger than the node"),
            std::string::npos);

  const Args agent{"agent", "--vm=p-h-worker-1", "--director=h", "--cpu-millis=1",
                   "--memory-bytes=1"};
  EXPECT_NE(refusal("agent", agent, "agent:p-h-worker-1").find("director:NODE"), std::string::npos);
  EXPECT_NE(refusal("orchestrator", {"orchestrator", "--replica=x"}, "orchestrator:1")
                .find("do not make an Orchestrator"),
            std::string::npos);
  EXPECT_NE(refusal("toaster", {}, "toaster:1").find("no role `toaster`"), std::string::npos);
}

// A component started with its args finds its config by the identity they make.
TEST(Components, ArgsNameTheIdentityWhoseConfigAVmHolds) {
  EXPECT_EQ(identity_of_args("orchestrator", {"--replica=2", "--members=orchestrator:2"}),
            "orchestrator:2");
  EXPECT_EQ(identity_of_args("director", {"--own-vm=x", "--node=host-1"}), "director:host-1");
  EXPECT_EQ(identity_of_args("agent", {"--vm=p-h-worker-1"}), "agent:p-h-worker-1");
  EXPECT_EQ(identity_of_args("agent", {"--vm="}), "");
  EXPECT_EQ(identity_of_args("orchestrator", {"--join"}), "");
  EXPECT_EQ(identity_of_args("toaster", {"--replica=1"}), "");
}

}  // namespace
}  // namespace omni::node
