#pragma once
// A fault schedule for a Raft cluster in the simulator: a seed for the simulation and a list of
// timed faults. Fields are raw numbers that `apply_fault` reduces modulo the cluster size, so a
// RapidCheck generator can shrink every field towards 0 and a printed schedule replays as is.
#include <rapidcheck.h>

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "model/core/time.h"

namespace omni::sim {
class Simulation;
}

namespace omni::raft::props {

enum class FaultKind : std::uint8_t {
  partition,  // replicas split by the bits of `arg` into two groups
  cut,        // one-way: r[target] -> r[arg]
  isolate,    // r[target]; arg % 3: in, out, both
  heal,       // every partition, cut and isolation
  drop,       // message drop probability arg / 1000 (at most 0.3)
  duplicate,  // message duplicate probability arg / 1000 (at most 0.3)
  reorder,    // message reorder probability arg / 1000 (at most 0.3)
  crash,      // r[target] goes down and stays down (unsynced writes are lost)
  restart,    // r[target] crashes if up and starts again after arg ms (at most 1000)
  corrupt,    // flips bytes in one record of r[target]'s disk (a minority only), seen at restart
  eio,        // r[target]'s next persist (arg odd: every persist) fails; it crashes (minority only)
  clock_rate,  // r[target]'s clock runs at 0.5 + (arg % 151) / 100, i.e. 0.5 .. 2.0
};
inline constexpr int kFaultKinds = 12;

struct Fault {
  std::uint32_t at_ms = 0;
  FaultKind kind = FaultKind::heal;
  std::uint32_t target = 0;
  std::uint32_t arg = 0;
};

struct Schedule {
  std::uint64_t seed = 1;
  std::vector<Fault> faults;  // applied in order of at_ms, ties in list order
};

// "r1".."rN".
std::string replica_name(std::size_t index);
// Replicas that may get disk faults: the first (n - 1) / 2, a minority.
std::size_t disk_fault_replicas(std::size_t servers);

std::string to_string(const Fault& fault, std::size_t servers);
std::string to_string(const Schedule& schedule, std::size_t servers);
// Raw fields, for RapidCheck's counterexample (to_string above is the readable form).
std::ostream& operator<<(std::ostream& os, const Schedule& schedule);

// Injects one fault now. Disk faults outside the minority are ignored.
void apply_fault(sim::Simulation& sim, const Fault& fault, std::size_t servers);

// A random schedule from a seed (the long sweep), and the RapidCheck generator (CI; shrinks).
// `corrupt` faults (a minority of disks) are on by default: recovery that drops records makes
// the replica non-voting until a leader catches it up (docs/raft.md). Without `corruption`, a
// drawn `corrupt` becomes `eio` (the schedules of the earlier, corruption-free figures).
Schedule random_schedule(std::uint64_t seed, std::size_t servers, Duration window,
                         std::size_t faults_max, bool corruption = true);
rc::Gen<Schedule> gen_schedule(Duration window, std::size_t faults_max, bool corruption = true);

}  // namespace omni::raft::props
