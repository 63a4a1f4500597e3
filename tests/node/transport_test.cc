// The transport on loopback: mutual TLS with the cluster's CA, the sender's identity taken from
// its certificate, and a peer that is unknown, down or a stranger never blocks the sender.
#include "node/transport.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "model/proto/transport.grpc.pb.h"
#include "tests/node/support.h"

namespace omni::node {
namespace {

using testing::issued;
using testing::new_ca;

// What a transport received, with a wait.
struct Inbox {
  std::mutex mutex;
  std::condition_variable arrived;
  std::vector<std::pair<Address, v1::Envelope>> messages;
  OnDeliver sink() {
    return [this](Address from, v1::Envelope e) {
      std::lock_guard lock(mutex);
      messages.emplace_back(std::move(from), std::move(e));
      arrived.notify_all();
    };
  }
  bool wait_for(std::size_t count, std::chrono::seconds limit = std::chrono::seconds(10)) {
    std::unique_lock lock(mutex);
    return arrived.wait_for(lock, limit, [&] { return messages.size() >= count; });
  }
  // What arrived except the connection probes (seq 0), once `count` of it did (else empty).
  std::vector<std::pair<Address, v1::Envelope>> sequenced(std::size_t count) {
    std::unique_lock lock(mutex);
    std::vector<std::pair<Address, v1::Envelope>> out;
    const auto collect = [&] {
      out.clear();
      for (const auto& m : messages)
        if (m.second.seq() != 0) out.push_back(m);
      return out.size() >= count;
    };
    if (!arrived.wait_for(lock, std::chrono::seconds(10), collect)) out.clear();
    return out;
  }
};

// What a transport refused, and why.
struct Refusals {
  std::mutex mutex;
  std::vector<std::pair<std::string, std::string>> seen;  // claimed identity, reason
  OnRefused sink() {
    return [this](const std::string& claimed, const std::string& reason) {
      std::lock_guard lock(mutex);
      seen.emplace_back(claimed, reason);
    };
  }
  std::vector<std::pair<std::string, std::string>> all() {
    std::lock_guard lock(mutex);
    return seen;
  }
};

v1::Envelope envelope(std::uint64_t seq) {
  v1::Envelope e;
  e.set_seq(seq);
  return e;
}

std::string at(const GrpcTransport& t) {
  return "127.0.0.1:" + std::to_string(t.port());
}

TEST(Transport, PeersDeliverInOrderAndTheSenderIsWhoItsCertificateSays) {
  const KeyPair ca = new_ca("demo");
  Inbox inbox_1;
  Inbox inbox_2;
  GrpcTransport one("127.0.0.1:0", ca.cert_pem, issued(ca, "orchestrator:1"), inbox_1.sink());
  GrpcTransport two("127.0.0.1:0", ca.cert_pem, issued(ca, "orchestrator:2"), inbox_2.sink());
  ASSERT_TRUE(one.listening() && two.listening());
  one.add_peer("orchestrator:2", at(two));
  two.add_peer("orchestrator:1", at(one));
  // A write before the connection is up is dropped by design (the sender backs off and Raft
  // sends again): connect first with probes (seq 0), so that what follows shows order, not the
  // machine's load.
  bool connected = false;
  std::uint64_t probes = 0;
  for (; probes < 30 && !connected; ++probes) {
    one.send("orchestrator:1", "orchestrator:2", envelope(0));
    connected = inbox_2.wait_for(1, std::chrono::seconds(1));
  }
  ASSERT_TRUE(connected) << "no message reached the peer in 30 s";
  // Every probe written or dropped before the counts are taken.
  const auto settled = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (one.counters().sent.load() + one.counters().failed.load() < probes &&
         std::chrono::steady_clock::now() < settled)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const auto sent_before = one.counters().sent.load();
  const auto failed_before = one.counters().failed.load();
  for (std::uint64_t seq = 1; seq <= 20; ++seq)
    one.send("orchestrator:1", "orchestrator:2", envelope(seq));
  // The `from` a sender claims is not used: the certificate says who it is.
  two.send("orchestrator:9", "orchestrator:1", envelope(99));
  const auto delivered = inbox_2.sequenced(20);
  ASSERT_EQ(delivered.size(), 20u);
  ASSERT_TRUE(inbox_1.wait_for(1));
  for (std::size_t i = 0; i < 20; ++i) {
    EXPECT_EQ(delivered[i].first, "orchestrator:1");
    EXPECT_EQ(delivered[i].second.seq(), i + 1) << "in order";
  }
  EXPECT_EQ(inbox_1.messages[0].first, "orchestrator:2");
  // The answer reaches the sender just after the handler ran: give its count a moment.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (one.counters().sent.load() < sent_before + 20 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(one.counters().sent.load() - sent_before, 20u);
  EXPECT_EQ(one.counters().failed.load() - failed_before, 0u);
}

// A second process of one identity must not get half of the first one's connections.
// A snapshot of a full store travels as one envelope: gRPC's default 4 MiB receive limit broke
// the stream at every try, so a lagging or new replica never caught up.
TEST(Transport, AnEnvelopeOfTensOfMegabytesArrives) {
  const KeyPair ca = new_ca("demo");
  Inbox inbox;
  GrpcTransport one("127.0.0.1:0", ca.cert_pem, issued(ca, "orchestrator:1"),
                    [](Address, v1::Envelope) {});
  GrpcTransport two("127.0.0.1:0", ca.cert_pem, issued(ca, "orchestrator:2"), inbox.sink());
  ASSERT_TRUE(one.listening() && two.listening());
  one.add_peer("orchestrator:2", at(two));
  bool connected = false;
  for (int probes = 0; probes < 30 && !connected; ++probes) {
    one.send("orchestrator:1", "orchestrator:2", envelope(0));
    connected = inbox.wait_for(1, std::chrono::seconds(1));
  }
  ASSERT_TRUE(connected) << "no message reached the peer in 30 s";
  v1::Envelope big = envelope(1);
  big.mutable_raft()->mutable_snapshot()->set_data(std::string(std::size_t{40} << 20, 's'));
  one.send("orchestrator:1", "orchestrator:2", big);
  const auto delivered = inbox.sequenced(1);
  ASSERT_EQ(delivered.size(), 1u) << "the 40 MiB envelope did not arrive";
  EXPECT_EQ(delivered[0].second.raft().snapshot().data().size(), std::size_t{40} << 20);
}

TEST(Transport, ASecondListenerOnATakenAddressIsRefused) {
  const KeyPair ca = new_ca("demo");
  Inbox inbox;
  GrpcTransport first("127.0.0.1:0", ca.cert_pem, issued(ca, "director:a"), inbox.sink());
  ASSERT_TRUE(first.listening());
  GrpcTransport second(at(first), ca.cert_pem, issued(ca, "director:a"), inbox.sink());
  EXPECT_FALSE(second.listening());
}

// A Director's certificate delivers as the Director, whatever its envelope carries: it cannot
// pass for an Orchestrator.
TEST(Transport, ADirectorCannotSendAsAnOrchestrator) {
  const KeyPair ca = new_ca("demo");
  Inbox inbox;
  Inbox unused;
  GrpcTransport leader("127.0.0.1:0", ca.cert_pem, issued(ca, "orchestrator:1"), inbox.sink());
  GrpcTransport director("127.0.0.1:0", ca.cert_pem, issued(ca, "director:worker-01"),
                         unused.sink());
  director.add_peer("orchestrator:1", at(leader));
  v1::Envelope forged;
  forged.mutable_take_control()->set_controller("orchestrator:2");
  director.send("orchestrator:2", "orchestrator:1", forged);
  ASSERT_TRUE(inbox.wait_for(1));
  EXPECT_EQ(inbox.messages[0].first, "director:worker-01");
}

// `from` sends one message to `to`: it is refused, by the sender's TLS (the sender counts a
// failure) or by the server (which counts a refusal), and nothing arrives.
void expect_refused(GrpcTransport& from, const GrpcTransport& to, Inbox& inbox) {
  from.add_peer("orchestrator:1", at(to));
  from.send("orchestrator:2", "orchestrator:1", envelope(1));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  const auto refused = [&] {
    return from.counters().failed.load() + to.counters().refused.load() > 0;
  };
  while (!refused() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_TRUE(refused());
  EXPECT_FALSE(inbox.wait_for(1, std::chrono::seconds(1)));
}

// Another cluster's certificate gets nothing through, and the sender is told only by failing.
TEST(Transport, AStrangerFromAnotherCaIsRefused) {
  const KeyPair ca = new_ca("demo");
  const KeyPair other = new_ca("other");
  Inbox inbox;
  Inbox unused;
  GrpcTransport server("127.0.0.1:0", ca.cert_pem, issued(ca, "orchestrator:1"), inbox.sink());
  GrpcTransport stranger("127.0.0.1:0", other.cert_pem, issued(other, "orchestrator:2"),
                         unused.sink());
  expect_refused(stranger, server, inbox);
  EXPECT_EQ(stranger.counters().failed.load(), 1u) << "its own TLS refuses the server";
  EXPECT_EQ(server.counters().received.load(), 0u);
}

// A peer that moves (a VM that came back elsewhere) gets what follows at its new address,
// and a burst of messages keeps its order over the stream.
TEST(Transport, APeerThatMovesGetsWhatFollowsInOrder) {
  const KeyPair ca = new_ca("demo");
  Inbox old_inbox;
  Inbox new_inbox;
  Inbox unused;
  GrpcTransport sender("127.0.0.1:0", ca.cert_pem, issued(ca, "director:host1"), unused.sink());
  GrpcTransport before("127.0.0.1:0", ca.cert_pem, issued(ca, "agent:vm-1"), old_inbox.sink());
  GrpcTransport after("127.0.0.1:0", ca.cert_pem, issued(ca, "agent:vm-1"), new_inbox.sink());
  sender.add_peer("agent:vm-1", at(before));
  sender.send("director:host1", "agent:vm-1", envelope(1));
  ASSERT_TRUE(old_inbox.wait_for(1));
  sender.add_peer("agent:vm-1", at(after));
  for (std::uint64_t seq = 2; seq <= 501; ++seq)
    sender.send("director:host1", "agent:vm-1", envelope(seq));
  ASSERT_TRUE(new_inbox.wait_for(500));
  for (std::size_t i = 0; i < 500; ++i) EXPECT_EQ(new_inbox.messages[i].second.seq(), i + 2);
  EXPECT_EQ(old_inbox.messages.size(), 1u);
}

// A stranger that trusts this cluster's CA but holds another's certificate reaches the
// server, which refuses it and says why.
TEST(Transport, AStrangerThatTrustsTheCaIsRefusedWithItsReason) {
  const KeyPair ca = new_ca("demo");
  const KeyPair other = new_ca("other");
  Inbox inbox;
  Inbox unused;
  Refusals refusals;
  GrpcTransport server("127.0.0.1:0", ca.cert_pem, issued(ca, "orchestrator:1"), inbox.sink(), 1024,
                       refusals.sink());
  GrpcTransport stranger("127.0.0.1:0", ca.cert_pem, issued(other, "orchestrator:2"),
                         unused.sink());
  expect_refused(stranger, server, inbox);
  // One refusal for each handshake its channel tries while the test waits, each said alike.
  EXPECT_GE(server.counters().refused.load(), 1u);
  ASSERT_FALSE(refusals.all().empty());
  for (const auto& [claimed, reason] : refusals.all()) {
    EXPECT_EQ(claimed, "orchestrator:2");
    EXPECT_NE(reason.find("issuer"), std::string::npos) << reason;
  }
}

// An expired certificate of the right cluster gets nothing through either, and the server's
// side says so in words a person acts on.
TEST(Transport, AnExpiredCertificateIsRefusedAndTheServerSaysItExpired) {
  const KeyPair ca = new_ca("demo");
  Inbox inbox;
  Inbox unused;
  Refusals refusals;
  GrpcTransport server("127.0.0.1:0", ca.cert_pem, issued(ca, "orchestrator:1"), inbox.sink(), 1024,
                       refusals.sink());
  Validity past;
  past.not_before_offset = std::chrono::hours(-48);
  past.lifetime = std::chrono::hours(24);
  GrpcTransport old("127.0.0.1:0", ca.cert_pem, issued(ca, "orchestrator:2", past), unused.sink());
  expect_refused(old, server, inbox);
  EXPECT_GE(server.counters().refused.load(), 1u);
  ASSERT_FALSE(refusals.all().empty());
  for (const auto& [claimed, reason] : refusals.all()) {
    EXPECT_EQ(claimed, "orchestrator:2");
    EXPECT_EQ(reason, "certificate has expired");
  }
}

// A caller whose certificate is not this cluster's is refused in the TLS handshake, before gRPC
// reads what it sends: refused only by the service, a caller with any self-signed certificate had
// each of its 80 MiB messages read and parsed first, as many at once as it liked (2.3 GB held by
// 24 such calls). Its call fails as a connection that never came up, not as an answer.
TEST(Transport, AStrangersCallNeverReachesTheService) {
  const KeyPair ca = new_ca("demo");
  const KeyPair other = new_ca("other");
  Inbox inbox;
  Refusals refusals;
  GrpcTransport server("127.0.0.1:0", ca.cert_pem, issued(ca, "orchestrator:1"), inbox.sink(), 1024,
                       refusals.sink());
  const KeyPair stranger = issued(other, "orchestrator:2");
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ca.cert_pem;
  options.pem_private_key = stranger.key_pem;
  options.pem_cert_chain = stranger.cert_pem;
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride(tls_name("orchestrator:1"));
  args.SetMaxSendMessageSize(64 << 20);
  const auto stub =
      v1::Peer::NewStub(grpc::CreateCustomChannel(at(server), grpc::SslCredentials(options), args));
  v1::Envelope big = envelope(1);
  big.mutable_store_request()->mutable_put()->set_value(std::string(32 << 20, 'x'));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::Delivered delivered;
  const grpc::Status status = stub->Deliver(&context, big, &delivered);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_EQ(server.counters().received.load(), 0u);
  EXPECT_GE(server.counters().refused.load(), 1u);
  ASSERT_FALSE(refusals.all().empty());
  EXPECT_NE(refusals.all()[0].second.find("issuer"), std::string::npos) << refusals.all()[0].second;
}

// A peer's queue is bounded in bytes as well as in messages: a leader re-sends a snapshot of up
// to 80 MiB to a follower that does not take it, and 1,024 of them queued for a peer that is down
// were gigabytes. Here the peer accepts a connection and never answers, so the queue is not
// drained: of four 70 MiB messages, at least one is refused though the count allows 1,024.
TEST(Transport, APeersQueueIsBoundedInBytes) {
  const KeyPair ca = new_ca("demo");
  Inbox unused;
  GrpcTransport one("127.0.0.1:0", ca.cert_pem, issued(ca, "orchestrator:1"), unused.sink());
  const int silent = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(silent, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(silent, 16), 0);
  socklen_t length = sizeof addr;
  ASSERT_EQ(::getsockname(silent, reinterpret_cast<sockaddr*>(&addr), &length), 0);
  one.add_peer("orchestrator:2", "127.0.0.1:" + std::to_string(ntohs(addr.sin_port)));
  v1::Envelope big = envelope(1);
  big.mutable_store_request()->mutable_put()->set_value(std::string(70 << 20, 'x'));
  for (int i = 0; i < 4; ++i) one.send("orchestrator:1", "orchestrator:2", big);
  EXPECT_GE(one.counters().dropped_queue_full.load(), 1u);
  ::close(silent);
}

// Sending never waits on the network: to a peer nobody listens for, to an unknown identity, or
// past a full queue, send returns at once and the loss is counted.
TEST(Transport, AnUnknownDownOrFullPeerNeverBlocksTheSender) {
  const KeyPair ca = new_ca("demo");
  Inbox unused;
  GrpcTransport one("127.0.0.1:0", ca.cert_pem, issued(ca, "orchestrator:1"), unused.sink(), 4);
  one.add_peer("orchestrator:2", "127.0.0.1:1");  // nothing listens on port 1
  const auto start = std::chrono::steady_clock::now();
  for (std::uint64_t seq = 1; seq <= 100; ++seq)
    one.send("orchestrator:1", "orchestrator:2", envelope(seq));
  one.send("orchestrator:1", "orchestrator:7", envelope(1));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(200));
  EXPECT_EQ(one.counters().dropped_unknown_peer.load(), 1u);
  EXPECT_GE(one.counters().dropped_queue_full.load(), 95u);
}

}  // namespace
}  // namespace omni::node
