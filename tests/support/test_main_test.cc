// The test main's promises, checked on real runs of a child test binary: the RapidCheck seed is
// printed before any test starts, and a test over its time budget is stopped, naming itself and
// the seed to replay.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

struct ChildRun {
  int exit_code = -1;
  std::string output;
};

// Runs the child test binary with `env` and a filter, and collects stdout and stderr.
ChildRun run_child(const std::string& env, const std::string& filter) {
  const std::string command =
      env + " " + OMNI_TEST_MAIN_CHILD + " --gtest_filter=" + filter + " 2>&1";
  ChildRun run;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return run;
  std::array<char, 4096> buffer{};
  while (std::fgets(buffer.data(), buffer.size(), pipe) != nullptr) run.output += buffer.data();
  const int status = ::pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

TEST(TestMain, ATestOverItsBudgetIsStoppedAndNamesTheSeed) {
  const auto started = std::chrono::steady_clock::now();
  const ChildRun run =
      run_child("OMNI_TEST_BUDGET_S=1 RC_PARAMS=seed=4242", "Child.OutlivesItsBudget");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(20));
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_NE(run.output.find("Child.OutlivesItsBudget: over its time budget of 1 s"),
            std::string::npos)
      << run.output;
  EXPECT_NE(run.output.find("RC_PARAMS=\"seed=4242\""), std::string::npos) << run.output;
}

TEST(TestMain, TheSeedIsPrintedBeforeAnyTestAndAFreshOneIsDrawn) {
  const ChildRun first = run_child("RC_PARAMS=", "Child.Quick");
  const ChildRun second = run_child("RC_PARAMS=", "Child.Quick");
  const auto seed_line = [](const std::string& output) {
    const auto at = output.find("RapidCheck: seed ");
    return at == std::string::npos ? std::string() : output.substr(at, output.find('\n', at) - at);
  };
  ASSERT_FALSE(seed_line(first.output).empty()) << first.output;
  EXPECT_LT(first.output.find("RapidCheck: seed "), first.output.find("[ RUN      ]"));
  EXPECT_NE(seed_line(first.output), seed_line(second.output)) << "each run draws its own seed";
  EXPECT_NE(seed_line(first.output).find("max_size 100"), std::string::npos);
}

}  // namespace
