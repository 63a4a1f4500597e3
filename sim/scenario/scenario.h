#pragma once
// A scenario of docs/scenarios.md as plain values: the cluster, the network and timing of simulated
// infrastructure, the fault schedule, the swarm, and what the run must show.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "model/config/cluster_config.h"
#include "model/config/parse.h"
#include "model/core/time.h"
#include "model/root/plan.h"
#include "sim/net/link_faults.h"

namespace omni::sim {

struct DurationRange {
  Duration min{};
  Duration max{};
};

// `at:` — absolute (90s), relative to the previous fault (+20s), or when the root enters a phase.
struct FaultTime {
  enum class Kind { absolute, relative, phase } kind = Kind::absolute;
  Duration offset{};
  root::Phase phase = root::Phase::preflight;
};

// leader | root | orchestrator:N | director:NODE | agent:VM | vm:VM | node:NODE
struct Target {
  enum class Kind { leader, root, orchestrator, director, agent, vm, node } kind = Kind::root;
  std::string name;  // NODE or VM; for orchestrator the replica number as text
};

struct PartitionFault {
  std::vector<std::vector<std::string>> groups;  // node names ("root-host" is the root's machine)
};
struct HealFault {};  // heal: all
struct CrashFault {
  Target target;
};
struct IsolateFault {
  std::string node;
  Direction direction = Direction::both;
};
struct ClockSkewFault {
  Target target;
  double rate = 1.0;
};
enum class DiskFailMode { lose_unsynced, corrupt, eio };
struct DiskFailFault {
  Target target;
  DiskFailMode mode = DiskFailMode::lose_unsynced;
};
struct PowerOffFault {
  std::string node;  // empty: all
};
// `apply:` adds an app or changes the fields it names; `delete_app:` removes one. Both are a
// person's writes to the plane's resource store, made by the run's admin client.
struct ApplyFault {
  config::AppPatch patch;
};
struct DeleteAppFault {
  std::string app;
};
// A fault may also change the network's loss rates from then on (drop / duplicate / reorder).
struct NetworkFault {
  std::optional<double> drop, duplicate, reorder;
};

struct Fault {
  FaultTime at;
  config::SourceLocation where;
  std::variant<PartitionFault, HealFault, CrashFault, IsolateFault, ClockSkewFault, DiskFailFault,
               PowerOffFault, NetworkFault, ApplyFault, DeleteAppFault>
      what;
  std::optional<Duration> restart_after;  // crash, power_off
};

// A fault as it fired in a run, for replaying the run's faults as a script (omni-sim shrink):
// `at` is the time it fired, or the phase it waited for; a swarm fault is the scripted fault it
// amounts to. Faults of one `unit` belong together: a swarm fault and the fault that undoes it.
struct FiredFault {
  Fault fault;
  std::size_t unit = 0;
  bool swarm = false;  // drawn by the swarm, not in the scenario's `faults:`
};

struct Swarm {
  Duration until{};
  std::vector<std::string>
      kinds;  // partition isolate crash drop duplicate reorder clock_skew disk_fail power_off
};

// The counters a run keeps, by the name `expect` uses (`orchestrators`: the leader's voting
// members that run at the end). An `expect` key must be one of these or
// a fixed key: a misspelt or invented counter is a bad scenario, never a silent 0.
inline const std::vector<std::string> kRunCounters{"leader_changes", "crashes", "messages",
                                                   "orchestrators"};

// `clients:` — users of the plane's resource store during the run: each reads, writes and
// compare-and-sets registers shared by all of them, and every operation is recorded in a history
// (docs/histories.md) that is checked for linearizability.
enum class ClientOp { read, write, cas };
struct ClientsSpec {
  int count = 0;
  int keys = 1;
  std::vector<ClientOp> ops{ClientOp::read, ClientOp::write, ClientOp::cas};
  double ops_per_s = 10;  // per client
  Duration timeout = 2s;  // then the op is `info` and the client goes on as a new process
};

struct CounterExpectation {
  std::string counter;  // one of kRunCounters
  std::string op;       // >= <= == > < !=
  std::int64_t value = 0;
};

struct Expectations {
  bool init_complete = true;  // `init: complete`; false for `init: fail`
  std::optional<root::Phase> fail_phase;
  std::optional<Duration> init_within;
  std::optional<Duration> converge_within;
  std::vector<CounterExpectation> counters;
  // `apps_running: all` (every desired app replica runs at the end) or a number.
  bool apps_running_all = false;
  std::optional<std::int64_t> apps_running;
  // With `clients:`: check the history (the default); `linearizable: false` records it only.
  bool linearizable = true;
};

struct NetworkSpec {
  DurationRange latency{1ms, 5ms};
  double drop = 0;
  double duplicate = 0;
  double reorder = 0;
};

struct TimingSpec {
  DurationRange vm_boot{10s, 30s};
  DurationRange container_start{1s, 3s};
};

// The largest `seed:` a scenario holds; omni-sim's --seed and --seeds take no larger one, so a
// seed given there can be written into a scenario (omni-sim shrink) and read back.
inline constexpr std::uint64_t kMaxSeed = 999'999'999'999'999'999;

struct Scenario {
  std::string file;
  std::string name;
  std::string description;
  config::ClusterConfig cluster;
  std::string cluster_yaml;  // the cluster as YAML, handed to the root
  std::uint64_t seed = 1;
  Duration duration = 30min;
  NetworkSpec network;
  TimingSpec timing;
  std::vector<Fault> faults;
  std::optional<Swarm> swarm;
  std::optional<ClientsSpec> clients;
  Expectations expect;
  // `infrastructure: {NODE: {cpu: .., memory: ..}}`: what the simulated hypervisor really has
  // when it differs from the config (a node smaller than declared). Optional.
  std::map<std::string, config::Resources> hypervisor_capacity;
};

}  // namespace omni::sim
