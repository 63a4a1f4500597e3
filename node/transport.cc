#include "node/transport.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <chrono>

#include "model/core/assert.h"
#include "model/proto/transport.grpc.pb.h"

namespace omni::node {

namespace {
constexpr auto kBackoffMin = std::chrono::milliseconds(100);
constexpr auto kBackoffMax = std::chrono::seconds(2);
constexpr auto kKeepalive = std::chrono::milliseconds(2000);
// gRPC refuses a received message over 4 MiB by default, and a snapshot to a lagging or new
// replica is one message: the store's limit (kMaxStoreBytes, 32 MiB) and the rest of the
// cluster's state must fit, as a log record (64 MiB at most) does.
constexpr int kMaxEnvelopeBytes = 80 << 20;
// What a peer's queue holds at most, beyond its first message: two snapshots and change.
constexpr std::size_t kMaxQueuedBytes = std::size_t{192} << 20;
}  // namespace

// What the caller's certificate says: its identity, and why it is refused ("" when it is not).
struct CertificateCheck {
  std::optional<Address> identity;
  std::string refusal;
};

CertificateCheck check_certificate(const std::string& ca_pem, const std::string& pem) {
  CertificateCheck check{identity_of(pem), pem.empty() ? "no certificate" : verify(ca_pem, pem)};
  if (check.refusal.empty() && !check.identity)
    check.refusal = "the certificate names no omni: identity";
  OMNI_ASSERT(!check.refusal.empty() || check.identity.has_value());
  return check;
}

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
    const auto identity = caller(*context);
    if (!identity) return refused();
    ++counters_.received;
    on_deliver_(*identity, *envelope);
    return grpc::Status::OK;
  }

  // The caller is verified once per stream: its certificate cannot change within a connection.
  grpc::Status Stream(grpc::ServerContext* context, grpc::ServerReader<v1::Envelope>* reader,
                      v1::Delivered*) override {
    const auto identity = caller(*context);
    if (!identity) return refused();
    for (v1::Envelope envelope; reader->Read(&envelope);) {
      ++counters_.received;
      on_deliver_(*identity, std::move(envelope));
      envelope.Clear();
    }
    return grpc::Status::OK;
  }

 private:
  std::optional<Address> caller(const grpc::ServerContext& context) {
    const auto auth = context.auth_context();
    const auto pems = auth ? auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME)
                           : std::vector<grpc::string_ref>{};
    return pems.empty() ? std::nullopt : verified(std::string(pems[0].data(), pems[0].size()));
  }

  grpc::Status refused() {
    ++counters_.refused;
    return {grpc::StatusCode::UNAUTHENTICATED, "no valid identity of this cluster"};
  }

  static constexpr std::size_t kVerifiedRemembered = 256;
  static constexpr auto kVerifiedFor = std::chrono::seconds(60);  // an expiry shows within it

  std::optional<Address> verified(const std::string& pem) {
    const auto now = std::chrono::steady_clock::now();
    {
      std::lock_guard lock(mutex_);
      const auto it = verified_.find(pem);
      if (it != verified_.end() && now - it->second.second < kVerifiedFor) return it->second.first;
    }
    const CertificateCheck check = check_certificate(ca_pem_, pem);
    if (!check.refusal.empty()) {
      if (on_refused_) on_refused_(check.identity.value_or(""), check.refusal);
      return std::nullopt;
    }
    std::lock_guard lock(mutex_);
    if (verified_.size() >= kVerifiedRemembered) verified_.clear();
    verified_[pem] = {*check.identity, now};
    return check.identity;
  }

  std::string ca_pem_;
  OnDeliver on_deliver_;
  OnRefused on_refused_;
  TransportCounters& counters_;
  std::mutex mutex_;
  std::map<std::string, std::pair<Address, std::chrono::steady_clock::time_point>> verified_;
};

// A caller's certificate is checked in the TLS handshake, before gRPC reads a byte of what it
// sends: checked only in the service, a caller with any self-signed certificate had its 80 MiB
// messages read and parsed before it was refused, as many at once as it liked (2.3 GB held by
// 24 such calls). The check is node/pki.h's, so a refusal still says why.
struct GrpcTransport::Refusal {
  std::mutex mutex;
  std::function<void(const std::string& claimed, const std::string& reason)> tell;  // or empty
};

class GrpcTransport::HandshakeVerifier final
    : public grpc::experimental::ExternalCertificateVerifier {
 public:
  HandshakeVerifier(std::string ca_pem, std::shared_ptr<Refusal> refusal)
      : ca_pem_(std::move(ca_pem)), refusal_(std::move(refusal)) {}

  bool Verify(grpc::experimental::TlsCustomVerificationCheckRequest* request,
              std::function<void(grpc::Status)>, grpc::Status* sync_status) override {
    const std::string pem(request->peer_cert().data(), request->peer_cert().size());
    const CertificateCheck check = check_certificate(ca_pem_, pem);
    if (check.refusal.empty()) {
      *sync_status = grpc::Status::OK;
      return true;  // answered now
    }
    {
      std::lock_guard lock(refusal_->mutex);
      if (refusal_->tell) refusal_->tell(check.identity.value_or(""), check.refusal);
    }
    *sync_status = grpc::Status(grpc::StatusCode::UNAUTHENTICATED, check.refusal);
    return true;
  }
  void Cancel(grpc::experimental::TlsCustomVerificationCheckRequest*) override {}

 private:
  std::string ca_pem_;
  std::shared_ptr<Refusal> refusal_;  // outlives the transport: gRPC owns this verifier
};

struct GrpcTransport::Peer {
  Address identity;
  std::string host_port;
  std::shared_ptr<v1::Peer::Stub> stub;  // replaced when the peer moves; senders hold a copy
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<v1::Envelope> queue;
  std::deque<std::size_t> queued_sizes;  // each queued envelope's bytes, in the same order
  std::size_t queued_bytes = 0;
  bool stopping = false;
  std::uint64_t moves = 0;                   // grows when the stub is replaced
  grpc::ClientContext* streaming = nullptr;  // the open stream's, cancelled to stop the sender
  std::thread sender;
};

GrpcTransport::GrpcTransport(const std::string& listen, std::string ca_pem, KeyPair own,
                             OnDeliver on_deliver, std::size_t queue_limit, OnRefused on_refused)
    : ca_pem_(std::move(ca_pem)),
      own_(std::move(own)),
      queue_limit_(queue_limit),
      on_refused_(on_refused),
      refusal_(std::make_shared<Refusal>()),
      service_(std::make_unique<Service>(ca_pem_, std::move(on_deliver), std::move(on_refused),
                                         counters_)) {
  OMNI_ASSERT(queue_limit_ > 0, "a peer's queue holds at least one message");
  refusal_->tell = [this](const std::string& claimed, const std::string& reason) {
    ++counters_.refused;
    if (on_refused_) on_refused_(claimed, reason);
  };
  // Verified in the handshake by HandshakeVerifier (node/pki.h's check, with its reason), and
  // again by the Service, which takes the identity from the certificate.
  auto provider = std::make_shared<grpc::experimental::StaticDataCertificateProvider>(
      ca_pem_, std::vector<grpc::experimental::IdentityKeyCertPair>{{own_.key_pem, own_.cert_pem}});
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_BUT_DONT_VERIFY);
  options.set_certificate_verifier(
      grpc::experimental::ExternalCertificateVerifier::Create<HandshakeVerifier>(ca_pem_,
                                                                                 refusal_));
  grpc::ServerBuilder builder;
  // Peers ping as often as kKeepalive: that is expected, not abuse.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             static_cast<int>(kKeepalive.count() / 2));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  // A second process on the same address is refused, not given half the connections.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(kMaxEnvelopeBytes);
  builder.AddListeningPort(listen, grpc::experimental::TlsServerCredentials(options), &port_);
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  if (!server_) port_ = 0;
}

GrpcTransport::~GrpcTransport() {
  {
    std::lock_guard lock(refusal_->mutex);  // a handshake after this tells nobody
    refusal_->tell = nullptr;
  }
  {
    std::lock_guard lock(peers_mutex_);
    for (auto& [identity, peer] : peers_) {
      std::lock_guard peer_lock(peer->mutex);
      peer->stopping = true;
      if (peer->streaming) peer->streaming->TryCancel();  // a Write blocked on a stalled peer
      peer->wake.notify_all();
    }
  }
  for (auto& [identity, peer] : peers_)
    if (peer->sender.joinable()) peer->sender.join();
  // Inbound streams stay open while their senders live: cancelled after a short grace.
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
}

// The peer's certificate must carry tls_name(identity): the channel checks the name it dialled.
void GrpcTransport::add_peer(const Address& identity, const std::string& host_port) {
  {
    // A Director tells its Agents' addresses after every VM list: most of them are known.
    std::lock_guard lock(peers_mutex_);
    if (const auto it = peers_.find(identity); it != peers_.end()) {
      std::lock_guard peer_lock(it->second->mutex);
      if (it->second->host_port == host_port) return;
    }
  }
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ca_pem_;
  options.pem_private_key = own_.key_pem;
  options.pem_cert_chain = own_.cert_pem;
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride(tls_name(identity));
  // A peer that stops answering (powered off, stopped) without closing its connection is given
  // up within seconds: its kernel may keep taking bytes, so only unanswered pings tell.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, static_cast<int>(kKeepalive.count()));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, static_cast<int>(kKeepalive.count()));
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // A peer that comes back (a restarted replica, the next `omni` command on the admin's
  // address) is reached within a second, not after gRPC's default backoff of up to two minutes.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetMaxReceiveMessageSize(kMaxEnvelopeBytes);
  args.SetMaxSendMessageSize(kMaxEnvelopeBytes);
  std::shared_ptr<v1::Peer::Stub> stub =
      v1::Peer::NewStub(grpc::CreateCustomChannel(host_port, grpc::SslCredentials(options), args));
  std::lock_guard lock(peers_mutex_);
  if (const auto it = peers_.find(identity); it != peers_.end()) {
    std::lock_guard peer_lock(it->second->mutex);
    if (it->second->host_port != host_port) {
      it->second->host_port = host_port;
      it->second->stub = std::move(stub);
      ++it->second->moves;
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
  const std::size_t bytes = envelope.ByteSizeLong();
  std::lock_guard lock(peer->mutex);
  // Bounded in bytes as well as in messages: a leader re-sends a snapshot (up to 80 MiB) to a
  // follower that does not take it, and 1,024 of them queued for a down peer were gigabytes.
  const bool over_bytes = !peer->queue.empty() && peer->queued_bytes + bytes > kMaxQueuedBytes;
  if (peer->queue.size() >= queue_limit_ || over_bytes) {
    ++counters_.dropped_queue_full;
    return;
  }
  peer->queue.push_back(envelope);
  peer->queued_sizes.push_back(bytes);
  peer->queued_bytes += bytes;
  OMNI_ASSERT(peer->queued_sizes.size() == peer->queue.size());
  peer->wake.notify_one();
}

// One stream per peer, in order, without waiting for each message to be taken; a failed write
// drops the message, closes the stream and backs off before the next opens. A peer that is
// down costs a bounded queue and one thread, never the loop.
class GrpcTransport::Stream {
 public:
  explicit Stream(Peer& peer) : peer_(peer) {}
  ~Stream() { close(); }

  bool write(v1::Peer::Stub& stub, const v1::Envelope& envelope) {
    if (!writer_) open(stub);
    if (writer_->Write(envelope)) return true;
    close();
    return false;
  }

  void close() {
    if (!writer_) return;
    {
      std::lock_guard lock(peer_.mutex);
      peer_.streaming = nullptr;
    }
    context_->TryCancel();  // Finish must not wait on a peer that stopped reading
    writer_->Finish();
    writer_.reset();
    context_.reset();
  }

 private:
  void open(v1::Peer::Stub& stub) {
    context_ = std::make_unique<grpc::ClientContext>();
    writer_ = stub.Stream(context_.get(), &delivered_);
    std::lock_guard lock(peer_.mutex);
    peer_.streaming = context_.get();
    if (peer_.stopping) context_->TryCancel();
  }

  Peer& peer_;
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientWriter<v1::Envelope>> writer_;
  v1::Delivered delivered_;
};

void GrpcTransport::run_sender(Peer& peer) {
  auto backoff = std::chrono::milliseconds(0);
  Stream stream(peer);
  std::uint64_t moves = 0;
  for (;;) {
    v1::Envelope envelope;
    std::shared_ptr<v1::Peer::Stub> stub;
    bool moved = false;
    {
      std::unique_lock lock(peer.mutex);
      peer.wake.wait_for(lock, backoff, [&] { return peer.stopping; });
      if (peer.stopping) return;
      peer.wake.wait(lock, [&] { return peer.stopping || !peer.queue.empty(); });
      if (peer.stopping) return;
      envelope = std::move(peer.queue.front());
      peer.queue.pop_front();
      OMNI_ASSERT(peer.queued_bytes >= peer.queued_sizes.front());
      peer.queued_bytes -= peer.queued_sizes.front();
      peer.queued_sizes.pop_front();
      stub = peer.stub;
      moved = peer.moves != moves;
      moves = peer.moves;
    }
    if (moved) stream.close();
    if (stream.write(*stub, envelope)) {
      ++counters_.sent;
      backoff = std::chrono::milliseconds(0);
    } else {
      ++counters_.failed;
      backoff = std::clamp<std::chrono::milliseconds>(backoff * 2, kBackoffMin, kBackoffMax);
    }
  }
}

}  // namespace omni::node
