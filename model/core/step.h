#pragma once
// The whole contract between logic and the world (DESIGN.md, "One shape for every component").
// A component is stepped with one Input and appends Outputs to a vector the caller owns; it
// never calls out. The host executes the outputs in order and feeds results back as inputs.
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "model/core/ops.h"
#include "model/core/time.h"
#include "model/proto/envelope.pb.h"

namespace omni {

// Components are addressed by stable names: "orchestrator:1", "director:worker-01", "root".
using Address = std::string;

// Inputs --------------------------------------------------------------------------------
struct Start {  // (re)start: the records that survived on this component's disk, in order
  Time now;
  std::vector<std::string> persisted;
};
struct Deliver {
  Time now;
  Address from;
  v1::Envelope envelope;
};
struct Tick {
  Time now;
};
struct DriverDone {
  Time now;
  std::uint64_t op_id = 0;
  DriverResult result;
};
using Input = std::variant<Start, Deliver, Tick, DriverDone>;

Time now_of(const Input& input);

// Outputs -------------------------------------------------------------------------------
struct Send {
  Address to;
  v1::Envelope envelope;
};
struct DriverCall {
  std::uint64_t op_id = 0;
  DriverOp op;
};
// Append one record to the component's log. `replace` drops every earlier record first
// (compaction: a snapshot supersedes what it covers). `sync` makes it durable before any
// later output takes effect; an unsynced record may be lost by a crash.
struct Persist {
  std::string record;
  bool sync = true;
  bool replace = false;
};
// Ask for a Tick at `at` (or as soon after as the host can). Not in DESIGN.md's first sketch:
// a component that names its next deadline lets the simulator skip idle time instead of
// ticking thousands of components every few milliseconds.
struct WakeAt {
  Time at;
};
struct Exit {};
using Output = std::variant<Send, DriverCall, Persist, WakeAt, Exit>;
using Outputs = std::vector<Output>;

// Appends WakeAt{at}, out of line: see step.cc (a GCC 12 -O3 false positive).
void push_wake(Outputs& out, Time at);

// Every role (Raft replica, Orchestrator, Director, Agent, Root) has this shape.
class Component {
 public:
  virtual ~Component() = default;
  virtual void step(const Input& input, Outputs& out) = 0;
};

}  // namespace omni
