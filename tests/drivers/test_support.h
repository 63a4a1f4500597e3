#pragma once
// Helpers shared by the driver integration tests: temp dirs, polling with a bound, daemons the
// tests start themselves and stop by PID.
#include <sys/types.h>

#include <chrono>
#include <functional>
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

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& text);
bool is_root();
bool have_program(const std::string& name);
// Runs argv and returns its output; exit code in *code when given.
std::string run(const std::vector<std::string>& argv, int* code = nullptr);

}  // namespace omni::drivers::testing
