// The omni-sim command line against a fake runner: flags, exit codes, output per seed, replay.
#include "sim/cli/sim_cli.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "sim/lincheck/history.h"
#include "tests/sim/cli/fake_runs.h"

namespace omni::sim::cli {
namespace {

const std::string kScenario = "scenarios/bootstrap.yaml";

struct Outcome {
  int code;
  std::string out;
  std::string err;
};

Outcome run(const std::vector<std::string>& args, std::atomic<int>* runs = nullptr) {
  std::ostringstream out;
  std::ostringstream err;
  const int code =
      run_sim_cli(args, out, err,
                  [runs](const Scenario& scenario, std::uint64_t seed, const RunOptions& options) {
                    EXPECT_EQ(scenario.name, "bootstrap");
                    if (runs) ++*runs;
                    return testing::fake_run(seed, options.record_events);
                  });
  return {code, out.str(), err.str()};
}

TEST(SimCli, BadInputExitsTwo) {
  struct Case {
    std::vector<std::string> args;
    std::string message_part;
  };
  const std::vector<Case> cases{
      {{}, "Usage: omni-sim"},
      {{"walk"}, "unknown command \"walk\""},
      {{"run"}, "missing FILE"},
      {{"run", kScenario, "--seed", "x"}, "--seed must be a whole number"},
      {{"run", kScenario, "--seed", "-1"}, "--seed must be a whole number"},
      {{"run", kScenario, "--seeds", "5..2"}, "the first seed is above the last"},
      {{"run", kScenario, "--seeds", "5"}, "--seeds must be A..B"},
      {{"run", kScenario, "--seeds", "1..9999999"}, "split the range"},
      {{"run", kScenario, "--seed", "1", "--seeds", "1..2"}, "not both"},
      {{"run", kScenario, "--jobs", "0"}, "--jobs must be a whole number from 1"},
      {{"run", kScenario, "--colour"}, "unrecognised option"},
      {{"run", kScenario, "--tr", "t.json"}, "unrecognised option"},  // no guessing --trace
      {{"run", "no/such/file.yaml"}, "no/such/file.yaml:1:1: cannot read the file: no such file"},
      {{"run", "tests/data/scenarios/bad/unknown-target.yaml"},
       "tests/data/scenarios/bad/unknown-target.yaml:5:12: unknown target"},
      {{"run", kScenario, "--trace", "no/such/dir/t.json"}, "cannot write \"no/such/dir/t.json\""},
      {{"run", kScenario, "--history", "h.jsonl"},
       "scenarios/bootstrap.yaml has no \"clients:\" block, so there is no history to write"},
      {{"shrink"}, "shrink: missing FILE"},
      {{"shrink", kScenario, "--seed", "x"}, "--seed must be a whole number"},
      {{"shrink", kScenario, "--seeds", "1..2"}, "unrecognised option"},
      {{"shrink", "no/such/file.yaml"}, "cannot read the file: no such file"},
      {{"shrink", kScenario, "-o", "no/such/dir/s.yaml"}, "cannot write \"no/such/dir/s.yaml\""},
      // A seed a scenario cannot hold: shrink wrote a file that did not read back.
      {{"run", kScenario, "--seed", "1000000000000000000"}, "from 0 to 999999999999999999"},
      {{"shrink", kScenario, "--seed", "18446744073709551615"}, "from 0 to 999999999999999999"},
      // Two outputs to one file were mixed into it, each said to be written.
      {{"run", kScenario, "--trace", "x.out", "--mermaid", "x.out"}, "named for two outputs"},
      {{"run", kScenario, "--trace", kScenario}, "is the scenario itself"},
      // shrink truncated its -o before shrinking and removed it when the seed passed: the
      // scenario itself, or /dev/null (replaced by a file, as root).
      {{"shrink", kScenario, "-o", kScenario}, "is the scenario itself"},
      {{"shrink", kScenario, "-o", "/dev/null"}, "it is there and not a regular file"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(::testing::Message() << c.args.size() << " args: " << c.message_part);
    std::atomic<int> runs{0};
    const Outcome o = run(c.args, &runs);
    EXPECT_EQ(o.code, kExitBadInput) << o.out << o.err;
    EXPECT_NE(o.err.find(c.message_part), std::string::npos) << o.err;
    EXPECT_EQ(runs, 0) << "nothing runs on bad input";
  }
}

TEST(SimCli, HelpExitsZero) {
  EXPECT_EQ(run({"--help"}).code, kExitOk);
  EXPECT_NE(run({"--help"}).out.find("run FILE"), std::string::npos);
  const Outcome o = run({"run", "--help"});
  EXPECT_EQ(o.code, kExitOk);
  EXPECT_NE(o.out.find("--seeds"), std::string::npos);
  const Outcome shrink = run({"shrink", "--help"});
  EXPECT_EQ(shrink.code, kExitOk);
  EXPECT_NE(shrink.out.find("Delta debugging"), std::string::npos) << shrink.out;
}

TEST(SimCli, OneLinePerSeedAndASummary) {
  const Outcome o = run({"run", kScenario, "--seeds", "1..2"});
  EXPECT_EQ(o.code, kExitOk) << o.err;
  EXPECT_EQ(o.out,
            "seed 1  ok    init 1m23.456s  events 1001  messages 101  leader_changes 1  hash "
            "0123456789abcdee\n"
            "seed 2  ok    init 1m23.456s  events 1002  messages 102  leader_changes 1  hash "
            "0123456789abcded\n"
            "2 passed, 0 failed\n");
}

TEST(SimCli, ScenarioSeedIsTheDefault) {
  const Outcome o = run({"run", kScenario});
  EXPECT_EQ(o.out.rfind("seed 1 ", 0), 0u) << o.out;
  EXPECT_NE(o.out.find("1 passed, 0 failed"), std::string::npos);
}

TEST(SimCli, AFailedSeedShowsWhatBrokeAndHowToReplayIt) {
  const Outcome o = run({"run", kScenario, "--seeds", "2..4"});
  EXPECT_EQ(o.code, kExitFailure);
  EXPECT_NE(o.out.find("seed 3  FAIL"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("violation: invariant 'single-leader' at 1m15.000s"), std::string::npos);
  EXPECT_NE(o.out.find("components: orchestrator:1, orchestrator:2"), std::string::npos);
  EXPECT_NE(o.out.find("two leaders in term 4"), std::string::npos);
  EXPECT_NE(o.out.find("expectation not met: leader_changes >= 1 but it was 0"), std::string::npos);
  EXPECT_NE(o.out.find("replay: omni-sim run scenarios/bootstrap.yaml --seed 3 --trace "
                       "trace-3.json"),
            std::string::npos);
  EXPECT_NE(o.out.find("2 passed, 1 failed"), std::string::npos);
}

TEST(SimCli, JobsKeepSeedOrderAndOutput) {
  const Outcome serial = run({"run", kScenario, "--seeds", "1..40"});
  const Outcome parallel = run({"run", kScenario, "--seeds", "1..40", "--jobs", "4"});
  EXPECT_EQ(serial.out, parallel.out);
  EXPECT_EQ(serial.code, parallel.code);
}

TEST(SimCli, JsonIsOneObjectPerSeed) {
  const Outcome o = run({"run", kScenario, "--seeds", "3..3", "--json"});
  EXPECT_EQ(o.code, kExitFailure);
  EXPECT_EQ(o.out.rfind("{\"seed\":3,\"verdict\":\"FAIL\",\"init\":\"complete\",\"init_time\":"
                        "\"1m23.456s\"",
                        0),
            0u)
      << o.out;
  EXPECT_NE(o.out.find("\"violation\":{\"invariant\":\"single-leader\""), std::string::npos);
  EXPECT_NE(o.out.find("\"trace_hash\":\"0123456789abcdec\""), std::string::npos);
  EXPECT_NE(o.out.find("\n{\"passed\":0,\"failed\":1}\n"), std::string::npos);
}

TEST(SimCli, TraceAndMermaidDescribeTheFirstSeed) {
  const auto dir = std::filesystem::temp_directory_path() / "omni_sim_cli_test";
  std::filesystem::create_directories(dir);
  const std::string trace = (dir / "t.json").string();
  const std::string mermaid = (dir / "t.md").string();
  std::atomic<int> runs{0};
  const Outcome o =
      run({"run", kScenario, "--seeds", "5..6", "--trace", trace, "--mermaid", mermaid}, &runs);
  EXPECT_EQ(o.code, kExitOk) << o.err;
  EXPECT_EQ(runs, 3) << "two seeds, then the first again with every event recorded";
  std::ifstream t(trace);
  std::stringstream trace_text;
  trace_text << t.rdbuf();
  EXPECT_NE(trace_text.str().find("\"traceEvents\""), std::string::npos);
  EXPECT_NE(trace_text.str().find("\"seed\":5"), std::string::npos);
  std::ifstream m(mermaid);
  std::string first_line;
  std::getline(m, first_line);
  EXPECT_EQ(first_line, "sequenceDiagram");
  EXPECT_NE(o.err.find("ui.perfetto.dev"), std::string::npos);
}

// A trace that could not be written (a full disk) was said to be written, and the run passed.
TEST(SimCli, AnOutputThatCannotBeWrittenFailsTheRun) {
  const Outcome o = run({"run", kScenario, "--seed", "5", "--trace", "/dev/full"});
  EXPECT_EQ(o.code, kExitFailure) << o.err;
  EXPECT_NE(o.err.find("writing \"/dev/full\" failed"), std::string::npos) << o.err;
  EXPECT_EQ(o.err.find("wrote the trace"), std::string::npos) << o.err;
}

// A shrink that has nothing to shrink (the seed passes) leaves a file of the output's name as
// it was: it was truncated before the shrink and removed after.
TEST(SimCli, AShrinkThatWritesNothingLeavesTheOutputAlone) {
  const auto dir = std::filesystem::temp_directory_path() / "omni_sim_cli_shrink_test";
  std::filesystem::create_directories(dir);
  const std::string kept = (dir / "kept.yaml").string();
  {
    std::ofstream file(kept);
    file << "keep me\n";
  }
  const Outcome o = run({"shrink", kScenario, "--seed", "5", "-o", kept});
  EXPECT_EQ(o.code, kExitFailure) << o.err;
  std::ifstream file(kept);
  std::string line;
  std::getline(file, line);
  EXPECT_EQ(line, "keep me");
  std::filesystem::remove_all(dir);
}

// --history writes the first seed's client history, rerun with record_history, in the format
// omni-lincheck reads.
TEST(SimCli, HistoryIsTheFirstSeedsClientHistory) {
  const auto path = std::filesystem::temp_directory_path() / "omni_sim_cli_history.jsonl";
  std::vector<RunOptions> asked;
  std::ostringstream out;
  std::ostringstream err;
  const int code = run_sim_cli(
      {"run", "scenarios/clients.yaml", "--seeds", "4..5", "--history", path.string()}, out, err,
      [&](const Scenario& scenario, std::uint64_t seed, const RunOptions& options) {
        EXPECT_TRUE(scenario.clients.has_value());
        asked.push_back(options);
        RunResult r = testing::fake_run(seed, options.record_events);
        r.passed = true;
        r.violation.reset();
        r.expectation_failures.clear();
        lincheck::Event invoke;
        invoke.f = lincheck::Function::write;
        invoke.key = "/registers/0";
        invoke.value = static_cast<std::int64_t>(seed);
        invoke.time_ns = 10;
        lincheck::Event ok = invoke;
        ok.type = lincheck::EventType::ok;
        ok.time_ns = 20;
        if (options.record_history) r.history = {invoke, ok};
        return r;
      });
  EXPECT_EQ(code, kExitOk) << err.str();
  ASSERT_EQ(asked.size(), 3u) << "two seeds, then the first again with its history kept";
  EXPECT_FALSE(asked[0].record_history);
  EXPECT_TRUE(asked[2].record_history);
  EXPECT_FALSE(asked[2].record_events) << "a history alone needs no event trace";
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  const lincheck::ParseResult parsed = lincheck::parse_history(text.str(), path.string());
  ASSERT_EQ(parsed.error, "");
  ASSERT_EQ(parsed.events.size(), 2u);
  EXPECT_EQ(std::get<std::int64_t>(parsed.events[0].value), 4) << "the first seed's history";
  EXPECT_NE(err.str().find("wrote the client history of seed 4 (2 events)"), std::string::npos)
      << err.str();
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace omni::sim::cli
