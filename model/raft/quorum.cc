#include "model/raft/quorum.h"

#include <algorithm>
#include <functional>

#include "model/core/assert.h"

namespace omni::raft {

std::size_t quorum_of(std::size_t voter_count) {
  return voter_count / 2 + 1;
}

Index quorum_index(std::vector<Index>& matches) {
  OMNI_ASSERT(!matches.empty(), "no voters");
  std::sort(matches.begin(), matches.end(), std::greater<>());
  const Index index = matches[quorum_of(matches.size()) - 1];
  OMNI_ASSERT(index <= matches.front());
  return index;
}

VoteResult vote_result(const std::vector<NodeId>& voters, const std::map<NodeId, bool>& granted) {
  std::size_t yes = 0;
  std::size_t no = 0;
  for (const NodeId& voter : voters) {
    auto it = granted.find(voter);
    if (it == granted.end()) continue;
    (it->second ? yes : no) += 1;
  }
  OMNI_ASSERT(yes + no <= voters.size());
  const std::size_t quorum = quorum_of(voters.size());
  if (yes >= quorum) return VoteResult::won;
  if (no > voters.size() - quorum) return VoteResult::lost;
  return VoteResult::pending;
}

bool log_up_to_date(Term candidate_last_term, Index candidate_last_index, Term our_last_term,
                    Index our_last_index) {
  if (candidate_last_term != our_last_term) return candidate_last_term > our_last_term;
  return candidate_last_index >= our_last_index;
}

bool contains(const std::vector<NodeId>& sorted, const NodeId& id) {
  return std::binary_search(sorted.begin(), sorted.end(), id);
}

namespace {

std::vector<NodeId> list_of(const google::protobuf::RepeatedPtrField<std::string>& field) {
  return {field.begin(), field.end()};
}

void set_list(google::protobuf::RepeatedPtrField<std::string>* field, std::vector<NodeId> ids) {
  std::sort(ids.begin(), ids.end());
  field->Clear();
  for (auto& id : ids) field->Add(std::move(id));
}

}  // namespace

std::variant<v1::RaftConfState, std::string> conf_after_change(const v1::RaftConfState& conf,
                                                               v1::RaftClientRequestType kind,
                                                               const NodeId& node,
                                                               bool learner_caught_up) {
  std::vector<NodeId> voters = list_of(conf.voters());
  std::vector<NodeId> learners = list_of(conf.learners());
  const bool is_voter = contains(voters, node);
  const bool is_learner = contains(learners, node);
  OMNI_ASSERT(!(is_voter && is_learner), "voters and learners are disjoint");
  if (node.empty()) return std::string("membership change without a node");
  switch (kind) {
    case v1::RAFT_CLIENT_REQUEST_TYPE_ADD_LEARNER:
      if (is_voter || is_learner) return node + " is already a member";
      learners.push_back(node);
      break;
    case v1::RAFT_CLIENT_REQUEST_TYPE_PROMOTE_VOTER:
      if (!is_learner) return node + " is not a learner; add it as a learner first";
      if (!learner_caught_up) return node + " has not caught up with the commit index yet";
      std::erase(learners, node);
      voters.push_back(node);
      break;
    case v1::RAFT_CLIENT_REQUEST_TYPE_REMOVE_SERVER:
      if (!is_voter && !is_learner) return node + " is not a member";
      if (is_voter && voters.size() == 1) return "cannot remove the last voter " + node;
      std::erase(voters, node);
      std::erase(learners, node);
      break;
    default:
      return std::string("not a membership change");
  }
  v1::RaftConfState next;
  set_list(next.mutable_voters(), std::move(voters));
  set_list(next.mutable_learners(), std::move(learners));
  return next;
}

}  // namespace omni::raft
