// spawn_process: the environment a child sees, and a program that cannot run.
#include "drivers/util/subprocess.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <sstream>
#include <string>
#include <vector>

#include "tests/drivers/test_support.h"

namespace omni::drivers {
namespace {

using testing::read_file;
using testing::TempDir;

// Waits up to `limit` for pid to exit; its exit code, or -1 if it did not (then it is killed).
int exit_code_within(pid_t pid, std::chrono::seconds limit) {
  int status = 0;
  if (!testing::wait_until([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, limit)) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(SpawnProcess, AnEntryOfTheEnvironmentReplacesTheParentsAndEarlierOnesOfItsName) {
  TempDir dir("omni-spawn-test");
  ::setenv("OMNI_SPAWN_TEST_A", "parent", 1);
  ::setenv("OMNI_SPAWN_TEST_B", "kept", 1);
  SpawnOptions options;
  options.log_path = dir / "out";
  options.env = {"OMNI_SPAWN_TEST_A=image", "OMNI_SPAWN_TEST_C=new", "OMNI_SPAWN_TEST_A=container"};
  std::string error;
  // env prints its environment as it got it: a shell would hide a duplicate by keeping one.
  const pid_t pid = spawn_process({"env"}, options, error);
  ASSERT_GT(pid, 0) << error;
  EXPECT_EQ(exit_code_within(pid, std::chrono::seconds(10)), 0);
  std::vector<std::string> ours;
  std::istringstream lines(read_file(dir / "out"));
  for (std::string line; std::getline(lines, line);)
    if (line.starts_with("OMNI_SPAWN_TEST_")) ours.push_back(line);
  std::sort(ours.begin(), ours.end());
  EXPECT_EQ(ours, (std::vector<std::string>{"OMNI_SPAWN_TEST_A=container", "OMNI_SPAWN_TEST_B=kept",
                                            "OMNI_SPAWN_TEST_C=new"}));
}

TEST(SpawnProcess, AProgramThatCannotRunIsAnError) {
  std::string error;
  EXPECT_EQ(spawn_process({"/nonexistent/omni-no-such-program"}, {}, error), -1);
  EXPECT_NE(error.find("cannot execute (/nonexistent/omni-no-such-program)"), std::string::npos)
      << error;
}

}  // namespace
}  // namespace omni::drivers
