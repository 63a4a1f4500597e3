#pragma once
// Omni's own containerd, for a machine where none runs: one directory holds its config, socket,
// root, state and log, and `omni-node containerd --dir DIR` runs it and starts it again when it
// ends. `omni init` starts that supervisor, `omni-node boot` starts it after a power loss, and
// `omni reset` stops it by the pid it recorded. A machine that runs its own containerd keeps it:
// Omni then uses that one.
#include <sys/types.h>

#include <string>

namespace omni::drivers {

inline constexpr const char* kSystemContainerdSocket = "/run/containerd/containerd.sock";

struct OwnContainerd {
  std::string dir;  // absolute
  std::string socket() const { return dir + "/containerd.sock"; }
  std::string config_path() const { return dir + "/config.toml"; }
  std::string log_path() const { return dir + "/containerd.log"; }
  std::string supervisor_pid_path() const { return dir + "/supervisor.pid"; }
  std::string supervisor_log_path() const { return dir + "/supervisor.log"; }
};

// The config: every path under DIR, the CRI plugin and the snapshotters Omni does not use off.
// gc_at_once: garbage collection after every change, so that a snapshot nothing holds is gone
// before the next call (tests that want such a leak to show every time).
std::string containerd_config_toml(const std::string& dir, bool gc_at_once = false);

// Whether a containerd answers (its version) on SOCKET.
bool containerd_answers(const std::string& socket);

// `omni-node containerd --dir DIR`: runs containerd with DIR's config, starting it again a second
// after it ends, until SIGTERM or SIGINT; then stops it (SIGTERM, SIGKILL after 10 s) and returns
// 0. Returns 1, with the reason on stderr, when another supervisor holds DIR or containerd
// cannot be started at all (not installed).
int supervise_containerd(const std::string& dir);

// Starts `OMNI_NODE containerd --dir DIR` in its own session unless DIR's supervisor runs and
// its containerd answers, and waits up to 30 s for it to answer. A containerd of DIR left without
// its supervisor (killed alone) is stopped first; its containers run on under their shims. The
// supervisor's pid, 0 when one ran already, or -1 with `error` (and the ends of the logs).
pid_t start_own_containerd(const std::string& omni_node, const std::string& dir,
                           std::string& error);

// Stops, by their pids, the shims still running of the containerd on SOCKET (a shim outlives its
// containerd by design, and with it the container it runs).
void stop_shims(const std::string& socket);

// Unmounts, deepest first, what is mounted below DIR: a task's root filesystem stays mounted
// when its shim was killed rather than asked to end, and stands between a stopped containerd
// and the removal of its directory.
void unmount_below(const std::string& dir);

// Stops DIR's supervisor, and with it its containerd, by the pid it recorded, then any shim of
// that containerd still running (by the pids that name its socket), and unmounts what is left
// mounted under DIR. The supervisor's pid, 0 when none ran.
pid_t stop_own_containerd(const std::string& dir);

}  // namespace omni::drivers
