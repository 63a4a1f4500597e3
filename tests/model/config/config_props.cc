// Properties of the config format: rendering and parsing are inverse, quantities round-trip,
// and no mutation of a valid file crashes or hangs the parser.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "model/config/parse.h"
#include "model/config/quantity.h"
#include "model/config/render.h"
#include "model/config/resource_limits.h"

namespace omni::config {
namespace {

// A valid DNS-label name of at most `length_max` characters, by construction: the draw is cut to
// length first and its ends are then replaced (never inserted), so no draw is ever thrown away.
rc::Gen<std::string> gen_name(std::size_t length_max = kMaxNodeNameLength) {
  return rc::gen::map(rc::gen::container<std::string>(
                          rc::gen::elementOf(std::string("abcdefghijklmnopqrstuvwxyz0123456789-"))),
                      [length_max](std::string s) {
                        if (s.size() > length_max) s.resize(length_max);
                        if (s.empty()) s = "n";
                        if (s.front() == '-') s.front() = 'n';
                        if (s.back() == '-') s.back() = '0';
                        return s;
                      });
}

// `count` distinct node names. Each is a drawn stem plus "-INDEX": the index follows the last
// '-', which no stem can contain after it, so two names are never equal and nothing is redrawn.
std::vector<std::string> gen_distinct_names(std::size_t count) {
  std::vector<std::string> names;
  for (std::size_t index = 0; index < count; ++index) {
    const std::string suffix = std::string("-").append(std::to_string(index));
    names.push_back(*gen_name(kMaxNodeNameLength - suffix.size()) + suffix);
  }
  return names;
}

rc::Gen<Resources> gen_resources() {
  return rc::gen::build<Resources>(
      rc::gen::set(&Resources::cpu_millis, rc::gen::inRange<std::int64_t>(1, 1'000'000)),
      rc::gen::set(&Resources::memory_bytes,
                   rc::gen::inRange<std::int64_t>(1, kMaxMemoryBytes + 1)));
}

ClusterConfig gen_config() {
  ClusterConfig c;
  c.name = *gen_name();
  c.director_vm = *gen_resources();
  c.orchestrator = *gen_resources();
  const auto count = *rc::gen::inRange<std::size_t>(1, 12);
  for (const auto& name : gen_distinct_names(count)) {
    NodeConfig node;
    node.name = name;
    node.resources = *gen_resources();
    node.hypervisor = *rc::gen::element<std::string>("local", "qemu:///system",
                                                     "qemu+ssh://host-1/system", "test:///default");
    node.worker_vms = *rc::gen::inRange(1, kMaxWorkerVmsPerNode + 1);
    c.nodes.push_back(node);
  }
  const int max_odd =
      std::min<int>(kMaxOrchestrators, static_cast<int>(count) % 2 ? static_cast<int>(count)
                                                                   : static_cast<int>(count) - 1);
  c.orchestrators = 2 * *rc::gen::inRange(0, (max_odd + 1) / 2) + 1;
  return c;
}

RC_GTEST_PROP(ConfigProps, AnyValidConfigRoundTripsThroughYaml, ()) {
  const ClusterConfig original = gen_config();
  const std::string yaml = render_yaml(original);
  const ConfigResult parsed = parse_cluster_config(yaml, "rendered");
  RC_ASSERT(parsed.errors.empty());
  RC_ASSERT(*parsed.config == original);
}

RC_GTEST_PROP(ConfigProps, CpuParseAndFormatAreInverse, ()) {
  const auto millis = *rc::gen::inRange<std::int64_t>(1, std::numeric_limits<std::int64_t>::max());
  const auto parsed = parse_cpu_millis(format_cpu_millis(millis));
  RC_ASSERT(std::holds_alternative<std::int64_t>(parsed));
  RC_ASSERT(std::get<std::int64_t>(parsed) == millis);
}

RC_GTEST_PROP(ConfigProps, MemoryParseAndFormatAreInverse, ()) {
  const auto bytes =
      *rc::gen::oneOf(rc::gen::inRange<std::int64_t>(1, std::numeric_limits<std::int64_t>::max()),
                      rc::gen::map(rc::gen::inRange<std::int64_t>(1, 1 << 20),
                                   [](std::int64_t k) { return k << 30; }));
  const auto parsed = parse_memory_bytes(format_memory_bytes(bytes));
  RC_ASSERT(std::holds_alternative<std::int64_t>(parsed));
  RC_ASSERT(std::get<std::int64_t>(parsed) == bytes);
}

std::string example_text() {
  std::ifstream in("examples/cluster-3node.yaml");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Mutations a person (or a bad tool) makes: characters inserted, deleted or replaced by ones
// that matter to YAML, including bytes that are not UTF-8.
RC_GTEST_PROP(ConfigProps, MutatedFilesAreRejectedOrAcceptedNeverCrash, ()) {
  static const std::string base = example_text();
  RC_PRE(!base.empty());
  std::string text = base;
  const std::string alphabet = ":-[]{}#&*!|>'\"%@`,? \n\t0123456789abcGiKm.\xff\xc3";
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
  const ConfigResult result = parse_cluster_config(text, "mutated.yaml");
  RC_ASSERT(result.config.has_value() == result.errors.empty());
  for (const auto& d : result.errors) {
    RC_ASSERT(d.where.line >= 1);
    RC_ASSERT(d.where.column >= 1);
    RC_ASSERT(!d.message.empty());
  }
}

TEST(ConfigProps, DeepNestingIsAnErrorNotAStackOverflow) {
  const std::string text = "nodes: " + std::string(100000, '[');
  const ConfigResult result = parse_cluster_config(text, "deep.yaml");
  EXPECT_FALSE(result.config.has_value());
  ASSERT_FALSE(result.errors.empty());
}

}  // namespace
}  // namespace omni::config
