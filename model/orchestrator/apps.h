#pragma once
// Applications: their typed spec (stored in the plane's resource store as /apps/NAME), the
// containers that run them, and the scheduler that places their replicas on worker VMs.
// The scheduler is a pure function of what it is given, so the leader, a test and a property
// can all ask it the same question and get the same answer.
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "model/config/cluster_config.h"
#include "model/proto/state.pb.h"

namespace omni::orchestrator {

inline constexpr std::string_view kAppPrefix = "/apps/";
inline constexpr std::size_t kMaxAppPlacements = 10'000;

v1::AppSpec to_app_spec(const config::AppConfig& app);
config::AppConfig to_app_config(const v1::AppSpec& spec);
std::string app_key(const std::string& app);
// The app a stored object holds, or nothing when its bytes are not a sound AppSpec.
std::optional<v1::AppSpec> app_of(const v1::StoreObject& object);
// "CLUSTER-APP-INDEX", unique in the cluster (no app may be named "orchestrator").
std::string app_container_name(const std::string& cluster, const std::string& app,
                               std::uint32_t index);
// The (app, index) of an app container's name, the inverse of app_container_name for an app in
// `replicas` (app -> its replicas) and an index within them; none for any other name.
std::optional<std::pair<std::string, std::uint32_t>> app_replica_of(
    const std::string& cluster, const std::string& name,
    const std::map<std::string, std::uint32_t, std::less<>>& replicas);
v1::ContainerSpec app_container(const std::string& cluster, const v1::AppSpec& app,
                                std::uint32_t index);

struct SchedulerVm {
  std::string name;
  std::string node;
  config::Resources capacity;
};

struct ScheduleInput {
  std::vector<SchedulerVm> vms;      // in config order
  std::set<std::string> lost_nodes;  // their VMs are not used
  // Heard, but their app lease ran out (a node that cannot hear the leader): their VMs are not
  // used either, and what is placed there is moved (held until its copy is known to have stopped).
  std::set<std::string> fenced_nodes;
  std::map<std::string, config::Resources> reserved;  // vm -> held by Orchestrator replicas
  std::vector<v1::AppSpec> apps;                      // sorted by name
  std::vector<v1::AppPlacement> placements;           // as committed, sorted by (app, index)
  // Replicas not placed anywhere this time, as (app, index): a copy may still run where one was
  // before, and a second copy must not start until that one is known to have stopped.
  std::set<std::pair<std::string, std::uint32_t>> held;
  // Nothing is placed at all (what is placed may still be taken off): a new leader has not yet
  // heard from every node that is not lost, so it cannot know what still runs where.
  bool hold_placements = false;
  bool testing_ignore_capacity = false;  // TEST ONLY: a scheduler the checkers must catch
};

struct Unschedulable {
  std::string app;
  std::uint32_t replicas = 0;  // how many of its replicas have no place
  std::string reason;
};

struct ScheduleDecision {
  std::vector<v1::AppPlacement> unplace;
  std::vector<v1::AppPlacement> place;
  std::vector<Unschedulable> unschedulable;
  bool changes() const { return !unplace.empty() || !place.empty(); }
};

// Adds `amount` to `to`, both taken as at least zero, stopping at the top of int64 instead of
// wrapping: the sums of what thousands of replicas reserve on one VM wrapped (a hand-over's
// replicas may each ask for the most a VM can have) and the scheduler asserted on a negative sum.
void add_capped(config::Resources& to, const config::Resources& amount);

// Keeps every placement that is still wanted and still fits on a VM of a live node; places
// each missing replica on a worker VM with room, spread over nodes first (fewest replicas of
// the app on the node) or packed in config order; never over-commits a VM.
ScheduleDecision schedule(const ScheduleInput& in);

}  // namespace omni::orchestrator
