#pragma once
// Errors as values for drivers: every call returns a DriverResult, and calls that also produce
// data return an Outcome carrying both. The drivers know nothing of the model (DESIGN's layout):
// node/driver_bridge.h turns these into the model's DriverResult (model/core/ops.h).
#include <string>
#include <utility>

namespace omni::drivers {

enum class DriverStatus { ok, not_found, already_exists, no_capacity, unavailable, failed };

struct DriverResult {
  DriverStatus status = DriverStatus::ok;
  std::string message;  // for a person: what failed and why
};

inline DriverResult error_result(DriverStatus status, std::string message) {
  DriverResult result;
  result.status = status;
  result.message = std::move(message);
  return result;
}
inline DriverResult ok_result(std::string message = {}) {
  return error_result(DriverStatus::ok, std::move(message));
}
inline bool is_ok(const DriverResult& result) {
  return result.status == DriverStatus::ok;
}

const char* status_name(DriverStatus status);

template <class T>
struct Outcome {
  DriverResult result;
  T value{};
  bool ok() const { return is_ok(result); }
};

template <class T>
Outcome<T> failure(DriverStatus status, std::string message) {
  return Outcome<T>{error_result(status, std::move(message)), T{}};
}
template <class T>
Outcome<T> failure(DriverResult result) {
  return Outcome<T>{std::move(result), T{}};
}
template <class T>
Outcome<T> success(T value) {
  return Outcome<T>{ok_result(), std::move(value)};
}

}  // namespace omni::drivers
