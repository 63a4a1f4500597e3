#include "sim/cluster/admin_client.h"

#include "model/core/assert.h"
#include "model/orchestrator/apps.h"

namespace omni::sim {
namespace {

constexpr Duration kAnswerWithin = 2s;   // then ask another replica
constexpr Duration kIdlePoll = 1s;       // how soon an enqueued op starts
constexpr Duration kRetryAfter = 500ms;  // after an answer that says "not now"

}  // namespace

AdminClient::AdminClient(std::vector<Address> replicas) : replicas_(std::move(replicas)) {
  OMNI_ASSERT(!replicas_.empty());
  target_ = replicas_.front();
}

void AdminClient::step(const Input& input, Outputs& out) {
  now_ = now_of(input);
  if (const auto* d = std::get_if<Deliver>(&input)) {
    if (d->envelope.has_store_reply() && d->envelope.store_reply().id() == in_flight_.id() &&
        phase_ != Phase::idle)
      on_reply(d->envelope.store_reply(), out);
  } else if (phase_ != Phase::idle && now_ >= deadline_) {
    try_another_replica();
    send(in_flight_, out);  // the same request again: a read, or a conditional write
  }
  if (phase_ == Phase::idle && !queue_.empty() && now_ >= resume_at_) next_request(out);
  const Time idle_wake = std::max(now_ + kIdlePoll, resume_at_);
  push_wake(out, phase_ == Phase::idle ? idle_wake : deadline_);
  OMNI_ASSERT(phase_ == Phase::idle || deadline_ > now_);
}

// Every op starts with a read: an apply changes the app as it is now, a delete removes it.
void AdminClient::next_request(Outputs& out) {
  OMNI_ASSERT(!queue_.empty() && phase_ == Phase::idle);
  v1::StoreRequest r;
  if (const auto* patch = std::get_if<config::AppPatch>(&queue_.front())) {
    r.mutable_get()->set_key(orchestrator::app_key(patch->name));
    phase_ = Phase::reading;
  } else {
    r.mutable_delete_()->set_key(orchestrator::app_key(std::get<std::string>(queue_.front())));
    phase_ = Phase::writing;
  }
  send(std::move(r), out);
}

void AdminClient::on_reply(const v1::StoreReply& reply, Outputs& out) {
  switch (reply.status()) {
    case v1::STORE_STATUS_NOT_LEADER:
      if (!reply.leader_hint().empty() && reply.leader_hint() != target_)
        target_ = reply.leader_hint();
      else
        try_another_replica();
      send(in_flight_, out);
      return;
    case v1::STORE_STATUS_UNAVAILABLE:
    case v1::STORE_STATUS_UNKNOWN:
      resume_at_ = now_ + kRetryAfter;
      phase_ = Phase::idle;  // start the op over from its read, a little later
      return;
    case v1::STORE_STATUS_CONFLICT:
      phase_ = Phase::idle;  // someone wrote in between: read again at once
      return;
    default:
      break;
  }
  if (phase_ == Phase::reading) {
    on_read(reply, out);
    return;
  }
  // A write answered: OK, or NOT_FOUND for a delete of what is already gone.
  finish(reply.status() == v1::STORE_STATUS_OK || reply.status() == v1::STORE_STATUS_NOT_FOUND);
}

void AdminClient::on_read(const v1::StoreReply& reply, Outputs& out) {
  const auto& patch = std::get<config::AppPatch>(queue_.front());
  const bool exists = reply.status() == v1::STORE_STATUS_OK && reply.objects_size() == 1;
  std::optional<v1::AppSpec> current;
  if (exists) current = orchestrator::app_of(reply.objects(0));
  config::AppConfig base = current ? orchestrator::to_app_config(*current) : config::AppConfig{};
  const config::AppConfig app = config::apply_patch(base, patch);
  if (app.image.empty()) {
    finish(false);  // a new app needs an image; nothing to write
    return;
  }
  v1::StoreRequest r;
  r.mutable_put()->set_key(orchestrator::app_key(app.name));
  r.mutable_put()->set_value(orchestrator::to_app_spec(app).SerializeAsString());
  r.mutable_put()->set_conditional(true);
  r.mutable_put()->set_expected_revision(exists ? reply.objects(0).revision() : 0);
  phase_ = Phase::writing;
  send(std::move(r), out);
}

void AdminClient::send(v1::StoreRequest request, Outputs& out) {
  request.set_id(next_id_++);
  in_flight_ = request;
  deadline_ = now_ + kAnswerWithin;
  v1::Envelope e;
  *e.mutable_store_request() = std::move(request);
  out.push_back(Send{target_, std::move(e)});
}

void AdminClient::finish(bool ok) {
  OMNI_ASSERT(!queue_.empty());
  queue_.pop_front();
  phase_ = Phase::idle;
  ++(ok ? done_ : failed_);
}

void AdminClient::try_another_replica() {
  replica_ = (replica_ + 1) % replicas_.size();
  target_ = replicas_[replica_];
}

}  // namespace omni::sim
