#include "tests/model/raft_props/schedule.h"

#include <algorithm>
#include <cstdio>

#include "model/core/rng.h"
#include "sim/simulation.h"

namespace omni::raft::props {
namespace {

const char* kind_name(FaultKind kind) {
  switch (kind) {
    case FaultKind::partition:
      return "partition";
    case FaultKind::cut:
      return "cut";
    case FaultKind::isolate:
      return "isolate";
    case FaultKind::heal:
      return "heal";
    case FaultKind::drop:
      return "drop";
    case FaultKind::duplicate:
      return "duplicate";
    case FaultKind::reorder:
      return "reorder";
    case FaultKind::crash:
      return "crash";
    case FaultKind::restart:
      return "restart";
    case FaultKind::corrupt:
      return "corrupt";
    case FaultKind::eio:
      return "eio";
    case FaultKind::clock_rate:
      return "clock_rate";
  }
  return "?";
}

double probability_of(std::uint32_t arg) {
  return static_cast<double>(arg % 301) / 1000.0;
}
double rate_of(std::uint32_t arg) {
  return 0.5 + static_cast<double>(arg % 151) / 100.0;
}
Duration restart_delay_of(std::uint32_t arg) {
  return std::chrono::milliseconds(arg % 1001);
}

// The two sides of a partition: bit i of `arg` puts r(i+1) in the second group.
std::vector<std::vector<std::string>> partition_groups(std::uint32_t arg, std::size_t servers) {
  std::vector<std::vector<std::string>> groups(2);
  for (std::size_t i = 0; i < servers; ++i) groups[(arg >> i) & 1U].push_back(replica_name(i));
  return groups;
}

Fault make_fault(std::uint32_t at_ms, int kind, std::uint32_t target, std::uint32_t arg,
                 bool corruption) {
  auto fault_kind = static_cast<FaultKind>(kind);
  if (fault_kind == FaultKind::corrupt && !corruption) fault_kind = FaultKind::eio;
  return Fault{at_ms, fault_kind, target, arg};
}

}  // namespace

std::string replica_name(std::size_t index) {
  return "r" + std::to_string(index + 1);
}

std::size_t disk_fault_replicas(std::size_t servers) {
  return (servers - 1) / 2;
}

std::string to_string(const Fault& fault, std::size_t servers) {
  const std::string target = replica_name(fault.target % servers);
  std::string what = std::to_string(fault.at_ms) + "ms " + kind_name(fault.kind);
  char number[32];
  switch (fault.kind) {
    case FaultKind::partition: {
      for (const auto& group : partition_groups(fault.arg, servers)) {
        what += " {";
        for (const auto& name : group) what += " " + name;
        what += " }";
      }
      break;
    }
    case FaultKind::cut:
      what += " " + target + "->" + replica_name(fault.arg % servers);
      if (fault.target % servers == fault.arg % servers) what += " (none)";
      break;
    case FaultKind::isolate: {
      static const char* const kDirections[] = {"in", "out", "both"};
      what += " " + target + " " + kDirections[fault.arg % 3];
      break;
    }
    case FaultKind::heal:
      break;
    case FaultKind::drop:
    case FaultKind::duplicate:
    case FaultKind::reorder:
      std::snprintf(number, sizeof(number), " p=%.3f", probability_of(fault.arg));
      what += number;
      break;
    case FaultKind::crash:
      what += " " + target;
      break;
    case FaultKind::restart:
      what += " " + target + " after " +
              std::to_string(restart_delay_of(fault.arg).count() / 1000000) + "ms";
      break;
    case FaultKind::corrupt:
    case FaultKind::eio: {
      const std::size_t minority = disk_fault_replicas(servers);
      what += minority == 0 ? " (none: no minority)" : " " + replica_name(fault.target % minority);
      if (fault.kind == FaultKind::eio && (fault.arg & 1U)) what += " sticky";
      break;
    }
    case FaultKind::clock_rate:
      std::snprintf(number, sizeof(number), " rate=%.2f", rate_of(fault.arg));
      what += " " + target + number;
      break;
  }
  return what;
}

std::ostream& operator<<(std::ostream& os, const Schedule& schedule) {
  os << "Schedule{seed=" << schedule.seed << ", faults={";
  for (const Fault& f : schedule.faults) {
    os << " {" << f.at_ms << "ms, " << kind_name(f.kind) << ", " << f.target << ", " << f.arg
       << "}";
  }
  return os << " }}";
}

std::string to_string(const Schedule& schedule, std::size_t servers) {
  std::string text = "servers=" + std::to_string(servers) +
                     " seed=" + std::to_string(schedule.seed) +
                     " faults=" + std::to_string(schedule.faults.size());
  for (const Fault& fault : schedule.faults) text += "\n  " + to_string(fault, servers);
  return text;
}

void apply_fault(sim::Simulation& sim, const Fault& fault, std::size_t servers) {
  const std::string target = replica_name(fault.target % servers);
  sim::NetworkConfig network = sim.network();
  switch (fault.kind) {
    case FaultKind::partition:
      sim.partition(partition_groups(fault.arg, servers));
      break;
    case FaultKind::cut:
      if (fault.target % servers != fault.arg % servers) {  // a replica cannot be cut from itself
        sim.cut(target, replica_name(fault.arg % servers));
      }
      break;
    case FaultKind::isolate: {
      static const sim::Direction kDirections[] = {sim::Direction::in, sim::Direction::out,
                                                   sim::Direction::both};
      sim.isolate(target, kDirections[fault.arg % 3]);
      break;
    }
    case FaultKind::heal:
      sim.heal();
      break;
    case FaultKind::drop:
      network.drop_probability = probability_of(fault.arg);
      sim.set_network(network);
      break;
    case FaultKind::duplicate:
      network.duplicate_probability = probability_of(fault.arg);
      sim.set_network(network);
      break;
    case FaultKind::reorder:
      network.reorder_probability = probability_of(fault.arg);
      sim.set_network(network);
      break;
    case FaultKind::crash:
      sim.crash(target);
      break;
    case FaultKind::restart:
      sim.restart(target, restart_delay_of(fault.arg));
      break;
    case FaultKind::corrupt:
    case FaultKind::eio: {
      const std::size_t minority = disk_fault_replicas(servers);
      if (minority == 0) break;
      const std::string victim = replica_name(fault.target % minority);
      if (fault.kind == FaultKind::corrupt) {
        sim.corrupt_disk(victim);
      } else {
        sim.fail_disk(victim, (fault.arg & 1U) != 0);
      }
      break;
    }
    case FaultKind::clock_rate:
      sim.set_clock_rate(target, rate_of(fault.arg));
      break;
  }
}

Schedule random_schedule(std::uint64_t seed, std::size_t servers, Duration window,
                         std::size_t faults_max, bool corruption) {
  Rng rng(seed);
  Schedule schedule;
  schedule.seed = rng.next_u64();
  const auto window_ms = static_cast<std::int64_t>(window.count() / 1000000);
  const std::size_t count = rng.below(faults_max + 1);
  for (std::size_t i = 0; i < count; ++i) {
    const auto at_ms = static_cast<std::uint32_t>(rng.between(0, window_ms));
    const auto kind = static_cast<int>(rng.below(kFaultKinds));
    const auto target = static_cast<std::uint32_t>(rng.below(servers));
    const auto arg = static_cast<std::uint32_t>(rng.below(1U << 16));
    schedule.faults.push_back(make_fault(at_ms, kind, target, arg, corruption));
  }
  std::stable_sort(schedule.faults.begin(), schedule.faults.end(),
                   [](const Fault& a, const Fault& b) { return a.at_ms < b.at_ms; });
  return schedule;
}

rc::Gen<Schedule> gen_schedule(Duration window, std::size_t faults_max, bool corruption) {
  const auto window_ms = static_cast<std::uint32_t>(window.count() / 1000000);
  const rc::Gen<Fault> fault = rc::gen::apply(
      [corruption](std::uint32_t at_ms, int kind, std::uint32_t target, std::uint32_t arg) {
        return make_fault(at_ms, kind, target, arg, corruption);
      },
      rc::gen::inRange<std::uint32_t>(0, window_ms + 1), rc::gen::inRange(0, kFaultKinds),
      rc::gen::inRange<std::uint32_t>(0, 7), rc::gen::inRange<std::uint32_t>(0, 1U << 16));
  // The container's length is uniform in 0..size; fixing the size bounds it.
  const auto faults =
      rc::gen::resize(static_cast<int>(faults_max), rc::gen::container<std::vector<Fault>>(fault));
  return rc::gen::apply(
      [](std::uint64_t seed, std::vector<Fault> list) {
        std::stable_sort(list.begin(), list.end(),
                         [](const Fault& a, const Fault& b) { return a.at_ms < b.at_ms; });
        return Schedule{seed, std::move(list)};
      },
      rc::gen::arbitrary<std::uint64_t>(), faults);
}

}  // namespace omni::raft::props
