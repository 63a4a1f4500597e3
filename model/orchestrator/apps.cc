#include "model/orchestrator/apps.h"

#include <algorithm>
#include <limits>

#include "model/config/parse.h"
#include "model/config/quantity.h"
#include "model/config/resource_limits.h"
#include "model/core/assert.h"

namespace omni::orchestrator {
namespace {

config::Resources resources_of(const v1::Resources& r) {
  return {r.cpu_millis(), r.memory_bytes()};
}

// Written as what is left, not as a sum: a sum of two large amounts could wrap.
bool fits(const config::Resources& need, const config::Resources& used,
          const config::Resources& capacity) {
  OMNI_ASSERT(need.cpu_millis >= 0 && need.memory_bytes >= 0);
  OMNI_ASSERT(used.cpu_millis >= 0 && used.memory_bytes >= 0);
  return need.cpu_millis <= capacity.cpu_millis - used.cpu_millis &&
         need.memory_bytes <= capacity.memory_bytes - used.memory_bytes;
}

// The scheduler's working state: what each VM holds and where each app's replicas are.
struct Board {
  const ScheduleInput& in;
  std::map<std::string, config::Resources> used;  // vm -> taken
  std::map<std::string, const SchedulerVm*> vm_by_name;
  std::map<std::pair<std::string, std::string>, int> app_on_node;  // (app, node) -> replicas
  std::set<std::string> apps_on_vm;
  std::size_t placements = 0;

  explicit Board(const ScheduleInput& input) : in(input) {
    for (const auto& vm : in.vms) {
      vm_by_name[vm.name] = &vm;
      used[vm.name] = {};
    }
    for (const auto& [vm, r] : in.reserved)
      if (used.count(vm)) add_capped(used[vm], r);
  }
  bool usable(const SchedulerVm& vm) const {
    return !in.lost_nodes.count(vm.node) && !in.fenced_nodes.count(vm.node);
  }
  bool room(const config::Resources& need, const SchedulerVm& vm) const {
    return in.testing_ignore_capacity || fits(need, used.at(vm.name), vm.capacity);
  }
  void take(const SchedulerVm& vm, const v1::AppSpec& app) {
    add_capped(used[vm.name], resources_of(app.resources()));
    apps_on_vm.insert(vm.name);
    ++app_on_node[{app.name(), vm.node}];
    ++placements;
  }
  // The VM for one more replica of `app`, or nothing.
  const SchedulerVm* choose(const v1::AppSpec& app) const {
    const config::Resources need = resources_of(app.resources());
    const SchedulerVm* best = nullptr;
    int best_count = 0;
    for (const auto& vm : in.vms) {
      if (!usable(vm) || !room(need, vm)) continue;
      if (!app.spread()) return &vm;
      const auto it = app_on_node.find({app.name(), vm.node});
      const int count = it == app_on_node.end() ? 0 : it->second;
      if (!best || count < best_count) {
        best = &vm;
        best_count = count;
      }
    }
    return best;
  }
};

std::string cpu_text(std::int64_t millis) {
  return millis <= 0 ? "0" : config::format_cpu_millis(millis);
}
std::string memory_text(std::int64_t bytes) {
  return bytes <= 0 ? "0" : config::format_memory_bytes(bytes);
}

std::string unschedulable_reason(const v1::AppSpec& app, const Board& board) {
  if (board.placements >= kMaxAppPlacements)
    return "the cluster runs at most " + std::to_string(kMaxAppPlacements) + " app replicas";
  config::Resources largest;
  for (const auto& vm : board.in.vms) {
    if (!board.usable(vm)) continue;
    const config::Resources& used = board.used.at(vm.name);
    largest.cpu_millis = std::max(largest.cpu_millis, vm.capacity.cpu_millis - used.cpu_millis);
    largest.memory_bytes =
        std::max(largest.memory_bytes, vm.capacity.memory_bytes - used.memory_bytes);
  }
  const config::Resources need = resources_of(app.resources());
  return "no worker VM has " + cpu_text(need.cpu_millis) + " cpu and " +
         memory_text(need.memory_bytes) +
         " memory free (the most free: " + cpu_text(largest.cpu_millis) + " cpu, " +
         memory_text(largest.memory_bytes) + " memory)";
}

}  // namespace

v1::AppSpec to_app_spec(const config::AppConfig& app) {
  v1::AppSpec spec;
  spec.set_name(app.name);
  spec.set_image(app.image);
  spec.set_archive(app.archive);
  for (const auto& arg : app.args) spec.add_args(arg);
  spec.set_replicas(static_cast<std::uint32_t>(app.replicas));
  spec.mutable_resources()->set_cpu_millis(app.resources.cpu_millis);
  spec.mutable_resources()->set_memory_bytes(app.resources.memory_bytes);
  spec.set_spread(app.spread);
  return spec;
}

config::AppConfig to_app_config(const v1::AppSpec& spec) {
  config::AppConfig app;
  app.name = spec.name();
  app.image = spec.image();
  app.archive = spec.archive();
  app.args.assign(spec.args().begin(), spec.args().end());
  app.replicas = static_cast<int>(spec.replicas());
  app.resources = {spec.resources().cpu_millis(), spec.resources().memory_bytes()};
  app.spread = spec.spread();
  return app;
}

std::string app_key(const std::string& app) {
  return std::string(kAppPrefix) + app;
}

std::optional<v1::AppSpec> app_of(const v1::StoreObject& object) {
  v1::AppSpec app;
  if (!app.ParseFromString(object.value())) return std::nullopt;
  // The name rules of an apps file, for an app any store client may write under /apps/: one
  // named "orchestrator" took the names of the Orchestrator replicas' containers.
  const bool sound = object.key() == app_key(app.name()) && config::is_valid_app_name(app.name()) &&
                     !app.image().empty() &&
                     config::is_valid_amount(resources_of(app.resources())) &&
                     app.replicas() <= static_cast<std::uint32_t>(config::kMaxAppReplicas);
  const bool no_nul = std::none_of(app.args().begin(), app.args().end(), [](const std::string& a) {
    return a.find('\0') != std::string::npos;
  });
  if (!sound || !no_nul) return std::nullopt;
  return app;
}

std::string app_container_name(const std::string& cluster, const std::string& app,
                               std::uint32_t index) {
  return cluster + "-" + app + "-" + std::to_string(index);
}

std::optional<std::pair<std::string, std::uint32_t>> app_replica_of(
    const std::string& cluster, const std::string& name,
    const std::map<std::string, std::uint32_t, std::less<>>& replicas) {
  const std::string prefix = cluster + "-";
  const std::size_t dash = name.rfind('-');
  if (name.rfind(prefix, 0) != 0 || dash == std::string::npos || dash <= prefix.size())
    return std::nullopt;
  const std::string_view digits = std::string_view(name).substr(dash + 1);
  const bool number =
      !digits.empty() && digits.size() <= 9 && digits.front() != '0' &&
      std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
  const auto app =
      replicas.find(std::string_view(name).substr(prefix.size(), dash - prefix.size()));
  if (!number || app == replicas.end()) return std::nullopt;
  const auto index = static_cast<std::uint32_t>(std::stoul(std::string(digits)));
  if (index > app->second) return std::nullopt;
  OMNI_ASSERT(index >= 1 && app_container_name(cluster, app->first, index) == name);
  return std::pair{app->first, index};
}

v1::ContainerSpec app_container(const std::string& cluster, const v1::AppSpec& app,
                                std::uint32_t index) {
  v1::ContainerSpec c;
  c.set_name(app_container_name(cluster, app.name(), index));
  c.set_image(app.image());
  c.set_archive(app.archive());
  for (const auto& arg : app.args()) c.add_args(arg);
  *c.mutable_resources() = app.resources();
  return c;
}

namespace {
constexpr std::int64_t kCap = std::numeric_limits<std::int64_t>::max();
}  // namespace

void add_capped(config::Resources& to, const config::Resources& amount) {
  const auto plus = [](std::int64_t sum, std::int64_t more) {
    sum = std::clamp<std::int64_t>(sum, 0, kCap);
    return sum + std::min(std::max<std::int64_t>(more, 0), kCap - sum);
  };
  to.cpu_millis = plus(to.cpu_millis, amount.cpu_millis);
  to.memory_bytes = plus(to.memory_bytes, amount.memory_bytes);
  OMNI_ASSERT(to.cpu_millis >= 0 && to.cpu_millis <= kCap);
  OMNI_ASSERT(to.memory_bytes >= 0 && to.memory_bytes <= kCap);
}

ScheduleDecision schedule(const ScheduleInput& in) {
  Board board(in);
  ScheduleDecision decision;
  std::map<std::string, const v1::AppSpec*> apps;
  for (const auto& app : in.apps) apps[app.name()] = &app;
  std::set<std::pair<std::string, std::uint32_t>> kept;
  for (const auto& p : in.placements) {
    const auto app = apps.find(p.app());
    const auto vm = board.vm_by_name.find(p.vm());
    const bool keep = app != apps.end() && p.index() >= 1 && p.index() <= app->second->replicas() &&
                      vm != board.vm_by_name.end() && board.usable(*vm->second) &&
                      !kept.count({p.app(), p.index()}) &&
                      board.room(resources_of(app->second->resources()), *vm->second);
    if (!keep) {
      decision.unplace.push_back(p);
      continue;
    }
    kept.insert({p.app(), p.index()});
    board.take(*vm->second, *app->second);
  }
  for (const auto& app : in.apps) {
    std::uint32_t missing = 0;
    for (std::uint32_t index = 1; index <= app.replicas(); ++index) {
      if (kept.count({app.name(), index}) || in.held.count({app.name(), index}) ||
          in.hold_placements)
        continue;
      // Once no VM takes a replica, none takes the next (nothing changed on the board): a scan
      // of every VM for each of an app's 1,000 replicas was 2*10^8 steps a control tick.
      const SchedulerVm* vm =
          missing == 0 && board.placements < kMaxAppPlacements ? board.choose(app) : nullptr;
      if (!vm) {
        ++missing;
        continue;
      }
      v1::AppPlacement p;
      p.set_app(app.name());
      p.set_index(index);
      p.set_vm(vm->name);
      decision.place.push_back(std::move(p));
      board.take(*vm, app);
    }
    if (missing > 0)
      decision.unschedulable.push_back({app.name(), missing, unschedulable_reason(app, board)});
  }
  for (const auto& vm : in.vms) {
    const config::Resources& used = board.used.at(vm.name);
    const bool holds_apps = board.apps_on_vm.count(vm.name) > 0;
    OMNI_ASSERT(!holds_apps || in.testing_ignore_capacity ||
                    (used.cpu_millis <= vm.capacity.cpu_millis &&
                     used.memory_bytes <= vm.capacity.memory_bytes),
                "the scheduler never over-commits a VM");
  }
  OMNI_ASSERT(board.placements <= kMaxAppPlacements);
  return decision;
}

}  // namespace omni::orchestrator
