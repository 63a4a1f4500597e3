// The app scheduler: a pure function from VMs, apps and placements to a decision.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <map>
#include <set>

#include "model/config/parse.h"
#include "model/config/resource_limits.h"
#include "model/orchestrator/apps.h"

namespace omni::orchestrator {
namespace {

v1::AppSpec app(const std::string& name, std::uint32_t replicas, std::int64_t cpu_millis,
                bool spread = true) {
  v1::AppSpec a;
  a.set_name(name);
  a.set_image("omni/" + name);
  a.set_replicas(replicas);
  a.mutable_resources()->set_cpu_millis(cpu_millis);
  a.mutable_resources()->set_memory_bytes(1LL << 30);
  a.set_spread(spread);
  return a;
}

using Slots = std::map<std::pair<std::string, std::uint32_t>, std::string>;  // -> vm

std::vector<v1::AppPlacement> placements_of(const Slots& slots) {
  std::vector<v1::AppPlacement> out;
  for (const auto& [slot, vm] : slots) {
    v1::AppPlacement p;
    p.set_app(slot.first);
    p.set_index(slot.second);
    p.set_vm(vm);
    out.push_back(std::move(p));
  }
  return out;
}

ScheduleInput three_vms() {
  ScheduleInput in;
  for (const std::string node : {"n1", "n2", "n3"})
    in.vms.push_back({"t-" + node + "-worker-1", node, {7000, 31LL << 30}});
  for (const auto& vm : in.vms) in.reserved[vm.name] = {1000, 2LL << 30};  // a replica each
  return in;
}

std::map<std::string, int> per_vm(const std::vector<v1::AppPlacement>& placements) {
  std::map<std::string, int> count;
  for (const auto& p : placements) ++count[p.vm()];
  return count;
}

TEST(Scheduler, SpreadsOverNodesThenPacksAndReportsWhatDoesNotFit) {
  ScheduleInput in = three_vms();
  in.apps = {app("web", 3, 500)};
  auto d = schedule(in);
  EXPECT_EQ(per_vm(d.place),
            (std::map<std::string, int>{
                {"t-n1-worker-1", 1}, {"t-n2-worker-1", 1}, {"t-n3-worker-1", 1}}));
  EXPECT_TRUE(d.unschedulable.empty());

  in.apps = {app("batch", 10, 3000)};  // 6 cpu free per VM: two each
  d = schedule(in);
  EXPECT_EQ(d.place.size(), 6u);
  ASSERT_EQ(d.unschedulable.size(), 1u);
  EXPECT_EQ(d.unschedulable[0].replicas, 4u);
  EXPECT_NE(d.unschedulable[0].reason.find("no worker VM has 3 cpu"), std::string::npos)
      << d.unschedulable[0].reason;

  in.apps = {app("packed", 3, 500, false)};
  d = schedule(in);
  EXPECT_EQ(per_vm(d.place), (std::map<std::string, int>{{"t-n1-worker-1", 3}}));
}

TEST(Scheduler, KeepsWhatStillFitsAndMovesReplicasOffALostNode) {
  ScheduleInput in = three_vms();
  in.apps = {app("web", 3, 500)};
  in.placements = schedule(in).place;
  EXPECT_FALSE(schedule(in).changes()) << "a placed app is left where it is";

  in.lost_nodes = {"n2"};
  const auto d = schedule(in);
  ASSERT_EQ(d.unplace.size(), 1u);
  EXPECT_EQ(d.unplace[0].vm(), "t-n2-worker-1");
  ASSERT_EQ(d.place.size(), 1u);
  EXPECT_EQ(d.place[0].index(), d.unplace[0].index()) << "the same slot, elsewhere";
  EXPECT_NE(d.place[0].vm(), "t-n2-worker-1");

  in.lost_nodes.clear();
  in.apps = {app("web", 1, 500)};  // scaled down
  EXPECT_EQ(schedule(in).unplace.size(), 2u);
  in.apps.clear();  // deleted
  EXPECT_EQ(schedule(in).unplace.size(), 3u);
}

// A running container's name read back as the replica it is, for the apps there are: the inverse
// of app_container_name, and nothing for any other name a report may carry.
// A replica's container is the app's: its image, the archive to import it from, args, resources.
TEST(Scheduler, AReplicasContainerIsTheApps) {
  v1::AppSpec web = app("web", 3, 250);
  web.set_archive("/srv/images/web.tar");
  web.add_args("--port");
  const v1::ContainerSpec c = app_container("t", web, 2);
  EXPECT_EQ(c.name(), "t-web-2");
  EXPECT_EQ(c.image(), "omni/web");
  EXPECT_EQ(c.archive(), "/srv/images/web.tar");
  EXPECT_EQ(std::vector<std::string>(c.args().begin(), c.args().end()),
            std::vector<std::string>{"--port"});
  EXPECT_EQ(c.resources().cpu_millis(), 250);
  EXPECT_EQ(c.replica(), 0u);
}

TEST(Scheduler, AContainersNameIsReadBackAsItsReplica) {
  const std::map<std::string, std::uint32_t, std::less<>> replicas{{"web", 3}, {"my-api", 2}};
  using Replica = std::pair<std::string, std::uint32_t>;
  EXPECT_EQ(app_replica_of("t", app_container_name("t", "web", 3), replicas), Replica("web", 3));
  EXPECT_EQ(app_replica_of("t-1", app_container_name("t-1", "my-api", 1), replicas),
            Replica("my-api", 1));
  for (const std::string name : {"t-web-4", "t-web-0", "t-web-03", "t-web-", "t-web", "u-web-1",
                                 "t-db-1", "t-orchestrator-1", "t--1", "t-web-99999999999"})
    EXPECT_FALSE(app_replica_of("t", name, replicas).has_value()) << name;
}

// A held replica (one that may still run where it was) is taken off a VM it no longer fits but not
// placed anywhere, and not reported as unschedulable either: it is on its way.
TEST(Scheduler, AHeldReplicaIsUnplacedButNotPlacedAgain) {
  ScheduleInput in = three_vms();
  in.apps = {app("web", 3, 500, false)};
  in.placements = schedule(in).place;      // all three on the first VM
  in.apps = {app("web", 3, 2500, false)};  // grown: two fit there, the third must move
  auto d = schedule(in);
  ASSERT_EQ(d.unplace.size(), 1u);
  EXPECT_EQ(d.unplace[0].index(), 3u);
  ASSERT_EQ(d.place.size(), 1u) << "not held: moved in the same decision";
  in.held = {{"web", 3}};
  d = schedule(in);
  ASSERT_EQ(d.unplace.size(), 1u);
  EXPECT_TRUE(d.place.empty());
  EXPECT_TRUE(d.unschedulable.empty());
}

// Over any VMs, apps and earlier placements: no VM holds more than it has, every app has
// exactly its replicas placed or reported, no slot is placed twice, a kept placement is not
// moved, and a second round changes nothing (the decision is a fixed point).
RC_GTEST_PROP(SchedulerProps, NeverOverCommitsAndReachesAFixedPoint, ()) {
  ScheduleInput in;
  const int nodes = *rc::gen::inRange(1, 6);
  for (int n = 1; n <= nodes; ++n) {
    const std::string node = "n" + std::to_string(n);
    const int vms = *rc::gen::inRange(1, 3);
    for (int v = 1; v <= vms; ++v) {
      const std::string vm = node + "-w" + std::to_string(v);
      in.vms.push_back({vm,
                        node,
                        {*rc::gen::inRange<std::int64_t>(500, 8000),
                         *rc::gen::inRange<std::int64_t>(1, 32) << 30}});
      if (*rc::gen::arbitrary<bool>()) in.reserved[vm] = {500, 1LL << 30};
    }
    if (*rc::gen::inRange(0, 5) == 0) in.lost_nodes.insert(node);
  }
  const int apps = *rc::gen::inRange(0, 5);
  for (int a = 0; a < apps; ++a) {
    v1::AppSpec spec = app("app" + std::to_string(a), *rc::gen::inRange<std::uint32_t>(0, 12),
                           *rc::gen::inRange<std::int64_t>(100, 4000), *rc::gen::arbitrary<bool>());
    spec.mutable_resources()->set_memory_bytes(*rc::gen::inRange<std::int64_t>(1, 8) << 28);
    in.apps.push_back(spec);
  }
  // Earlier placements, some stale: on any VM, for slots that may no longer exist. One per
  // slot, sorted, as the committed state holds them.
  Slots earlier;
  const int earlier_count = *rc::gen::inRange(0, 10);
  for (int i = 0; i < earlier_count && !in.apps.empty(); ++i) {
    const auto& name = in.apps[*rc::gen::inRange<std::size_t>(0, in.apps.size())].name();
    earlier[{name, *rc::gen::inRange<std::uint32_t>(1, 14)}] =
        in.vms[*rc::gen::inRange<std::size_t>(0, in.vms.size())].name;
  }
  in.placements = placements_of(earlier);
  const ScheduleDecision d = schedule(in);

  Slots after;
  for (const auto& p : in.placements) after[{p.app(), p.index()}] = p.vm();
  for (const auto& p : d.unplace) after.erase({p.app(), p.index()});
  for (const auto& p : d.place) {
    RC_ASSERT(after.emplace(std::make_pair(p.app(), p.index()), p.vm()).second);
  }
  std::map<std::string, config::Resources> used = in.reserved;
  std::map<std::string, std::uint32_t> placed;
  std::map<std::string, const SchedulerVm*> vms;
  for (const auto& vm : in.vms) vms[vm.name] = &vm;
  for (const auto& [slot, vm] : after) {
    const auto spec = std::find_if(in.apps.begin(), in.apps.end(),
                                   [&](const v1::AppSpec& a) { return a.name() == slot.first; });
    RC_ASSERT(spec != in.apps.end());
    RC_ASSERT(slot.second >= 1 && slot.second <= spec->replicas());
    RC_ASSERT(!in.lost_nodes.count(vms.at(vm)->node));
    used[vm].cpu_millis += spec->resources().cpu_millis();
    used[vm].memory_bytes += spec->resources().memory_bytes();
    ++placed[slot.first];
  }
  for (const auto& vm : in.vms) {
    const bool holds_apps =
        std::any_of(after.begin(), after.end(), [&](const auto& e) { return e.second == vm.name; });
    if (!holds_apps) continue;
    RC_ASSERT(used[vm.name].cpu_millis <= vm.capacity.cpu_millis);
    RC_ASSERT(used[vm.name].memory_bytes <= vm.capacity.memory_bytes);
  }
  std::map<std::string, std::uint32_t> unschedulable;
  for (const auto& u : d.unschedulable) unschedulable[u.app] = u.replicas;
  for (const auto& a : in.apps)
    RC_ASSERT(placed[a.name()] + unschedulable[a.name()] == a.replicas());

  ScheduleInput again = in;
  again.placements = placements_of(after);
  RC_ASSERT(!schedule(again).changes());
}

TEST(AppsConfig, AppsParseWithDefaultsAndRoundTrip) {
  const std::string yaml =
      "nodes:\n  - {name: w1, resources: {cpu: 8, memory: 32Gi}}\n"
      "apps:\n"
      "  - {name: web, image: omni/demo-web, args: [web, --port, \"8080\"], replicas: 3,\n"
      "     resources: {cpu: 250m, memory: 128Mi}}\n"
      "  - {name: worker, image: omni/worker, spread: none}\n";
  const auto parsed = config::parse_cluster_config(yaml, "apps.yaml");
  ASSERT_TRUE(parsed.config.has_value()) << parsed.errors.at(0).to_string();
  ASSERT_EQ(parsed.config->apps.size(), 2u);
  const auto& web = parsed.config->apps[0];
  EXPECT_EQ(web.args, (std::vector<std::string>{"web", "--port", "8080"}));
  EXPECT_EQ(web.resources, (config::Resources{250, 128LL << 20}));
  const auto& worker = parsed.config->apps[1];
  EXPECT_EQ(worker.replicas, 1) << "the default";
  EXPECT_FALSE(worker.spread);
  const v1::AppSpec spec = to_app_spec(web);
  v1::StoreObject object;
  object.set_key(app_key("web"));
  object.set_value(spec.SerializeAsString());
  const auto back = app_of(object);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->replicas(), 3u);
  EXPECT_EQ(to_app_config(*back), web) << "config -> spec -> config is the identity";
  object.set_key("/apps/other");
  EXPECT_FALSE(app_of(object).has_value()) << "an object under another app's key is refused";
  EXPECT_EQ(app_container_name("demo", "web", 2), "demo-web-2");
}

// Amounts near the top of 64 bits: the second replica does not fit, and finding that out
// must not wrap (used + need wrapped negative and placed it, over-committing the VM).
TEST(Scheduler, HugeAmountsDoNotWrapIntoAFit) {
  ScheduleInput in;
  in.vms.push_back({"t-n1-worker-1", "n1", {7000, INT64_MAX - 10}});
  in.reserved["t-n1-worker-1"] = {1000, 2LL << 30};
  v1::AppSpec big = app("big", 2, 100, false);
  big.mutable_resources()->set_memory_bytes(INT64_MAX / 2 + 1);
  in.apps = {big};
  const auto d = schedule(in);
  EXPECT_EQ(d.place.size(), 1u);
  ASSERT_EQ(d.unschedulable.size(), 1u);
  EXPECT_EQ(d.unschedulable[0].replicas, 1u);
}

// What thousands of replicas reserve on one VM, each as much as a VM may have, stops at the top
// of int64: the sum wrapped negative and the scheduler asserted on it (or placed on a full VM).
TEST(Scheduler, ReservationsOfThousandsOfLargeReplicasDoNotWrap) {
  config::Resources sum;
  for (int i = 0; i < 8192; ++i) add_capped(sum, {config::kMaxCpuMillis, config::kMaxMemoryBytes});
  EXPECT_EQ(sum.memory_bytes, INT64_MAX);
  EXPECT_GT(sum.cpu_millis, 0);
  add_capped(sum, {-5, -5});
  EXPECT_EQ(sum.memory_bytes, INT64_MAX) << "a negative amount adds nothing";
  ScheduleInput in = three_vms();
  in.reserved["t-n1-worker-1"] = sum;
  in.apps = {app("web", 3, 500, false)};
  const auto d = schedule(in);
  EXPECT_EQ(per_vm(d.place).count("t-n1-worker-1"), 0u) << "nothing goes on the full VM";
  EXPECT_EQ(d.place.size(), 3u);
}

// An app in the store asking for more than Omni's limits (written by any client of the plane)
// is not an app the scheduler sees.
TEST(Scheduler, AnAppAboveTheLimitsIsNotReadFromTheStore) {
  const auto object_of = [](const v1::AppSpec& a) {
    v1::StoreObject o;
    o.set_key(app_key(a.name()));
    o.set_value(a.SerializeAsString());
    return o;
  };
  v1::AppSpec sound = app("web", 1, 500);
  EXPECT_TRUE(app_of(object_of(sound)).has_value());
  v1::AppSpec memory = sound;
  memory.mutable_resources()->set_memory_bytes(config::kMaxMemoryBytes + 1);
  EXPECT_FALSE(app_of(object_of(memory)).has_value());
  v1::AppSpec cpu = sound;
  cpu.mutable_resources()->set_cpu_millis(config::kMaxCpuMillis + 1);
  EXPECT_FALSE(app_of(object_of(cpu)).has_value());
}

}  // namespace
}  // namespace omni::orchestrator
