#pragma once
// Runs a RapidCheck property inside a GoogleTest with its own number of schedules (RapidCheck's
// default is 100). RC_PARAMS="max_success=N" still overrides it, and "seed=S" replays a run.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <cstdlib>
#include <sstream>
#include <string>

#include "tests/model/raft_props/raft_sim.h"

namespace omni::raft::props {

template <typename Testable>
void check_schedules(int schedules, Testable&& testable) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  rc::detail::TestMetadata metadata;
  metadata.id = std::string(info->test_suite_name()) + "/" + info->name();
  metadata.description = info->name();
  rc::detail::TestParams params = rc::detail::configuration().testParams;
  const char* env = std::getenv("RC_PARAMS");
  if (env == nullptr || std::string(env).find("max_success") == std::string::npos) {
    params.maxSuccess = schedules;
  }
  const auto result = rc::detail::checkTestable(std::forward<Testable>(testable), metadata, params);
  std::ostringstream message;
  rc::detail::printResultMessage(result, message);
  if (result.template is<rc::detail::SuccessResult>()) {
    std::printf("%s: %s\n", metadata.id.c_str(), message.str().c_str());
  } else {
    FAIL() << message.str() << "\n(RapidCheck seed " << params.seed
           << "; replay with RC_PARAMS=\"seed=" << params.seed << "\")";
  }
}

// The property every schedule must satisfy: no checker fires, during the run or at its end.
inline void expect_no_violation(const RaftSimOptions& options, const Schedule& schedule) {
  const RunResult result = run_schedule(options, schedule);
  if (result.violation.has_value()) {
    RC_FAIL("invariant '" + result.violation->invariant + "' broken\n  " +
            result.violation->to_string() +
            "\n  schedule: " + to_string(schedule, all_servers(options)));
  }
}

}  // namespace omni::raft::props
