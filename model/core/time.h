#pragma once
// Time in the model is one type: nanoseconds since the host's epoch. The model never reads a
// clock; the host passes time in through inputs. ModelClock has no now() on purpose.
#include <chrono>
#include <cstdint>

namespace omni {

struct ModelClock {
  using rep = std::int64_t;
  using period = std::nano;
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<ModelClock>;
  static constexpr bool is_steady = true;
};

using Duration = std::chrono::nanoseconds;
using Time = ModelClock::time_point;

constexpr Time time_from_ns(std::int64_t ns) {
  return Time{Duration{ns}};
}
constexpr std::int64_t ns_of(Time t) {
  return t.time_since_epoch().count();
}
constexpr std::int64_t ns_of(Duration d) {
  return d.count();
}

using namespace std::chrono_literals;

}  // namespace omni
