#include "sim/report/chrome_trace.h"

#include <deque>
#include <map>
#include <string>
#include <utility>

#include "model/core/json.h"
#include "model/root/plan.h"
#include "sim/report/labels.h"

namespace omni::sim {
namespace {

constexpr std::string_view kRootHost = "root-host";

// Machines become trace processes (pid from 1, in order of first appearance), components
// threads (tid = address id + 1, unique across the trace).
class TrackMap {
 public:
  explicit TrackMap(const RunResult& result) : result_(result) {
    for (std::size_t id = 0; id < result.addresses.size(); ++id) pid_for(location_of(id));
  }

  std::string location_of(std::size_t id) const {
    if (id < result_.locations.size() && !result_.locations[id].empty())
      return result_.locations[id];
    return std::string(kRootHost);
  }
  int pid_for(const std::string& location) {
    auto [it, inserted] = pids_.emplace(location, static_cast<int>(pids_.size()) + 1);
    if (inserted) order_.push_back(location);
    return it->second;
  }
  int pid_of(std::uint32_t id) { return pid_for(location_of(id)); }
  static std::uint64_t tid_of(std::uint32_t id) { return std::uint64_t{id} + 1; }
  const std::vector<std::string>& locations() const { return order_; }
  std::string name_of(std::uint32_t id) const {
    return id < result_.addresses.size() ? result_.addresses[id] : "process " + std::to_string(id);
  }

 private:
  const RunResult& result_;
  std::map<std::string, int> pids_;
  std::vector<std::string> order_;
};

class TraceWriter {
 public:
  TraceWriter(const RunResult& result, std::ostream& out)
      : result_(result), out_(out), tracks_(result) {}

  void write() {
    out_ << "{\"displayTimeUnit\":\"ms\",\"otherData\":{\"seed\":" << result_.seed
         << ",\"events\":" << result_.events << "},\"traceEvents\":[\n";
    write_metadata();
    write_phases();
    for (const TraceEvent& event : result_.trace_events) write_event(event);
    out_ << "\n]}\n";
  }

 private:
  void begin() {
    if (!first_) out_ << ",\n";
    first_ = false;
  }

  void write_metadata() {
    for (const auto& location : tracks_.locations()) {
      begin();
      out_ << "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":" << tracks_.pid_for(location)
           << ",\"args\":{\"name\":" << json_quote(location) << "}}";
    }
    for (std::uint32_t id = 0; id < result_.addresses.size(); ++id) {
      begin();
      out_ << "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":" << tracks_.pid_of(id)
           << ",\"tid\":" << TrackMap::tid_of(id)
           << ",\"args\":{\"name\":" << json_quote(result_.addresses[id]) << "}}";
    }
  }

  std::uint32_t root_id() const {
    for (std::uint32_t id = 0; id < result_.addresses.size(); ++id)
      if (result_.addresses[id] == "root") return id;
    return 0;
  }

  void write_phases() {
    const std::uint32_t root = root_id();
    for (const PhaseSpan& span : result_.phases) {
      begin();
      out_ << "{\"name\":" << json_quote("phase " + std::string(root::phase_name(span.phase)))
           << ",\"cat\":\"phase\",\"ph\":\"X\",\"pid\":" << tracks_.pid_of(root)
           << ",\"tid\":" << TrackMap::tid_of(root) << ",\"ts\":" << microseconds_text(span.start)
           << ",\"dur\":" << microseconds_text(Time{} + (span.end - span.start)) << "}";
    }
  }

  // A short slice the flow arrow binds to, so every viewer draws it.
  void slice(const TraceEvent& event, const std::string& name, std::string_view category) {
    begin();
    out_ << "{\"name\":" << json_quote(name) << ",\"cat\":\"" << category
         << "\",\"ph\":\"X\",\"pid\":" << tracks_.pid_of(event.process)
         << ",\"tid\":" << TrackMap::tid_of(event.process)
         << ",\"ts\":" << microseconds_text(event.at)
         << ",\"dur\":1,\"args\":{\"peer\":" << json_quote(tracks_.name_of(event.peer)) << "}}";
  }

  void flow(const TraceEvent& event, std::string_view phase, std::uint64_t id) {
    begin();
    out_ << "{\"name\":\"message\",\"cat\":\"flow\",\"ph\":\"" << phase << "\",\"id\":" << id
         << ",\"pid\":" << tracks_.pid_of(event.process)
         << ",\"tid\":" << TrackMap::tid_of(event.process)
         << ",\"ts\":" << microseconds_text(event.at) << (phase == "f" ? ",\"bp\":\"e\"" : "")
         << "}";
  }

  void instant(const TraceEvent& event, const std::string& name) {
    begin();
    out_ << "{\"name\":" << json_quote(name) << ",\"cat\":\"" << name_of(event.kind)
         << "\",\"ph\":\"i\",\"s\":\"t\",\"pid\":" << tracks_.pid_of(event.process)
         << ",\"tid\":" << TrackMap::tid_of(event.process)
         << ",\"ts\":" << microseconds_text(event.at) << ",\"args\":{\"detail\":" << event.detail
         << "}}";
  }

  void write_event(const TraceEvent& event) {
    switch (event.kind) {
      case EventKind::send: {
        const std::uint64_t id = ++next_flow_id_;
        in_flight_[{event.process, event.peer}].push_back(id);
        slice(event, "send " + message_name(event.detail), "send");
        flow(event, "s", id);
        return;
      }
      case EventKind::deliver: {
        slice(event, "recv " + message_name(event.detail), "deliver");
        auto& pending = in_flight_[{event.peer, event.process}];
        if (pending.empty()) return;  // a duplicate: its send was already paired
        flow(event, "f", pending.front());
        pending.pop_front();
        return;
      }
      case EventKind::drop: {
        auto& pending = in_flight_[{event.process, event.peer}];
        if (!pending.empty()) pending.pop_front();  // best effort: the oldest one was lost
        instant(event, "drop " + std::string(name_of(static_cast<DropReason>(event.detail))));
        return;
      }
      case EventKind::tick:
      case EventKind::persist:
        return;  // too many to draw; they are in the hash
      default:
        instant(event, std::string(name_of(event.kind)));
        return;
    }
  }

  const RunResult& result_;
  std::ostream& out_;
  TrackMap tracks_;
  bool first_ = true;
  std::uint64_t next_flow_id_ = 0;
  std::map<std::pair<std::uint32_t, std::uint32_t>, std::deque<std::uint64_t>> in_flight_;
};

}  // namespace

void write_chrome_trace(const RunResult& result, std::ostream& out) {
  TraceWriter(result, out).write();
}

}  // namespace omni::sim
