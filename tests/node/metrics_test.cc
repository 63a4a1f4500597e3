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
#include <boost/asio/post.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <string>
#include <thread>
#include <vector>

namespace omni::node {
namespace {

// Connects `fd` to 127.0.0.1:port; false with errno set when it cannot.
bool connect_socket(int fd, int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
}

// A connected socket to 127.0.0.1:port, or -1 (errno set).
int connect_to(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (!connect_socket(fd, port)) {
    const int saved = errno;
    ::close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

bool send_get(int fd, const std::string& target) {
  const std::string request = "GET " + target + " HTTP/1.1\r\nHost: t\r\n\r\n";
  return ::write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size());
}

// What arrives on `fd` until it closes or nothing comes for `timeout`.
std::string read_answer(int fd, std::chrono::milliseconds timeout) {
  const timeval wait{static_cast<time_t>(timeout.count() / 1000),
                     static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
  std::string answer;
  char buffer[4096];
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;)
    answer.append(buffer, static_cast<std::size_t>(n));
  return answer;
}

// The whole answer to one GET, or empty when none came within `timeout`.
std::string get(int port, const std::string& target, std::chrono::milliseconds timeout) {
  const int fd = connect_to(port);
  if (fd < 0) return {};
  std::string answer;
  if (send_get(fd, target)) answer = read_answer(fd, timeout);
  ::close(fd);
  return answer;
}

// The lowest descriptor number not open now.
int lowest_free_descriptor() {
  int fd = 0;
  while (::fcntl(fd, F_GETFD) != -1) ++fd;
  return fd;
}

struct Served {
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
  MetricsServer server{io, "127.0.0.1:0", [] { return std::string("up 1\n"); }};
  std::thread loop{[this] { io.run(); }};
  // What the server counts, read on its loop.
  std::size_t open_connections() {
    std::promise<std::size_t> counted;
    boost::asio::post(io, [&] { counted.set_value(server.open_connections()); });
    return counted.get_future().get();
  }
  ~Served() {
    work.reset();
    io.stop();
    loop.join();
  }
};

// The identity is a label value: a quote, a backslash or a line break in it is escaped as the text
// format asks, so it cannot end the value early and make a series or a value of its own. Written
// plain, `agent:vm"} 666 #` turned a 0 into 666.
TEST(Metrics, AnIdentityIsEscapedAsALabelValue) {
  const std::vector<Metric> up{{"omni_up", "gauge", "Up.", 0}};
  EXPECT_EQ(exposition("agent:vm\"} 666 #\\\nfake 1", up),
            "# HELP omni_up Up.\n# TYPE omni_up gauge\n"
            "omni_up{identity=\"agent:vm\\\"} 666 #\\\\\\nfake 1\"} 0\n");
  EXPECT_EQ(exposition("orchestrator:1", up),
            "# HELP omni_up Up.\n# TYPE omni_up gauge\nomni_up{identity=\"orchestrator:1\"} 0\n");
}

TEST(MetricsServer, AnswersGetMetricsAndNothingElse) {
  Served s;
  ASSERT_TRUE(s.server.listening());
  const std::string ok = get(s.server.port(), "/metrics", std::chrono::seconds(5));
  EXPECT_EQ(ok.rfind("HTTP/1.1 200", 0), 0u) << ok;
  EXPECT_NE(ok.find("up 1"), std::string::npos) << ok;
  const std::string other = get(s.server.port(), "/other", std::chrono::seconds(5));
  EXPECT_EQ(other.rfind("HTTP/1.1 404", 0), 0u) << other;
}

// Whether every connection the server took is let go within five seconds.
bool all_closed(Served& s) {
  for (int tries = 0; tries < 500; ++tries) {
    if (s.open_connections() == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// A scrape is a GET: a request that announces a body is refused at its header, not read. The
// server read up to 1 MB of it, and one that announced a body and sent none held its connection
// until the deadline.
TEST(MetricsServer, ARequestWithABodyIsRefusedAtItsHeader) {
  Served s;
  ASSERT_TRUE(s.server.listening());
  const int fd = connect_to(s.server.port());
  ASSERT_GE(fd, 0);
  const std::string head =
      "GET /metrics HTTP/1.1\r\nHost: localhost\r\nContent-Length: 900000\r\n\r\n";
  ASSERT_EQ(::write(fd, head.data(), head.size()), static_cast<ssize_t>(head.size()));
  const std::string answer = read_answer(fd, std::chrono::seconds(3));
  ::close(fd);
  EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << answer;
}

// With the process out of descriptors, accepts fail (EMFILE). The loop used to end at the first
// failure, and the port went on taking connections that nobody answered.
TEST(MetricsServer, KeepsAcceptingAfterRunningOutOfFileDescriptors) {
  Served s;
  ASSERT_TRUE(s.server.listening());
  // Served once while descriptors are plenty: what the server runs for a connection is then
  // known to UBSan, whose check of a type it has not seen yet opens a pipe.
  ASSERT_EQ(get(s.server.port(), "/metrics", std::chrono::seconds(5)).rfind("HTTP/1.1 200", 0), 0u);
  ASSERT_TRUE(all_closed(s)) << "the first connection was never let go";
  const int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(client, 0);
  rlimit before{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &before), 0);
  // The limit caps a descriptor's number: at the lowest free one, no descriptor can be opened.
  rlimit tight = before;
  tight.rlim_cur = static_cast<rlim_t>(lowest_free_descriptor());
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &tight), 0);
  const int spare = ::dup(client);
  const int exhausted = errno;
  // The connection waits in the listener's backlog; its accepts fail while the limit holds.
  const bool connected = connect_socket(client, s.server.port());
  const bool asked = connected && send_get(client, "/metrics");
  const std::string while_exhausted = read_answer(client, std::chrono::milliseconds(500));
  // Raised before anything is closed, so that the server's first accept has descriptors to spare.
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &before), 0);
  const std::string after = read_answer(client, std::chrono::seconds(5));
  ::close(client);
  EXPECT_EQ(spare, -1);
  EXPECT_EQ(exhausted, EMFILE) << "the limit did not leave the process without descriptors";
  ASSERT_TRUE(connected && asked) << std::strerror(errno);
  EXPECT_EQ(while_exhausted, "") << "answered without a descriptor to answer on";
  EXPECT_EQ(after.rfind("HTTP/1.1 200", 0), 0u)
      << "the waiting connection was not served after the descriptors came back ("
      << s.open_connections() << " connections open): " << after;
  const std::string ok = get(s.server.port(), "/metrics", std::chrono::seconds(5));
  EXPECT_EQ(ok.rfind("HTTP/1.1 200", 0), 0u) << ok;
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
  ASSERT_TRUE(send_get(waiting, "/metrics"));
  const timeval second{1, 0};
  ::setsockopt(waiting, SOL_SOCKET, SO_RCVTIMEO, &second, sizeof second);
  char buffer[4096];
  EXPECT_LT(::read(waiting, buffer, sizeof buffer), 0) << "answered past the limit";
  EXPECT_EQ(errno, EAGAIN);
  for (const int fd : idle) ::close(fd);
  const std::string answer = read_answer(waiting, std::chrono::seconds(5));
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
