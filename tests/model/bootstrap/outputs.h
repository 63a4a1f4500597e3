#pragma once
// Small readers over a component's outputs, so tests state the protocol, not the plumbing.
#include <algorithm>
#include <string>
#include <vector>

#include "model/core/step.h"

namespace omni::testing {

inline std::vector<Send> sends_to(const Outputs& out, const Address& to) {
  std::vector<Send> sends;
  for (const auto& o : out)
    if (const auto* s = std::get_if<Send>(&o); s && s->to == to) sends.push_back(*s);
  return sends;
}

template <typename T>
std::vector<T> all_of_type(const Outputs& out) {
  std::vector<T> found;
  for (const auto& o : out)
    if (const auto* t = std::get_if<T>(&o)) found.push_back(*t);
  return found;
}

// Index of the first output of type T, or -1.
template <typename T>
int first_index(const Outputs& out) {
  for (std::size_t i = 0; i < out.size(); ++i)
    if (std::holds_alternative<T>(out[i])) return static_cast<int>(i);
  return -1;
}

inline Time at_s(int seconds) {
  return time_from_ns(std::int64_t{seconds} * 1'000'000'000);
}

}  // namespace omni::testing
