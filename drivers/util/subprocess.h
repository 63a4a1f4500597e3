#pragma once
// fork/exec without a shell: argv is passed as is, so names never need quoting.
#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace omni::drivers {

struct CommandResult {
  int exit_code = -1;  // -1: could not run, or killed after the timeout
  std::string output;  // stdout and stderr, interleaved, bounded
  bool ok() const { return exit_code == 0; }
};

// Runs argv to completion; kills it after `timeout`. Output beyond 64 KiB is dropped.
CommandResult run_command(const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout = std::chrono::seconds(30));

// "ip link del x" -> the joined argv, for messages.
std::string join_argv(const std::vector<std::string>& argv);

struct SpawnOptions {
  std::string log_path;    // stdout and stderr go here (appended); /dev/null when empty
  std::string netns_path;  // join this network namespace before exec (e.g. /run/netns/NAME)
  // KEY=VALUE entries on top of the parent's environment; each replaces any earlier entry of
  // its name (the parent's, or an image's under a container's own).
  std::vector<std::string> env;
  bool new_session = true;  // setsid, so the whole group can be signalled
  // cgroup.procs files the child joins before exec, so its limits hold from its first
  // instruction (a parent moving it afterwards would race its first allocations).
  std::vector<std::string> cgroup_procs_files;
  // cgroup.procs files the child joins, if it can, before those: on cgroup v1, the roots of the
  // hierarchies the others do not cover, so that no cgroup of its parent's (a container's, which
  // runc kills whole when the container goes) keeps a hold on it.
  std::vector<std::string> leave_cgroup_procs_files;
};

// Starts argv in the background and returns its pid once it has exec'd, so it is already in
// its namespace and cgroups; or -1 with `error` set (a program that does not exist, a
// namespace or cgroup it could not join).
pid_t spawn_process(const std::vector<std::string>& argv, const SpawnOptions& options,
                    std::string& error);

bool process_alive(pid_t pid);

}  // namespace omni::drivers
