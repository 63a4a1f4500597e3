#include "sim/cli/seed_report.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "model/core/json.h"
#include "model/root/plan.h"
#include "sim/scenario/duration_text.h"

namespace omni::sim::cli {
namespace {

bool needs_quotes(const std::string& word) {
  return word.empty() || !std::all_of(word.begin(), word.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '.' || c == '-' ||
                  c == '_' || c == '+' || c == ':' || c == '=';
         });
}

std::string shell_word(const std::string& word) {
  if (!needs_quotes(word)) return word;
  std::string quoted = "'";
  for (char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::string since_start(Time at) {
  return format_duration(at - Time{});
}

std::string processes_text(const Violation& violation) {
  std::string text;
  for (const auto& process : violation.processes) text += (text.empty() ? "" : ", ") + process;
  return text.empty() ? "(none named)" : text;
}

}  // namespace

std::string hash_text(std::uint64_t hash) {
  char text[24];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(hash));
  return text;
}

std::string replay_command(const std::string& file, std::uint64_t seed) {
  const std::string n = std::to_string(seed);
  return "omni-sim run " + shell_word(file) + " --seed " + n + " --trace trace-" + n + ".json";
}

std::string init_text(const RunResult& result) {
  if (result.init_completed && result.init_done_at) return since_start(*result.init_done_at);
  const std::string phase(root::phase_name(result.root_phase));
  if (result.init_failed) return "failed in phase " + phase + ": " + result.init_failure;
  return "not done (in phase " + phase + ")";
}

void print_seed_text(std::ostream& out, const RunResult& result, const std::string& file) {
  out << "seed " << result.seed << "  " << (result.passed ? "ok  " : "FAIL") << "  init "
      << init_text(result) << "  events " << result.events << "  messages " << result.messages
      << "  leader_changes " << result.leader_changes;
  if (result.client_ops > 0) out << "  client_ops " << result.client_ops;
  out << "  hash " << hash_text(result.trace_hash) << "\n";
  if (const auto& v = result.violation) {
    out << "  violation: invariant '" << v->invariant << "' at " << since_start(v->at) << "\n"
        << "    components: " << processes_text(*v) << "\n"
        << "    " << v->message << "\n";
  }
  for (const auto& failure : result.expectation_failures)
    out << "  expectation not met: " << failure << "\n";
  if (!result.passed) out << "  replay: " << replay_command(file, result.seed) << "\n";
}

void print_seed_json(std::ostream& out, const RunResult& result, const std::string& file) {
  out << "{\"seed\":" << result.seed << ",\"verdict\":\"" << (result.passed ? "ok" : "FAIL")
      << "\",\"init\":\""
      << (result.init_completed ? "complete"
          : result.init_failed  ? "failed"
                                : "not_done")
      << "\",\"init_time\":"
      << (result.init_done_at ? json_quote(since_start(*result.init_done_at)) : "null")
      << ",\"init_time_ns\":"
      << (result.init_done_at ? std::to_string(ns_of(*result.init_done_at)) : "null")
      << ",\"root_phase\":" << json_quote(root::phase_name(result.root_phase))
      << ",\"init_failure\":" << json_quote(result.init_failure) << ",\"events\":" << result.events
      << ",\"messages\":" << result.messages << ",\"leader_changes\":" << result.leader_changes
      << ",\"client_ops\":" << result.client_ops << ",\"converged_in\":"
      << (result.converged_in ? json_quote(format_duration(*result.converged_in)) : "null")
      << ",\"converged_in_ns\":"
      << (result.converged_in ? std::to_string(result.converged_in->count()) : "null")
      << ",\"trace_hash\":\"" << hash_text(result.trace_hash) << "\",\"violation\":";
  if (const auto& v = result.violation) {
    out << "{\"invariant\":" << json_quote(v->invariant)
        << ",\"at\":" << json_quote(since_start(v->at)) << ",\"at_ns\":" << ns_of(v->at)
        << ",\"components\":[";
    for (std::size_t i = 0; i < v->processes.size(); ++i)
      out << (i ? "," : "") << json_quote(v->processes[i]);
    out << "],\"message\":" << json_quote(v->message) << "}";
  } else {
    out << "null";
  }
  out << ",\"expectation_failures\":[";
  for (std::size_t i = 0; i < result.expectation_failures.size(); ++i)
    out << (i ? "," : "") << json_quote(result.expectation_failures[i]);
  out << "],\"replay\":" << json_quote(replay_command(file, result.seed)) << "}\n";
}

}  // namespace omni::sim::cli
