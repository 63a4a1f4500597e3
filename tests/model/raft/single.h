#pragma once
// Helpers for driving one Raft directly: build it from persisted records, feed messages, read
// its outputs.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "model/raft/raft.h"
#include "model/raft/record.h"
#include "tests/model/raft/harness.h"

namespace omni::raft::testing {

inline const Time t0 = time_from_ns(1'000'000'000);

inline v1::RaftEntry entry_of(Index index, Term term, const std::string& data = "x") {
  v1::RaftEntry entry;
  entry.set_index(index);
  entry.set_term(term);
  entry.set_data(data);
  return entry;
}

// A persisted state: the bootstrap configuration {a, b, c} at index 1 (term 1), then entries
// with `terms` at indexes 2, 3, ..., and the hard state.
inline std::vector<std::string> records_of(const std::vector<Term>& terms, Term term,
                                           const NodeId& vote, Index commit) {
  v1::RaftRecord record;
  v1::RaftEntry* conf = record.add_entries();
  conf->set_index(1);
  conf->set_term(1);
  conf->set_type(v1::RAFT_ENTRY_TYPE_CONF);
  for (const char* id : {"a", "b", "c"}) conf->mutable_conf()->add_voters(id);
  for (std::size_t i = 0; i < terms.size(); ++i) *record.add_entries() = entry_of(i + 2, terms[i]);
  record.mutable_hard_state()->set_term(term);
  record.mutable_hard_state()->set_vote(vote);
  record.mutable_hard_state()->set_commit(commit);
  return {encode_record(record)};
}

inline Raft make_raft(const NodeId& id, const std::vector<Term>& terms, Term term,
                      const NodeId& vote = "", Index commit = 1,
                      RaftConfig config = test_config()) {
  Raft raft(id, {"a", "b", "c"}, config, Rng(7));
  Outputs out;
  raft.start(t0, records_of(terms, term, vote, commit), out);
  raft.mark_applied(commit, out);
  return raft;
}

inline v1::RaftMessage message(v1::RaftMessageType type, Term term) {
  v1::RaftMessage m;
  m.set_type(type);
  m.set_term(term);
  return m;
}

inline std::vector<std::pair<NodeId, v1::RaftMessage>> sends_of(const Outputs& out) {
  std::vector<std::pair<NodeId, v1::RaftMessage>> sends;
  for (const auto& output : out) {
    if (const auto* send = std::get_if<Send>(&output)) {
      sends.emplace_back(send->to, send->envelope.raft());
    }
  }
  return sends;
}

inline std::vector<v1::RaftMessage> sends_of_type(const Outputs& out, v1::RaftMessageType type) {
  std::vector<v1::RaftMessage> found;
  for (auto& [to, m] : sends_of(out)) {
    if (m.type() == type) found.push_back(m);
  }
  return found;
}

// Every Send comes after the last Persist of the same output batch.
inline bool persists_precede_sends(const Outputs& out) {
  bool seen_send = false;
  for (const auto& output : out) {
    if (std::holds_alternative<Send>(output)) seen_send = true;
    if (std::holds_alternative<Persist>(output) && seen_send) return false;
  }
  return true;
}

inline bool has_persist(const Outputs& out) {
  for (const auto& output : out) {
    if (std::holds_alternative<Persist>(output)) return true;
  }
  return false;
}

inline std::vector<Term> log_terms(const Raft& raft) {
  std::vector<Term> terms;
  for (const auto& entry : raft.log().entries()) {
    if (entry.index() >= 2) terms.push_back(entry.term());
  }
  return terms;
}

// Drives `raft` (a follower) through pre-vote and vote to leadership with grants from "b".
inline void elect(Raft& raft, Time& now) {
  Outputs out;
  now += std::chrono::milliseconds(250);
  raft.tick(now, out);
  ASSERT_EQ(raft.role(), Role::pre_candidate);
  v1::RaftMessage pre = message(v1::RAFT_MESSAGE_TYPE_PRE_VOTE_RESPONSE, raft.term() + 1);
  raft.step(now, "b", pre, out);
  ASSERT_EQ(raft.role(), Role::candidate);
  raft.step(now, "b", message(v1::RAFT_MESSAGE_TYPE_VOTE_RESPONSE, raft.term()), out);
  ASSERT_EQ(raft.role(), Role::leader);
}

}  // namespace omni::raft::testing
