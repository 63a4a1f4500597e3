#include "drivers/util/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

extern char** environ;

namespace omni::drivers {
namespace {

constexpr std::size_t k_output_bytes_max = 64 * 1024;

std::vector<char*> c_argv(const std::vector<std::string>& argv) {
  std::vector<char*> out;
  for (const auto& arg : argv) out.push_back(const_cast<char*>(arg.c_str()));
  out.push_back(nullptr);
  return out;
}

// What a child could not do before exec, sent up the report pipe.
enum class ChildStep : int { network_namespace = 1, cgroup = 2, exec = 3 };
struct ChildFailure {
  ChildStep step;
  int error_number;
};

const char* step_name(ChildStep step) {
  switch (step) {
    case ChildStep::network_namespace:
      return "cannot join the network namespace";
    case ChildStep::cgroup:
      return "cannot join its cgroup";
    case ChildStep::exec:
      break;
  }
  return "cannot execute";
}

[[noreturn]] void fail_child(int report_fd, ChildStep step, int exit_code) {
  const ChildFailure failure{step, errno};
  if (report_fd >= 0) {
    // Nothing more can be done in the child if even this fails: the exit code still says it.
    [[maybe_unused]] const ssize_t sent = ::write(report_fd, &failure, sizeof failure);
  }
  ::_exit(exit_code);
}

// In the child after fork: only async-signal-safe calls until exec. `report_fd` is the write
// end of a close-on-exec pipe: a successful exec closes it without a word.
[[noreturn]] void exec_child(const std::vector<char*>& argv, char** envp, int out_fd, int netns_fd,
                             const std::vector<int>& leave_fds, const std::vector<int>& cgroup_fds,
                             bool new_session, int report_fd) {
  if (new_session) ::setsid();
  if (netns_fd >= 0 && ::setns(netns_fd, CLONE_NEWNET) != 0)
    fail_child(report_fd, ChildStep::network_namespace, 126);
  for (int fd : leave_fds) [[maybe_unused]] const auto moved = ::write(fd, "0", 1);  // if it can
  for (int fd : cgroup_fds)
    if (::write(fd, "0", 1) != 1) fail_child(report_fd, ChildStep::cgroup, 125);  // 0: itself
  int null_fd = ::open("/dev/null", O_RDONLY);
  if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
  ::dup2(out_fd, STDOUT_FILENO);
  ::dup2(out_fd, STDERR_FILENO);
  ::signal(SIGPIPE, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execvpe(argv[0], argv.data(), envp);
  fail_child(report_fd, ChildStep::exec, 127);
}

// "NAME=value" -> "NAME", or the whole entry when it has no '='.
std::string_view env_name(std::string_view entry) {
  return entry.substr(0, entry.find('='));
}

// The parent's environment with `extra` on top: an entry replaces any earlier one of its name,
// as runc does, since glibc's getenv would answer the first of two and ignore the override.
std::vector<std::string> environment_with(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  for (const auto& entry : extra) {
    const auto same_name = [&](const std::string& e) { return env_name(e) == env_name(entry); };
    env.erase(std::remove_if(env.begin(), env.end(), same_name), env.end());
    env.push_back(entry);
  }
  return env;
}

// Blocks until the child has exec'd (the pipe closes empty) or says what it could not do.
bool child_started(int report_fd, const std::string& program, std::string& error) {
  ChildFailure failure{};
  ssize_t n = 0;
  do {
    n = ::read(report_fd, &failure, sizeof failure);
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(sizeof failure)) return true;
  error = std::string(step_name(failure.step)) + " (" + program +
          "): " + std::strerror(failure.error_number);
  return false;
}

void drain(int fd, std::string& output) {
  char buffer[4096];
  ssize_t n = ::read(fd, buffer, sizeof buffer);
  while (n > 0) {
    if (output.size() < k_output_bytes_max) output.append(buffer, static_cast<std::size_t>(n));
    n = ::read(fd, buffer, sizeof buffer);
  }
}

int wait_exit_code(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return -1;
}

}  // namespace

std::string join_argv(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& arg : argv) out += (out.empty() ? "" : " ") + arg;
  return out;
}

CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  CommandResult result;
  if (argv.empty()) return result;
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    result.output = std::string("pipe: ") + std::strerror(errno);
    return result;
  }
  auto args = c_argv(argv);
  const std::vector<int> no_cgroups;
  pid_t pid = ::fork();
  if (pid == 0) exec_child(args, environ, pipe_fds[1], -1, no_cgroups, no_cgroups, false, -1);
  ::close(pipe_fds[1]);
  if (pid < 0) {
    ::close(pipe_fds[0]);
    result.output = std::string("fork: ") + std::strerror(errno);
    return result;
  }
  ::fcntl(pipe_fds[0], F_SETFL, O_NONBLOCK);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool timed_out = false;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd pfd{pipe_fds[0], POLLIN, 0};
    int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    char buffer[4096];
    ssize_t n = ::read(pipe_fds[0], buffer, sizeof buffer);
    if (n == 0) break;
    if (n < 0) continue;
    if (result.output.size() < k_output_bytes_max) {
      result.output.append(buffer, static_cast<std::size_t>(n));
    }
  }
  if (timed_out) {
    ::kill(pid, SIGKILL);
    drain(pipe_fds[0], result.output);
  }
  ::close(pipe_fds[0]);
  int code = wait_exit_code(pid);
  result.exit_code = timed_out ? -1 : code;
  if (timed_out) result.output += "\n(killed after timeout)";
  return result;
}

pid_t spawn_process(const std::vector<std::string>& argv, const SpawnOptions& options,
                    std::string& error) {
  if (argv.empty()) {
    error = "empty command";
    return -1;
  }
  std::string log = options.log_path.empty() ? "/dev/null" : options.log_path;
  int out_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out_fd < 0) {
    error = "cannot open " + log + ": " + std::strerror(errno);
    return -1;
  }
  int netns_fd = -1;
  if (!options.netns_path.empty()) {
    netns_fd = ::open(options.netns_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (netns_fd < 0) {
      error = "cannot open network namespace " + options.netns_path + ": " + std::strerror(errno);
      ::close(out_fd);
      return -1;
    }
  }
  std::vector<int> cgroup_fds, leave_fds;
  auto close_all = [&] {
    ::close(out_fd);
    if (netns_fd >= 0) ::close(netns_fd);
    for (int fd : cgroup_fds) ::close(fd);
    for (int fd : leave_fds) ::close(fd);
  };
  for (const auto& procs : options.leave_cgroup_procs_files)
    if (const int fd = ::open(procs.c_str(), O_WRONLY | O_CLOEXEC); fd >= 0)
      leave_fds.push_back(fd);
  for (const auto& procs : options.cgroup_procs_files) {
    const int fd = ::open(procs.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
      error = "cannot open " + procs + ": " + std::strerror(errno);
      close_all();
      return -1;
    }
    cgroup_fds.push_back(fd);
  }
  std::vector<std::string> env_strings = environment_with(options.env);
  auto envp = c_argv(env_strings);
  auto args = c_argv(argv);
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) {
    error = std::string("pipe: ") + std::strerror(errno);
    close_all();
    return -1;
  }
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(report[0]);
    exec_child(args, envp.data(), out_fd, netns_fd, leave_fds, cgroup_fds, options.new_session,
               report[1]);
  }
  ::close(report[1]);
  close_all();
  if (pid < 0) {
    error = std::string("fork: ") + std::strerror(errno);
  } else if (!child_started(report[0], argv[0], error)) {
    wait_exit_code(pid);
    pid = -1;
  }
  ::close(report[0]);
  return pid;
}

bool process_alive(pid_t pid) {
  if (pid <= 0) return false;
  if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
  // A zombie still answers kill(0); it is not alive for our purposes.
  std::string path = "/proc/" + std::to_string(pid) + "/stat";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buffer[512];
  ssize_t n = ::read(fd, buffer, sizeof buffer - 1);
  ::close(fd);
  if (n <= 0) return false;
  buffer[n] = '\0';
  const char* close_paren = std::strrchr(buffer, ')');
  return close_paren == nullptr || close_paren[1] == '\0' || close_paren[2] != 'Z';
}

}  // namespace omni::drivers
