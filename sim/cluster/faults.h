#pragma once
// Applies a scenario's fault schedule (and the swarm's random faults) to a running simulation.
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "sim/cluster/infrastructure.h"
#include "sim/cluster/invariants.h"
#include "sim/scenario/scenario.h"

namespace omni::sim {

class AdminClient;
inline constexpr std::string_view kAdminAddress = "admin";

class FaultRunner {
 public:
  FaultRunner(Simulation& sim, Infrastructure& infra, const Scenario& scenario, RunState& state);

  void arm();  // schedules the first fault and the swarm
  void on_phase(root::Phase phase);
  // When every fault has fired and healed (restarts included); nullopt while any is pending.
  std::optional<Time> quiet_since() const;
  // Every fault that fired so far, scripted and swarm-drawn, in the order they fired.
  const std::vector<FiredFault>& fired() const { return fired_; }

 private:
  void arm_next();
  void fire(std::size_t index);
  void apply(const Fault& fault);
  void crash(const Target& target, std::optional<Duration> restart_after);
  void restore_network();
  void plan_swarm();
  void swarm_fault(const std::string& kind, Duration heal_after);
  bool draw_swarm_fault(const std::string& kind, Duration heal_after, Fault& fault);
  std::size_t record(const Fault& fault, bool swarm, std::optional<std::size_t> unit = {});
  Address resolve(const Target& target) const;
  Address leader() const;
  AdminClient& admin();
  void note_end(Duration after);

  Simulation& sim_;
  Infrastructure& infra_;
  const Scenario& scenario_;
  RunState& state_;
  std::size_t next_ = 0;
  Time previous_at_{};
  std::optional<root::Phase> waiting_for_;
  Time quiet_from_{};
  std::vector<FiredFault> fired_;
  std::size_t units_ = 0;
};

}  // namespace omni::sim
