#pragma once
// One self-contained HTML page of a simulated run (omni-sim run --report OUT.html): the
// components' lives on a timeline (as Jepsen's timeline.html draws operations), faults as
// bands, the root's phases, the invariant checks and their verdicts, the leader's events, and
// the client history with a window that cannot be linearized marked. Its data is JSON inside
// the page and its drawing a script in it: nothing is fetched.
#include <ostream>

#include "sim/cluster/run.h"
#include "sim/scenario/scenario.h"

namespace omni::sim {

// `result` recorded with RunOptions::record_events (and record_history for the clients).
void write_html_report(const Scenario& scenario, const RunResult& result, std::ostream& out);

// The page's data alone (what the tests read).
std::string report_json(const Scenario& scenario, const RunResult& result);

// The page (sim/report/report.html), with the data in place of its marker.
extern const char* const kReportPage;

}  // namespace omni::sim
