// Properties of the scenario format: no edit of a valid scenario crashes or hangs the parser,
// and every rejection is located.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "sim/scenario/parse.h"
#include "tests/sim/scenario/test_files.h"

namespace omni::sim {
namespace {

const char* kBase = R"(name: mutated
cluster:
  cluster: {name: demo, orchestrators: 3}
  nodes:
    - {name: worker-01, resources: {cpu: 8, memory: 32Gi}}
    - {name: worker-02, resources: {cpu: 8, memory: 32Gi}}
    - {name: worker-03, resources: {cpu: 8, memory: 32Gi}, worker_vms: 2}
seed: 7
duration: 15m
network: {latency: 1ms..5ms, drop: 0.1, duplicate: 0, reorder: 0.2}
timing: {vm_boot: 10s..30s, container_start: 1s..3s}
infrastructure: {worker-03: {memory: 12Gi}}
faults:
  - at: phase:takeover
    partition: [[worker-01], [worker-02, worker-03]]
  - at: +20s
    heal: all
  - at: 5m
    crash: orchestrator:2
    restart_after: 10s
  - at: 6m
    isolate: worker-02
    direction: out
  - at: 7m
    clock_skew: {target: director:worker-03, rate: 1.05}
  - at: 8m
    disk_fail: {target: orchestrator:1, mode: eio}
  - at: 9m
    power_off: worker-01
    restart_after: 1m
  - at: 10m
    network: {drop: 0.5}
swarm: {until: 10m, kinds: [partition, crash]}
expect:
  init: complete
  init_within: 5m
  leader_changes: ">= 1"
)";

// The base scenario is valid, or the property tests nothing.
TEST(ScenarioProps, BaseScenarioIsValid) {
  const auto result = parse_scenario(kBase, "base.yaml", testing::read_disk);
  if (auto* errors = std::get_if<std::vector<config::Diagnostic>>(&result))
    FAIL() << errors->front().to_string();
}

// Mutations a person (or a bad tool) makes: characters inserted, deleted or replaced by ones
// that matter to YAML and to our own syntax (durations, ranges, targets), and non-UTF-8 bytes.
RC_GTEST_PROP(ScenarioProps, MutatedScenariosAreRejectedOrAcceptedNeverCrash, ()) {
  std::string text = kBase;
  const std::string alphabet = ":-[]{}#&*!|>'\"%@`,?+. \n\t0123456789abcmshGi\xff\xc3";
  const int edits = *rc::gen::inRange(1, 8);
  for (int i = 0; i < edits; ++i) {
    const auto at = *rc::gen::inRange<std::size_t>(0, text.size() + 1);
    const char c = *rc::gen::elementOf(alphabet);
    switch (*rc::gen::inRange(0, 3)) {
      case 0:
        text.insert(text.begin() + static_cast<long>(at), c);
        break;
      case 1:
        if (at < text.size()) text.erase(at, 1);
        break;
      default:
        if (at < text.size()) text[at] = c;
        break;
    }
  }
  const auto result = parse_scenario(text, "mutated.yaml", testing::read_disk);
  if (const auto* errors = std::get_if<std::vector<config::Diagnostic>>(&result)) {
    RC_ASSERT(!errors->empty());
    RC_ASSERT(errors->size() <= config::kMaxDiagnostics);
    for (const auto& d : *errors) {
      RC_ASSERT(d.where.line >= 1);
      RC_ASSERT(d.where.column >= 1);
      RC_ASSERT(!d.message.empty());
    }
  }
}

// Whole values swapped for others of the wrong kind, at every key.
RC_GTEST_PROP(ScenarioProps, WrongKindsOfValueAreLocatedErrors, ()) {
  static const std::vector<std::string> values{
      "[]", "{}", "\"\"", "-1", "1..0", "phase:", "+", "all", "~", "[[]]", "{a: b}", "1e400"};
  std::string text = kBase;
  const auto colon = *rc::gen::inRange<std::size_t>(0, text.size());
  const auto at = text.find(": ", colon);
  RC_PRE(at != std::string::npos);
  const auto end = text.find_first_of(",}\n", at + 2);
  RC_PRE(end != std::string::npos);
  text.replace(at + 2, end - at - 2, *rc::gen::elementOf(values));
  const auto result = parse_scenario(text, "swapped.yaml", testing::read_disk);
  if (const auto* errors = std::get_if<std::vector<config::Diagnostic>>(&result)) {
    RC_ASSERT(!errors->empty());
    for (const auto& d : *errors) RC_ASSERT(d.where.line >= 1 && d.where.column >= 1);
  }
}

TEST(ScenarioProps, DeepNestingIsAnErrorNotAStackOverflow) {
  const std::string text = "name: t\nfaults: " + std::string(100000, '[');
  const auto result = parse_scenario(text, "deep.yaml", testing::read_disk);
  EXPECT_TRUE(std::holds_alternative<std::vector<config::Diagnostic>>(result));
}

}  // namespace
}  // namespace omni::sim
