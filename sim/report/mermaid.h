#pragma once
// A run as a mermaid sequence diagram, like the seed document's: one participant per kind of
// component, the root's phases as notes, and the first message of each (from, to, kind) per
// phase, bounded to about kMaxMermaidLines lines so it stays readable. Needs a RunResult
// recorded with RunOptions::record_events.
#include <cstddef>
#include <ostream>

#include "sim/cluster/run.h"

namespace omni::sim {

inline constexpr std::size_t kMaxMermaidLines = 200;

void write_mermaid(const RunResult& result, std::ostream& out);

}  // namespace omni::sim
