#include "sim/checker.h"

#include <cstdio>

#include "model/core/assert.h"
#include "sim/simulation.h"

namespace omni::sim {

std::string Violation::to_string() const {
  const std::int64_t ns = ns_of(at);
  char when[48];
  std::snprintf(when, sizeof(when), "%lld.%09llds", static_cast<long long>(ns / 1'000'000'000),
                static_cast<long long>(ns % 1'000'000'000));
  std::string involved;
  for (const Address& address : processes) {
    if (!involved.empty()) involved += ", ";
    involved += address;
  }
  return "invariant '" + invariant + "' violated at " + when + " (seed " + std::to_string(seed) +
         ", event " + std::to_string(events) + ") by [" + involved + "]: " + message;
}

Time CheckContext::now() const {
  return sim_.now();
}

std::uint64_t CheckContext::seed() const {
  return sim_.seed();
}

std::size_t CheckContext::process_count() const {
  return sim_.process_count();
}

const Address& CheckContext::address(std::size_t index) const {
  OMNI_ASSERT(index < sim_.process_count());
  return sim_.address(index);
}

Component* CheckContext::component(std::size_t index) const {
  OMNI_ASSERT(index < sim_.process_count());
  return sim_.component(index);
}

Component* CheckContext::component(const Address& address) const {
  return sim_.component(address);
}

bool CheckContext::is_up(const Address& address) const {
  return sim_.is_up(address);
}

const std::map<std::string, std::int64_t>& CheckContext::counters() const {
  return sim_.named_counters();
}

void CheckContext::bump(const std::string& counter, std::int64_t delta) {
  sim_.bump(counter, delta);
}

void CheckContext::fail(std::string message, std::vector<Address> processes) {
  OMNI_ASSERT(!checker_.empty());
  sim_.report_violation(checker_, std::move(message), std::move(processes));
  OMNI_ASSERT(sim_.violation().has_value());
}

}  // namespace omni::sim
