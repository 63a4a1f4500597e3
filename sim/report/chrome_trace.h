#pragma once
// A run as Chrome trace-event JSON, which Perfetto (ui.perfetto.dev) and chrome://tracing open.
// A process per machine (a node, or "root-host"), a thread per component, the root's phases
// as spans, messages as flow arrows from send to delivery, crashes, starts and faults as
// instants. Needs a RunResult recorded with RunOptions::record_events.
#include <ostream>

#include "sim/cluster/run.h"

namespace omni::sim {

void write_chrome_trace(const RunResult& result, std::ostream& out);

}  // namespace omni::sim
