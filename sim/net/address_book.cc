#include "sim/net/address_book.h"

#include <algorithm>
#include <cstring>

#include "model/core/assert.h"

namespace omni::sim {

AddressId AddressBook::intern(const Address& address) {
  const std::uint64_t hash = hash_of(address);
  if (const std::int64_t found = lookup(address, hash); found >= 0)
    return static_cast<AddressId>(found);
  OMNI_ASSERT(addresses_.size() < kNoId, "too many addresses");
  const auto id = static_cast<AddressId>(addresses_.size());
  addresses_.push_back(address);
  location_of_.push_back(intern_location(resolve(address)));
  insert_slot(hash, id);
  OMNI_ASSERT(addresses_.size() == location_of_.size());
  OMNI_ASSERT(lookup(address, hash) == id);
  return id;
}

std::int64_t AddressBook::find(const Address& address) const {
  return lookup(address, hash_of(address));
}

// Eight bytes at a time, multiply and fold: names differ mostly in their last bytes
// ("orchestrator:1", "director:worker-0042"), and every byte reaches the low bits the table uses.
std::uint64_t AddressBook::hash_of(const Address& address) {
  constexpr std::uint64_t kMul = 0x9e3779b97f4a7c15ULL;
  std::uint64_t hash = address.size() * kMul;
  std::size_t at = 0;
  for (; at + 8 <= address.size(); at += 8) {
    std::uint64_t word = 0;
    std::memcpy(&word, address.data() + at, 8);
    hash = (hash ^ word) * kMul;
    hash ^= hash >> 29;
  }
  std::uint64_t tail = 0;
  std::memcpy(&tail, address.data() + at, address.size() - at);
  hash = (hash ^ tail) * kMul;
  return hash ^ (hash >> 32);
}

std::int64_t AddressBook::lookup(const Address& address, std::uint64_t hash) const {
  if (slots_.empty()) return -1;
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& slot = slots_[i];
    if (slot.id == kNoId) return -1;  // the table is never full: a probe ends
    if (slot.hash == hash && addresses_[slot.id] == address) return slot.id;
  }
}

// Doubles the table when it would be more than half full, and places every id again.
void AddressBook::insert_slot(std::uint64_t hash, AddressId id) {
  OMNI_ASSERT(id < addresses_.size());
  if (2 * addresses_.size() > slots_.size()) {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(std::max<std::size_t>(16, 2 * old.size()), Slot{});
    for (const Slot& slot : old)
      if (slot.id != kNoId) insert_slot(slot.hash, slot.id);
  }
  const std::size_t mask = slots_.size() - 1;
  std::size_t i = hash & mask;
  while (slots_[i].id != kNoId) i = (i + 1) & mask;
  slots_[i] = Slot{hash, id};
  OMNI_ASSERT(2 * addresses_.size() <= slots_.size(), "the table stays at most half full");
}

const Address& AddressBook::address_of(AddressId id) const {
  OMNI_ASSERT(id < addresses_.size(), "unknown address id");
  return addresses_[id];
}

LocationId AddressBook::location_of(AddressId id) const {
  OMNI_ASSERT(id < location_of_.size(), "unknown address id");
  return location_of_[id];
}

LocationId AddressBook::intern_location(const std::string& location) {
  OMNI_ASSERT(!location.empty(), "a location needs a name");
  const auto [it, inserted] =
      location_ids_.emplace(location, static_cast<LocationId>(location_names_.size()));
  if (inserted) location_names_.push_back(location);
  OMNI_ASSERT(location_names_.size() == location_ids_.size());
  return it->second;
}

const std::string& AddressBook::location_name(LocationId id) const {
  OMNI_ASSERT(id < location_names_.size(), "unknown location id");
  return location_names_[id];
}

void AddressBook::set_resolver(LocationResolver resolver) {
  resolver_ = std::move(resolver);
  for (std::size_t i = 0; i < addresses_.size(); ++i) {
    location_of_[i] = intern_location(resolve(addresses_[i]));
  }
  OMNI_ASSERT(addresses_.size() == location_of_.size());
}

void AddressBook::relocate(const Address& address) {
  const AddressId id = intern(address);
  location_of_[id] = intern_location(resolve(address));
  OMNI_ASSERT(addresses_.size() == location_of_.size());
  OMNI_ASSERT(location_of_[id] < location_names_.size());
}

std::string AddressBook::resolve(const Address& address) const {
  OMNI_ASSERT(!address.empty(), "an address needs a name");
  if (!resolver_) return address;
  std::string location = resolver_(address);
  return location.empty() ? address : location;
}

}  // namespace omni::sim
