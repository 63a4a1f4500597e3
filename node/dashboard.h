#pragma once
// The dashboard: each Orchestrator replica serves a page of the cluster over HTTPS with its own
// certificate (the cluster's CA signs it); its data is for holders of the cluster's dashboard
// token, which `omni dashboard` prints in the URL. A follower sends the browser on to the
// leader, and the page, asking /api/status every second, follows a new leader by itself.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "model/proto/envelope.pb.h"
#include "node/metrics.h"
#include "node/pki.h"

namespace omni::node {

// What a replica says of itself when asked: whether it leads, where the leader's dashboard is,
// and the page's data (dashboard_json).
struct DashboardView {
  bool is_leader = false;
  std::string leader_url;  // empty: no leader known, or it has no dashboard
  std::string json;
};

struct HttpAnswer {
  unsigned status = 200;
  std::string content_type;
  std::string body;
  std::string location;     // with 307
  bool any_origin = false;  // Access-Control-Allow-Origin: *, so a page on another member reads it
};

// The answer to a GET of `target` (path and query). Pure: tested without a socket.
//   /            the page; a follower that knows the leader redirects there (307, same query)
//   /api/status  the view's JSON, with ?token=T (401 without the right one)
HttpAnswer dashboard_answer(std::string_view target, const std::string& token,
                            const std::function<DashboardView()>& view);

// The value of `key` in the target's query, percent-decoded; empty when absent.
std::string query_value(std::string_view target, std::string_view key);

// A member's dashboard from its Raft address: same host, its replica's dashboard port
// ("10.1.0.5:7402" -> "https://10.1.0.5:7602"); empty when the address is not host:port.
std::string dashboard_url_of(const std::string& peer_host_port);

// The data the page draws: who answers, every member's dashboard, and the described status.
std::string dashboard_json(const std::string& self, const std::map<std::string, std::string>& urls,
                           const v1::StatusReply& status);

// The page itself, built into the binary (node/dashboard.html).
extern const char* const kDashboardPage;

class DashboardServer {
 public:
  // Listens on host:port; `view` is asked on the io loop, once per /api/status.
  DashboardServer(boost::asio::io_context& io, const std::string& host_port, const KeyPair& tls,
                  std::string token, std::function<DashboardView()> view);
  bool listening() const { return listening_; }
  const std::string& problem() const { return problem_; }
  int port() const;
  std::size_t open_connections() const { return connections_.open(); }

 private:
  using Stream = boost::beast::ssl_stream<boost::beast::tcp_stream>;
  void accept();
  void serve(boost::asio::ip::tcp::socket socket, std::shared_ptr<void> slot);
  void read_request(const std::shared_ptr<Stream>& stream);
  void respond(const std::shared_ptr<Stream>& stream, HttpAnswer answer);

  boost::asio::ssl::context tls_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_;  // a failed accept is tried again when it fires
  std::string token_;
  std::function<DashboardView()> view_;
  ConnectionLimit connections_;
  bool listening_ = false;
  std::string problem_;
};

}  // namespace omni::node
