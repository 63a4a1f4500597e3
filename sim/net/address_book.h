#pragma once
// Names to small ids. Every address the simulation meets gets an id in order of first
// appearance; every address sits at a *location* (by default a location of its own name).
// Network faults act on locations, so a later "node" notion only has to supply a resolver
// (address "director:worker-01" -> location "worker-01") and a partition of nodes moves
// everything on them.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "model/core/step.h"

namespace omni::sim {

using AddressId = std::uint32_t;
using LocationId = std::uint32_t;

using LocationResolver = std::function<std::string(const Address&)>;

class AddressBook {
 public:
  // The id of `address`, interning it (and its location) on first use.
  AddressId intern(const Address& address);
  // The id, or -1 when the address was never seen.
  std::int64_t find(const Address& address) const;
  const Address& address_of(AddressId id) const;
  LocationId location_of(AddressId id) const;
  LocationId intern_location(const std::string& location);
  const std::string& location_name(LocationId id) const;
  std::size_t size() const { return addresses_.size(); }
  std::size_t location_count() const { return location_names_.size(); }

  // Replaces the address -> location mapping and re-resolves every known address.
  void set_resolver(LocationResolver resolver);
  // Asks the resolver again where `address` is: a process that starts on a machine may have
  // been named (and so interned) by a peer before it existed anywhere.
  void relocate(const Address& address);

 private:
  std::string resolve(const Address& address) const;

  // The ids by name: open addressing over a power-of-two table, probed linearly, at most half
  // full, each slot keeping its name's hash. Every message sent asks it; std::unordered_map
  // hashed with murmur, took a prime modulo (a division) and chased a node, about 2% of a swarm
  // seed. Lookup only, never iterated: the hashes reach no output.
  struct Slot {
    std::uint64_t hash = 0;
    AddressId id = kNoId;
  };
  static constexpr AddressId kNoId = UINT32_MAX;  // an empty slot; no address gets this id
  static std::uint64_t hash_of(const Address& address);
  std::int64_t lookup(const Address& address, std::uint64_t hash) const;
  void insert_slot(std::uint64_t hash, AddressId id);

  std::vector<Address> addresses_;
  std::vector<LocationId> location_of_;
  std::vector<Slot> slots_;
  std::vector<std::string> location_names_;
  std::map<std::string, LocationId> location_ids_;
  LocationResolver resolver_;
};

}  // namespace omni::sim
