// The process runtime with Omni's own OCI image: import, run omni-node, signal it, see the exit.
#include "drivers/container/process_runtime.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include "tests/drivers/test_support.h"

namespace omni::drivers {
namespace {

using testing::TempDir;

ContainerSpec container(const std::string& name, const std::string& image,
                        std::vector<std::string> args = {}) {
  ContainerSpec spec;
  spec.name = name;
  spec.image = image;
  spec.args = std::move(args);
  return spec;
}

bool wait_exit(ContainerDriver& driver, const std::string& name, int& code) {
  return testing::wait_until([&] {
    for (const auto& event : driver.poll_events()) {
      if (event.name == name) {
        code = event.exit_code;
        return true;
      }
    }
    return false;
  });
}

TEST(ProcessRuntime, RunsOmniNodeFromItsImageAndReportsExits) {
  TempDir dir("omni-process");
  ProcessRuntimeOptions options;
  options.state_dir = dir / "state";
  ProcessRuntime runtime(options);
  ASSERT_EQ(runtime.import_image("omni:dev", OMNI_IMAGE_TAR).status, DriverStatus::ok);
  EXPECT_EQ(runtime.list_images().value, std::vector<std::string>{"omni:dev"});

  // The image's Cmd ("version") exits 0 on its own.
  ASSERT_EQ(runtime.create(container("version", "omni:dev")).status, DriverStatus::ok);
  ASSERT_EQ(runtime.start("version").status, DriverStatus::ok);
  int code = -1;
  ASSERT_TRUE(wait_exit(runtime, "version", code));
  EXPECT_EQ(code, 0);
  EXPECT_NE(testing::read_file(runtime.log_path("version")).find("omni-node 0.1.0"),
            std::string::npos);

  // serve runs until SIGTERM, then exits 0; SIGKILL shows as 128 + 9.
  ContainerSpec serve =
      container("orchestrator-1", "omni:dev", {"serve", "--component", "orchestrator"});
  ASSERT_EQ(runtime.create(serve).status, DriverStatus::ok);
  ASSERT_EQ(runtime.start("orchestrator-1").status, DriverStatus::ok);
  ASSERT_TRUE(testing::wait_until([&] {
    return testing::read_file(runtime.log_path("orchestrator-1")).find("serving") !=
           std::string::npos;
  }));
  EXPECT_EQ(runtime.inspect("orchestrator-1").value.state, ContainerState::running);
  ASSERT_EQ(runtime.kill("orchestrator-1", SIGTERM).status, DriverStatus::ok);
  ASSERT_TRUE(wait_exit(runtime, "orchestrator-1", code));
  EXPECT_EQ(code, 0);
  ASSERT_EQ(runtime.start("orchestrator-1").status, DriverStatus::ok);
  ASSERT_EQ(runtime.kill("orchestrator-1", SIGKILL).status, DriverStatus::ok);
  ASSERT_TRUE(wait_exit(runtime, "orchestrator-1", code));
  EXPECT_EQ(code, 128 + SIGKILL);

  ASSERT_EQ(runtime.remove("orchestrator-1").status, DriverStatus::ok);
  ASSERT_EQ(runtime.remove("version").status, DriverStatus::ok);
  EXPECT_TRUE(runtime.list().value.empty());
}

// Two creates that find the image missing import it at once (an Agent back from a power loss
// starts its replica and an app of the same image together): both imports succeed and the image
// is whole afterwards.
TEST(ProcessRuntime, ConcurrentImportsOfOneImageLeaveItWhole) {
  TempDir dir("omni-process");
  ProcessRuntimeOptions options;
  options.state_dir = dir / "state";
  ProcessRuntime runtime(options);
  DriverResult first, second;
  std::thread other([&] { second = runtime.import_image("omni:dev", OMNI_IMAGE_TAR); });
  first = runtime.import_image("omni:dev", OMNI_IMAGE_TAR);
  other.join();
  EXPECT_EQ(first.status, DriverStatus::ok) << first.message;
  EXPECT_EQ(second.status, DriverStatus::ok) << second.message;
  ASSERT_EQ(runtime.create(container("version", "omni:dev")).status, DriverStatus::ok);
  ASSERT_EQ(runtime.start("version").status, DriverStatus::ok);
  int code = -1;
  ASSERT_TRUE(wait_exit(runtime, "version", code));
  EXPECT_EQ(code, 0) << testing::read_file(runtime.log_path("version"));
  ASSERT_EQ(runtime.remove("version").status, DriverStatus::ok);
}

TEST(ProcessRuntime, BadInputIsAClearError) {
  TempDir dir("omni-process");
  ProcessRuntimeOptions options;
  options.state_dir = dir / "state";
  ProcessRuntime runtime(options);
  auto missing_tar = runtime.import_image("x", dir / "missing.tar");
  EXPECT_EQ(missing_tar.status, DriverStatus::not_found) << missing_tar.message;
  EXPECT_TRUE(runtime.list_images().value.empty());
  auto missing_image = runtime.create(container("a", "never-imported"));
  EXPECT_EQ(missing_image.status, DriverStatus::not_found);
  EXPECT_NE(missing_image.message.find("never-imported"), std::string::npos);
  ASSERT_EQ(runtime.import_image("omni:dev", OMNI_IMAGE_TAR).status, DriverStatus::ok);
  ASSERT_EQ(runtime.create(container("a", "omni:dev")).status, DriverStatus::ok);
  EXPECT_EQ(runtime.create(container("a", "omni:dev")).status, DriverStatus::already_exists);
  EXPECT_EQ(runtime.create(container("Bad Name", "omni:dev")).status, DriverStatus::failed);
  EXPECT_EQ(runtime.start("nope").status, DriverStatus::not_found);
  EXPECT_EQ(runtime.remove("nope").status, DriverStatus::not_found);
  EXPECT_EQ(runtime.list().value.size(), 1u);
}

}  // namespace
}  // namespace omni::drivers
