#include "model/raft/raft_node.h"

#include "model/core/assert.h"

namespace omni::raft {

RaftNode::RaftNode(NodeId id, std::vector<NodeId> initial_voters, RaftConfig config, Rng rng,
                   StateMachine* state_machine)
    : raft_(std::move(id), std::move(initial_voters), config, rng),
      config_(config),
      state_machine_(state_machine) {
  OMNI_ASSERT(state_machine_ != nullptr, "a RaftNode replicates an application");
}

void RaftNode::step(const Input& input, Outputs& out) {
  if (const auto* start = std::get_if<Start>(&input)) {
    proposals_.clear();  // a restart forgets its clients; they retry
    reads_.clear();
    raft_.start(start->now, start->persisted, out);
  } else if (const auto* deliver = std::get_if<Deliver>(&input)) {
    if (!deliver->envelope.has_raft() || !raft_.started()) return;
    const v1::RaftMessage& m = deliver->envelope.raft();
    if (m.type() == v1::RAFT_MESSAGE_TYPE_CLIENT_REQUEST) {
      handle_client_request(deliver->now, deliver->from, m.client_request(), out);
    } else if (m.type() != v1::RAFT_MESSAGE_TYPE_CLIENT_REPLY) {
      raft_.step(deliver->now, deliver->from, m, out);
    }
  } else if (const auto* tick = std::get_if<Tick>(&input)) {
    if (!raft_.started()) return;
    raft_.tick(tick->now, out);
  } else {
    return;  // Raft calls no drivers
  }
  after_raft(out);
  OMNI_ASSERT(raft_.applied_index() <= raft_.commit_index());
}

void RaftNode::handle_client_request(Time now, const Address& from,
                                     const v1::RaftClientRequest& request, Outputs& out) {
  const Client client{from, request.request_id()};
  if (pending_client_requests() >= config_.max_pending_client_requests) {
    reply(client, v1::RAFT_CLIENT_STATUS_REJECTED, 0, 0, "too many pending requests", out);
    return;
  }
  switch (request.type()) {
    case v1::RAFT_CLIENT_REQUEST_TYPE_PROPOSE: {
      const RequestResult result = raft_.propose(now, request.data(), out);
      if (result.status == RequestStatus::ok) {
        proposals_[result.index] = PendingProposal{client, result.term};
      } else {
        answer_request_result(client, result, out);
      }
      break;
    }
    case v1::RAFT_CLIENT_REQUEST_TYPE_READ_INDEX: {
      const std::uint64_t context = next_read_context_++;
      const RequestResult result = raft_.read_index(now, context, out);
      if (result.status == RequestStatus::ok) {
        reads_[context] = PendingRead{client, 0, false};
      } else {
        answer_request_result(client, result, out);
      }
      break;
    }
    case v1::RAFT_CLIENT_REQUEST_TYPE_ADD_LEARNER:
    case v1::RAFT_CLIENT_REQUEST_TYPE_PROMOTE_VOTER:
    case v1::RAFT_CLIENT_REQUEST_TYPE_REMOVE_SERVER: {
      const RequestResult result =
          raft_.propose_conf_change(now, request.type(), request.node(), out);
      if (result.status == RequestStatus::ok) {
        proposals_[result.index] = PendingProposal{client, result.term};
      } else {
        answer_request_result(client, result, out);
      }
      break;
    }
    case v1::RAFT_CLIENT_REQUEST_TYPE_TRANSFER_LEADERSHIP:
      answer_request_result(client, raft_.transfer_leadership(now, request.node(), out), out);
      break;
    default:
      reply(client, v1::RAFT_CLIENT_STATUS_REJECTED, 0, 0, "unknown request type", out);
  }
}

void RaftNode::answer_request_result(const Client& client, const RequestResult& result,
                                     Outputs& out) {
  switch (result.status) {
    case RequestStatus::ok:
      reply(client, v1::RAFT_CLIENT_STATUS_OK, result.index, result.term, {}, out);
      break;
    case RequestStatus::not_leader:
      reply(client, v1::RAFT_CLIENT_STATUS_NOT_LEADER, 0, 0, result.error, out);
      break;
    case RequestStatus::rejected:
      reply(client, v1::RAFT_CLIENT_STATUS_REJECTED, 0, 0, result.error, out);
      break;
  }
}

void RaftNode::reply(const Client& client, v1::RaftClientStatus status, Index index, Term term,
                     std::string error, Outputs& out) {
  v1::Envelope envelope;
  v1::RaftMessage* m = envelope.mutable_raft();
  m->set_type(v1::RAFT_MESSAGE_TYPE_CLIENT_REPLY);
  v1::RaftClientReply* answer = m->mutable_client_reply();
  answer->set_request_id(client.request_id);
  answer->set_status(status);
  answer->set_leader(raft_.leader());
  answer->set_index(index);
  answer->set_term(term);
  answer->set_error(std::move(error));
  out.push_back(Send{client.address, std::move(envelope)});
}

// After every Raft call: restore, apply, answer clients, compact. Raft has already emitted the
// Persist records of everything committed, so replies never reveal undurable state.
void RaftNode::after_raft(Outputs& out) {
  restore_snapshot(out);
  apply_committed(out);
  answer_reads(out);
  maybe_compact(out);
}

void RaftNode::restore_snapshot(Outputs& out) {
  std::optional<v1::RaftSnapshot> snapshot = raft_.take_snapshot_to_restore();
  if (!snapshot.has_value()) return;
  state_machine_->restore(snapshot->data());
  // Proposals the snapshot covers: whether they made it is not known here.
  while (!proposals_.empty() && proposals_.begin()->first <= snapshot->index()) {
    const Client client = proposals_.begin()->second.client;
    proposals_.erase(proposals_.begin());
    reply(client, v1::RAFT_CLIENT_STATUS_UNKNOWN, 0, 0, "covered by a snapshot", out);
  }
  OMNI_ASSERT(proposals_.empty() || proposals_.begin()->first > snapshot->index());
}

void RaftNode::apply_committed(Outputs& out) {
  // Bounded: each round applies at least one entry, and the commit never passes the log's end.
  // It may move meanwhile: applying a configuration can let a leader's smaller or different
  // quorum commit more (found by the membership schedules, raft_props).
  const Index rounds_max = raft_.log().last_index() - raft_.applied_index();
  for (Index round = 0; round < rounds_max && raft_.applied_index() < raft_.commit_index();
       ++round) {
    const std::size_t count = raft_.entries_to_apply();
    if (count == 0) break;
    // Read in place (a copy of each entry was a tenth of the appends' cost): nothing below
    // changes the log before mark_applied.
    const Index first = raft_.applied_index() + 1;
    const Index last = first + count - 1;
    for (Index index = first; index <= last; ++index) {
      const v1::RaftEntry& entry = raft_.log().at(index);
      const bool application_entry =
          entry.type() == v1::RAFT_ENTRY_TYPE_NORMAL && !entry.data().empty();
      if (application_entry) state_machine_->apply(entry);
      if (observer_) observer_(raft_.id(), entry);
      resolve_proposal(entry, out);
    }
    OMNI_ASSERT(raft_.log().last_index() >= last, "the log kept what was applied");
    raft_.mark_applied(last, out);
  }
  OMNI_ASSERT(raft_.applied_index() == raft_.commit_index(), "everything committed is applied");
}

void RaftNode::resolve_proposal(const v1::RaftEntry& entry, Outputs& out) {
  auto it = proposals_.find(entry.index());
  if (it == proposals_.end()) return;
  const PendingProposal proposal = it->second;
  proposals_.erase(it);
  if (proposal.term == entry.term()) {
    reply(proposal.client, v1::RAFT_CLIENT_STATUS_OK, entry.index(), entry.term(), {}, out);
  } else {
    reply(proposal.client, v1::RAFT_CLIENT_STATUS_DROPPED, entry.index(), entry.term(),
          "another leader's entry took this index", out);
  }
}

void RaftNode::answer_reads(Outputs& out) {
  for (const ReadState& state : raft_.take_read_states()) {
    auto it = reads_.find(state.context);
    if (it == reads_.end()) continue;
    if (!state.ok) {
      reply(it->second.client, v1::RAFT_CLIENT_STATUS_NOT_LEADER, 0, 0, "leadership lost", out);
      reads_.erase(it);
      continue;
    }
    it->second.index = state.index;
    it->second.confirmed = true;
  }
  for (auto it = reads_.begin(); it != reads_.end();) {
    const bool ready = it->second.confirmed && it->second.index <= raft_.applied_index();
    if (!ready) {
      ++it;
      continue;
    }
    reply(it->second.client, v1::RAFT_CLIENT_STATUS_OK, it->second.index, raft_.term(), {}, out);
    it = reads_.erase(it);
  }
}

void RaftNode::maybe_compact(Outputs& out) {
  const Index applied = raft_.applied_index();
  const Index snapshot_index = raft_.log().snapshot_index();
  OMNI_ASSERT(applied >= snapshot_index);
  if (applied - snapshot_index < config_.compact_after_entries) return;
  raft_.compact(state_machine_->snapshot(), out);
  OMNI_ASSERT(raft_.log().snapshot_index() == applied);
}

}  // namespace omni::raft
