#include "tests/drivers/test_support.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "drivers/util/subprocess.h"

namespace omni::drivers::testing {

TempDir::TempDir(const std::string& prefix) {
  std::string pattern = "/tmp/" + prefix + "-XXXXXX";
  char* made = ::mkdtemp(pattern.data());
  path_ = made != nullptr ? made : "";
}

TempDir::~TempDir() {
  if (path_.empty() || std::getenv("OMNI_KEEP_TMP") != nullptr) return;
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

Daemon::Daemon(const std::vector<std::string>& argv, const std::string& log_path,
               const std::vector<std::string>& env) {
  std::string error;
  SpawnOptions options;
  options.log_path = log_path;
  options.env = env;
  pid_ = spawn_process(argv, options, error);
}

bool Daemon::running() const {
  if (pid_ <= 0) return false;
  int status = 0;
  return ::waitpid(pid_, &status, WNOHANG) == 0;
}

void Daemon::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  int status = 0;
  bool exited =
      wait_until([&] { return ::waitpid(pid_, &status, WNOHANG) != 0; }, std::chrono::seconds(10));
  if (!exited) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
  }
  pid_ = -1;
}

PrivateLibvirtd::PrivateLibvirtd() : dir_("omni-libvirtd") {
  std::filesystem::create_directories(dir_ / "run");
  write_file(dir_ / "libvirtd.conf", "unix_sock_dir = \"" + (dir_ / "run") + "\"\n");
  std::vector<std::string> argv = {"libvirtd", "--config", dir_ / "libvirtd.conf"};
  if (is_root()) {
    // Unprivileged, libvirtd runs its session mode: every path it uses follows XDG_*.
    run({"chown", "-R", "65534:65534", dir_.path()});
    argv.insert(argv.begin(), {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"});
  }
  daemon_ = std::make_unique<Daemon>(
      argv, dir_ / "libvirtd.log",
      std::vector<std::string>{"HOME=" + dir_.path(), "XDG_RUNTIME_DIR=" + (dir_ / "xdg"),
                               "XDG_CONFIG_HOME=" + (dir_ / "config"),
                               "XDG_CACHE_HOME=" + (dir_ / "cache")});
  ready_ = wait_until([&] { return std::filesystem::exists(dir_ / "run/libvirt-sock"); });
}

std::string PrivateLibvirtd::uri(const std::string& driver) const {
  const std::string path = driver == "qemu" ? "/session" : "/default";
  return driver + "+unix://" + path + "?socket=" + (dir_ / "run/libvirt-sock");
}

std::string PrivateLibvirtd::log() const {
  return read_file(dir_ / "libvirtd.log");
}

// libvirtd leaves its domains running when it stops; a QEMU it started must not outlive the
// test. Only processes whose name says QEMU are signalled.
void PrivateLibvirtd::kill() {
  if (daemon_) daemon_->stop();
  daemon_.reset();
  std::error_code error;
  for (std::filesystem::recursive_directory_iterator it(dir_.path(), error), end;
       !error && it != end; it.increment(error)) {
    if (it->path().extension() != ".pid") continue;
    const pid_t pid = std::atoi(read_file(it->path()).c_str());
    if (pid <= 1 || read_file("/proc/" + std::to_string(pid) + "/comm").rfind("qemu", 0) != 0)
      continue;
    ::kill(pid, SIGKILL);
    wait_until([&] { return ::kill(pid, 0) != 0; }, std::chrono::seconds(5));
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

bool is_root() {
  return ::geteuid() == 0;
}

bool have_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (::access((dir + "/" + name).c_str(), X_OK) == 0) return true;
  }
  for (const char* extra : {"/usr/sbin/", "/sbin/"}) {
    if (::access((std::string(extra) + name).c_str(), X_OK) == 0) return true;
  }
  return false;
}

std::string run(const std::vector<std::string>& argv, int* code, std::chrono::seconds timeout) {
  auto result = run_command(argv, timeout);
  if (code != nullptr) *code = result.exit_code;
  return result.output;
}

}  // namespace omni::drivers::testing
