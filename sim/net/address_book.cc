#include "sim/net/address_book.h"

#include "model/core/assert.h"

namespace omni::sim {

AddressId AddressBook::intern(const Address& address) {
  const auto found = ids_.find(address);
  if (found != ids_.end()) return found->second;
  OMNI_ASSERT(addresses_.size() < UINT32_MAX, "too many addresses");
  const auto id = static_cast<AddressId>(addresses_.size());
  addresses_.push_back(address);
  location_of_.push_back(intern_location(resolve(address)));
  ids_.emplace(address, id);
  OMNI_ASSERT(addresses_.size() == location_of_.size());
  return id;
}

std::int64_t AddressBook::find(const Address& address) const {
  const auto found = ids_.find(address);
  return found == ids_.end() ? -1 : static_cast<std::int64_t>(found->second);
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
