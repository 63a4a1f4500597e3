// Fault injection on the network, the disks and the clocks. Every fault is folded into the
// trace hash, so two runs that inject different faults never share a hash.
#include "model/core/assert.h"
#include "sim/simulation.h"

namespace omni::sim {
namespace {

enum class FaultKind : std::uint64_t {
  network_config = 1,
  partition,
  cut,
  uncut,
  isolate,
  unisolate,
  heal,
  disk_corrupt,
  disk_eio,
  disk_clear,
  clock_rate,
  raw_message,
};

std::uint64_t fault_word(FaultKind kind, std::uint64_t a, std::uint64_t b = 0) {
  return (static_cast<std::uint64_t>(kind) << 56) ^ (a << 28) ^ b;
}

}  // namespace

void Simulation::record_fault(std::uint64_t detail) {
  record(EventKind::fault, 0, 0, detail);
}

void Simulation::set_network(const NetworkConfig& config) {
  config.validate();
  network_ = config;
  record_fault(fault_word(FaultKind::network_config, 0));
  trace_.add_bytes(std::string_view(reinterpret_cast<const char*>(&network_.drop_probability),
                                    sizeof(double) * 3));
}

void Simulation::set_location_resolver(LocationResolver resolver) {
  OMNI_ASSERT(!links_.any(), "set the location resolver before injecting network faults");
  book_.set_resolver(std::move(resolver));
  OMNI_ASSERT(processes_.size() == book_.size());
}

void Simulation::relocate(const Address& address) {
  intern(address);
  book_.relocate(address);
  OMNI_ASSERT(processes_.size() == book_.size());
}

void Simulation::partition(const std::vector<std::vector<std::string>>& location_groups) {
  std::vector<std::vector<LocationId>> groups;
  std::uint64_t detail = 0;
  for (const auto& names : location_groups) {
    groups.emplace_back();
    for (const std::string& name : names) {
      groups.back().push_back(book_.intern_location(name));
      detail = detail * 31 + groups.back().back() + 1;
    }
    detail = detail * 37 + groups.size();
  }
  links_.partition(groups);
  record_fault(fault_word(FaultKind::partition, detail));
  OMNI_ASSERT(links_.any());
}

void Simulation::cut(const std::string& from_location, const std::string& to_location) {
  const LocationId from = book_.intern_location(from_location);
  const LocationId to = book_.intern_location(to_location);
  links_.cut(from, to);
  record_fault(fault_word(FaultKind::cut, from, to));
  OMNI_ASSERT(links_.blocked(from, to));
}

void Simulation::uncut(const std::string& from_location, const std::string& to_location) {
  const LocationId from = book_.intern_location(from_location);
  const LocationId to = book_.intern_location(to_location);
  links_.uncut(from, to);
  record_fault(fault_word(FaultKind::uncut, from, to));
}

void Simulation::isolate(const std::string& location, Direction direction) {
  const LocationId id = book_.intern_location(location);
  links_.isolate(id, direction);
  record_fault(fault_word(FaultKind::isolate, id, static_cast<std::uint64_t>(direction)));
  OMNI_ASSERT(links_.any());
}

void Simulation::unisolate(const std::string& location) {
  const LocationId id = book_.intern_location(location);
  links_.unisolate(id);
  record_fault(fault_word(FaultKind::unisolate, id));
}

void Simulation::heal() {
  links_.heal();
  record_fault(fault_word(FaultKind::heal, 0));
  OMNI_ASSERT(!links_.any());
}

bool Simulation::link_blocked(const Address& from, const Address& to) {
  const AddressId a = intern(from);
  const AddressId b = intern(to);
  return link_blocked(a, b);
}

bool Simulation::link_blocked(AddressId from, AddressId to) const {
  OMNI_ASSERT(from < book_.size() && to < book_.size(), "ids of interned addresses");
  return links_.blocked(book_.location_of(from), book_.location_of(to));
}

void Simulation::inject_raw_message(const Address& from, const Address& to, std::string bytes,
                                    Duration delay) {
  const AddressId a = intern(from);
  const AddressId b = intern(to);
  const std::uint64_t slot = messages_.acquire();
  InFlight& message = messages_[slot];
  message.from = a;
  message.to = b;
  message.copies_left = 1;
  message.bytes = std::move(bytes);
  message.has_envelope = false;
  record_fault(fault_word(FaultKind::raw_message, a, b));
  trace_.add_bytes(messages_[slot].bytes);
  enqueue_message(a, b, slot, delay);
}

bool Simulation::corrupt_disk(const Address& address) {
  Process& process = process_of(address);
  const bool corrupted = process.disk.corrupt(fault_rng_);
  record_fault(fault_word(FaultKind::disk_corrupt, book_.intern(address), corrupted));
  return corrupted;
}

void Simulation::fail_disk(const Address& address, bool sticky) {
  process_of(address).disk.fail_next_persist(sticky);
  record_fault(fault_word(FaultKind::disk_eio, book_.intern(address), sticky));
}

void Simulation::clear_disk_failures(const Address& address) {
  process_of(address).disk.clear_failures();
  record_fault(fault_word(FaultKind::disk_clear, book_.intern(address)));
}

void Simulation::testing_forget_disk(const Address& address) {
  OMNI_ASSERT(!is_up(address), "a disk is forgotten only under a stopped process");
  process_of(address).disk.testing_forget_everything();
  OMNI_ASSERT(process_of(address).disk.records().empty());
}

void Simulation::set_clock_rate(const Address& address, double rate) {
  process_of(address).clock.set_rate(now_, rate);
  record_fault(fault_word(FaultKind::clock_rate, book_.intern(address),
                          static_cast<std::uint64_t>(rate * 1e6)));
}

Time Simulation::local_now(const Address& address) {
  return process_of(address).clock.local_at(now_);
}

}  // namespace omni::sim
