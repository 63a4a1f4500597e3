#include "drivers/util/cgroup.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace omni::drivers {
namespace fs = std::filesystem;
namespace {

// A cgroup file takes one write(2); a short or failed write is the kernel refusing the value.
DriverResult write_value(const std::string& path, const std::string& value) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    return error_result(DriverStatus::failed, "cannot open " + path + ": " + std::strerror(errno));
  }
  const ssize_t written = ::write(fd, value.data(), value.size());
  const int write_errno = errno;
  ::close(fd);
  if (written != static_cast<ssize_t>(value.size())) {
    return error_result(DriverStatus::failed, "cannot write '" + value + "' to " + path + ": " +
                                                  std::strerror(write_errno));
  }
  return ok_result();
}

std::string read_first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

bool lists_word(const std::string& line, const std::string& word) {
  std::istringstream words(line);
  std::string each;
  while (words >> each)
    if (each == word) return true;
  return false;
}

CgroupVersion detect(const std::string& root) {
  const std::string controllers = read_first_line(root + "/cgroup.controllers");
  if (lists_word(controllers, "cpu") && lists_word(controllers, "memory")) return CgroupVersion::v2;
  if (fs::exists(root + "/memory/memory.limit_in_bytes") &&
      fs::exists(root + "/cpu/cpu.cfs_quota_us")) {
    return CgroupVersion::v1;
  }
  return CgroupVersion::none;
}

// The kernel refuses a quota under 1 ms of each period.
std::int64_t quota_us(std::int64_t cpu_millis) {
  return std::max<std::int64_t>(1000, cpu_millis * k_cfs_period_us / 1000);
}

DriverResult make_directory(const std::string& dir) {
  std::error_code error;
  fs::create_directories(dir, error);
  if (error)
    return error_result(DriverStatus::failed, "cannot create " + dir + ": " + error.message());
  return ok_result();
}

// Every directory at and below each of DIRS, deepest first: what a VM's containers make under
// its cgroup (containerd nests them there) goes with the VM.
std::vector<std::string> subtree_of(const std::vector<std::string>& dirs) {
  std::vector<std::string> found;
  for (const auto& dir : dirs) {
    std::error_code error;
    if (!fs::is_directory(dir, error)) continue;
    for (fs::recursive_directory_iterator it(dir, error), end; !error && it != end;
         it.increment(error)) {
      if (it->is_directory(error) && !it->is_symlink(error)) found.push_back(it->path().string());
    }
    found.push_back(dir);
  }
  std::sort(found.begin(), found.end(), [](const std::string& a, const std::string& b) {
    return a.size() > b.size() || (a.size() == b.size() && a < b);  // children first
  });
  return found;
}

// v1: the hierarchies a container runtime also makes cgroups in (pids, devices, freezer...),
// beside the cpu and memory ones Omni limits with.
std::vector<std::string> every_v1_hierarchy(const std::string& root) {
  std::vector<std::string> found;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(root, error))
    if (!entry.is_symlink(error) && fs::exists(entry.path() / "cgroup.procs", error))
      found.push_back(entry.path().string());
  return found;
}

}  // namespace

const char* cgroup_version_name(CgroupVersion version) {
  switch (version) {
    case CgroupVersion::v1:
      return "v1";
    case CgroupVersion::v2:
      return "v2";
    case CgroupVersion::none:
      break;
  }
  return "none";
}

Cgroups::Cgroups(std::string root) : root_(std::move(root)), version_(detect(root_)) {}

std::vector<std::string> Cgroups::hierarchies() const {
  if (version_ == CgroupVersion::v2) return {root_};
  if (version_ == CgroupVersion::v1) return {root_ + "/memory", root_ + "/cpu"};
  return {};
}

std::vector<std::string> Cgroups::other_v1_roots() const {
  std::vector<std::string> roots;
  if (version_ != CgroupVersion::v1) return roots;
  const auto limited = hierarchies();
  for (const auto& hierarchy : every_v1_hierarchy(root_)) {
    std::error_code error;
    const auto canonical = fs::canonical(hierarchy, error).string();
    bool is_limited = false;
    for (const auto& l : limited)
      is_limited = is_limited || fs::canonical(l, error).string() == canonical;
    if (!is_limited) roots.push_back(hierarchy + "/cgroup.procs");
  }
  std::sort(roots.begin(), roots.end());
  return roots;
}

std::vector<std::string> Cgroups::directories(const std::string& group,
                                              const std::string& name) const {
  std::vector<std::string> dirs;
  for (const auto& hierarchy : hierarchies()) dirs.push_back(hierarchy + "/" + group + "/" + name);
  return dirs;
}

Outcome<std::vector<std::string>> Cgroups::create(const std::string& group, const std::string& name,
                                                  const CgroupLimits& limits) {
  if (version_ == CgroupVersion::none) {
    return failure<std::vector<std::string>>(
        DriverStatus::unavailable, "no cgroup hierarchy with cpu and memory under " + root_);
  }
  if (group.empty() || name.empty() || group.find('/') != std::string::npos ||
      name.find('/') != std::string::npos) {
    return failure<std::vector<std::string>>(DriverStatus::failed,
                                             "bad cgroup name '" + group + "/" + name + "'");
  }
  const auto dirs = directories(group, name);
  for (const auto& dir : dirs)
    if (auto made = make_directory(dir); !is_ok(made))
      return failure<std::vector<std::string>>(made);
  const DriverResult written = version_ == CgroupVersion::v2
                                   ? write_v2_limits(group, dirs[0], limits)
                                   : write_v1_limits(dirs[0], dirs[1], limits);
  if (!is_ok(written)) {
    remove(group, name);
    return failure<std::vector<std::string>>(written);
  }
  std::vector<std::string> procs;
  for (const auto& dir : dirs) procs.push_back(dir + "/cgroup.procs");
  return success(std::move(procs));
}

// On v2 a controller works in a child only once every ancestor delegates it.
DriverResult Cgroups::write_v2_limits(const std::string& group, const std::string& dir,
                                      const CgroupLimits& limits) {
  for (const auto& parent : {root_, root_ + "/" + group}) {
    if (auto enabled = write_value(parent + "/cgroup.subtree_control", "+cpu +memory");
        !is_ok(enabled)) {
      return enabled;
    }
  }
  const std::string memory =
      limits.memory_bytes > 0 ? std::to_string(limits.memory_bytes) : std::string("max");
  if (auto set = write_value(dir + "/memory.max", memory); !is_ok(set)) return set;
  // A VM's memory is its memory: no swapping past the limit (where the kernel offers swap).
  if (limits.memory_bytes > 0 && fs::exists(dir + "/memory.swap.max")) {
    if (auto set = write_value(dir + "/memory.swap.max", "0"); !is_ok(set)) return set;
  }
  const std::string cpu =
      limits.cpu_millis > 0 ? std::to_string(quota_us(limits.cpu_millis)) : std::string("max");
  return write_value(dir + "/cpu.max", cpu + " " + std::to_string(k_cfs_period_us));
}

DriverResult Cgroups::write_v1_limits(const std::string& memory_dir, const std::string& cpu_dir,
                                      const CgroupLimits& limits) {
  if (limits.memory_bytes > 0) {
    if (auto set =
            write_value(memory_dir + "/memory.limit_in_bytes", std::to_string(limits.memory_bytes));
        !is_ok(set)) {
      return set;
    }
    // Memory plus swap, set after memory alone (the kernel keeps memsw >= memory).
    const std::string memsw = memory_dir + "/memory.memsw.limit_in_bytes";
    if (fs::exists(memsw)) {
      if (auto set = write_value(memsw, std::to_string(limits.memory_bytes)); !is_ok(set))
        return set;
    }
  }
  if (limits.cpu_millis <= 0) return ok_result();
  if (auto set = write_value(cpu_dir + "/cpu.cfs_period_us", std::to_string(k_cfs_period_us));
      !is_ok(set)) {
    return set;
  }
  return write_value(cpu_dir + "/cpu.cfs_quota_us", std::to_string(quota_us(limits.cpu_millis)));
}

// rmdir(2), not a recursive removal: a cgroup's files go with its directory, and a cgroup that
// still has processes must stay (EBUSY) rather than be half torn down.
int Cgroups::kill_all(const std::string& group, const std::string& name) const {
  int killed = 0;
  for (int pass = 0; pass < 50; ++pass) {
    int seen = 0;
    for (const auto& dir : subtree_of(directories(group, name))) {
      std::ifstream procs(dir + "/cgroup.procs");
      for (pid_t pid = 0; procs >> pid;) {
        if (pid <= 0) continue;
        ++seen;
        if (::kill(pid, SIGKILL) == 0) ++killed;
      }
    }
    if (seen == 0) break;
    ::usleep(20'000);  // let the kernel reap them before looking again
  }
  return killed;
}

void Cgroups::remove(const std::string& group, const std::string& name) {
  const auto all = version_ == CgroupVersion::v1 ? every_v1_hierarchy(root_) : hierarchies();
  std::vector<std::string> dirs;
  for (const auto& hierarchy : all) dirs.push_back(hierarchy + "/" + group + "/" + name);
  for (const auto& dir : subtree_of(dirs)) ::rmdir(dir.c_str());
  for (const auto& hierarchy : all)
    ::rmdir((hierarchy + "/" + group).c_str());  // fails, harmlessly, while others remain
}

}  // namespace omni::drivers
