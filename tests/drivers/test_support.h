#pragma once
#include <cstdlib>
// Helpers shared by the driver integration tests: temp dirs, polling with a bound, daemons the
// tests start themselves and stop by PID.
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace omni::drivers::testing {

// A fresh directory under /tmp, removed (recursively) on destruction unless OMNI_KEEP_TMP is set.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Polls `done` every 20 ms until it holds or `timeout` passes.
bool wait_until(const std::function<bool()>& done,
                std::chrono::milliseconds timeout = std::chrono::seconds(10));

// A background process started by a test, stopped by its PID (SIGTERM, then SIGKILL).
class Daemon {
 public:
  Daemon() = default;
  Daemon(const std::vector<std::string>& argv, const std::string& log_path,
         const std::vector<std::string>& env = {});
  ~Daemon() { stop(); }
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;
  bool running() const;
  pid_t pid() const { return pid_; }
  void stop();

 private:
  pid_t pid_ = -1;
};

// A private libvirtd: unprivileged (as nobody when the test runs as root), every path —
// sockets, state, the QEMU driver's runtime files — under its own temp dir. Stopping it also
// stops, by the PIDs in its pid files, any QEMU it left running.
class PrivateLibvirtd {
 public:
  PrivateLibvirtd();
  ~PrivateLibvirtd() { kill(); }
  PrivateLibvirtd(const PrivateLibvirtd&) = delete;
  PrivateLibvirtd& operator=(const PrivateLibvirtd&) = delete;
  bool ready() const { return ready_; }
  // "test" -> test+unix:///default?socket=..., "qemu" -> qemu+unix:///session?socket=...
  std::string uri(const std::string& driver) const;
  std::string log() const;
  // A directory the daemon (and the QEMU it starts) may read and write.
  const std::string& dir() const { return dir_.path(); }
  void kill();

 private:
  TempDir dir_;
  std::unique_ptr<Daemon> daemon_;
  bool ready_ = false;
};

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& text);
bool is_root();
bool have_program(const std::string& name);
// CI=true: .ci/dev installed every prerequisite, so a missing one is a failure, not a skip.
inline bool under_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}
// Runs argv (killed after `timeout`) and returns its output; exit code in *code when given.
std::string run(const std::vector<std::string>& argv, int* code = nullptr,
                std::chrono::seconds timeout = std::chrono::seconds(60));

}  // namespace omni::drivers::testing

// Skips a test whose prerequisite is missing, except under CI=true, where it fails with the reason.
#define OMNI_REQUIRE(cond, why)                                      \
  if (cond) {                                                        \
  } else if (::omni::drivers::testing::under_ci())                   \
    GTEST_FAIL() << "prerequisite missing under CI=true: " << (why); \
  else                                                               \
    GTEST_SKIP() << (why)
