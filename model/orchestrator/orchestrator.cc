#include "model/orchestrator/orchestrator.h"

#include <algorithm>

#include "model/config/parse.h"
#include "model/core/assert.h"
#include "model/director/director.h"
#include "model/director/fence.h"
#include "model/orchestrator/apps.h"
#include "model/orchestrator/cluster_spec.h"
#include "model/root/plan.h"
#include "model/root/root.h"

namespace omni::orchestrator {
namespace {

// "director:NODE" -> "NODE".
std::string director_node(const Address& director) {
  return director.substr(director.find(':') + 1);
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto end = text.find(sep, start);
    parts.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return parts;
}

}  // namespace

std::optional<OrchestratorConfig> Orchestrator::from_args(const std::vector<std::string>& args) {
  OrchestratorConfig config;
  int replica = 0;
  for (const auto& arg : args) {
    if (arg.rfind("--replica=", 0) == 0) {
      const std::string n = arg.substr(10);
      if (n.empty() || n.size() > 2 || !std::all_of(n.begin(), n.end(), ::isdigit))
        return std::nullopt;
      replica = std::stoi(n);
    } else if (arg.rfind("--members=", 0) == 0) {
      config.members = split(arg.substr(10), ',');
    } else if (arg == "--join") {
      config.join = true;
    }
  }
  if (replica < 1 || config.members.empty() == !config.join) return std::nullopt;
  config.self = "orchestrator:" + std::to_string(replica);
  if (!config.join &&
      std::find(config.members.begin(), config.members.end(), config.self) == config.members.end())
    return std::nullopt;
  return config;
}

Orchestrator::Orchestrator(OrchestratorConfig config, Rng rng) : config_(std::move(config)) {
  OMNI_ASSERT(!config_.self.empty());
  OMNI_ASSERT(config_.join ? config_.members.empty()
                           : std::find(config_.members.begin(), config_.members.end(),
                                       config_.self) != config_.members.end());
  node_ =
      std::make_unique<raft::RaftNode>(config_.self, config_.members, config_.raft, rng, &state_);
  self_member_index_ = member_index(config_.self);
  member_heard_at_.assign(config_.members.size(), std::optional<Time>{});
}

bool Orchestrator::is_leader() const {
  return node_->raft().role() == raft::Role::leader;
}
std::uint64_t Orchestrator::term() const {
  return node_->raft().term();
}

void Orchestrator::step(const Input& input, Outputs& out) {
  const Time now = now_of(input);
  OMNI_ASSERT(now >= now_, "time never goes back for one component");
  now_ = now;
  if (const auto* d = std::get_if<Deliver>(&input)) {
    const v1::Envelope& e = d->envelope;
    switch (e.body_case()) {
      case v1::Envelope::kRaft:
        if (const auto admitted = admits_raft_message(d->from, e.raft())) {
          note_heard(*admitted, d->from);
          step_raft(input, out);
        } else {
          ++dropped_messages_;
        }
        break;
      case v1::Envelope::kHandOver:
        on_hand_over(d->from, e.seq(), e.hand_over(), out);
        break;
      case v1::Envelope::kStatusRequest:
        on_status_request(d->from, e.seq(), e.status_request(), out);
        break;
      case v1::Envelope::kDirectorReport:
        on_director_report(d->from, e.seq(), e.director_report());
        break;
      case v1::Envelope::kStoreRequest:
        on_store_request(d->from, e.seq(), e.store_request(), out);
        break;
      default:
        break;
    }
  } else if (const auto* done = std::get_if<DriverDone>(&input)) {
    on_driver_done(*done);
  } else {
    step_raft(input, out);
  }
  if (!node_->raft().leader().empty()) leader_known_at_ = now_;
  if (state_.handed_over()) topology();  // every replica can name members' nodes in status
  note_plane();
  note_members();
  lead(out);
  OMNI_ASSERT(led_term_ <= term());
}

// Raft traffic is taken only from the members, and proposals only from this replica itself:
// the log decides the cluster's desired state and membership, so a stranger who can reach a
// replica must not be able to write to it. (Clients of the plane talk to the Orchestrator,
// which proposes for them.) The sender is looked up once among the configured members: a
// heartbeat's sender was compared with this replica's name, then with the members, then looked
// up in a map of names again, three searches by name for every message of the plane.
std::optional<Orchestrator::Sender> Orchestrator::admits_raft_message(
    const Address& from, const v1::RaftMessage& m) const {
  if (m.type() == v1::RAFT_MESSAGE_TYPE_CLIENT_REQUEST) {
    if (from != config_.self) return std::nullopt;
    return Sender{.self = true};
  }
  if (m.type() == v1::RAFT_MESSAGE_TYPE_CLIENT_REPLY) return std::nullopt;
  const std::size_t index = member_index(from);
  const bool is_member = index != kNotAMember;
  // A joining replica has no members of its own configuration, so itself is not among them.
  const bool is_self = is_member ? index == self_member_index_ : from == config_.self;
  if (is_self) return std::nullopt;
  const Sender sender{.self = false, .member_index = index};
  const raft::Raft& raft = node_->raft();
  const auto holds = [&from](const std::vector<Address>& ids) {
    return std::find(ids.begin(), ids.end(), from) != ids.end();
  };
  // A replacement knows no configuration until the leader reaches it; any Orchestrator may.
  if (raft.voters().empty() && raft.learners().empty()) {
    if (!is_orchestrator_address(from)) return std::nullopt;
    return sender;
  }
  if (is_member || holds(raft.voters()) || holds(raft.learners())) return sender;
  return std::nullopt;
}

// When each member was last heard from, as a follower tells whom it has lost (plane()).
void Orchestrator::note_heard(const Sender& sender, const Address& from) {
  if (sender.self) return;
  if (sender.member_index == kNotAMember) {
    // A joining replica takes Raft from any orchestrator:N; a name each is not unbounded.
    if (peer_heard_at_.size() < kMaxPeersHeard || peer_heard_at_.count(from))
      peer_heard_at_[from] = now_;
    return;
  }
  OMNI_ASSERT(member_heard_at_.size() == config_.members.size());
  OMNI_ASSERT(sender.member_index < member_heard_at_.size());
  member_heard_at_[sender.member_index] = now_;
}

// The position of `address` in config_.members, or kNotAMember.
std::size_t Orchestrator::member_index(const Address& address) const {
  const auto member = std::find(config_.members.begin(), config_.members.end(), address);
  if (member == config_.members.end()) return kNotAMember;
  return static_cast<std::size_t>(member - config_.members.begin());
}

std::optional<Time> Orchestrator::heard_at(const Address& peer) const {
  if (const std::size_t index = member_index(peer); index != kNotAMember) {
    OMNI_ASSERT(index < member_heard_at_.size());
    return member_heard_at_[index];  // nullopt: never heard
  }
  const auto heard = peer_heard_at_.find(peer);
  if (heard == peer_heard_at_.end()) return std::nullopt;
  return heard->second;
}

// Everything Raft says goes out, except its replies to this replica's own requests, which are
// answers to proposals this Orchestrator made and are handled here, where they stood among
// Raft's outputs. Most steps (heartbeats and their answers) have none: Raft's outputs stay where
// Raft put them, at the end of `out`, instead of being moved there one by one.
void Orchestrator::step_raft(const Input& input, Outputs& out) {
  const std::size_t first = out.size();
  node_->step(input, out);
  OMNI_ASSERT(out.size() >= first, "Raft only adds outputs");
  const auto own_reply = [this](const Output& o) { return client_reply_to_self(o) != nullptr; };
  if (std::none_of(out.begin() + static_cast<std::ptrdiff_t>(first), out.end(), own_reply)) return;
  Outputs raft_out(std::make_move_iterator(out.begin() + static_cast<std::ptrdiff_t>(first)),
                   std::make_move_iterator(out.end()));
  out.erase(out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
  for (auto& o : raft_out) {
    if (const auto* reply = client_reply_to_self(o)) {
      on_client_reply(*reply, out);
      continue;
    }
    out.push_back(std::move(o));
  }
  OMNI_ASSERT(out.size() >= first);
}

// The destination is compared last: every heartbeat and answer Raft sends is asked this.
const v1::RaftClientReply* Orchestrator::client_reply_to_self(const Output& o) const {
  const auto* send = std::get_if<Send>(&o);
  if (!send || !send->envelope.has_raft() || !send->envelope.raft().has_client_reply() ||
      send->to != config_.self)
    return nullptr;
  return &send->envelope.raft().client_reply();
}

void Orchestrator::propose(const v1::ClusterCommand& command, std::uint64_t request_id,
                           Outputs& out) {
  request(v1::RAFT_CLIENT_REQUEST_TYPE_PROPOSE, command.SerializeAsString(), {}, request_id, out);
}

void Orchestrator::request(v1::RaftClientRequestType type, std::string data, const Address& node,
                           std::uint64_t request_id, Outputs& out) {
  v1::Envelope e;
  auto* m = e.mutable_raft();
  m->set_type(v1::RAFT_MESSAGE_TYPE_CLIENT_REQUEST);
  auto* r = m->mutable_client_request();
  r->set_request_id(request_id);
  r->set_type(type);
  r->set_data(std::move(data));
  r->set_node(node);
  step_raft(Deliver{now_, config_.self, std::move(e)}, out);
}

void Orchestrator::on_client_reply(const v1::RaftClientReply& reply, Outputs& out) {
  const bool ok = reply.status() == v1::RAFT_CLIENT_STATUS_OK;
  if (auto it = hand_over_waiters_.find(reply.request_id()); it != hand_over_waiters_.end()) {
    v1::Envelope e;
    e.set_seq(it->second.second);
    e.mutable_hand_over_ack()->set_accepted(ok && state_.handed_over());
    e.mutable_hand_over_ack()->set_leader_hint(node_->raft().leader());
    e.mutable_hand_over_ack()->set_term(term());
    out.push_back(Send{it->second.first, std::move(e)});
    hand_over_waiters_.erase(it);
  }
  if (auto it = status_waiters_.find(reply.request_id()); it != status_waiters_.end()) {
    reply_status(it->second, ok, out);
    status_waiters_.erase(it);
  }
  if (auto it = store_waiters_.find(reply.request_id()); it != store_waiters_.end()) {
    answer_store(it->second, reply, out);
    store_waiters_.erase(it);
  }
  if (reply.request_id() == apps_request_) apps_request_ = 0;
  if (reply.request_id() == membership_request_) {
    membership_request_ = 0;
    if (!ok) membership_problem_ = reply.error();
  }
}

// Only the root hands the cluster over: a hand-over is the log's first word on what the
// cluster is, and any other holder of a cluster certificate (an Agent, an admin) must not say it.
void Orchestrator::on_hand_over(const Address& from, std::uint64_t seq, const v1::HandOver& h,
                                Outputs& out) {
  if (from != root::kRootAddress) {
    ++dropped_messages_;
    return;
  }
  if (!is_leader() || state_.handed_over()) {
    v1::Envelope e;
    e.set_seq(seq);
    e.mutable_hand_over_ack()->set_accepted(is_leader() && state_.handed_over());
    e.mutable_hand_over_ack()->set_leader_hint(node_->raft().leader());
    e.mutable_hand_over_ack()->set_term(term());
    out.push_back(Send{from, std::move(e)});
    return;
  }
  const std::uint64_t id = next_request_id_++;
  hand_over_waiters_[id] = {from, seq};
  v1::ClusterCommand command;
  *command.mutable_hand_over() = h;
  propose(command, id, out);
}

namespace {

bool is_store_client(const Address& from) {
  return from == "admin" || from.rfind("client:", 0) == 0;
}

}  // namespace

std::size_t Orchestrator::pending_lists() const {
  const auto lists =
      std::count_if(store_waiters_.begin(), store_waiters_.end(),
                    [](const auto& waiter) { return waiter.second.request.has_list(); });
  OMNI_ASSERT(lists >= 0 && static_cast<std::size_t>(lists) <= store_waiters_.size());
  return static_cast<std::size_t>(lists);
}

std::size_t Orchestrator::pending_describes() const {
  const auto describes = std::count_if(status_waiters_.begin(), status_waiters_.end(),
                                       [](const auto& waiter) { return waiter.second.describe; });
  OMNI_ASSERT(describes >= 0 && static_cast<std::size_t>(describes) <= status_waiters_.size());
  return static_cast<std::size_t>(describes);
}

// Answered after a committed round trip through the log, so a deposed leader cannot claim
// health it no longer has.
void Orchestrator::on_status_request(const Address& from, std::uint64_t seq,
                                     const v1::StatusRequest& s, Outputs& out) {
  // Each question from a leader is a committed, synced entry: only those who ask it (the root,
  // the admin, the plane's clients) may, not every holder of a cluster certificate.
  if (from != root::kRootAddress && !is_store_client(from)) {
    ++dropped_messages_;
    return;
  }
  const StatusWaiter waiter{from, seq, s.nonce(), s.describe()};
  if (!is_leader()) {
    reply_status(waiter, false, out);
    return;
  }
  if (s.describe() && pending_describes() >= kMaxDescribeWaiters) {
    ++dropped_messages_;
    return;
  }
  const std::uint64_t id = next_request_id_++;
  status_waiters_[id] = waiter;
  v1::ClusterCommand command;
  command.set_verify_nonce(s.nonce());
  propose(command, id, out);
}

namespace {

std::string cluster_owned_problem(const std::string& key) {
  return is_cluster_owned(key)
             ? key + " is the cluster's own record (nodes, VMs, members): clients read it only"
             : "";
}

std::string store_request_problem(const v1::StoreRequest& r) {
  switch (r.op_case()) {
    case v1::StoreRequest::kGet:
      return store_key_problem(r.get().key());
    case v1::StoreRequest::kList:
      if (r.list().prefix().size() > kMaxKeyBytes) return "a prefix is at most 512 bytes";
      return r.list().start_after().size() > kMaxKeyBytes ? "start_after is at most 512 bytes" : "";
    case v1::StoreRequest::kPut:
      if (auto problem = cluster_owned_problem(r.put().key()); !problem.empty()) return problem;
      if (r.put().key().rfind(kAppPrefix, 0) == 0) {
        v1::StoreObject object;
        object.set_key(r.put().key());
        object.set_value(r.put().value());
        if (!app_of(object))
          return "an object under /apps/ is an app: its spec, named as its key, with a valid name "
                 "(not \"orchestrator\"), an image and sound resources";
      }
      return store_write_problem(r.put(), false);
    case v1::StoreRequest::kDelete:
      if (auto problem = cluster_owned_problem(r.delete_().key()); !problem.empty()) return problem;
      return store_write_problem(r.delete_(), true);
    default:
      return "a store request names one of get, put, delete, list";
  }
}

}  // namespace

// The store's clients talk to any replica; only the leader answers, after a committed round
// trip (writes) or a confirmed read index (reads), so no answer reflects a deposed leader.
void Orchestrator::on_store_request(const Address& from, std::uint64_t seq,
                                    const v1::StoreRequest& r, Outputs& out) {
  if (!is_store_client(from) || seen_before(from, r.id())) {
    ++dropped_messages_;
    return;
  }
  v1::StoreReply reply;
  reply.set_id(r.id());
  if (auto problem = store_request_problem(r); !problem.empty()) {
    reply.set_status(v1::STORE_STATUS_INVALID);
    reply.set_error(problem);
  } else if (!is_leader()) {
    reply.set_status(v1::STORE_STATUS_NOT_LEADER);
  } else if (store_waiters_.size() >= kMaxStoreWaiters) {
    reply.set_status(v1::STORE_STATUS_UNAVAILABLE);
    reply.set_error("too many requests in flight");
  } else if (r.has_list() && pending_lists() >= kMaxPendingLists) {
    // Each answer may hold the whole store (32 MiB), and they become ready together: 1,024 of
    // them could be 32 GB of replies in one step.
    reply.set_status(v1::STORE_STATUS_UNAVAILABLE);
    reply.set_error("too many lists in flight; try again");
  } else if ((r.has_get() || r.has_list()) && config_.testing_reads_skip_read_index) {
    v1::RaftClientReply served_locally;
    served_locally.set_status(v1::RAFT_CLIENT_STATUS_OK);
    answer_store(StoreWaiter{from, seq, r}, served_locally, out);
    return;
  } else {
    const std::uint64_t id = next_request_id_++;
    store_waiters_[id] = StoreWaiter{from, seq, r};
    if (r.has_get() || r.has_list()) {
      request(v1::RAFT_CLIENT_REQUEST_TYPE_READ_INDEX, {}, {}, id, out);
    } else {
      v1::ClusterCommand command;
      command.mutable_store()->set_is_delete(r.has_delete_());
      *command.mutable_store()->mutable_write() = r.has_put() ? r.put() : r.delete_();
      propose(command, id, out);
    }
    return;
  }
  send_store_reply(from, seq, std::move(reply), out);
}

bool Orchestrator::seen_before(const Address& from, std::uint64_t id) {
  if (!recent_store_requests_.insert({from, id}).second) return true;
  recent_store_order_.emplace_back(from, id);
  if (recent_store_order_.size() > kRememberedStoreRequests) {
    recent_store_requests_.erase(recent_store_order_.front());
    recent_store_order_.pop_front();
  }
  OMNI_ASSERT(recent_store_order_.size() == recent_store_requests_.size());
  OMNI_ASSERT(recent_store_order_.size() <= kRememberedStoreRequests);
  return false;
}

void Orchestrator::answer_store(const StoreWaiter& waiter, const v1::RaftClientReply& raft_reply,
                                Outputs& out) {
  const v1::StoreRequest& r = waiter.request;
  v1::StoreReply reply;
  const bool write = r.has_put() || r.has_delete_();
  switch (raft_reply.status()) {
    case v1::RAFT_CLIENT_STATUS_OK:
      break;
    case v1::RAFT_CLIENT_STATUS_NOT_LEADER:
      reply.set_status(v1::STORE_STATUS_NOT_LEADER);
      break;
    case v1::RAFT_CLIENT_STATUS_UNKNOWN:
      reply.set_status(write ? v1::STORE_STATUS_UNKNOWN : v1::STORE_STATUS_UNAVAILABLE);
      break;
    default:  // dropped (another leader's entry took the index) or rejected: nothing was done
      reply.set_status(v1::STORE_STATUS_UNAVAILABLE);
      break;
  }
  if (reply.status() != v1::STORE_STATUS_UNSPECIFIED) {
    reply.set_error(raft_reply.error());
  } else if (write) {
    auto result = state_.take_result(raft_reply.index());
    if (result) {
      reply = std::move(*result);
    } else {
      reply.set_status(v1::STORE_STATUS_UNKNOWN);
      reply.set_error("the outcome of the write was not kept");
    }
  } else if (r.has_get()) {
    const v1::StoreObject* object = state_.find(r.get().key());
    reply.set_status(object ? v1::STORE_STATUS_OK : v1::STORE_STATUS_NOT_FOUND);
    if (object) *reply.add_objects() = *object;
  } else {
    reply.set_status(v1::STORE_STATUS_OK);
    auto page = state_.list_page(r.list().prefix(), r.list().start_after(), r.list().limit());
    for (auto& object : page.objects) *reply.add_objects() = std::move(object);
    reply.set_more(page.more);
  }
  const bool answered =
      reply.status() == v1::STORE_STATUS_OK || reply.status() == v1::STORE_STATUS_NOT_FOUND;
  if (!write && answered) reply.set_revision(state_.store_revision());  // a write keeps its own
  reply.set_id(r.id());
  send_store_reply(waiter.to, waiter.seq, std::move(reply), out);
}

void Orchestrator::send_store_reply(const Address& to, std::uint64_t seq, v1::StoreReply reply,
                                    Outputs& out) {
  OMNI_ASSERT(reply.status() != v1::STORE_STATUS_UNSPECIFIED);
  reply.set_leader_hint(node_->raft().leader());
  v1::Envelope e;
  e.set_seq(seq);
  *e.mutable_store_reply() = std::move(reply);
  out.push_back(Send{to, std::move(e)});
  OMNI_ASSERT(store_waiters_.size() <= kMaxStoreWaiters);
}

void Orchestrator::reply_status(const StatusWaiter& w, bool committed, Outputs& out) {
  v1::Envelope e;
  e.set_seq(w.seq);
  *e.mutable_status_reply() = status(committed, w.describe);
  e.mutable_status_reply()->set_nonce(w.nonce);
  out.push_back(Send{w.to, std::move(e)});
}

v1::StatusReply Orchestrator::described_status() const {
  return status(is_leader() && node_->raft().quorum_active(), true);
}

v1::StatusReply Orchestrator::status(bool committed, bool describe) const {
  v1::StatusReply reply;
  auto* r = &reply;
  r->set_is_leader(is_leader());
  r->set_leader_hint(node_->raft().leader());
  r->set_term(term());
  r->set_quorum_healthy(committed && is_leader());
  r->set_handed_over(state_.handed_over());
  for (const auto& d : controlled_directors()) r->add_controlled_directors(d);
  r->set_members_lost(members_lost());
  const PlaneView plane = this->plane();
  r->set_plane(plane.state);
  for (const auto& m : plane.silent_members) r->add_silent_members(m);
  r->set_members_needed(plane.members_needed);
  r->set_advice(plane.advice);
  for (const auto& view : directors())
    for (const auto& c : view.failing_containers)
      r->add_failing_containers(view.director.substr(view.director.find(':') + 1) + "/" + c);
  if (describe && is_leader()) describe_cluster(*r);
  if (describe) describe_events(*r);
  OMNI_ASSERT(!r->quorum_healthy() || r->is_leader());
  return reply;
}

// What a person asks the leader for (`omni status`, `omni get`): voters, Directors, apps.
void Orchestrator::describe_cluster(v1::StatusReply& r) const {
  OMNI_ASSERT(is_leader());
  for (const auto& voter : membership().voters) r.add_voters(voter);
  for (const auto& view : directors()) {
    auto* d = r.add_directors();
    d->set_director(view.director);
    d->set_controller_term(view.controlled ? term() : 0);
    d->set_desired_acked(view.desired_acked);
    d->set_last_rejection(view.last_rejection);
    const auto control = directors_.find(view.director);
    if (control != directors_.end()) {
      for (const auto& c : control->second.running_containers) d->add_running_containers(c);
      for (const auto& vm : control->second.vms) *d->add_vms() = vm;
    }
  }
  for (const auto& app : apps()) {
    auto* a = r.add_apps();
    a->set_name(app.name);
    a->set_desired(app.desired);
    a->set_placed(app.placed);
    a->set_running(app.running);
    a->set_unschedulable(app.unschedulable);
    a->set_image(app.container.image());
  }
  OMNI_ASSERT(r.directors_size() == static_cast<int>(directors().size()));
}

void Orchestrator::describe_events(v1::StatusReply& r) const {
  r.set_now_ms(ns_of(now_) / 1'000'000);
  for (const ClusterEvent& event : events_.events()) {
    auto* e = r.add_events();
    e->set_seq(event.seq);
    e->set_at_ms(ns_of(event.at) / 1'000'000);
    e->set_kind(event.kind);
    e->set_text(event.text);
  }
  OMNI_ASSERT(r.events_size() == static_cast<int>(events_.events().size()));
  OMNI_ASSERT(r.events().empty() || r.events().rbegin()->at_ms() <= r.now_ms());
}

// Events ---------------------------------------------------------------------------------

// Who leads, as this replica sees it: told when the leader or the term changes.
void Orchestrator::note_plane() {
  const raft::Raft& raft = node_->raft();
  // The names are compared only when Raft's leader moved since they were last found equal.
  const bool same_leader =
      raft.leader_version() == leader_seen_at_version_ || raft.leader() == seen_leader_;
  if (same_leader) leader_seen_at_version_ = raft.leader_version();
  if (same_leader && (raft.leader().empty() || raft.term() == seen_term_)) return;
  const std::string term = std::to_string(raft.term());
  if (!raft.leader().empty())
    events_.add(now_, "leader", raft.leader() + " leads at term " + term);
  else
    events_.add(now_, "leader", "no leader at term " + term + ": electing");
  seen_leader_ = raft.leader();
  seen_term_ = raft.term();
  leader_seen_at_version_ = raft.leader_version();
  OMNI_ASSERT(seen_leader_ == raft.leader());
}

// The plane's members as Raft's configuration has them: who joined, was promoted or left.
void Orchestrator::note_members() {
  const raft::Raft& raft = node_->raft();
  if (raft.membership_version() == seen_membership_version_) return;
  seen_membership_version_ = raft.membership_version();
  if (raft.voters() == seen_voters_ && raft.learners() == seen_learners_) return;
  const std::set<std::string> voters_before(seen_voters_.begin(), seen_voters_.end());
  const std::set<std::string> learners_before(seen_learners_.begin(), seen_learners_.end());
  const std::set<std::string> voters(raft.voters().begin(), raft.voters().end());
  const std::set<std::string> learners(raft.learners().begin(), raft.learners().end());
  if (voters_before.empty() && learners_before.empty()) {
    events_.add(now_, "member", "voters: " + described_members(raft.voters()));
  } else {
    const SetChange v = set_change(voters_before, voters);
    const SetChange l = set_change(learners_before, learners);
    for (const auto& m : l.added) events_.add(now_, "member", m + " joined as a learner");
    for (const auto& m : v.added) events_.add(now_, "member", m + " is a voter");
    for (const auto& m : v.removed)
      if (!learners.count(m)) events_.add(now_, "member", m + " left the plane");
    for (const auto& m : l.removed)
      if (!voters.count(m)) events_.add(now_, "member", m + " left the plane");
  }
  seen_voters_ = raft.voters();
  seen_learners_ = raft.learners();
  OMNI_ASSERT(seen_voters_ == raft.voters() && seen_learners_ == raft.learners());
}

// What a Director's report changed since its last one this term: worker VMs that came up or
// went down, containers that started, stopped or keep failing. The first report of a term is
// the starting point, not news.
void Orchestrator::note_report(const Address& director, const DirectorControl& control,
                               const std::set<std::string>& running,
                               const std::set<std::string>& failing, const v1::DirectorReport& r) {
  OMNI_ASSERT(is_leader());
  if (!control.reported) return;
  const std::string node = director_node(director);
  std::set<std::string> vms_before;
  std::set<std::string> vms_now;
  for (const auto& vm : control.vms)
    if (vm.running()) vms_before.insert(vm.name());
  for (const auto& vm : r.vms())
    if (vm.running()) vms_now.insert(vm.name());
  const SetChange vms = set_change(vms_before, vms_now);
  for (const auto& vm : vms.added) events_.add(now_, "vm", node + ": VM " + vm + " is running");
  for (const auto& vm : vms.removed) events_.add(now_, "vm", node + ": VM " + vm + " is down");
  const SetChange containers = set_change(control.running_containers, running);
  for (const auto& c : containers.added)
    events_.add(now_, "container", node + ": " + c + " is running");
  for (const auto& c : containers.removed)
    events_.add(now_, "container", node + ": " + c + " stopped");
  for (const auto& c : set_change(control.failing_containers, failing).added)
    events_.add(now_, "container",
                node + ": " + c + " keeps failing (" + std::to_string(kFailingAfterRestarts) +
                    " restarts or more)");
  OMNI_ASSERT(control.reported);
}

// Each app's replicas, told when their count changes (placed, running, or without a place), and
// each replica's VM when it is placed or moved.
void Orchestrator::note_apps() {
  OMNI_ASSERT(is_leader());
  if (state_.list(std::string(kAppPrefix)).empty() && seen_apps_.empty()) return;
  std::map<std::string, std::string> now_seen;
  for (const auto& p : state_.app_placements()) {
    const std::string replica = p.app() + " replica " + std::to_string(p.index());
    const auto before = seen_apps_.find(replica);
    if (before == seen_apps_.end() || before->second != p.vm())
      events_.add(now_, "app", replica + " placed on " + p.vm());
    now_seen[replica] = p.vm();
  }
  // A new leader knows which containers run only once the Directors report: until each has
  // (or one is taken for lost), counts of zero would be news of nothing.
  const bool heard_all = directors_reported_ == directors_.size() ||
                         now_ - term_began_at_ > config_.director_lost_after;
  const std::vector<AppView> views = apps();
  for (const AppView& app : views) {
    if (!heard_all) {
      now_seen[app.name] = seen_apps_.count(app.name) ? seen_apps_.at(app.name) : std::string();
      continue;
    }
    std::string told = std::to_string(app.running) + "/" + std::to_string(app.desired) +
                       " running, " + std::to_string(app.placed) + " placed";
    if (!app.unschedulable.empty()) told += "; " + app.unschedulable;
    const auto before = seen_apps_.find(app.name);
    if (before == seen_apps_.end() || before->second != told)
      events_.add(now_, "app", app.name + ": " + told);
    now_seen[app.name] = std::move(told);
  }
  for (const auto& [name, told] : seen_apps_)
    if (!now_seen.count(name))
      events_.add(now_, "app", name + (name.find(' ') == name.npos ? " was deleted" : " unplaced"));
  seen_apps_ = std::move(now_seen);
  OMNI_ASSERT(seen_apps_.size() >= views.size());
}

// Every report says whether the Director is still ours and answers at most one command. A
// Director that holds another fence (it restarted blank, or obeys someone else) is taken
// control of again; a refused desired state is sent again, and the reason kept for status.
void Orchestrator::on_director_report(const Address& from, std::uint64_t,
                                      const v1::DirectorReport& r) {
  const auto it = directors_.find(from);
  if (it == directors_.end() || !is_leader()) return;
  DirectorControl& control = it->second;
  control.last_heard = now_;
  control.vm_runs_silent_since.reset();
  control.power_cycles = 0;
  if (r.report_seq() != 0) control.last_report_seq = r.report_seq();
  std::set<std::string> running;
  std::set<std::string> failing;
  std::set<std::string> listed;
  for (const auto& c : r.containers()) {
    listed.insert(c.name());
    if (c.running()) running.insert(c.name());
    if (!c.running() && c.restarts() >= kFailingAfterRestarts) failing.insert(c.name());
  }
  note_report(from, control, running, failing, r);
  if (!control.reported) ++directors_reported_;
  control.reported = true;
  control.silence_told = false;
  control.running_containers = std::move(running);
  control.failing_containers = std::move(failing);
  control.listed_containers = std::move(listed);
  if (!r.apps_fenced())
    control.apps_fenced_since.reset();
  else if (!control.apps_fenced_since)
    control.apps_fenced_since = now_;
  control.lease_lapsed = r.apps_fenced() || !r.lease_granted();
  control.vms.assign(r.vms().begin(), r.vms().end());
  const FenceValue held = fence_of(r.accepted());
  const bool ours = held == FenceValue{kClusterEra, term()} && r.controller() == config_.self;
  if (ours && control.term != term())
    events_.add(
        now_, "director",
        "controls the Director on " + director_node(from) + " at term " + std::to_string(term()));
  if (!ours && control.term == term())
    events_.add(now_, "director",
                "lost control of the Director on " + director_node(from) + " (it holds " +
                    to_string(held) + " of " +
                    (r.controller().empty() ? std::string("nobody") : r.controller()) + ")");
  if (!ours) {
    control.term = 0;
    control.desired_acked = false;
    control.unacked_seqs.clear();
    return;
  }
  control.term = term();
  if (control.unacked_seqs.erase(r.command_seq()) == 0) return;
  if (r.rejected()) {
    control.last_rejection = r.reason();
    control.unacked_seqs.clear();  // sent again at the next control tick
    return;
  }
  control.desired_acked = control.unacked_seqs.empty();
  if (control.desired_acked) control.last_rejection.clear();
  OMNI_ASSERT(control.term == term());
}

void Orchestrator::on_driver_done(const DriverDone& done) {
  const auto it = vm_ops_.find(done.op_id);
  if (it == vm_ops_.end()) return;  // an answer to an op of an earlier term
  const DirectorVmOp op = it->second;
  vm_ops_.erase(it);
  const auto control = directors_.find(op.director);
  if (control == directors_.end()) return;
  const bool recovered =
      done.result.status == DriverStatus::ok || done.result.status == DriverStatus::already_exists;
  if (!recovered) control->second.last_rejection = done.result.message;
  // The VM is there and runs: if the Director stays silent, something inside it is stuck.
  if (recovered && op.kind == VmOpKind::create && !control->second.vm_runs_silent_since)
    control->second.vm_runs_silent_since = now_;
  OMNI_ASSERT(vm_ops_.size() <= directors_.size());
  OMNI_ASSERT(!control->second.vm_runs_silent_since ||
              *control->second.vm_runs_silent_since <= now_);
}

// The leader's duties, every control_interval: control every Director at this term, give it
// the desired state under this term until it acknowledges it, bring back a Director that went
// silent, and notice members that stopped answering. Level-triggered: each tick looks at what
// is, never at what was sent, so a lost message or a restarted Director costs one interval.
void Orchestrator::lead(Outputs& out) {
  if (!is_leader() || !state_.handed_over()) return;
  if (led_term_ != term()) begin_term();
  if (now_ < next_control_) return;
  next_control_ = now_ + config_.control_interval;
  if (desired_revision_sent_ != state_.desired_revision()) {
    desired_revision_sent_ = state_.desired_revision();
    for (auto& [director, control] : directors_) {
      control.desired_acked = false;  // what it must run changed: tell it again
      control.unacked_seqs.clear();
    }
  }
  for (auto& [director, control] : directors_) reconcile_director(director, control, out);
  notice_lost_members();
  reconcile_membership(out);
  schedule_apps(out);
  note_apps();
  out.push_back(WakeAt{next_control_});
  OMNI_ASSERT(led_term_ == term() && next_control_ > now_);
}

// A new term starts from nothing it did not see itself: every Director is uncontrolled, every
// desired state unacknowledged, and each Director gets a full lost_after of grace to report.
void Orchestrator::begin_term() {
  led_term_ = term();
  term_began_at_ = now_;
  directors_reported_ = 0;
  directors_.clear();
  vm_ops_.clear();
  membership_request_ = 0;
  apps_request_ = 0;
  unschedulable_.clear();
  membership_problem_.clear();
  replacing_.clear();
  learner_since_.clear();
  avoid_nodes_.clear();
  moving_from_.clear();
  desired_revision_sent_ = state_.desired_revision();
  for (const auto& d : state_.hand_over().directors()) {
    DirectorControl& control = directors_[d];
    control.last_heard = now_;
    control.last_lease_renewal = now_;  // a lease the last leader gave may run until then
    control.next_vm_recovery = now_;
    control.vm_runs_silent_since.reset();
    control.power_cycles = 0;
    control.lease_lapsed = true;  // until a report of this term says otherwise
  }
  next_control_ = now_;
  OMNI_ASSERT(led_term_ == term());
  OMNI_ASSERT(directors_.size() == static_cast<std::size_t>(state_.hand_over().directors_size()));
}

void Orchestrator::reconcile_director(const Address& director, DirectorControl& control,
                                      Outputs& out) {
  if (now_ - control.last_heard > config_.director_lost_after) {
    recover_director_vm(director, control, out);
    control.term = 0;  // whatever it held, it must be told again when it is back
    control.desired_acked = false;
    control.unacked_seqs.clear();
  }
  if (control.term != term()) {
    control_director(director, out);
  } else if (!control.desired_acked) {
    send_desired(director, control, out);
  }
  if (control.term == term()) renew_lease(director, control, out);
  OMNI_ASSERT(control.desired_acked == false || control.term == term());
}

// Only the leader renews, and Raft's check-quorum makes a leader cut off from its quorum step
// down within an election timeout; its successor waits apps_move_after before it moves anything.
void Orchestrator::renew_lease(const Address& director, DirectorControl& control, Outputs& out) {
  if (now_ < control.next_lease_renewal || control.last_report_seq == 0) return;
  OMNI_ASSERT(is_leader());
  // A renewal that would start a Director's apps again (its lease ran out, or this incarnation
  // holds none yet) waits until it has acknowledged the set it must run now: it may hold an
  // older one (it was cut off, or restarted from its checkpoint) with replicas placed elsewhere
  // since, and a renewal that overtook the new set had it run the old one, a replica in two
  // places. A node that has not taken the set without a replica moved off it (it may not hear
  // us) gets no more lease either: within apps_move_after its apps stop, and the replica may be
  // placed again. A Director whose lease runs on is renewed whatever it has acknowledged: the
  // leader moved nothing off it (a node is lost only once its lease has run out).
  if (!control.desired_acked && (control.lease_lapsed || moves_off(director_node(director))))
    return;
  control.last_lease_renewal = now_;
  control.next_lease_renewal = now_ + config_.lease_renew_interval;
  v1::Envelope e;
  e.set_seq(next_seq_++);
  e.mutable_inspect()->set_lease_report_seq(control.last_report_seq);
  out.push_back(Send{director, std::move(e)});
  OMNI_ASSERT(control.next_lease_renewal > now_);
  OMNI_ASSERT(control.term == term());
}

void Orchestrator::control_director(const Address& director, Outputs& out) {
  v1::Envelope e;
  e.set_seq(next_seq_++);
  *e.mutable_take_control()->mutable_fence() = fence();
  e.mutable_take_control()->set_controller(config_.self);
  out.push_back(Send{director, std::move(e)});
}

// The desired VMs and replicas of the Director's node, derived from the handed-over config by
// the same pure plan the root used, now fenced by this leader's term.
void Orchestrator::send_desired(const Address& director, DirectorControl& control, Outputs& out) {
  const DesiredByNode* desired = desired_by_node();
  if (!desired) return;
  const std::string node = director.substr(director.find(':') + 1);
  const auto it = desired->find(node);
  if (it == desired->end()) {
    control.desired_acked = true;  // nothing is desired of it
    return;
  }
  control.unacked_seqs.clear();  // answers to earlier sends no longer count
  v1::Envelope e;
  e.set_seq(next_seq_++);
  control.unacked_seqs.insert(e.seq());
  auto* c = e.mutable_director_command();
  *c->mutable_fence() = fence();
  c->set_controller(config_.self);
  for (const auto& vm : it->second.vms) *c->mutable_ensure_workers()->add_vms() = vm;
  out.push_back(Send{director, e});
  c->clear_ensure_workers();
  c->mutable_ensure_replicas();
  for (const auto& r : it->second.replicas) *c->mutable_ensure_replicas()->add_replicas() = r;
  e.set_seq(next_seq_++);
  control.unacked_seqs.insert(e.seq());
  out.push_back(Send{director, std::move(e)});
  OMNI_ASSERT(control.unacked_seqs.size() == 2 && !control.desired_acked);
}

// The Director runs in its own VM, which only a hypervisor can bring back: create it as the
// root did. On a hypervisor that still has it, create boots it when it is stopped and changes
// nothing when it runs (or boots), so an unreachable Director costs the call, until it has been
// silent for director_stuck_after with its VM running (director_vm_is_stuck).
void Orchestrator::recover_director_vm(const Address& director, DirectorControl& control,
                                       Outputs& out) {
  if (now_ < control.next_vm_recovery) return;
  for (const auto& [id, op] : vm_ops_)
    if (op.director == director) return;  // one call in flight per Director
  const DesiredByNode* desired = desired_by_node();
  const std::string node = director.substr(director.find(':') + 1);
  const auto it = desired ? desired->find(node) : DesiredByNode::const_iterator{};
  if (!desired || it == desired->end() || it->second.director_vm.name().empty()) return;
  control.next_vm_recovery = now_ + config_.director_lost_after;
  ++control.vm_recoveries;
  const v1::VmSpec& vm = it->second.director_vm;
  if (director_vm_is_stuck(control)) {
    power_off_director_vm(director, node, vm, control, out);
    return;
  }
  if (!control.silence_told)  // once a silence: a node gone for good is tried every interval
    events_.add(now_, "director",
                "the Director on " + node + " is silent: creating its VM " + vm.name() + " again");
  control.silence_told = true;
  const std::uint64_t id = next_op_id_++;
  vm_ops_[id] = {director, VmOpKind::create};
  out.push_back(DriverCall{id, VmOp{VmOpKind::create,
                                    node,
                                    vm.name(),
                                    vm.resources().cpu_millis(),
                                    vm.resources().memory_bytes(),
                                    {{"node", node}, {"role", "director"}}}});
  OMNI_ASSERT(control.next_vm_recovery > now_);
}

// A Director still silent director_stuck_after after its hypervisor said its VM exists and runs
// is hung, or dead under an init that left the VM up: creating the VM again changes nothing, and
// the node would be lost for good. Each further cycle of one silence waits twice as long: a VM
// that boots slowly is not cut off in every boot, and a Director the leader cannot hear only
// because the network is cut one way (its hypervisor still answers) is rebooted seldom.
bool Orchestrator::director_vm_is_stuck(const DirectorControl& control) const {
  if (!control.vm_runs_silent_since) return false;
  const Duration wait = config_.director_stuck_after * (1 << std::min(control.power_cycles, 3u));
  OMNI_ASSERT(wait >= config_.director_stuck_after);
  return now_ - *control.vm_runs_silent_since >= wait;
}

// Powered off at once (a hung guest ignores a shutdown); the next recovery's create boots it,
// and the Director comes back from its checkpoint.
void Orchestrator::power_off_director_vm(const Address& director, const std::string& node,
                                         const v1::VmSpec& vm, DirectorControl& control,
                                         Outputs& out) {
  OMNI_ASSERT(director_vm_is_stuck(control));
  control.vm_runs_silent_since.reset();
  ++control.power_cycles;
  events_.add(now_, "director",
              "the Director on " + node + " is silent though its VM " + vm.name() +
                  " runs: powering the VM off to boot it again");
  const std::uint64_t id = next_op_id_++;
  vm_ops_[id] = {director, VmOpKind::stop};
  VmOp stop{VmOpKind::stop, node, vm.name(), 0, 0, {}};
  stop.force = true;
  out.push_back(DriverCall{id, std::move(stop)});
  OMNI_ASSERT(!control.vm_runs_silent_since);
}

// The handed-over cluster, planned once: a thousand Directors must not mean a thousand plans
// of a thousand-node cluster. The same pure plan the root followed.
const Orchestrator::Topology* Orchestrator::topology() {
  if (topology_ || !state_.handed_over()) return topology_ ? &*topology_ : nullptr;
  // ClusterState admits only a valid spec; a spec that does not plan is one the root could not
  // have planned either, and leaves the leader with nothing to reconcile.
  if (cluster_spec_problem(state_.hand_over().cluster())) return nullptr;
  const config::ClusterConfig config = to_cluster_config(state_.hand_over().cluster());
  const auto plan = root::make_plan(config);
  if (!std::holds_alternative<root::Plan>(plan)) return nullptr;
  Topology t;
  t.cluster = config.name;
  t.orchestrators = config.orchestrators;
  t.replica_resources = config.orchestrator;
  for (const auto& node : config.nodes) t.nodes.push_back(node.name);
  for (const auto& vm : std::get<root::Plan>(plan).vms) {
    t.node_of_vm[vm.name] = vm.node;
    v1::VmSpec spec;
    spec.set_name(vm.name);
    *spec.mutable_resources() = to_proto(vm.resources);
    if (vm.role == root::VmRole::director)
      t.director_vm[vm.node] = std::move(spec);
    else
      t.workers[vm.node].push_back(std::move(spec));
  }
  topology_ = std::move(t);
  OMNI_ASSERT(topology_->orchestrators >= 1);
  OMNI_ASSERT(!topology_->nodes.empty());
  return &*topology_;
}

// What each node's Director must run: the plan's worker VMs and the replicas placed on them
// now, derived again whenever the committed replicas change.
const Orchestrator::DesiredByNode* Orchestrator::desired_by_node() {
  const Topology* t = topology();
  if (!t) return nullptr;
  if (desired_ && desired_revision_ == state_.desired_revision()) return &*desired_;
  DesiredByNode desired;
  for (const auto& [node, vms] : t->workers) desired[node].vms = vms;
  for (const auto& [node, vm] : t->director_vm) desired[node].director_vm = vm;
  for (const auto& r : state_.replicas())
    if (const auto n = t->node_of_vm.find(r.vm()); n != t->node_of_vm.end())
      desired[n->second].replicas.push_back(r);
  std::map<std::string, v1::AppSpec> apps;
  for (auto& app : stored_apps()) apps[app.name()] = std::move(app);
  for (const auto& p : state_.app_placements()) {
    const auto n = t->node_of_vm.find(p.vm());
    const auto app = apps.find(p.app());
    if (n == t->node_of_vm.end() || app == apps.end()) continue;
    v1::ReplicaSpec spec;
    spec.set_vm(p.vm());
    *spec.mutable_container() = app_container(t->cluster, app->second, p.index());
    if (config_.testing_place_an_app_replica_twice && &p == &*state_.app_placements().begin())
      testing_duplicate_app_replica(desired, n->second, spec);
    desired[n->second].replicas.push_back(std::move(spec));
  }
  desired_ = std::move(desired);
  desired_revision_ = state_.desired_revision();
  OMNI_ASSERT(!desired_->empty());
  OMNI_ASSERT(desired_revision_ == state_.desired_revision());
  return &*desired_;
}

void Orchestrator::testing_duplicate_app_replica(DesiredByNode& desired, const std::string& home,
                                                 const v1::ReplicaSpec& replica) const {
  for (auto& [node, want] : desired) {
    if (node == home || want.vms.empty()) continue;
    v1::ReplicaSpec copy = replica;
    copy.set_vm(want.vms.front().name());
    want.replicas.push_back(std::move(copy));
    return;
  }
}

void Orchestrator::notice_lost_members() {
  lost_.clear();
  for (const auto& [peer, progress] : node_->raft().progress()) {
    const bool silent = now_ - progress.last_heard_at > config_.member_lost_after;
    if (silent) lost_.insert(peer);
  }
  // Not bounded by the initial members: while replacements are under way the leader tracks
  // learners and extra voters too, and all of them may be silent at once (swarm seed 3631).
  OMNI_ASSERT(lost_.size() <= node_->raft().progress().size());
  OMNI_ASSERT(!lost_.count(config_.self), "a leader never counts itself lost");
}

namespace {

constexpr int kReplaceAnywayFactor = 5;

Address member_address(std::uint32_t replica) {
  return "orchestrator:" + std::to_string(replica);
}

// N of "orchestrator:N", or 0 when the address is not one (configurations come from the log).
std::uint32_t replica_number(const Address& address) {
  if (!is_orchestrator_address(address)) return 0;
  const std::string digits = address.substr(kOrchestratorPrefix.size());
  if (digits.empty() || digits.size() > 9 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return 0;
  return static_cast<std::uint32_t>(std::stoul(digits));
}

bool contains(const std::vector<Address>& ids, const Address& id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

bool fits(const config::Resources& need, const config::Resources& have) {
  return need.cpu_millis <= have.cpu_millis && need.memory_bytes <= have.memory_bytes;
}

}  // namespace

// The steps of a replacement, in the order they must happen, each taken when the one before
// has committed: place a new replica; add it as a learner; promote it once it has caught up;
// retire the lost member's placement; remove the lost member. The voters never drop below the
// configured count, so quorum never rests on fewer live members than before.
void Orchestrator::reconcile_membership(Outputs& out) {
  const Topology* t = topology();
  if (!t || membership_request_ != 0) return;  // one change at a time
  const raft::Raft& raft = node_->raft();
  // Raft refuses a membership change until the leader has committed an entry of its term (a new
  // leader's first moments): asking before only made a refusal to show as the plane's problem.
  if (!raft.committed_in_current_term()) return;
  std::vector<Address> placed;
  for (const auto& r : state_.replicas()) placed.push_back(member_address(r.container().replica()));
  for (const auto& learner : raft.learners()) {
    const auto p = raft.progress().find(learner);
    if (contains(placed, learner) && p != raft.progress().end() &&
        p->second.match >= raft.commit_index())
      return change_membership(v1::RAFT_CLIENT_REQUEST_TYPE_PROMOTE_VOTER, learner, out);
  }
  for (const auto& member : placed)
    if (!contains(raft.voters(), member) && !contains(raft.learners(), member))
      return change_membership(v1::RAFT_CLIENT_REQUEST_TYPE_ADD_LEARNER, member, out);
  for (const auto& ids : {raft.voters(), raft.learners()})
    for (const auto& member : ids)
      if (member != config_.self && !contains(placed, member))
        return change_membership(v1::RAFT_CLIENT_REQUEST_TYPE_REMOVE_SERVER, member, out);
  const auto voters = static_cast<int>(raft.voters().size());
  if (voters > t->orchestrators) {
    // The replacement is a voter: the member it replaces goes. Without a record of which that
    // was (a new leader), the one heard from least recently.
    Address retire = replacing_;
    if (!contains(raft.voters(), retire) || retire == config_.self) {
      retire.clear();
      Time oldest = Time::max();
      for (const auto& [peer, progress] : raft.progress())
        if (contains(raft.voters(), peer) && progress.last_heard_at < oldest) {
          oldest = progress.last_heard_at;
          retire = peer;
        }
    }
    const std::uint32_t number = replica_number(retire);
    if (number == 0) return;  // not an address this cluster gives a replica
    v1::ClusterCommand command;
    command.set_retire_replica(number);
    return propose_membership(command, out);
  }
  if (const auto stuck = stuck_learner()) return retire_stuck_learner(*stuck, out);
  if (voters != t->orchestrators || !raft.learners().empty()) return;
  if (!contains(raft.voters(), replacing_)) replacing_.clear();  // that replacement is done
  if (config_.testing_remove_a_running_member && voters > 1) {
    for (const auto& member : raft.voters())
      if (member != config_.self && !lost_.count(member))
        return change_membership(v1::RAFT_CLIENT_REQUEST_TYPE_REMOVE_SERVER, member, out);
  }
  for (const auto& member : raft.voters()) {
    if (member == config_.self || !lost_for_good(member)) continue;
    const auto placement = replacement_placement();
    if (!placement) return;
    replacing_ = member;
    ++replacements_;
    v1::ClusterCommand command;
    *command.mutable_place_replica() = *placement;
    return propose_membership(command, out);
  }
  OMNI_ASSERT(membership_request_ == 0);
  OMNI_ASSERT(voters == t->orchestrators);
}

// A learner that has not caught up within learner_catch_up_within of this leader seeing it, or
// that is lost for good. Without this, one replacement that cannot run holds back every other.
std::optional<Address> Orchestrator::stuck_learner() {
  const auto& learners = node_->raft().learners();
  std::erase_if(learner_since_, [&](const auto& e) { return !contains(learners, e.first); });
  for (const auto& learner : learners) {
    const auto [since, first] = learner_since_.emplace(learner, now_);
    if (lost_for_good(learner) || now_ - since->second > config_.learner_catch_up_within)
      return learner;
  }
  OMNI_ASSERT(learner_since_.size() <= learners.size());
  return std::nullopt;
}

// Its placement is retired (the next tick removes it from the configuration), and its node is
// avoided by the next placements for a while.
void Orchestrator::retire_stuck_learner(const Address& learner, Outputs& out) {
  const std::uint32_t number = replica_number(learner);
  if (number == 0) return;  // not one of ours: the step that removes unplaced members takes it
  const Address director = director_of_member(learner);
  if (!director.empty()) avoid_nodes_[director.substr(director.find(':') + 1)] = now_;
  ++stuck_learners_;
  v1::ClusterCommand command;
  command.set_retire_replica(number);
  propose_membership(command, out);
  OMNI_ASSERT(stuck_learners_ > 0);
}

bool Orchestrator::avoided(const std::string& node) const {
  const auto it = avoid_nodes_.find(node);
  return it != avoid_nodes_.end() &&
         now_ - it->second < config_.member_replace_after * kReplaceAnywayFactor;
}

// Lost for good: silent for member_replace_after while its node's Director is silent too (the
// node is gone), or silent for far longer wherever it is (its container cannot run there). A
// member whose Director answers is usually being restarted by its Agent: wait for it.
bool Orchestrator::lost_for_good(const Address& member) const {
  const auto p = node_->raft().progress().find(member);
  if (p == node_->raft().progress().end()) return false;
  const Duration silent = now_ - p->second.last_heard_at;
  if (silent > config_.member_replace_after * kReplaceAnywayFactor) return true;
  if (silent <= config_.member_replace_after) return false;
  const auto director = directors_.find(director_of_member(member));
  return director == directors_.end() ||
         now_ - director->second.last_heard > config_.director_lost_after;
}

Address Orchestrator::director_of_member(const Address& member) const {
  if (!topology_) return {};
  for (const auto& r : state_.replicas()) {
    if (member_address(r.container().replica()) != member) continue;
    const auto node = topology_->node_of_vm.find(r.vm());
    if (node != topology_->node_of_vm.end()) return director::director_address(node->second);
  }
  return {};
}

// Spread first, then pack: the first worker VM, in config order, on a node that hosts no
// replica and whose Director answers; failing that, any such VM with room left. Room is the
// VM's size less the replicas already placed on it.
std::optional<v1::ReplicaSpec> Orchestrator::replacement_placement() {
  const Topology* t = topology();
  OMNI_ASSERT(t != nullptr);
  if (state_.replicas().empty()) {  // the log retired every replica: nothing to copy from
    membership_problem_ = "no Orchestrator replica is placed; its image is not known";
    return std::nullopt;
  }
  std::map<std::string, config::Resources> used;  // vm -> taken by replicas
  std::set<std::string> nodes_with_replica;
  for (const auto& r : state_.replicas()) {
    add_capped(used[r.vm()],
               {r.container().resources().cpu_millis(), r.container().resources().memory_bytes()});
    if (const auto n = t->node_of_vm.find(r.vm()); n != t->node_of_vm.end())
      nodes_with_replica.insert(n->second);
  }
  std::string chosen;
  // Spread over nodes, then pack; a node where a learner got stuck only as a last resort.
  for (const auto& [spread, avoid] : {std::pair{true, true}, {false, true}, {false, false}}) {
    for (const auto& node : t->nodes) {
      const auto d = directors_.find(director::director_address(node));
      if (d == directors_.end() || now_ - d->second.last_heard > config_.director_lost_after)
        continue;
      if ((spread && nodes_with_replica.count(node)) || (avoid && avoided(node))) continue;
      for (const auto& vm : t->workers.at(node)) {
        const config::Resources room{vm.resources().cpu_millis() - used[vm.name()].cpu_millis,
                                     vm.resources().memory_bytes() - used[vm.name()].memory_bytes};
        if (fits(t->replica_resources, room)) {
          chosen = vm.name();
          break;
        }
      }
      if (!chosen.empty()) break;
    }
    if (!chosen.empty()) break;
  }
  if (chosen.empty()) {
    membership_problem_ =
        "no worker VM on a node that answers has room for another Orchestrator replica";
    return std::nullopt;
  }
  const std::uint32_t number = state_.next_replica();
  v1::ReplicaSpec spec;
  spec.set_vm(chosen);
  auto* c = spec.mutable_container();
  c->set_name(root::replica_name(t->cluster, static_cast<int>(number)));
  c->set_image(state_.replicas().Get(0).container().image());
  c->add_args("orchestrator");
  c->add_args("--replica=" + std::to_string(number));
  c->add_args("--join");
  *c->mutable_resources() = to_proto(t->replica_resources);
  c->set_replica(number);
  membership_problem_.clear();
  OMNI_ASSERT(number >= 1);
  return spec;
}

// The request may be answered inside request() already: refused at once (no longer the leader,
// too many requests, a change still pending), with the reason left in membership_problem_, or
// committed at once by a lone voter. Either way membership_request_ is clear again and the next
// reconcile takes the next step; asserting it stayed in flight was wrong (swarm seed 2050).
void Orchestrator::change_membership(v1::RaftClientRequestType type, const Address& node,
                                     Outputs& out) {
  const std::uint64_t id = next_request_id_++;
  membership_request_ = id;
  request(type, {}, node, id, out);
  OMNI_ASSERT(membership_request_ == id || membership_request_ == 0, "one change at a time");
  OMNI_ASSERT(next_request_id_ > id);
}

void Orchestrator::propose_membership(const v1::ClusterCommand& command, Outputs& out) {
  const std::uint64_t id = next_request_id_++;
  membership_request_ = id;
  propose(command, id, out);
  OMNI_ASSERT(membership_request_ == id || membership_request_ == 0, "one change at a time");
  OMNI_ASSERT(next_request_id_ > id);
}

// Every app, not only the first kMaxListedObjects keys: past them (or past 10,000 junk keys
// under /apps/) apps lost their placements.
std::vector<v1::AppSpec> Orchestrator::stored_apps() const {
  std::vector<v1::AppSpec> apps;
  state_.visit(std::string(kAppPrefix), [&apps](const v1::StoreObject& object) {
    if (auto app = app_of(object)) apps.push_back(std::move(*app));
  });
  return apps;  // sorted by name, as the keys are
}

// Replicas that may still run somewhere the leader can hear, and so are not placed anywhere yet:
// one taken off a node that still reports (a resize, a VM too small now) until that node's
// Director has acknowledged the set without it and lists no copy in VMs whose Agents it has
// heard, and any whose container a node that is not lost lists (a leader that did not see the
// move). Listed, not only running: a copy waiting in restart back-off starts again for as long
// as its Agent's set asks for it, and the Director's acknowledgement says nothing of whether
// the Agent has its new set yet. A node silent for apps_move_after holds nothing: its lease has
// stopped its apps.
std::set<std::pair<std::string, std::uint32_t>> Orchestrator::held_replicas(
    const Topology& t, const ScheduleInput& in) {
  const auto knows_what_runs = [](const DirectorControl& control) {
    return control.desired_acked &&
           std::all_of(control.vms.begin(), control.vms.end(), [](const v1::VmStatus& vm) {
             return !vm.running() || vm.containers_known();
           });
  };
  std::erase_if(moving_from_, [&](const auto& entry) {
    const auto& [replica, node] = entry;
    if (in.lost_nodes.count(node)) return true;
    const auto d = directors_.find(director::director_address(node));
    if (d == directors_.end()) return true;
    const std::string name = app_container_name(t.cluster, replica.first, replica.second);
    const bool lease_ran_out = now_ - d->second.last_lease_renewal > config_.apps_move_after;
    return lease_ran_out ||
           (knows_what_runs(d->second) && !d->second.listed_containers.count(name));
  });
  std::set<std::pair<std::string, std::uint32_t>> held;
  for (const auto& [replica, node] : moving_from_) held.insert(replica);
  // Each listed container's name read back as (app, index): a scan of every app's every replica
  // on every node was most of a 1,000-node run's time.
  std::map<std::string, std::uint32_t, std::less<>> replicas;  // app -> its replicas
  for (const auto& app : in.apps) replicas[app.name()] = app.replicas();
  for (const auto& node : t.nodes) {
    if (in.lost_nodes.count(node)) continue;
    const auto d = directors_.find(director::director_address(node));
    if (d == directors_.end()) continue;
    for (const std::string& name : d->second.listed_containers)
      if (auto replica = app_replica_of(t.cluster, name, replicas))
        held.insert(std::move(*replica));
  }
  OMNI_ASSERT(held.size() >= moving_from_.size());
  return held;
}

// A new leader places nothing until every node that is not lost has reported to it: one it has
// not heard may still run a replica the last leader took off it, and moving_from_ begins empty.
bool Orchestrator::hears_every_node(const Topology& t, const ScheduleInput& in) const {
  return std::all_of(t.nodes.begin(), t.nodes.end(), [&](const std::string& node) {
    if (in.lost_nodes.count(node)) return true;
    const auto d = directors_.find(director::director_address(node));
    return d != directors_.end() && d->second.reported;
  });
}

bool Orchestrator::moves_off(const std::string& node) const {
  return std::any_of(moving_from_.begin(), moving_from_.end(),
                     [&node](const auto& entry) { return entry.second == node; });
}

// Remembers the replicas this decision takes off nodes that are not lost.
void Orchestrator::note_moves(const Topology& t, const ScheduleInput& in,
                              const ScheduleDecision& decision) {
  for (const auto& p : decision.unplace) {
    const auto node = t.node_of_vm.find(p.vm());
    if (node == t.node_of_vm.end() || in.lost_nodes.count(node->second)) continue;
    moving_from_[{p.app(), p.index()}] = node->second;
  }
  OMNI_ASSERT(std::all_of(moving_from_.begin(), moving_from_.end(),
                          [](const auto& entry) { return !entry.second.empty(); }));
}

// The scheduler's question, asked every control tick from the committed state alone: which
// app replicas must move (their VM is gone with its node) and where the missing ones go.
void Orchestrator::schedule_apps(Outputs& out) {
  const Topology* t = topology();
  if (!t || apps_request_ != 0) return;
  std::vector<v1::AppSpec> apps = stored_apps();
  // No app, no placement and no replica moving: nothing to place, take off or hold, so a plane
  // without apps does not build the scheduler's whole input every second to learn that.
  if (apps.empty() && state_.app_placements().empty() && moving_from_.empty()) {
    unschedulable_.clear();
    return;
  }
  ScheduleInput in;
  for (const auto& node : t->nodes) {
    const auto d = directors_.find(director::director_address(node));
    if (d == directors_.end() || now_ - d->second.last_heard > config_.apps_move_after)
      in.lost_nodes.insert(node);
    else if (d->second.apps_fenced_since &&
             now_ - *d->second.apps_fenced_since > config_.apps_move_after)
      in.fenced_nodes.insert(node);  // for long: not the moment a takeover took to renew
    for (const auto& vm : t->workers.at(node))
      in.vms.push_back(
          {vm.name(), node, {vm.resources().cpu_millis(), vm.resources().memory_bytes()}});
  }
  for (const auto& r : state_.replicas()) {
    add_capped(in.reserved[r.vm()],
               {r.container().resources().cpu_millis(), r.container().resources().memory_bytes()});
  }
  in.apps = std::move(apps);
  in.testing_ignore_capacity = config_.testing_scheduler_ignores_capacity;
  in.placements.assign(state_.app_placements().begin(), state_.app_placements().end());
  in.held = held_replicas(*t, in);
  in.hold_placements = !hears_every_node(*t, in);
  ScheduleDecision decision = schedule(in);
  note_moves(*t, in, decision);
  unschedulable_.clear();
  for (auto& u : decision.unschedulable) unschedulable_[u.app] = std::move(u);
  if (!decision.changes()) return;
  // One command carries at most kMaxAppPlacements of each (what apply accepts); the rest is
  // decided again at the next control tick. Past them, every decision was refused at apply and
  // no app was ever placed again.
  if (decision.unplace.size() > kMaxAppPlacements) decision.unplace.resize(kMaxAppPlacements);
  if (decision.place.size() > kMaxAppPlacements) decision.place.resize(kMaxAppPlacements);
  v1::ClusterCommand command;
  for (auto& p : decision.unplace) *command.mutable_app_placements()->add_unplace() = std::move(p);
  for (auto& p : decision.place) *command.mutable_app_placements()->add_place() = std::move(p);
  const std::uint64_t id = next_request_id_++;
  apps_request_ = id;
  propose(command, id, out);
  // A lone voter commits, applies and answers inside propose(): the decision may be settled
  // already (asserting it was in flight crashed a one-Orchestrator plane at its first app).
  OMNI_ASSERT(apps_request_ == id || apps_request_ == 0, "one decision at a time");
  OMNI_ASSERT(next_request_id_ > id);
}

// A replica counts as running when the Director of its VM's node reports it: a name that any
// Director reported let one node's Agent make another node's replicas look running, and a
// moved replica counted as running while only its old copy ran.
bool Orchestrator::runs_where_placed(const v1::AppPlacement& p) const {
  OMNI_ASSERT(topology_.has_value());
  const auto node = topology_->node_of_vm.find(p.vm());
  if (node == topology_->node_of_vm.end()) return false;
  const auto d = directors_.find(director::director_address(node->second));
  if (d == directors_.end()) return false;
  OMNI_ASSERT(is_leader(), "only the leader hears Directors");
  return d->second.running_containers.count(
             app_container_name(topology_->cluster, p.app(), p.index())) > 0;
}

std::vector<AppView> Orchestrator::apps() const {
  std::vector<AppView> views;
  if (!is_leader() || !topology_) return views;
  // One pass over the placements for all apps: one per app was 10^8 steps for 10,000 of each.
  std::map<std::string, std::pair<std::uint32_t, std::uint32_t>> placed_running;
  for (const auto& p : state_.app_placements()) {
    auto& [placed, running_count] = placed_running[p.app()];
    ++placed;
    if (runs_where_placed(p)) ++running_count;
  }
  for (const auto& app : stored_apps()) {
    AppView view{
        app.name(), app.replicas(), 0, 0, 0, {}, app_container(topology_->cluster, app, 0)};
    if (const auto it = placed_running.find(app.name()); it != placed_running.end())
      std::tie(view.placed, view.running) = it->second;
    if (const auto u = unschedulable_.find(app.name()); u != unschedulable_.end()) {
      view.unschedulable_replicas = u->second.replicas;
      view.unschedulable = u->second.reason;
    }
    views.push_back(std::move(view));
  }
  return views;
}

// A replica without a leader that hears fewer voters than a quorum, for quorum_lost_after, says
// so: which voters are silent, how many must come back, and that the plane will not guess its
// way around it (electing without a majority could lose committed changes).
PlaneView Orchestrator::plane() const {
  const raft::Raft& raft = node_->raft();
  if (is_leader()) return {"leading", {}, 0, {}};
  if (!raft.leader().empty()) return {"following", {}, 0, {}};
  if (raft.voters().empty())
    return {"joining", {}, 0, {}};  // a replacement the leader has not reached
  PlaneView view{"electing", {}, 0, {}};
  int answering = 0;
  for (const auto& voter : raft.voters()) {
    const std::optional<Time> heard = heard_at(voter);
    if (voter == config_.self || (heard && now_ - *heard <= config_.member_lost_after))
      ++answering;
    else
      view.silent_members.push_back(voter);
  }
  const int needed = root::quorum_of(static_cast<int>(raft.voters().size())) - answering;
  if (needed <= 0 || now_ - leader_known_at_ < config_.quorum_lost_after) return view;
  view.state = "quorum lost";
  view.members_needed = static_cast<std::uint32_t>(needed);
  view.advice = "bring back at least " + std::to_string(needed) + " of " +
                described_members(view.silent_members) +
                ": power on or repair their nodes; their logs are on their disks and the plane "
                "resumes by itself once a majority answers. It never elects a leader without a "
                "majority, because that could lose committed changes.";
  OMNI_ASSERT(view.members_needed >= 1);
  OMNI_ASSERT(view.silent_members.size() >= view.members_needed);
  return view;
}

// "orchestrator:2 (on worker-02), orchestrator:3 (on worker-03)"
std::string Orchestrator::described_members(const std::vector<Address>& members) const {
  std::string text;
  for (const auto& m : members) {
    const Address director = director_of_member(m);
    text += (text.empty() ? "" : ", ") + m;
    if (!director.empty()) text += " (on " + director.substr(director.find(':') + 1) + ")";
  }
  return text;
}

MembershipView Orchestrator::membership() const {
  MembershipView view;
  if (!is_leader()) return view;
  view.voters = node_->raft().voters();
  view.learners = node_->raft().learners();
  view.lost.assign(lost_.begin(), lost_.end());
  view.replacing = replacing_;
  view.problem = membership_problem_;
  view.replacements = replacements_;
  view.stuck_learners = stuck_learners_;
  return view;
}

std::vector<DirectorView> Orchestrator::directors() const {
  std::vector<DirectorView> out;
  if (!is_leader()) return out;
  for (const auto& [director, control] : directors_)
    out.push_back(
        DirectorView{director,
                     control.term == term(),
                     control.desired_acked,
                     control.last_rejection,
                     control.vm_recoveries,
                     {control.failing_containers.begin(), control.failing_containers.end()}});
  return out;
}

std::vector<Address> Orchestrator::controlled_directors() const {
  std::vector<Address> out;
  if (!is_leader()) return out;
  for (const auto& [director, control] : directors_)
    if (control.term == term()) out.push_back(director);
  return out;
}

v1::Fence Orchestrator::fence() const {
  return omni::to_proto(FenceValue{kClusterEra, term()});
}

}  // namespace omni::orchestrator
