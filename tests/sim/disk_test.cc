#include <gtest/gtest.h>

#include "sim/disk/sim_disk.h"
#include "sim/simulation.h"
#include "tests/sim/toys.h"

namespace omni::sim {
namespace {

struct Write {
  std::string record;
  bool sync;
  bool replace = false;
};

TEST(SimDisk, CrashKeepsExactlyTheDurableRecords) {
  struct Case {
    std::string name;
    std::vector<Write> writes;
    std::vector<std::string> after_crash;
  };
  const std::vector<Case> cases = {
      {"synced survive", {{"a", true}, {"b", true}}, {"a", "b"}},
      {"unsynced tail lost", {{"a", true}, {"b", false}, {"c", false}}, {"a"}},
      {"later sync covers earlier", {{"a", false}, {"b", false}, {"c", true}}, {"a", "b", "c"}},
      {"synced replace drops earlier", {{"a", true}, {"b", true}, {"s", true, true}}, {"s"}},
      {"replace then append", {{"a", true}, {"s", true, true}, {"c", true}}, {"s", "c"}},
      {"unsynced replace lost, old back",
       {{"a", true}, {"b", true}, {"s", false, true}},
       {"a", "b"}},
      {"unsynced replace then sync", {{"a", true}, {"s", false, true}, {"c", true}}, {"s", "c"}},
      {"only unsynced", {{"a", false}}, {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    SimDisk disk;
    for (const Write& w : c.writes) {
      ASSERT_EQ(disk.persist(w.record, w.sync, w.replace), PersistStatus::ok);
    }
    disk.crash();
    EXPECT_EQ(disk.records(), c.after_crash);
    disk.crash();  // a second crash changes nothing
    EXPECT_EQ(disk.records(), c.after_crash);
  }
}

TEST(SimDisk, CorruptionFlipsBytesInOneRecord) {
  SimDisk disk;
  for (const char* record : {"alpha", "bravo", "charlie"}) disk.persist(record, true, false);
  Rng rng(9);
  ASSERT_TRUE(disk.corrupt(rng));
  int changed = 0;
  const std::vector<std::string> original = {"alpha", "bravo", "charlie"};
  for (std::size_t i = 0; i < original.size(); ++i) {
    changed += disk.records()[i] != original[i] ? 1 : 0;
    EXPECT_EQ(disk.records()[i].size(), original[i].size());
  }
  EXPECT_EQ(changed, 1);
  SimDisk empty;
  EXPECT_FALSE(empty.corrupt(rng));
}

TEST(SimDisk, EioFailsOnceOrForever) {
  SimDisk disk;
  disk.fail_next_persist(false);
  EXPECT_EQ(disk.persist("a", true, false), PersistStatus::eio);
  EXPECT_EQ(disk.persist("b", true, false), PersistStatus::ok);
  disk.fail_next_persist(true);
  EXPECT_EQ(disk.persist("c", true, false), PersistStatus::eio);
  EXPECT_EQ(disk.persist("d", true, false), PersistStatus::eio);
  disk.clear_failures();
  EXPECT_EQ(disk.persist("e", true, false), PersistStatus::ok);
  EXPECT_EQ(disk.records(), (std::vector<std::string>{"b", "e"}));
}

// A component that, at every start, records what it was handed and then persists its script.
struct Persisted {
  std::vector<std::vector<std::string>> starts;
};

ComponentFactory scripted_writer(Persisted* seen, std::vector<Write> writes) {
  return testing::lambda_factory([seen, writes](const Input& input, Outputs& out) {
    const auto* start = std::get_if<Start>(&input);
    if (start == nullptr) return;
    seen->starts.push_back(start->persisted);
    if (seen->starts.size() > 1) return;  // write only in the first incarnation
    for (const Write& w : writes) {
      out.push_back(Persist{.record = w.record, .sync = w.sync, .replace = w.replace});
    }
    out.push_back(testing::send_hello("elsewhere", 1));
  });
}

TEST(SimulationDisk, RestartHandsBackOnlyDurableRecords) {
  Persisted seen;
  Simulation sim(SimConfig{});
  sim.add_process("p",
                  scripted_writer(&seen, {{"a", true}, {"b", false}, {"c", true}, {"d", false}}));
  sim.run_for(1s);
  sim.restart("p");
  sim.run_for(1s);
  ASSERT_EQ(seen.starts.size(), 2U);
  EXPECT_TRUE(seen.starts[0].empty());
  EXPECT_EQ(seen.starts[1], (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(sim.counters().crashes, 1U);
  EXPECT_EQ(sim.incarnation("p"), 1U);
}

TEST(SimulationDisk, CorruptionIsSeenAtTheNextStart) {
  Persisted seen;
  Simulation sim(SimConfig{});
  sim.add_process("p", scripted_writer(&seen, {{"record-one", true}}));
  sim.run_for(1s);
  ASSERT_TRUE(sim.corrupt_disk("p"));
  sim.restart("p", 1s);
  sim.run_for(2s);
  ASSERT_EQ(seen.starts.size(), 2U);
  ASSERT_EQ(seen.starts[1].size(), 1U);
  EXPECT_NE(seen.starts[1][0], "record-one");
}

TEST(SimulationDisk, EioCrashesTheProcessBeforeItsLaterOutputs) {
  Persisted seen;
  Simulation sim(SimConfig{});
  sim.add_process("p", scripted_writer(&seen, {{"a", true}, {"b", true}}));
  sim.fail_disk("p");
  sim.run_for(1s);
  EXPECT_FALSE(sim.is_up("p"));
  EXPECT_EQ(sim.counters().persist_failures, 1U);
  EXPECT_EQ(sim.counters().persists, 0U);       // "b" was never written
  EXPECT_EQ(sim.counters().messages_sent, 0U);  // nor the send after it
  EXPECT_TRUE(sim.disk("p").records().empty());
}

}  // namespace
}  // namespace omni::sim
