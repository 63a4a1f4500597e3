#pragma once
// Names a person reads in traces and diagrams: the kind of a component from its address, the
// kind of a message from its body case, a simulated time in a few characters.
#include <cstdint>
#include <string>
#include <string_view>

#include "model/core/time.h"

namespace omni::sim {

// "director:worker-01" -> "director"; "root" -> "root".
std::string_view component_kind(std::string_view address);
// The v1::Envelope body field for a body case ("director_command"), or "message N".
std::string message_name(std::uint64_t body_case);
// Microseconds since the start of the run with nanosecond decimals: "12.345678".
std::string microseconds_text(Time at);

}  // namespace omni::sim
