#pragma once
// Invariant checkers. A checker is a named object the simulation runs after every event
// (check_safety) and once at the end of a run (check_liveness). It reads the live components
// through CheckContext (dynamic_cast them to the role it knows, e.g. RaftNode) and reports a
// broken invariant with fail(); the run stops and reports a Violation.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "model/core/step.h"

namespace omni::sim {

class Simulation;

struct Violation {
  std::string invariant;  // checker name, or "assertion" / "exception" for a thrown failure
  Time at{};              // simulated time
  std::vector<Address> processes;
  std::string message;
  std::uint64_t seed = 0;
  std::uint64_t events = 0;  // events processed when it was found

  // "invariant 'X' violated at 12.345678901s (seed 7, event 1234) by [a, b]: message"
  std::string to_string() const;
};

class CheckContext {
 public:
  CheckContext(Simulation& sim, const std::string& checker) : sim_(sim), checker_(checker) {}

  Time now() const;
  std::uint64_t seed() const;
  // Live components in address-id order (the order processes were added); null when down.
  std::size_t process_count() const;
  const Address& address(std::size_t index) const;
  Component* component(std::size_t index) const;
  Component* component(const Address& address) const;
  bool is_up(const Address& address) const;
  const std::map<std::string, std::int64_t>& counters() const;
  void bump(const std::string& counter, std::int64_t delta = 1);
  // Stops the run with a violation of this checker's invariant.
  void fail(std::string message, std::vector<Address> processes = {});

 private:
  Simulation& sim_;
  const std::string& checker_;
};

class Checker {
 public:
  virtual ~Checker() = default;
  virtual std::string name() const = 0;
  // After every event, or only after the steps of the components it watches (below). The
  // default checks nothing.
  virtual void check_safety(CheckContext& context) { (void)context; }
  // A checker that reads only the component the last event stepped says so: every_event() false,
  // and watches() true for the components it reads. It is then asked only after their steps,
  // not after every event: asking nine checkers after every event, most of which had nothing to
  // look at, was a fifth of a swarm run. watches() is asked once per incarnation of each
  // component, so a dynamic_cast there costs nothing.
  virtual bool every_event() const { return true; }
  virtual bool watches(const Component& stepped) const {
    (void)stepped;
    return true;
  }
  // Once, when the run ends without a violation (after faults have healed).
  virtual void check_liveness(CheckContext& context) { (void)context; }
};

}  // namespace omni::sim
