#include "node/transport.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/grpcpp.h>

#include <chrono>

#include "model/core/assert.h"
#include "model/proto/transport.grpc.pb.h"

namespace omni::node {

namespace {
constexpr auto kDeliverDeadline = std::chrono::seconds(2);
constexpr auto kBackoffMin = std::chrono::milliseconds(100);
constexpr auto kBackoffMax = std::chrono::seconds(2);
}  // namespace

// The identity comes from the caller's certificate, verified against the cluster's CA. A
// certificate verified lately is not verified again for every message: a peer sends many.
class GrpcTransport::Service final : public v1::Peer::Service {
 public:
  Service(std::string ca_pem, OnDeliver on_deliver, OnRefused on_refused,
          TransportCounters& counters)
      : ca_pem_(std::move(ca_pem)),
        on_deliver_(std::move(on_deliver)),
        on_refused_(std::move(on_refused)),
        counters_(counters) {}

  grpc::Status Deliver(grpc::ServerContext* context, const v1::Envelope* envelope,
                       v1::Delivered*) override {
    const auto auth = context->auth_context();
    const auto pems = auth ? auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME)
                           : std::vector<grpc::string_ref>{};
    const auto identity =
        pems.empty() ? std::nullopt : verified(std::string(pems[0].data(), pems[0].size()));
    if (!identity) {
      ++counters_.refused;
      return {grpc::StatusCode::UNAUTHENTICATED, "no valid identity of this cluster"};
    }
    ++counters_.received;
    on_deliver_(*identity, *envelope);
    return grpc::Status::OK;
  }

 private:
  static constexpr std::size_t kVerifiedRemembered = 256;
  static constexpr auto kVerifiedFor = std::chrono::seconds(60);  // an expiry shows within it

  std::optional<Address> verified(const std::string& pem) {
    const auto now = std::chrono::steady_clock::now();
    {
      std::lock_guard lock(mutex_);
      const auto it = verified_.find(pem);
      if (it != verified_.end() && now - it->second.second < kVerifiedFor) return it->second.first;
    }
    const auto identity = identity_of(pem);
    std::string reason = verify(ca_pem_, pem);
    if (reason.empty() && !identity) reason = "the certificate names no omni: identity";
    if (!reason.empty()) {
      if (on_refused_) on_refused_(identity.value_or(""), reason);
      return std::nullopt;
    }
    std::lock_guard lock(mutex_);
    if (verified_.size() >= kVerifiedRemembered) verified_.clear();
    verified_[pem] = {*identity, now};
    return identity;
  }

  std::string ca_pem_;
  OnDeliver on_deliver_;
  OnRefused on_refused_;
  TransportCounters& counters_;
  std::mutex mutex_;
  std::map<std::string, std::pair<Address, std::chrono::steady_clock::time_point>> verified_;
};

struct GrpcTransport::Peer {
  Address identity;
  std::string host_port;
  std::shared_ptr<v1::Peer::Stub> stub;  // replaced when the peer moves; senders hold a copy
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<v1::Envelope> queue;
  bool stopping = false;
  std::thread sender;
};

GrpcTransport::GrpcTransport(const std::string& listen, std::string ca_pem, KeyPair own,
                             OnDeliver on_deliver, std::size_t queue_limit, OnRefused on_refused)
    : ca_pem_(std::move(ca_pem)),
      own_(std::move(own)),
      queue_limit_(queue_limit),
      service_(std::make_unique<Service>(ca_pem_, std::move(on_deliver), std::move(on_refused),
                                         counters_)) {
  OMNI_ASSERT(queue_limit_ > 0, "a peer's queue holds at least one message");
  // Verified by the Service (see the header), so that a refusal is logged with its reason.
  grpc::SslServerCredentialsOptions options(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_BUT_DONT_VERIFY);
  options.pem_root_certs = ca_pem_;
  options.pem_key_cert_pairs.push_back({own_.key_pem, own_.cert_pem});
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen, grpc::SslServerCredentials(options), &port_);
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  if (!server_) port_ = 0;
}

GrpcTransport::~GrpcTransport() {
  {
    std::lock_guard lock(peers_mutex_);
    for (auto& [identity, peer] : peers_) {
      std::lock_guard peer_lock(peer->mutex);
      peer->stopping = true;
      peer->wake.notify_all();
    }
  }
  for (auto& [identity, peer] : peers_)
    if (peer->sender.joinable()) peer->sender.join();
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
}

// The peer's certificate must carry tls_name(identity): the channel checks the name it dialled.
void GrpcTransport::add_peer(const Address& identity, const std::string& host_port) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ca_pem_;
  options.pem_private_key = own_.key_pem;
  options.pem_cert_chain = own_.cert_pem;
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride(tls_name(identity));
  std::shared_ptr<v1::Peer::Stub> stub =
      v1::Peer::NewStub(grpc::CreateCustomChannel(host_port, grpc::SslCredentials(options), args));
  std::lock_guard lock(peers_mutex_);
  if (const auto it = peers_.find(identity); it != peers_.end()) {
    std::lock_guard peer_lock(it->second->mutex);
    if (it->second->host_port != host_port) {
      it->second->host_port = host_port;
      it->second->stub = std::move(stub);
    }
    return;
  }
  auto peer = std::make_unique<Peer>();
  peer->identity = identity;
  peer->host_port = host_port;
  peer->stub = std::move(stub);
  Peer& ref = *peer;
  peers_[identity] = std::move(peer);
  ref.sender = std::thread([this, &ref] { run_sender(ref); });
  OMNI_ASSERT(peers_.at(identity)->sender.joinable());
}

bool GrpcTransport::has_peer(const Address& identity) {
  std::lock_guard lock(peers_mutex_);
  return peers_.count(identity) > 0;
}

void GrpcTransport::send(const Address&, const Address& to, const v1::Envelope& envelope) {
  Peer* peer = nullptr;
  {
    std::lock_guard lock(peers_mutex_);
    const auto it = peers_.find(to);
    if (it != peers_.end()) peer = it->second.get();
  }
  if (!peer) {
    ++counters_.dropped_unknown_peer;
    return;
  }
  std::lock_guard lock(peer->mutex);
  if (peer->queue.size() >= queue_limit_) {
    ++counters_.dropped_queue_full;
    return;
  }
  peer->queue.push_back(envelope);
  peer->wake.notify_one();
}

// One message at a time, in order; a failure drops it and backs off, so a peer that is down
// costs a bounded queue and one thread, not the loop.
void GrpcTransport::run_sender(Peer& peer) {
  auto backoff = std::chrono::milliseconds(0);
  for (;;) {
    v1::Envelope envelope;
    std::shared_ptr<v1::Peer::Stub> stub;
    {
      std::unique_lock lock(peer.mutex);
      peer.wake.wait_for(lock, backoff, [&] { return peer.stopping; });
      if (peer.stopping) return;
      peer.wake.wait(lock, [&] { return peer.stopping || !peer.queue.empty(); });
      if (peer.stopping) return;
      envelope = std::move(peer.queue.front());
      peer.queue.pop_front();
      stub = peer.stub;
    }
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + kDeliverDeadline);
    v1::Delivered delivered;
    if (stub->Deliver(&context, envelope, &delivered).ok()) {
      ++counters_.sent;
      backoff = std::chrono::milliseconds(0);
    } else {
      ++counters_.failed;
      backoff = std::clamp<std::chrono::milliseconds>(backoff * 2, kBackoffMin, kBackoffMax);
    }
  }
}

}  // namespace omni::node
