// The metrics server as a scraper meets it: GET /metrics answers, anything else is 404, and a
// moment without file descriptors (a burst of connections) does not close the listener.
#include "node/metrics.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <cerrno>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace omni::node {
namespace {

// A connected socket to 127.0.0.1:port, or -1 (errno set).
int connect_to(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    const int saved = errno;
    ::close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

// The whole answer to one GET, or empty when none came within `timeout`.
std::string get(int port, const std::string& target, std::chrono::seconds timeout) {
  const int fd = connect_to(port);
  if (fd < 0) return {};
  const timeval wait{static_cast<time_t>(timeout.count()), 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
  const std::string request = "GET " + target + " HTTP/1.1\r\nHost: t\r\n\r\n";
  std::string answer;
  if (::write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
    char buffer[4096];
    for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;)
      answer.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return answer;
}

struct Served {
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
  MetricsServer server{io, "127.0.0.1:0", [] { return std::string("up 1\n"); }};
  std::thread loop{[this] { io.run(); }};
  ~Served() {
    work.reset();
    io.stop();
    loop.join();
  }
};

TEST(MetricsServer, AnswersGetMetricsAndNothingElse) {
  Served s;
  ASSERT_TRUE(s.server.listening());
  const std::string ok = get(s.server.port(), "/metrics", std::chrono::seconds(5));
  EXPECT_EQ(ok.rfind("HTTP/1.1 200", 0), 0u) << ok;
  EXPECT_NE(ok.find("up 1"), std::string::npos) << ok;
  const std::string other = get(s.server.port(), "/other", std::chrono::seconds(5));
  EXPECT_EQ(other.rfind("HTTP/1.1 404", 0), 0u) << other;
}

// With the process out of descriptors, accepts fail (EMFILE). The loop used to end at the first
// failure, and the port went on taking connections that nobody answered.
TEST(MetricsServer, KeepsAcceptingAfterRunningOutOfFileDescriptors) {
  Served s;
  ASSERT_TRUE(s.server.listening());
  rlimit before{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &before), 0);
  // Room for a few connections more than are open now, then connect until none is left.
  int open_now = 0;
  for (int fd = 0; fd < 4096; ++fd)
    if (::fcntl(fd, F_GETFD) != -1) open_now = fd + 1;
  rlimit tight = before;
  tight.rlim_cur = static_cast<rlim_t>(open_now + 6);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &tight), 0);
  std::vector<int> clients;
  for (int fd; (fd = connect_to(s.server.port())) >= 0;) clients.push_back(fd);
  const int exhausted = errno;
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // accepts fail meanwhile
  for (const int fd : clients) ::close(fd);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &before), 0);
  EXPECT_EQ(exhausted, EMFILE) << "the connections stopped for another reason";
  EXPECT_FALSE(clients.empty());
  const std::string ok = get(s.server.port(), "/metrics", std::chrono::seconds(5));
  EXPECT_EQ(ok.rfind("HTTP/1.1 200", 0), 0u)
      << "no answer after the descriptors came back (" << s.server.open_connections()
      << " connections open, " << clients.size() << " made): " << ok;
}

// Each connection holds a descriptor for up to its deadline: clients that connect and say nothing
// could take every descriptor the node has (its log and its peers' streams need them). At the
// limit the listener stops accepting; what connects waits in the backlog and is served once the
// others are gone.
TEST(MetricsServer, ServesAtMostItsLimitOfConnectionsAtOnce) {
  Served s;
  ASSERT_TRUE(s.server.listening());
  std::vector<int> idle;
  for (std::size_t i = 0; i < ConnectionLimit::kMaxOpen; ++i) {
    const int fd = connect_to(s.server.port());
    ASSERT_GE(fd, 0);
    idle.push_back(fd);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // all accepted and held
  const int waiting = connect_to(s.server.port());              // into the kernel's backlog
  ASSERT_GE(waiting, 0);
  const std::string request = "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n";
  ASSERT_EQ(::write(waiting, request.data(), request.size()), static_cast<ssize_t>(request.size()));
  const timeval second{1, 0};
  ::setsockopt(waiting, SOL_SOCKET, SO_RCVTIMEO, &second, sizeof second);
  char buffer[4096];
  EXPECT_LT(::read(waiting, buffer, sizeof buffer), 0) << "answered past the limit";
  EXPECT_EQ(errno, EAGAIN);
  for (const int fd : idle) ::close(fd);
  const timeval five{5, 0};
  ::setsockopt(waiting, SOL_SOCKET, SO_RCVTIMEO, &five, sizeof five);
  std::string answer;
  for (ssize_t n; (n = ::read(waiting, buffer, sizeof buffer)) > 0;)
    answer.append(buffer, static_cast<std::size_t>(n));
  ::close(waiting);
  EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << "served once the idle ones closed: " << answer;
}

TEST(MetricsServer, SaysWhyItCannotListen) {
  boost::asio::io_context io;
  const MetricsServer bad_port(io, "127.0.0.1:70000", [] { return std::string(); });
  EXPECT_FALSE(bad_port.listening());
  EXPECT_EQ(bad_port.problem().rfind("cannot listen on 127.0.0.1:70000: ", 0), 0u)
      << bad_port.problem();
  const MetricsServer first(io, "127.0.0.1:0", [] { return std::string(); });
  ASSERT_TRUE(first.listening());
  const std::string taken = "127.0.0.1:" + std::to_string(first.port());
  const MetricsServer second(io, taken, [] { return std::string(); });
  EXPECT_FALSE(second.listening());
  EXPECT_NE(second.problem().find("in use"), std::string::npos) << second.problem();
}

}  // namespace
}  // namespace omni::node
