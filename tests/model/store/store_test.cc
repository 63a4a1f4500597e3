// The plane's resource store: the replicated state's put / delete / compare-and-set by
// revision, and the leader's answers to clients (writes through the log, reads by read-index).
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "model/orchestrator/cluster_state.h"
#include "model/orchestrator/orchestrator.h"
#include "tests/model/bootstrap/outputs.h"

namespace omni::orchestrator {
namespace {

v1::RaftEntry write_entry(std::uint64_t index, const std::string& key, const std::string& value,
                          bool is_delete, std::optional<std::uint64_t> expected) {
  v1::ClusterCommand command;
  auto* w = command.mutable_store()->mutable_write();
  w->set_key(key);
  if (!is_delete) w->set_value(value);
  w->set_conditional(expected.has_value());
  w->set_expected_revision(expected.value_or(0));
  command.mutable_store()->set_is_delete(is_delete);
  v1::RaftEntry entry;
  entry.set_index(index);
  entry.set_data(command.SerializeAsString());
  return entry;
}

TEST(Store, RevisionsConditionalWritesAndDeletes) {
  ClusterState s;
  s.apply(write_entry(1, "/apps/web", "a", false, 0u));  // create: must not exist
  auto r = s.take_result(1);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status(), v1::STORE_STATUS_OK);
  EXPECT_EQ(r->revision(), 1u);
  ASSERT_EQ(r->objects_size(), 1);
  EXPECT_EQ(r->objects(0).created_revision(), 1u);
  EXPECT_FALSE(s.take_result(1).has_value()) << "taken once";

  s.apply(write_entry(2, "/apps/web", "b", false, 0u));  // create again: it exists
  EXPECT_EQ(s.take_result(2)->status(), v1::STORE_STATUS_CONFLICT);
  s.apply(write_entry(3, "/apps/db", "x", false, std::nullopt));
  s.apply(write_entry(4, "/apps/web", "c", false, 1u));  // compare-and-set on revision 1
  const auto cas = s.take_result(4);
  EXPECT_EQ(cas->status(), v1::STORE_STATUS_OK);
  EXPECT_EQ(cas->objects(0).revision(), 3u);
  EXPECT_EQ(cas->objects(0).created_revision(), 1u);
  s.apply(write_entry(5, "/apps/web", "d", false, 1u));  // a stale revision
  const auto stale = s.take_result(5);
  EXPECT_EQ(stale->status(), v1::STORE_STATUS_CONFLICT);
  EXPECT_NE(stale->error().find("is 3, not 1"), std::string::npos) << stale->error();
  EXPECT_EQ(s.find("/apps/web")->value(), "c");
  EXPECT_EQ(s.store_revision(), 3u) << "a refused write takes no revision";

  s.apply(write_entry(6, "/nope", "", true, std::nullopt));
  EXPECT_EQ(s.take_result(6)->status(), v1::STORE_STATUS_NOT_FOUND);
  s.apply(write_entry(7, "/apps/db", "", true, 2u));
  EXPECT_EQ(s.take_result(7)->status(), v1::STORE_STATUS_OK);
  EXPECT_EQ(s.find("/apps/db"), nullptr);
  EXPECT_EQ(s.store_revision(), 4u);

  s.apply(write_entry(8, "/apps/api", "y", false, std::nullopt));
  s.apply(write_entry(9, "/other", "z", false, std::nullopt));
  const auto apps = s.list("/apps/");
  ASSERT_EQ(apps.size(), 2u);
  EXPECT_EQ(apps[0].key(), "/apps/api");
  EXPECT_EQ(apps[1].key(), "/apps/web");

  ClusterState restored;
  restored.restore(s.snapshot());
  EXPECT_EQ(restored.store_revision(), s.store_revision());
  EXPECT_EQ(restored.list("/").size(), 3u);
  EXPECT_EQ(restored.find("/apps/web")->created_revision(), 1u);
}

// 100,000 values of 64 KiB were allowed (6.4 GB), more than a snapshot can carry in one message
// or one log record: the keys and values together have a limit, and a restored store counts them.
TEST(Store, TheStoreHoldsAtMostItsBytes) {
  ClusterState s;
  const std::string value(kMaxValueBytes, 'v');
  std::uint64_t index = 0;
  std::size_t stored = 0;
  for (;; ++stored) {
    const std::string key = "/data/" + std::to_string(stored);
    s.apply(write_entry(++index, key, value, false, std::nullopt));
    const auto r = s.take_result(index);
    ASSERT_TRUE(r.has_value());
    if (r->status() == v1::STORE_STATUS_OK) continue;
    EXPECT_EQ(r->status(), v1::STORE_STATUS_INVALID);
    EXPECT_NE(r->error().find("the store holds its most bytes, 32 MiB"), std::string::npos)
        << r->error();
    break;
  }
  EXPECT_EQ(stored, 511u);  // 511 values of 64 KiB and their keys fit in 32 MiB, not 512
  // Replacing a value with a smaller one, and a delete, make room again.
  s.apply(write_entry(++index, "/data/0", "small", false, std::nullopt));
  EXPECT_EQ(s.take_result(index)->status(), v1::STORE_STATUS_OK);
  s.apply(write_entry(++index, "/data/extra", value, false, std::nullopt));
  EXPECT_EQ(s.take_result(index)->status(), v1::STORE_STATUS_OK);
  s.apply(write_entry(++index, "/data/more", value, false, std::nullopt));
  EXPECT_EQ(s.take_result(index)->status(), v1::STORE_STATUS_INVALID);
  ClusterState restored;
  restored.restore(s.snapshot());
  restored.apply(write_entry(++index, "/data/more", value, false, std::nullopt));
  EXPECT_EQ(restored.take_result(index)->status(), v1::STORE_STATUS_INVALID)
      << "a restored store counts its bytes";
  restored.apply(write_entry(++index, "/data/1", "", true, std::nullopt));
  EXPECT_EQ(restored.take_result(index)->status(), v1::STORE_STATUS_OK);
  restored.apply(write_entry(++index, "/data/more", value, false, std::nullopt));
  EXPECT_EQ(restored.take_result(index)->status(), v1::STORE_STATUS_OK);
}

TEST(Store, MalformedWritesInTheLogAreSkippedAndCounted) {
  ClusterState s;
  s.apply(write_entry(1, "no-slash", "a", false, std::nullopt));
  s.apply(write_entry(2, "/a b", "a", false, std::nullopt));
  s.apply(write_entry(3, "/big", std::string(kMaxValueBytes + 1, 'x'), false, std::nullopt));
  EXPECT_EQ(s.rejected_entries(), 3u);
  EXPECT_EQ(s.store_revision(), 0u);
  EXPECT_FALSE(s.take_result(1).has_value());
  // A snapshot whose objects the store could not hold is refused whole.
  v1::ClusterStateSnapshot bad;
  bad.set_store_revision(1);
  bad.add_objects()->set_key("/x");
  bad.mutable_objects(0)->set_revision(5);  // newer than the store
  ClusterState restored;
  restored.restore(bad.SerializeAsString());
  EXPECT_EQ(restored.corrupt_snapshots(), 1u);
  EXPECT_EQ(restored.object_count(), 0u);
}

// The store against a model of it: any sequence of puts, deletes and conditional writes over a
// few keys leaves the same objects, revisions and answers as a plain map with a counter, and a
// snapshot taken anywhere restores to the same store.
RC_GTEST_PROP(StoreProps, TheStoreBehavesAsAMapWithRevisions, ()) {
  struct Modelled {
    std::string value;
    std::uint64_t revision = 0;
    std::uint64_t created = 0;
  };
  std::map<std::string, Modelled> model;
  std::uint64_t revision = 0;
  ClusterState s;
  const int ops = *rc::gen::inRange(1, 80);
  for (int i = 1; i <= ops; ++i) {
    const std::string key = "/k" + std::to_string(*rc::gen::inRange(0, 4));
    const bool is_delete = *rc::gen::inRange(0, 3) == 0;
    std::optional<std::uint64_t> expected;
    if (*rc::gen::arbitrary<bool>()) expected = *rc::gen::inRange<std::uint64_t>(0, revision + 2);
    const std::string value = "v" + std::to_string(i);
    s.apply(write_entry(static_cast<std::uint64_t>(i), key, value, is_delete, expected));
    const auto result = s.take_result(static_cast<std::uint64_t>(i));
    RC_ASSERT(result.has_value());
    const auto it = model.find(key);
    const std::uint64_t current = it == model.end() ? 0 : it->second.revision;
    if (expected && *expected != current) {
      RC_ASSERT(result->status() == v1::STORE_STATUS_CONFLICT);
    } else if (is_delete && it == model.end()) {
      RC_ASSERT(result->status() == v1::STORE_STATUS_NOT_FOUND);
    } else {
      RC_ASSERT(result->status() == v1::STORE_STATUS_OK);
      ++revision;
      if (is_delete) {
        model.erase(it);
      } else {
        Modelled& m = model[key];
        if (m.created == 0) m.created = revision;
        m.value = value;
        m.revision = revision;
      }
    }
    RC_ASSERT(result->revision() == revision);
  }
  ClusterState restored;
  restored.restore(s.snapshot());
  for (const ClusterState* store : {&s, &restored}) {
    RC_ASSERT(store->store_revision() == revision);
    RC_ASSERT(store->object_count() == model.size());
    for (const auto& [key, m] : model) {
      const v1::StoreObject* o = store->find(key);
      RC_ASSERT(o != nullptr);
      RC_ASSERT(o->value() == m.value);
      RC_ASSERT(o->revision() == m.revision);
      RC_ASSERT(o->created_revision() == m.created);
    }
  }
}

// One replica that leads, and a client.
struct Plane {
  Orchestrator o{*Orchestrator::from_args({"--replica=1", "--members=orchestrator:1"}), Rng{7}};
  Time now{};
  Outputs out;
  std::uint64_t next_id = 1;

  // A lone voter leads one election timeout after its start, whatever that is configured to.
  Plane() {
    o.step(Start{now, {}}, out);
    for (const Time give_up = now + 10s; !o.is_leader() && now < give_up;) run_for(10ms);
  }
  void run_for(Duration d) {
    for (const Time end = now + d; now < end;) {
      now += 10ms;
      o.step(Tick{now}, out);
    }
  }
  v1::StoreReply ask(v1::StoreRequest r, const Address& from = "client:1") {
    r.set_id(next_id++);
    v1::Envelope e;
    *e.mutable_store_request() = r;
    out.clear();
    o.step(Deliver{now, from, e}, out);
    run_for(100ms);
    const auto replies = omni::testing::sends_to(out, from);
    for (const auto& send : replies)
      if (send.envelope.has_store_reply() && send.envelope.store_reply().id() == r.id())
        return send.envelope.store_reply();
    return {};
  }
};

v1::StoreRequest put(const std::string& key, const std::string& value,
                     std::optional<std::uint64_t> expected = std::nullopt) {
  v1::StoreRequest r;
  r.mutable_put()->set_key(key);
  r.mutable_put()->set_value(value);
  r.mutable_put()->set_conditional(expected.has_value());
  r.mutable_put()->set_expected_revision(expected.value_or(0));
  return r;
}

v1::StoreRequest get(const std::string& key) {
  v1::StoreRequest r;
  r.mutable_get()->set_key(key);
  return r;
}

TEST(StorePlane, TheLeaderWritesThroughTheLogAndReadsByReadIndex) {
  Plane p;
  ASSERT_TRUE(p.o.is_leader());
  const auto created = p.ask(put("/settings/web", "replicas: 3", 0u));
  EXPECT_EQ(created.status(), v1::STORE_STATUS_OK) << created.error();
  const std::uint64_t revision = created.revision();
  EXPECT_GT(revision, 0u);
  const auto read = p.ask(get("/settings/web"));
  ASSERT_EQ(read.status(), v1::STORE_STATUS_OK);
  EXPECT_EQ(read.objects(0).value(), "replicas: 3");
  EXPECT_EQ(read.objects(0).revision(), revision);
  EXPECT_EQ(read.leader_hint(), "orchestrator:1");

  EXPECT_EQ(p.ask(put("/settings/web", "replicas: 5", revision + 7)).status(),
            v1::STORE_STATUS_CONFLICT);
  EXPECT_EQ(p.ask(put("/settings/web", "replicas: 5", revision)).status(), v1::STORE_STATUS_OK);
  EXPECT_EQ(p.ask(get("/settings/web")).objects(0).value(), "replicas: 5");
  EXPECT_EQ(p.ask(get("/settings/nope")).status(), v1::STORE_STATUS_NOT_FOUND);

  const auto invalid = p.ask(put("apps", "x"));
  EXPECT_EQ(invalid.status(), v1::STORE_STATUS_INVALID);
  EXPECT_NE(invalid.error().find("starts with '/'"), std::string::npos);
  EXPECT_EQ(p.ask(v1::StoreRequest{}).status(), v1::STORE_STATUS_INVALID) << "no op";

  const std::uint64_t dropped = p.o.dropped_messages();
  EXPECT_EQ(p.ask(put("/settings/web", "x"), "director:n1").status(), v1::STORE_STATUS_UNSPECIFIED)
      << "only clients use the store; nothing is answered";
  EXPECT_EQ(p.o.dropped_messages(), dropped + 1);
  EXPECT_EQ(p.ask(get("/settings/web")).objects(0).value(), "replicas: 5");
}

// Nodes, VMs and members are the cluster's own records: a client reads them and never writes.
TEST(StorePlane, ClientsCannotWriteTheClustersOwnRecords) {
  Plane p;
  for (const std::string key : {"/nodes/n9", "/vms/t-n1-worker-1", "/members/1"}) {
    const auto put_reply = p.ask(put(key, "x"));
    EXPECT_EQ(put_reply.status(), v1::STORE_STATUS_INVALID) << key;
    EXPECT_NE(put_reply.error().find("clients read it only"), std::string::npos) << key;
    v1::StoreRequest remove;
    remove.mutable_delete_()->set_key(key);
    EXPECT_EQ(p.ask(remove).status(), v1::STORE_STATUS_INVALID) << key;
  }
  EXPECT_EQ(p.ask(put("/settings/web", "x")).status(), v1::STORE_STATUS_OK);
  v1::AppSpec app;
  app.set_name("web");
  app.set_image("omni/web");
  app.set_replicas(2);
  app.mutable_resources()->set_cpu_millis(100);
  app.mutable_resources()->set_memory_bytes(1 << 20);
  EXPECT_EQ(p.ask(put("/apps/web", app.SerializeAsString())).status(), v1::STORE_STATUS_OK)
      << "apps are the clients'";
  EXPECT_EQ(p.ask(put("/apps/web", "x")).status(), v1::STORE_STATUS_INVALID)
      << "what is under /apps/ is an app";
}

// A network may deliver a request twice. The copy is dropped, so a compare-and-set is applied
// and answered once, never answered CONFLICT by its own duplicate (docs/store.md).
TEST(StorePlane, ARequestDeliveredTwiceIsAppliedAndAnsweredOnce) {
  Plane p;
  const std::uint64_t revision = p.ask(put("/settings/web", "replicas: 3", 0u)).revision();
  v1::StoreRequest cas = put("/settings/web", "replicas: 5", revision);
  cas.set_id(p.next_id++);
  v1::Envelope e;
  *e.mutable_store_request() = cas;
  const std::uint64_t dropped = p.o.dropped_messages();
  p.out.clear();
  p.o.step(Deliver{p.now, "client:1", e}, p.out);
  p.o.step(Deliver{p.now, "client:1", e}, p.out);
  p.run_for(100ms);
  std::vector<v1::StoreReply> answers;
  for (const auto& send : omni::testing::sends_to(p.out, "client:1"))
    if (send.envelope.has_store_reply() && send.envelope.store_reply().id() == cas.id())
      answers.push_back(send.envelope.store_reply());
  ASSERT_EQ(answers.size(), 1u) << "one answer, not one per copy";
  EXPECT_EQ(answers[0].status(), v1::STORE_STATUS_OK) << answers[0].error();
  EXPECT_EQ(p.o.dropped_messages(), dropped + 1);
  const auto read = p.ask(get("/settings/web"));
  ASSERT_EQ(read.objects_size(), 1);
  EXPECT_EQ(read.objects(0).value(), "replicas: 5");
  EXPECT_EQ(read.objects(0).revision(), answers[0].revision()) << "written once";
}

v1::StoreRequest list(const std::string& prefix, const std::string& start_after,
                      std::uint32_t limit) {
  v1::StoreRequest r;
  r.mutable_list()->set_prefix(prefix);
  r.mutable_list()->set_start_after(start_after);
  r.mutable_list()->set_limit(limit);
  return r;
}

// A list is read in pages: each says whether objects under the prefix follow its last, and the
// next starts after that key. Before, a list stopped at 10,000 objects and did not say so.
TEST(StorePlane, AListIsReadInPagesThatSayWhetherMoreFollow) {
  Plane p;
  ASSERT_TRUE(p.o.is_leader());
  std::vector<std::string> written;
  for (int i = 0; i < 7; ++i) {
    written.push_back("/a/" + std::to_string(i));
    ASSERT_EQ(p.ask(put(written.back(), "x")).status(), v1::STORE_STATUS_OK);
  }
  ASSERT_EQ(p.ask(put("/b", "not under /a/")).status(), v1::STORE_STATUS_OK);
  std::vector<std::string> read;
  std::vector<int> page_sizes;
  for (std::string after;;) {
    const auto page = p.ask(list("/a/", after, 3));
    ASSERT_EQ(page.status(), v1::STORE_STATUS_OK) << page.error();
    page_sizes.push_back(page.objects_size());
    for (const auto& object : page.objects()) read.push_back(object.key());
    if (!page.more()) break;
    ASSERT_GT(page.objects_size(), 0);
    after = page.objects(page.objects_size() - 1).key();
  }
  EXPECT_EQ(read, written) << "every key once, in order";
  EXPECT_EQ(page_sizes, (std::vector<int>{3, 3, 1}));

  EXPECT_EQ(p.ask(list("/a/", "", 0)).objects_size(), 7) << "no limit: up to 10,000";
  EXPECT_FALSE(p.ask(list("/a/", "", 7)).more()) << "exactly the rest: nothing follows";
  EXPECT_EQ(p.ask(list("/a/", "/", 2)).objects(0).key(), "/a/0") << "before the prefix";
  EXPECT_EQ(p.ask(list("/a/", "/a/6", 2)).objects_size(), 0) << "after the last";
  EXPECT_EQ(p.ask(list("/a/", "/a/2x", 1)).objects(0).key(), "/a/3") << "between two keys";
  EXPECT_EQ(p.ask(list("/a/", std::string(513, 'a'), 1)).status(), v1::STORE_STATUS_INVALID);
}

TEST(StorePlane, AFollowerAnswersNotLeaderWithItsHint) {
  Orchestrator follower{
      *Orchestrator::from_args({"--replica=2", "--members=orchestrator:1,orchestrator:2"}), Rng{3}};
  Outputs out;
  follower.step(Start{Time{}, {}}, out);
  v1::Envelope e;
  *e.mutable_store_request() = get("/settings/web");
  e.mutable_store_request()->set_id(4);
  out.clear();
  follower.step(Deliver{Time{} + 1ms, "admin", e}, out);
  const auto replies = omni::testing::sends_to(out, "admin");
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].envelope.store_reply().status(), v1::STORE_STATUS_NOT_LEADER);
  EXPECT_EQ(replies[0].envelope.store_reply().id(), 4u);
}

}  // namespace
}  // namespace omni::orchestrator
