#include "drivers/util/outcome.h"

namespace omni::drivers {

const char* status_name(DriverStatus status) {
  switch (status) {
    case DriverStatus::ok:
      return "ok";
    case DriverStatus::not_found:
      return "not_found";
    case DriverStatus::already_exists:
      return "already_exists";
    case DriverStatus::no_capacity:
      return "no_capacity";
    case DriverStatus::unavailable:
      return "unavailable";
    case DriverStatus::failed:
      return "failed";
  }
  return "unknown";
}

}  // namespace omni::drivers
