#pragma once
// The transport between real hosts: gRPC over TCP with mutual TLS (model/proto/transport.proto).
//
// - Who sent a message is who the peer's certificate says (node/pki.h), checked against the
//   cluster's CA; a peer without a valid certificate of this cluster gets nothing through. The
//   envelope has no field that could claim otherwise, so fencing cannot be spoofed. The TLS
//   handshake proves the caller holds the certificate's key; the chain, the dates and the
//   identity are checked with OpenSSL (node/pki.h's verify) in the handshake, before anything
//   the caller sends is read, and a refusal says why ("certificate has expired") instead of
//   ending as a failed handshake nobody sees.
// - Peers are found by a fixed book (identity -> host:port), from the plan: no discovery.
// - Each peer has a bounded queue and one sender thread, which writes to one gRPC stream to the
//   peer, in order, without waiting for each message to be taken. A full queue, an unknown peer
//   or a peer that does not answer costs the message (counted), never the caller's time: the
//   model retries what matters.
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "model/core/step.h"
#include "node/host.h"
#include "node/pki.h"

namespace grpc {
class Server;
}

namespace omni::node {

struct TransportCounters {
  std::atomic<std::uint64_t> sent{0};  // written to the peer's stream
  std::atomic<std::uint64_t> received{0};
  std::atomic<std::uint64_t> dropped_unknown_peer{0};
  std::atomic<std::uint64_t> dropped_queue_full{0};
  std::atomic<std::uint64_t> failed{0};   // the peer did not take it (down, refused, timed out)
  std::atomic<std::uint64_t> refused{0};  // a caller without an identity of this cluster
};

using OnDeliver = std::function<void(Address from, v1::Envelope envelope)>;
// A call refused for its certificate, with OpenSSL's reason and the identity it claimed (empty
// when it claims none): what the node's log says (on a gRPC thread).
using OnRefused = std::function<void(const std::string& claimed, const std::string& reason)>;

class GrpcTransport final : public Transport {
 public:
  // Listens on `listen` ("127.0.0.1:0" picks a free port) as `own`'s identity; every envelope
  // a verified peer delivers goes to `on_deliver` (on a gRPC thread).
  GrpcTransport(const std::string& listen, std::string ca_pem, KeyPair own, OnDeliver on_deliver,
                std::size_t queue_limit = 1024, OnRefused on_refused = {});
  ~GrpcTransport() override;
  GrpcTransport(const GrpcTransport&) = delete;
  GrpcTransport& operator=(const GrpcTransport&) = delete;

  bool listening() const { return port_ > 0; }
  int port() const { return port_; }
  // Where `identity` listens. Set before the first send to it; setting it again (a VM that came
  // back with another address) redirects what is queued and what follows.
  void add_peer(const Address& identity, const std::string& host_port);
  void send(const Address& from, const Address& to, const v1::Envelope& envelope) override;
  const TransportCounters& counters() const { return counters_; }

 private:
  class Service;
  class Stream;
  struct Peer;
  struct Refusal;
  class HandshakeVerifier;
  void run_sender(Peer& peer);

  std::string ca_pem_;
  KeyPair own_;
  std::size_t queue_limit_;
  TransportCounters counters_;
  OnRefused on_refused_;
  std::shared_ptr<Refusal> refusal_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::mutex peers_mutex_;
  std::map<Address, std::unique_ptr<Peer>> peers_;
};

}  // namespace omni::node
