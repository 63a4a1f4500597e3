#include "sim/report/mermaid.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "model/root/plan.h"
#include "sim/report/labels.h"
#include "sim/scenario/duration_text.h"

namespace omni::sim {
namespace {

constexpr std::size_t kMaxCrashNotes = 20;

std::string title_of(std::string_view kind) {
  if (kind == "root") return "Root Orchestrator";
  if (kind == "director") return "Directors";
  if (kind == "agent") return "Agents";
  if (kind == "orchestrator") return "Orchestrators";
  std::string title(kind);
  if (!title.empty() && title.front() >= 'a' && title.front() <= 'z') title.front() -= 'a' - 'A';
  return title;
}

// Mermaid ids: letters, digits and '_' only.
std::string id_of(std::string_view kind) {
  std::string id;
  for (char c : kind) id += (std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  return id.empty() ? "unknown" : id;
}

class MermaidWriter {
 public:
  MermaidWriter(const RunResult& result, std::ostream& out) : result_(result), out_(out) {
    for (const auto& address : result.addresses) {
      const std::string kind(component_kind(address));
      if (std::find(kinds_.begin(), kinds_.end(), kind) == kinds_.end()) kinds_.push_back(kind);
    }
  }

  void write() {
    out_ << "sequenceDiagram\n";
    for (const auto& kind : kinds_)
      out_ << "    participant " << id_of(kind) << " as " << title_of(kind) << "\n";
    lines_ = 1 + kinds_.size();
    for (const TraceEvent& event : result_.trace_events) {
      notes_until(event.at);
      if (event.kind == EventKind::send) message(event);
      if (event.kind == EventKind::crash) crash(event);
    }
    notes_until(Time::max());
    if (omitted_ > 0)
      out_ << "    Note over " << span() << ": " << omitted_ << " more messages not shown\n";
  }

 private:
  std::string kind_of(std::uint32_t id) const {
    return id < result_.addresses.size() ? std::string(component_kind(result_.addresses[id]))
                                         : "unknown";
  }
  std::string span() const {
    if (kinds_.empty()) return "unknown";
    return kinds_.size() == 1 ? id_of(kinds_.front())
                              : id_of(kinds_.front()) + "," + id_of(kinds_.back());
  }
  bool room() const { return lines_ < kMaxMermaidLines; }

  // Phases are notes at their start, always shown (there are at most ten).
  void notes_until(Time at) {
    while (next_phase_ < result_.phases.size() && result_.phases[next_phase_].start <= at) {
      const PhaseSpan& span_of_phase = result_.phases[next_phase_];
      out_ << "    Note over " << span() << ": phase " << root::phase_name(span_of_phase.phase)
           << " at " << format_duration(span_of_phase.start - Time{}) << "\n";
      ++lines_;
      ++next_phase_;
    }
  }

  void message(const TraceEvent& event) {
    const std::string from = kind_of(event.process);
    const std::string to = kind_of(event.peer);
    const std::string name = message_name(event.detail);
    if (!shown_.emplace(next_phase_, from, to, name).second) return;
    if (!room()) {
      ++omitted_;
      return;
    }
    out_ << "    " << id_of(from) << "->>" << id_of(to) << ": " << name << "\n";
    ++lines_;
  }

  void crash(const TraceEvent& event) {
    if (crashes_ >= kMaxCrashNotes || !room()) return;
    ++crashes_;
    const std::string who =
        event.process < result_.addresses.size() ? result_.addresses[event.process] : "?";
    out_ << "    Note over " << id_of(kind_of(event.process)) << ": crash " << who << " at "
         << format_duration(event.at - Time{}) << "\n";
    ++lines_;
  }

  const RunResult& result_;
  std::ostream& out_;
  std::vector<std::string> kinds_;  // participants, in order of first address
  std::set<std::tuple<std::size_t, std::string, std::string, std::string>> shown_;
  std::size_t next_phase_ = 0;
  std::size_t lines_ = 0;
  std::size_t omitted_ = 0;
  std::size_t crashes_ = 0;
};

}  // namespace

void write_mermaid(const RunResult& result, std::ostream& out) {
  MermaidWriter(result, out).write();
}

}  // namespace omni::sim
