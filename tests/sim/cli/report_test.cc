// The trace and diagram writers on a hand-made run: structure, not pixels.
#include <gtest/gtest.h>

#include <sstream>

#include "sim/report/chrome_trace.h"
#include "sim/report/mermaid.h"
#include "tests/sim/cli/fake_runs.h"

namespace omni::sim {
namespace {

// Brackets balance outside strings, and strings close: enough to know Perfetto can parse it.
bool balanced_json(const std::string& text) {
  std::string stack;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"')
      in_string = true;
    else if (c == '{' || c == '[')
      stack += c;
    else if (c == '}' || c == ']') {
      if (stack.empty() || stack.back() != (c == '}' ? '{' : '[')) return false;
      stack.pop_back();
    }
  }
  return stack.empty() && !in_string;
}

std::size_t count(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

TEST(ChromeTrace, IsBalancedJsonWithNamedTracks) {
  std::ostringstream out;
  write_chrome_trace(testing::fake_run(1, true), out);
  const std::string json = out.str();
  EXPECT_TRUE(balanced_json(json)) << json;
  EXPECT_NE(json.find("\"traceEvents\":["), std::string::npos);
  EXPECT_EQ(count(json, "\"thread_name\""), 5u);
  EXPECT_EQ(count(json, "\"process_name\""), 2u) << "root-host and worker-01";
  EXPECT_NE(json.find("{\"name\":\"root-host\"}"), std::string::npos);
  EXPECT_NE(json.find("{\"name\":\"director:worker-01\"}"), std::string::npos);
  EXPECT_EQ(count(json, "\"cat\":\"phase\""), 3u);
  EXPECT_NE(json.find("\"name\":\"phase workers\""), std::string::npos);
  EXPECT_NE(json.find("send director_command"), std::string::npos);
  EXPECT_EQ(count(json, "\"ph\":\"s\""), 4u);
  EXPECT_EQ(count(json, "\"ph\":\"f\""), 2u) << "two delivers pair with the two first sends";
  EXPECT_NE(json.find("\"ph\":\"s\",\"id\":1,"), std::string::npos);
  EXPECT_NE(json.find("\"ph\":\"f\",\"id\":1,"), std::string::npos);
  EXPECT_NE(json.find("\"ph\":\"f\",\"id\":2,"), std::string::npos);
  EXPECT_EQ(json.find("\"tick\""), std::string::npos) << "ticks are left out";
  EXPECT_NE(json.find("\"name\":\"crash\""), std::string::npos);
  EXPECT_NE(json.find("\"ts\":650000.000"), std::string::npos) << "microseconds";
}

TEST(ChromeTrace, EmptyRunIsStillValid) {
  std::ostringstream out;
  write_chrome_trace(RunResult{}, out);
  EXPECT_TRUE(balanced_json(out.str()));
  EXPECT_NE(out.str().find("\"traceEvents\":["), std::string::npos);
}

TEST(Mermaid, SequenceDiagramWithPhasesAndFirstMessages) {
  std::ostringstream out;
  write_mermaid(testing::fake_run(1, true), out);
  const std::string md = out.str();
  EXPECT_EQ(md.rfind("sequenceDiagram\n", 0), 0u);
  EXPECT_NE(md.find("participant root as Root Orchestrator"), std::string::npos);
  EXPECT_NE(md.find("participant director as Directors"), std::string::npos);
  EXPECT_NE(md.find("participant orchestrator as Orchestrators"), std::string::npos);
  EXPECT_NE(md.find("Note over root,progress: phase workers at 0.500s"), std::string::npos) << md;
  EXPECT_EQ(count(md, "root->>director: director_command"), 2u) << md;
  EXPECT_EQ(count(md, "director->>root: director_report"), 1u);
  EXPECT_NE(md.find("crash orchestrator:1"), std::string::npos);
  EXPECT_LT(md.find("phase directors"), md.find("root->>director"));
}

TEST(Mermaid, StaysBoundedOnALargeRun) {
  RunResult r = testing::fake_run(1, true);
  r.trace_events.clear();
  for (std::uint32_t i = 0; i < 5000; ++i)  // every message of a kind never seen before
    r.trace_events.push_back(
        {Time{} + std::chrono::milliseconds(i), EventKind::send, i % 5, (i + 1) % 5, 1000u + i});
  std::ostringstream out;
  write_mermaid(r, out);
  EXPECT_LE(count(out.str(), "\n"), kMaxMermaidLines + 12);
  EXPECT_NE(out.str().find("more messages not shown"), std::string::npos);
}

}  // namespace
}  // namespace omni::sim
