#include "sim/report/html_report.h"

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "model/core/assert.h"
#include "model/core/json.h"
#include "model/root/plan.h"
#include "sim/lincheck/lincheck.h"
#include "sim/scenario/write.h"

namespace omni::sim {
namespace {

constexpr std::string_view kDataMarker = "/*OMNI_REPORT_DATA*/null";

std::string ns_text(Time t) {
  return std::to_string(ns_of(t));
}

// Comma-separated JSON values.
class JsonList {
 public:
  void add(const std::string& value) {
    if (!text_.empty()) text_ += ',';
    text_ += value;
  }
  std::string array() const { return "[" + text_ + "]"; }

 private:
  std::string text_;
};

// "[a,b]", built by appending: GCC 12 misreads "[" + std::string as an overlapping copy.
std::string pair_json(const std::string& a, const std::string& b) {
  std::string pair = "[";
  pair += a;
  pair += ',';
  pair += b;
  pair += ']';
  return pair;
}

// Each component's lives: spans from a start to the crash or exit that ended it.
std::string lanes_json(const RunResult& r) {
  struct Lane {
    std::vector<std::pair<Time, Time>> spans;
    std::optional<Time> up_since;
    std::vector<Time> crashes;
  };
  std::vector<Lane> lanes(r.addresses.size());
  for (const TraceEvent& e : r.trace_events) {
    if (e.process >= lanes.size()) continue;
    Lane& lane = lanes[e.process];
    if (e.kind == EventKind::start && !lane.up_since) lane.up_since = e.at;
    if ((e.kind == EventKind::crash || e.kind == EventKind::exit) && lane.up_since) {
      lane.spans.emplace_back(*lane.up_since, e.at);
      lane.up_since.reset();
    }
    if (e.kind == EventKind::crash) lane.crashes.push_back(e.at);
  }
  JsonList out;
  for (std::size_t id = 0; id < lanes.size(); ++id) {
    Lane& lane = lanes[id];
    if (lane.up_since) lane.spans.emplace_back(*lane.up_since, r.end);
    if (lane.spans.empty() && lane.crashes.empty()) continue;  // only ever named by a message
    JsonList spans;
    for (const auto& [from, to] : lane.spans) spans.add(pair_json(ns_text(from), ns_text(to)));
    JsonList crashes;
    for (Time t : lane.crashes) crashes.add(ns_text(t));
    out.add("{\"name\":" + json_quote(r.addresses[id]) + ",\"location\":" +
            json_quote(id < r.locations.size() ? r.locations[id] : std::string()) +
            ",\"spans\":" + spans.array() + ",\"crashes\":" + crashes.array() + "}");
  }
  return out.array();
}

// When a fired fault fired: faults at a phase fire when the root enters it.
std::optional<Time> fired_at(const Fault& fault, const RunResult& r) {
  if (fault.at.kind == FaultTime::Kind::absolute) return Time{} + fault.at.offset;
  if (fault.at.kind != FaultTime::Kind::phase) return std::nullopt;
  for (const PhaseSpan& span : r.phases)
    if (span.phase == fault.at.phase) return span.start + fault.at.offset;
  return std::nullopt;
}

// A fault lasts until the next heal (network faults), until its restart (crash, power off), or
// is an instant.
std::string faults_json(const RunResult& r) {
  JsonList out;
  const auto& fired = r.faults_fired;
  for (std::size_t i = 0; i < fired.size(); ++i) {
    const Fault& fault = fired[i].fault;
    const auto start = fired_at(fault, r);
    if (!start) continue;
    Time end = *start;
    const bool heals = std::holds_alternative<PartitionFault>(fault.what) ||
                       std::holds_alternative<IsolateFault>(fault.what) ||
                       std::holds_alternative<NetworkFault>(fault.what) ||
                       std::holds_alternative<ClockSkewFault>(fault.what);
    if (heals) {
      end = r.end;
      for (std::size_t j = i + 1; j < fired.size(); ++j)
        if (std::holds_alternative<HealFault>(fired[j].fault.what) && fired_at(fired[j].fault, r)) {
          end = *fired_at(fired[j].fault, r);
          break;
        }
    } else if (fault.restart_after) {
      end = std::min(r.end, *start + *fault.restart_after);
    }
    if (std::holds_alternative<HealFault>(fault.what)) continue;  // drawn as the end of a band
    out.add("{\"text\":" + json_quote(fault_text(fault)) + ",\"start\":" + ns_text(*start) +
            ",\"end\":" + ns_text(end) + ",\"swarm\":" + (fired[i].swarm ? "true" : "false") + "}");
  }
  return out.array();
}

std::string phases_json(const RunResult& r) {
  JsonList out;
  for (const PhaseSpan& p : r.phases)
    out.add("{\"name\":" + json_quote(std::string(root::phase_name(p.phase))) +
            ",\"start\":" + ns_text(p.start) + ",\"end\":" + ns_text(p.end) + "}");
  return out.array();
}

// The clients' operations, with those of a window that cannot be linearized marked.
std::string history_json(const RunResult& r, const lincheck::Verdict& verdict) {
  std::set<std::size_t> in_window;
  for (const auto& op : verdict.window) in_window.insert(op.invoke_index);
  JsonList ops;
  for (const auto& op : lincheck::match_operations(r.history)) {
    const auto time_at = [&](std::optional<std::size_t> index) -> std::string {
      if (!index || *index >= r.history.size() || !r.history[*index].time_ns) return "null";
      return std::to_string(*r.history[*index].time_ns);
    };
    std::string call = std::string(lincheck::name_of(op.f));
    if (op.f == lincheck::Function::cas)
      call += std::string(" ") + lincheck::value_text(op.expected) + "->" +
              lincheck::value_text(op.desired);
    else
      call += std::string(" ") + lincheck::value_text(op.value);
    ops.add("{\"process\":" + std::to_string(op.process) +
            ",\"key\":" + json_quote(op.key.value_or("")) + ",\"call\":" + json_quote(call) +
            ",\"result\":" + json_quote(std::string(lincheck::name_of(op.result))) +
            ",\"start\":" + time_at(op.invoke_index) + ",\"end\":" + time_at(op.complete_index) +
            ",\"in_window\":" + (in_window.count(op.invoke_index) ? "true" : "false") + "}");
  }
  return "{\"checked\":" + std::string(r.history.empty() ? "false" : "true") +
         ",\"linearizable\":" + (verdict.linearizable ? "true" : "false") +
         ",\"report\":" + json_quote(verdict.report) + ",\"operations\":" + ops.array() + "}";
}

std::string strings_json(const std::vector<std::string>& items) {
  JsonList out;
  for (const auto& item : items) out.add(json_quote(item));
  return out.array();
}

}  // namespace

std::string report_json(const Scenario& scenario, const RunResult& r) {
  OMNI_ASSERT(r.addresses.size() == r.locations.size(), "recorded with record_events");
  const lincheck::Verdict verdict =
      r.history.empty() ? lincheck::Verdict{} : lincheck::check_history(r.history);
  const std::string violation = r.violation
                                    ? "{\"invariant\":" + json_quote(r.violation->invariant) +
                                          ",\"at\":" + ns_text(r.violation->at) +
                                          ",\"message\":" + json_quote(r.violation->message) + "}"
                                    : "null";
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(r.trace_hash));
  const std::string json =
      "{\"scenario\":" + json_quote(scenario.name) +
      ",\"description\":" + json_quote(scenario.description) +
      ",\"seed\":" + std::to_string(r.seed) + ",\"passed\":" + (r.passed ? "true" : "false") +
      ",\"violation\":" + violation +
      ",\"expectation_failures\":" + strings_json(r.expectation_failures) +
      ",\"init_done\":" + (r.init_done_at ? ns_text(*r.init_done_at) : "null") +
      ",\"end\":" + ns_text(r.end) + ",\"events\":" + std::to_string(r.events) +
      ",\"messages\":" + std::to_string(r.messages) + ",\"trace_hash\":\"" + hash +
      "\",\"checks\":" + strings_json(r.checks) + ",\"phases\":" + phases_json(r) +
      ",\"lanes\":" + lanes_json(r) + ",\"faults\":" + faults_json(r) +
      ",\"leader_events\":" + strings_json(r.leader_events) +
      ",\"history\":" + history_json(r, verdict) + "}";
  OMNI_ASSERT(!json.empty() && json.front() == '{');
  return json;
}

void write_html_report(const Scenario& scenario, const RunResult& result, std::ostream& out) {
  std::string page = kReportPage;
  const auto marker = page.find(kDataMarker);
  OMNI_ASSERT(marker != std::string::npos, "the page has the data marker");
  // "</" inside a script would end it early: JSON allows "<\/".
  std::string json = report_json(scenario, result);
  for (std::size_t at = json.find("</"); at != std::string::npos; at = json.find("</", at + 3))
    json.replace(at, 2, "<\\/");
  page.replace(marker, kDataMarker.size(), json);
  out << page;
}

}  // namespace omni::sim
