// What a member can send never reaches an assertion. A replica "a" of {a, b, c} is fed Raft
// messages from b, c and a stranger d whose every field is drawn near where the replica's own
// state makes it matter (its term, last index and commit, one past them, 2^62, 2^64-1), with
// entries and snapshots carrying configurations in any order, interleaved with ticks and
// restarts from what it persisted. Garbled bytes (GarbledInputProps) rarely reach these values.
// It never throws, its term never goes down and its commit never goes back.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "model/core/assert.h"
#include "model/raft/raft_node.h"
#include "tests/model/raft/harness.h"

namespace omni::raft::testing {
namespace {

// A value drawn as a place relative to the replica's state, resolved when it is delivered.
enum class Near : std::uint8_t {
  zero,
  one,
  below_term,
  term,
  above_term,
  last_index,
  past_last_index,
  commit,
  far,         // 1,000: past a small log
  bound,       // 2^62, the largest a replica takes
  past_bound,  // 2^62 + 1
  top,         // 2^64 - 1
};
constexpr int kNearCount = static_cast<int>(Near::top) + 1;

std::uint64_t resolve(Near near, const Raft& raft) {
  switch (near) {
    case Near::zero:
      return 0;
    case Near::one:
      return 1;
    case Near::below_term:
      return raft.term() == 0 ? 0 : raft.term() - 1;
    case Near::term:
      return raft.term();
    case Near::above_term:
      return raft.term() + 1;
    case Near::last_index:
      return raft.log().last_index();
    case Near::past_last_index:
      return raft.log().last_index() + 1;
    case Near::commit:
      return raft.commit_index();
    case Near::far:
      return 1000;
    case Near::bound:
      return Index{1} << 62;
    case Near::past_bound:
      return (Index{1} << 62) + 1;
    case Near::top:
      return ~std::uint64_t{0};
  }
  return 0;
}

struct DrawnConf {
  std::vector<int> voters;  // indexes into kNames, in the drawn order, repeats allowed
  std::vector<int> learners;
};

const std::vector<NodeId> kNames{"a", "b", "c", "d", ""};

struct DrawnMessage {
  int from = 0;  // b, c or d
  int type = 0;
  Near term = Near::term;
  Near log_term = Near::term;
  Near index = Near::last_index;
  Near commit = Near::commit;
  Near reject_hint = Near::last_index;
  Near read_seq = Near::zero;
  bool reject = false;
  bool recovering = false;
  bool transfer = false;
  int entries = 0;
  bool conf_entry = false;
  bool snapshot = false;
  Near snapshot_index = Near::far;
  DrawnConf conf;
};

enum class Kind : std::uint8_t {
  tick,
  restart,
  hostile,  // a message drawn field by field
  request,  // a client's request of any type (what makes a leader append, compact, transfer)
  ack,      // b or c answering the leader's last entry as a sound follower does
};

struct Draw {
  Kind kind = Kind::tick;
  int tick_ms = 0;
  int request_type = 1;
  DrawnMessage message;
};

rc::Gen<Near> gen_near() {
  return rc::gen::map(rc::gen::inRange(0, kNearCount), [](int i) { return static_cast<Near>(i); });
}

rc::Gen<DrawnConf> gen_conf() {
  const auto names =
      rc::gen::container<std::vector<int>>(rc::gen::inRange(0, static_cast<int>(kNames.size())));
  return rc::gen::build<DrawnConf>(rc::gen::set(&DrawnConf::voters, names),
                                   rc::gen::set(&DrawnConf::learners, names));
}

rc::Gen<DrawnMessage> gen_message() {
  return rc::gen::build<DrawnMessage>(
      rc::gen::set(&DrawnMessage::from, rc::gen::inRange(0, 3)),
      // Every type a replica handles (1..10), unspecified and an unknown one.
      rc::gen::set(&DrawnMessage::type,
                   rc::gen::oneOf(rc::gen::inRange(1, 11), rc::gen::element(0, 99))),
      rc::gen::set(&DrawnMessage::term,
                   rc::gen::weightedOneOf<Near>({{6, rc::gen::element(Near::term)},
                                                 {2, rc::gen::element(Near::above_term)},
                                                 {2, gen_near()}})),
      rc::gen::set(&DrawnMessage::log_term, gen_near()),
      rc::gen::set(&DrawnMessage::index, gen_near()),
      rc::gen::set(&DrawnMessage::commit, gen_near()),
      rc::gen::set(&DrawnMessage::reject_hint, gen_near()),
      rc::gen::set(&DrawnMessage::read_seq, gen_near()),
      rc::gen::set(&DrawnMessage::reject, rc::gen::arbitrary<bool>()),
      rc::gen::set(
          &DrawnMessage::recovering,
          rc::gen::weightedOneOf<bool>({{4, rc::gen::just(false)}, {1, rc::gen::just(true)}})),
      rc::gen::set(&DrawnMessage::transfer, rc::gen::arbitrary<bool>()),
      rc::gen::set(&DrawnMessage::entries, rc::gen::inRange(0, 4)),
      rc::gen::set(&DrawnMessage::conf_entry, rc::gen::arbitrary<bool>()),
      rc::gen::set(&DrawnMessage::snapshot, rc::gen::arbitrary<bool>()),
      rc::gen::set(&DrawnMessage::snapshot_index, gen_near()),
      rc::gen::set(&DrawnMessage::conf, gen_conf()));
}

rc::Gen<Draw> gen_draw() {
  return rc::gen::build<Draw>(
      rc::gen::set(&Draw::kind, rc::gen::weightedOneOf<Kind>({{3, rc::gen::just(Kind::tick)},
                                                              {1, rc::gen::just(Kind::restart)},
                                                              {10, rc::gen::just(Kind::hostile)},
                                                              {3, rc::gen::just(Kind::request)},
                                                              {4, rc::gen::just(Kind::ack)}})),
      rc::gen::set(&Draw::tick_ms, rc::gen::inRange(0, 300)),
      // Mostly proposals: entries to commit, apply and compact.
      rc::gen::set(&Draw::request_type, rc::gen::weightedOneOf<int>(
                                            {{6, rc::gen::just(1)}, {3, rc::gen::inRange(2, 7)}})),
      rc::gen::set(&Draw::message, gen_message()));
}

v1::RaftConfState conf_of(const DrawnConf& drawn) {
  v1::RaftConfState conf;
  for (const int i : drawn.voters) conf.add_voters(kNames[static_cast<std::size_t>(i)]);
  for (const int i : drawn.learners) conf.add_learners(kNames[static_cast<std::size_t>(i)]);
  return conf;
}

v1::RaftMessage message_of(const DrawnMessage& d, const Raft& raft) {
  v1::RaftMessage m;
  m.set_type(static_cast<v1::RaftMessageType>(d.type));
  m.set_term(resolve(d.term, raft));
  m.set_log_term(resolve(d.log_term, raft));
  m.set_index(resolve(d.index, raft));
  m.set_commit(resolve(d.commit, raft));
  m.set_reject(d.reject);
  m.set_reject_hint(resolve(d.reject_hint, raft));
  m.set_read_seq(resolve(d.read_seq, raft));
  m.set_recovering(d.recovering);
  m.set_transfer(d.transfer);
  for (int i = 0; i < d.entries; ++i) {
    v1::RaftEntry* entry = m.add_entries();
    entry->set_index(m.index() + 1 + static_cast<Index>(i));  // wraps at the top: also refused
    entry->set_term(m.term());
    entry->set_data("x");
    if (d.conf_entry && i == 0) {
      entry->set_type(v1::RAFT_ENTRY_TYPE_CONF);
      *entry->mutable_conf() = conf_of(d.conf);
    }
  }
  if (d.snapshot) {
    v1::RaftSnapshot* snapshot = m.mutable_snapshot();
    snapshot->set_index(resolve(d.snapshot_index, raft));
    snapshot->set_term(m.log_term());
    *snapshot->mutable_conf() = conf_of(d.conf);
    snapshot->set_data(ListMachine().snapshot());
  }
  return m;
}

// The replica and what its disk holds, restarted from that disk on demand.
class Replica {
 public:
  Replica() { start(); }

  const Raft& raft() const { return node_->raft(); }
  Time now() const { return now_; }

  void tick(int ms) {
    now_ += std::chrono::milliseconds(ms);
    step(Input{Tick{now_}});
  }
  void deliver(const NodeId& from, v1::RaftMessage m) {
    Deliver deliver{now_, from, {}};
    *deliver.envelope.mutable_raft() = std::move(m);
    step(Input{std::move(deliver)});
  }
  // Ticks past the election timeout and gets b's pre-vote and vote, as in the tests' elect().
  void elect() {
    tick(250);
    v1::RaftMessage answer;
    answer.set_type(v1::RAFT_MESSAGE_TYPE_PRE_VOTE_RESPONSE);
    answer.set_term(raft().term() + 1);
    deliver("b", answer);
    answer.set_type(v1::RAFT_MESSAGE_TYPE_VOTE_RESPONSE);
    answer.set_term(raft().term());
    deliver("b", answer);
  }
  void request(int type, const NodeId& node) {
    Deliver deliver{now_, "client", {}};
    v1::RaftMessage& m = *deliver.envelope.mutable_raft();
    m.set_type(v1::RAFT_MESSAGE_TYPE_CLIENT_REQUEST);
    m.mutable_client_request()->set_request_id(++requests_);
    m.mutable_client_request()->set_type(static_cast<v1::RaftClientRequestType>(type));
    m.mutable_client_request()->set_data("x");
    m.mutable_client_request()->set_node(node);
    step(Input{std::move(deliver)});
  }
  void ack(const NodeId& from) {
    v1::RaftMessage m;
    m.set_type(v1::RAFT_MESSAGE_TYPE_APPEND_RESPONSE);
    m.set_term(raft().term());
    m.set_index(raft().log().last_index());
    deliver(from, m);
  }
  void start() {
    machine_ = std::make_unique<ListMachine>();
    node_ = std::make_unique<RaftNode>("a", std::vector<NodeId>{"a", "b", "c"}, config(), Rng(7),
                                       machine_.get());
    step(Input{Start{now_, disk_}});
  }

 private:
  static RaftConfig config() {
    RaftConfig c = test_config();
    c.compact_after_entries = 2;  // snapshots are taken and sent, not only received
    return c;
  }
  void step(const Input& input) {
    Outputs out;
    node_->step(input, out);
    for (const Output& output : out) {
      const auto* persist = std::get_if<Persist>(&output);
      if (persist == nullptr) continue;
      if (persist->replace) disk_.clear();
      disk_.push_back(persist->record);
    }
  }

  Time now_ = time_from_ns(1'000'000'000);
  std::uint64_t requests_ = 0;
  std::vector<std::string> disk_;
  std::unique_ptr<ListMachine> machine_;
  std::unique_ptr<RaftNode> node_;
};

RC_GTEST_PROP(RaftHostileProps, WhatAMemberSendsNeverReachesAnAssertion, ()) {
  const auto draws = *rc::gen::resize(80, rc::gen::container<std::vector<Draw>>(gen_draw()));
  const bool elect_first = *rc::gen::arbitrary<bool>();
  const std::vector<NodeId> senders{"b", "c", "d"};
  Replica replica;
  if (elect_first) replica.elect();
  bool led = false;
  bool compacted = false;
  for (const Draw& draw : draws) {
    const Term term_before = replica.raft().term();
    const Index commit_before = replica.raft().commit_index();
    try {
      const NodeId& sender = senders[static_cast<std::size_t>(draw.message.from)];
      switch (draw.kind) {
        case Kind::tick:
          replica.tick(draw.tick_ms);
          break;
        case Kind::restart:
          replica.start();  // what it persisted, read back
          break;
        case Kind::hostile:
          replica.deliver(sender, message_of(draw.message, replica.raft()));
          break;
        case Kind::request:
          replica.request(draw.request_type, sender);
          break;
        case Kind::ack:
          replica.ack(draw.message.from == 0 ? "b" : "c");
          break;
      }
    } catch (const AssertionFailure& failure) {
      RC_FAIL(std::string("an assertion: ") + failure.what());
    }
    RC_ASSERT(replica.raft().term() >= term_before);
    if (draw.kind != Kind::restart) RC_ASSERT(replica.raft().commit_index() >= commit_before);
    led = led || replica.raft().role() == Role::leader;
    compacted = compacted || replica.raft().log().snapshot_index() > 0;
  }
  RC_CLASSIFY(led, "led");
  RC_CLASSIFY(compacted, "holds a snapshot");
}

}  // namespace
}  // namespace omni::raft::testing
