#pragma once
// A tiny deterministic network for multi-node Raft tests: nodes in a map, messages delivered
// in FIFO order, time advanced in fixed steps, WakeAt honoured, disks kept per node. Every Send
// is checked against what the sender has made durable so far (the durability contract).
#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "model/raft/raft_node.h"
#include "model/raft/record.h"

namespace omni::raft::testing {

inline RaftConfig test_config() {
  RaftConfig config;
  config.election_timeout_min = std::chrono::milliseconds(100);
  config.election_timeout_max = std::chrono::milliseconds(200);
  config.heartbeat_interval = std::chrono::milliseconds(20);
  return config;
}

// Applied data in order; the snapshot is the whole list.
class ListMachine : public StateMachine {
 public:
  void apply(const v1::RaftEntry& entry) override { applied.push_back(entry.data()); }
  std::string snapshot() const override {
    v1::RaftConfState encoded;  // any repeated-string message serves as a list encoding
    for (const auto& item : applied) encoded.add_voters(item);
    return encoded.SerializeAsString();
  }
  void restore(const std::string& snapshot) override {
    v1::RaftConfState decoded;
    EXPECT_TRUE(decoded.ParseFromString(snapshot));
    applied.assign(decoded.voters().begin(), decoded.voters().end());
  }
  std::vector<std::string> applied;
};

// What a node's disk says: term, vote and the term of each held index.
struct DurableView {
  Term term = 0;
  NodeId vote;
  std::map<Index, Term> log;

  void apply(const Persist& persist) {
    auto record = decode_record(persist.record);
    ASSERT_TRUE(record.has_value());
    if (persist.replace) *this = DurableView{};
    if (record->has_snapshot()) {
      const auto& snapshot = record->snapshot();
      auto keep = log.find(snapshot.index());
      const bool matching = keep != log.end() && keep->second == snapshot.term();
      if (!matching) log.clear();
      log.erase(log.begin(), log.upper_bound(snapshot.index()));
      log[snapshot.index()] = snapshot.term();
    }
    for (const auto& entry : record->entries()) {
      log.erase(log.lower_bound(entry.index()), log.end());
      log[entry.index()] = entry.term();
    }
    if (record->has_hard_state()) {
      term = record->hard_state().term();
      vote = record->hard_state().vote();
    }
  }
  bool holds(Index index, Term term_of_entry) const {
    auto it = log.find(index);
    return it != log.end() && it->second == term_of_entry;
  }
};

// Why a Send would reveal something not yet durable, or "" when it is fine.
inline std::string durability_violation(const DurableView& disk, const NodeId& to,
                                        const v1::RaftMessage& m) {
  using T = v1::RaftMessageType;
  const bool future = m.type() == T::RAFT_MESSAGE_TYPE_PRE_VOTE ||
                      (m.type() == T::RAFT_MESSAGE_TYPE_PRE_VOTE_RESPONSE && !m.reject());
  if (!future && m.type() != T::RAFT_MESSAGE_TYPE_CLIENT_REPLY && m.term() > disk.term) {
    return "term " + std::to_string(m.term()) + " sent before it was persisted";
  }
  if (m.type() == T::RAFT_MESSAGE_TYPE_VOTE_RESPONSE && !m.reject() &&
      (disk.term != m.term() || disk.vote != to)) {
    return "vote for " + to + " sent before it was persisted";
  }
  if (m.type() == T::RAFT_MESSAGE_TYPE_APPEND_RESPONSE && !m.reject() && m.index() > 0 &&
      (disk.log.empty() || disk.log.rbegin()->first < m.index())) {
    return "append acknowledged up to " + std::to_string(m.index()) + " before persisting it";
  }
  for (const auto& entry : m.entries()) {
    if (!disk.holds(entry.index(), entry.term())) return "entry sent before it was persisted";
  }
  return "";
}

class Cluster {
 public:
  struct Member {
    std::unique_ptr<ListMachine> machine;
    std::unique_ptr<RaftNode> node;
    std::vector<std::string> disk;
    DurableView durable;
    std::set<Time> wakes;
    bool up = false;
  };

  explicit Cluster(std::vector<NodeId> voters, RaftConfig config = test_config(),
                   std::uint64_t seed = 1)
      : config_(config), rng_(seed) {
    for (const auto& id : voters) add(id, voters);
  }

  void add(const NodeId& id, const std::vector<NodeId>& initial_voters) {
    Member& member = members_[id];
    member.machine = std::make_unique<ListMachine>();
    member.node =
        std::make_unique<RaftNode>(id, initial_voters, config_, rng_.fork(), member.machine.get());
    member.node->set_apply_observer([this](const NodeId& node, const v1::RaftEntry& entry) {
      applied_[node].push_back(entry);
    });
    start(id);
  }

  void start(const NodeId& id) {
    Member& member = members_.at(id);
    member.up = true;
    member.wakes.clear();
    step(id, Start{now_, member.disk});
  }
  void crash(const NodeId& id) { members_.at(id).up = false; }

  void step(const NodeId& id, const Input& input) {
    Member& member = members_.at(id);
    Outputs out;
    member.node->step(input, out);
    execute(id, out);
  }

  void execute(const NodeId& id, const Outputs& out) {
    Member& member = members_.at(id);
    for (const Output& output : out) {
      if (const auto* persist = std::get_if<Persist>(&output)) {
        if (persist->replace) member.disk.clear();
        member.disk.push_back(persist->record);
        member.durable.apply(*persist);
      } else if (const auto* send = std::get_if<Send>(&output)) {
        const std::string why =
            durability_violation(member.durable, send->to, send->envelope.raft());
        if (!why.empty()) violations.push_back(id + ": " + why);
        if (send->to == "client") {
          replies.push_back(send->envelope.raft().client_reply());
        } else {
          network_.push_back({id, *send});
        }
      } else if (const auto* wake = std::get_if<WakeAt>(&output)) {
        member.wakes.insert(wake->at);
      }
    }
  }

  bool linked(const NodeId& a, const NodeId& b) const {
    return !isolated.contains(a) && !isolated.contains(b);
  }

  void deliver_all() {
    for (int i = 0; i < 100000 && !network_.empty(); ++i) {
      auto [from, send] = std::move(network_.front());
      network_.pop_front();
      auto it = members_.find(send.to);
      if (it == members_.end() || !it->second.up || !linked(from, send.to)) continue;
      step(send.to, Deliver{now_, from, send.envelope});
    }
  }

  void run_for(Duration duration, Duration resolution = std::chrono::milliseconds(1)) {
    const Time end = now_ + duration;
    while (now_ < end) {
      now_ += resolution;
      for (auto& [id, member] : members_) {
        if (!member.up || member.wakes.empty() || *member.wakes.begin() > now_) continue;
        member.wakes.erase(member.wakes.begin(), member.wakes.upper_bound(now_));
        step(id, Tick{now_});
      }
      deliver_all();
    }
  }

  // The up node that is leader in the highest term, or "".
  NodeId leader() const {
    NodeId best;
    Term best_term = 0;
    for (const auto& [id, member] : members_) {
      const Raft& raft = member.node->raft();
      if (member.up && raft.role() == Role::leader && raft.term() >= best_term) {
        best = id;
        best_term = raft.term();
      }
    }
    return best;
  }

  void request(const NodeId& to, v1::RaftClientRequestType type, const std::string& data = "",
               const NodeId& node = "") {
    send_request(to, type, data, node);
    deliver_all();
  }

  // The request reaches `to`; what it sends waits in the network until the next delivery.
  void send_request(const NodeId& to, v1::RaftClientRequestType type, const std::string& data = "",
                    const NodeId& node = "") {
    v1::Envelope envelope;
    v1::RaftMessage* m = envelope.mutable_raft();
    m->set_type(v1::RAFT_MESSAGE_TYPE_CLIENT_REQUEST);
    m->mutable_client_request()->set_request_id(++request_id_);
    m->mutable_client_request()->set_type(type);
    m->mutable_client_request()->set_data(data);
    m->mutable_client_request()->set_node(node);
    step(to, Deliver{now_, "client", envelope});
  }

  const Raft& raft(const NodeId& id) const { return members_.at(id).node->raft(); }
  ListMachine& machine(const NodeId& id) { return *members_.at(id).machine; }
  Member& member(const NodeId& id) { return members_.at(id); }
  Time now() const { return now_; }

  std::set<NodeId> isolated;
  std::vector<v1::RaftClientReply> replies;
  std::vector<std::string> violations;  // durability contract breaches seen so far
  std::map<NodeId, std::vector<v1::RaftEntry>> applied_;

 private:
  RaftConfig config_;
  Rng rng_;
  Time now_ = time_from_ns(1'000'000'000);
  std::map<NodeId, Member> members_;
  std::deque<std::pair<NodeId, Send>> network_;
  std::uint64_t request_id_ = 0;
};

}  // namespace omni::raft::testing
