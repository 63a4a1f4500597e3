#pragma once
// What answers a component's DriverCall in simulation. A later issue plugs in simulated
// hypervisors and container runtimes; until then UnavailableDriver answers every call with
// DriverStatus::unavailable. A handler answers through DriverHost::complete(), now or later
// (a VM that boots in 10..30 s completes after that delay); a result for a process that has
// crashed since the call is discarded by the host.
#include <cstdint>

#include "model/core/ops.h"
#include "model/core/rng.h"
#include "model/core/step.h"

namespace omni::sim {

struct DriverTicket {
  std::uint32_t process = 0;      // address id of the caller
  std::uint64_t incarnation = 0;  // the caller's incarnation when it called
  std::uint64_t op_id = 0;        // as the caller chose it
};

class DriverHost {
 public:
  virtual ~DriverHost() = default;
  // Deliver `result` to the caller as DriverDone after `delay` of simulated time.
  virtual void complete(const DriverTicket& ticket, Duration delay, DriverResult result) = 0;
  virtual Time now() const = 0;
  // The handler's own generator, forked from the run's seed.
  virtual Rng& driver_rng() = 0;
};

class DriverHandler {
 public:
  virtual ~DriverHandler() = default;
  virtual void call(const Address& caller, const DriverTicket& ticket, const DriverOp& op,
                    DriverHost& host) = 0;
};

class UnavailableDriver final : public DriverHandler {
 public:
  void call(const Address& caller, const DriverTicket& ticket, const DriverOp& op,
            DriverHost& host) override;
};

}  // namespace omni::sim
