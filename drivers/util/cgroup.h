#pragma once
// CPU and memory limits for a group of processes, on whichever cgroup hierarchy the machine
// mounts: v2 (one directory with memory.max and cpu.max) or v1 (a directory per controller,
// memory.limit_in_bytes and cpu.cfs_quota_us). Debian 12 mounts v2; older hosts and some
// container hosts still mount v1. The root is a parameter so that the layout of either can be
// tested on a directory tree that imitates it.
#include <cstdint>
#include <string>
#include <vector>

#include "drivers/util/outcome.h"

namespace omni::drivers {

enum class CgroupVersion { none, v1, v2 };
const char* cgroup_version_name(CgroupVersion version);

struct CgroupLimits {
  std::int64_t cpu_millis = 0;    // 0: no CPU limit
  std::int64_t memory_bytes = 0;  // 0: no memory limit
};

// The CFS period every limit is expressed in; a quota is cpu_millis of each period.
inline constexpr std::int64_t k_cfs_period_us = 100'000;

class Cgroups {
 public:
  explicit Cgroups(std::string root = "/sys/fs/cgroup");
  CgroupVersion version() const { return version_; }

  // Makes GROUP/NAME (GROUP is made when missing) with `limits`. Returns the cgroup.procs files
  // a process joins it through — writing "0" moves the writer — or why it could not.
  Outcome<std::vector<std::string>> create(const std::string& group, const std::string& name,
                                           const CgroupLimits& limits);
  // SIGKILLs every process in GROUP/NAME and the cgroups below it until none is left (a fork racing
  // the kill is caught on the next pass): what powering a VM off does to what ran inside it.
  // Answers how many.
  int kill_all(const std::string& group, const std::string& name) const;
  // Removes GROUP/NAME and the cgroups below it, whose processes must have ended, and GROUP once
  // nothing is left in it.
  void remove(const std::string& group, const std::string& name);
  // v1: the cgroup.procs of the root of every hierarchy besides cpu and memory (pids, devices,
  // freezer...), which a process leaves its parent's cgroups through. Empty on v2, where
  // joining GROUP/NAME leaves them all.
  std::vector<std::string> other_v1_roots() const;
  // GROUP/NAME in every hierarchy that limits it: one directory on v2, two on v1.
  std::vector<std::string> directories(const std::string& group, const std::string& name) const;

 private:
  std::vector<std::string> hierarchies() const;
  DriverResult write_v2_limits(const std::string& group, const std::string& dir,
                               const CgroupLimits& limits);
  DriverResult write_v1_limits(const std::string& memory_dir, const std::string& cpu_dir,
                               const CgroupLimits& limits);

  std::string root_;
  CgroupVersion version_ = CgroupVersion::none;
};

}  // namespace omni::drivers
