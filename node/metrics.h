#pragma once
// Prometheus metrics over HTTP (Boost.Beast), served on the host's own loop so what it reads of
// the component is never read while the component steps. GET /metrics answers the text
// exposition format; anything else is 404. One request a connection, read and answered within
// a deadline, so a client that connects and says nothing holds its socket for seconds only.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace omni::node {

// One sample line set: "# HELP", "# TYPE" and the value, labelled with the identity.
struct Metric {
  std::string name;
  std::string type;  // gauge | counter
  std::string help;
  double value = 0;
};

std::string exposition(const std::string& identity, const std::vector<Metric>& metrics);

// Opens `acceptor` listening on "host:port" (port 0 picks one); the error, if any. Shared by
// the metrics and dashboard servers.
boost::system::error_code listen_on(boost::asio::ip::tcp::acceptor& acceptor,
                                    const std::string& host_port);

// What an accept loop does with a failed accept: nothing when the acceptor was closed (the
// host is stopping); otherwise (out of file descriptors, say) `accept` again after a pause, so
// that a burst of connections never closes a listener for good. Shared by both servers.
inline constexpr std::chrono::milliseconds kAcceptRetry{100};
void after_failed_accept(const boost::asio::ip::tcp::acceptor& acceptor,
                         boost::asio::steady_timer& retry, const boost::system::error_code& error,
                         std::function<void()> accept);

// The connections one listener serves at once. Each holds a file descriptor for up to its
// deadline, and a node out of descriptors cannot write its log or reach its peers: at the limit
// the listener stops accepting, and what connects waits in the kernel's backlog (or is refused
// by it) until a connection closes. On the loop only.
class ConnectionLimit {
 public:
  static constexpr std::size_t kMaxOpen = 64;
  ConnectionLimit() = default;
  ConnectionLimit(const ConnectionLimit&) = delete;
  ConnectionLimit& operator=(const ConnectionLimit&) = delete;
  ~ConnectionLimit() { state_->resume = nullptr; }  // slots may outlive the listener

  bool full() const { return state_->open >= kMaxOpen; }
  std::size_t open() const { return state_->open; }
  // Held while a connection is served (it lives with the connection's stream). Not when full.
  std::shared_ptr<void> take();
  // Called once, when a slot is given back: the accept loop goes on then.
  void when_free(std::function<void()> resume) { state_->resume = std::move(resume); }

 private:
  struct State {
    std::size_t open = 0;
    std::function<void()> resume;
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

// The accept loop's next step: `accept` now, or once `connections` has a free slot.
void accept_when_free(ConnectionLimit& connections, std::function<void()> accept);

class MetricsServer {
 public:
  // Listens on host:port ("127.0.0.1:0" picks one); `render` makes the body for each GET of
  // `path` (a demo app serves "/" the same way).
  MetricsServer(boost::asio::io_context& io, const std::string& host_port,
                std::function<std::string()> render, std::string path = "/metrics");
  bool listening() const { return listening_; }
  // Why it is not listening, or empty.
  const std::string& problem() const { return problem_; }
  int port() const;
  std::size_t open_connections() const { return connections_.open(); }

 private:
  void accept();
  void serve(boost::asio::ip::tcp::socket socket, std::shared_ptr<void> slot);

  boost::asio::io_context& io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_;  // a failed accept is tried again when it fires
  std::function<std::string()> render_;
  std::string path_;
  ConnectionLimit connections_;
  bool listening_ = false;
  std::string problem_;
};

}  // namespace omni::node
