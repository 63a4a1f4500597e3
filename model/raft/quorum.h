#pragma once
// Pure decisions of Raft, next to the state machine that applies them.
#include <cstddef>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "model/proto/raft.pb.h"
#include "model/raft/types.h"

namespace omni::raft {

// The smallest number of voters that forms a majority of `voter_count`.
std::size_t quorum_of(std::size_t voter_count);

// The largest index held by a quorum, given each voter's match index (any order; sorted on
// return: the caller's buffer is reused, not copied).
Index quorum_index(std::vector<Index>& matches);

enum class VoteResult { pending, won, lost };
// `granted` maps each voter that answered to its answer; voters that did not answer are pending.
VoteResult vote_result(const std::vector<NodeId>& voters, const std::map<NodeId, bool>& granted);

// Figure 2 / section 5.4.1: a candidate's log is at least as up to date as ours.
bool log_up_to_date(Term candidate_last_term, Index candidate_last_index, Term our_last_term,
                    Index our_last_index);

bool contains(const std::vector<NodeId>& sorted, const NodeId& id);

// The configuration after one single-server change, or why it is not allowed.
// `learner_caught_up` is whether `node`'s log has reached the leader's commit index.
std::variant<v1::RaftConfState, std::string> conf_after_change(const v1::RaftConfState& conf,
                                                               v1::RaftClientRequestType kind,
                                                               const NodeId& node,
                                                               bool learner_caught_up);

}  // namespace omni::raft
