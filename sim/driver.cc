#include "sim/driver.h"

#include "model/core/assert.h"

namespace omni::sim {

void UnavailableDriver::call(const Address& caller, const DriverTicket& ticket, const DriverOp& op,
                             DriverHost& host) {
  OMNI_ASSERT(!caller.empty());
  OMNI_ASSERT(op.index() != std::variant_npos);
  DriverResult result;
  result.status = DriverStatus::unavailable;
  result.message = "no driver is configured in this simulation";
  host.complete(ticket, 0ns, std::move(result));
}

}  // namespace omni::sim
