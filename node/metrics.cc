#include "node/metrics.h"

#include <boost/asio/ip/address.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <cstdio>
#include <utility>

#include "model/core/assert.h"

namespace omni::node {

namespace http = boost::beast::http;
using boost::asio::ip::tcp;

namespace {

// A label value as the text format quotes it: a quote, a backslash or a line break written plain
// would end the value early, and what follows would read as another value or series.
std::string label_value(const std::string& text) {
  std::string escaped;
  for (const char c : text) {
    if (c == '\\' || c == '"')
      escaped += {'\\', c};
    else if (c == '\n')
      escaped += "\\n";
    else
      escaped += c;
  }
  return escaped;
}

}  // namespace

std::string exposition(const std::string& identity, const std::vector<Metric>& metrics) {
  const std::string label = "{identity=\"" + label_value(identity) + "\"} ";
  std::string out;
  for (const Metric& m : metrics) {
    char value[64];
    std::snprintf(value, sizeof value, "%.17g", m.value);
    out += "# HELP " + m.name + " " + m.help + "\n# TYPE " + m.name + " " + m.type + "\n" + m.name +
           label + value + "\n";
  }
  return out;
}

boost::system::error_code listen_on(tcp::acceptor& acceptor, const std::string& host_port) {
  boost::system::error_code error;
  const auto colon = host_port.rfind(':');
  int port = -1;
  if (colon != std::string::npos)
    std::from_chars(host_port.data() + colon + 1, host_port.data() + host_port.size(), port);
  const auto address = boost::asio::ip::make_address(host_port.substr(0, colon), error);
  if (!error && (port < 0 || port > 65535))
    error = boost::asio::error::make_error_code(boost::asio::error::invalid_argument);
  if (error) return error;
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(port));
  acceptor.open(endpoint.protocol(), error);
  if (!error) acceptor.set_option(tcp::acceptor::reuse_address(true), error);
  if (!error) acceptor.bind(endpoint, error);
  if (!error) acceptor.listen(16, error);
  return error;
}

MetricsServer::MetricsServer(boost::asio::io_context& io, const std::string& host_port,
                             std::function<std::string()> render, std::string path)
    : io_(io), acceptor_(io), retry_(io), render_(std::move(render)), path_(std::move(path)) {
  const auto error = listen_on(acceptor_, host_port);
  if (error) problem_ = "cannot listen on " + host_port + ": " + error.message();
  listening_ = !error;
  if (listening_) accept();
}

std::shared_ptr<void> ConnectionLimit::take() {
  OMNI_ASSERT(!full(), "the accept loop waits while every slot is taken");
  ++state_->open;
  class Slot {
   public:
    explicit Slot(std::shared_ptr<State> state) : state_(std::move(state)) {}
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot() {
      --state_->open;
      if (auto resume = std::exchange(state_->resume, nullptr)) resume();
    }

   private:
    std::shared_ptr<State> state_;
  };
  return std::make_shared<Slot>(state_);
}

// The next accept, or, while every slot is taken, once one is given back.
void accept_when_free(ConnectionLimit& connections, std::function<void()> accept) {
  if (connections.full())
    connections.when_free(std::move(accept));
  else
    accept();
}

int MetricsServer::port() const {
  boost::system::error_code error;
  const auto endpoint = acceptor_.local_endpoint(error);
  return error ? 0 : endpoint.port();
}

void after_failed_accept(const tcp::acceptor& acceptor, boost::asio::steady_timer& retry,
                         const boost::system::error_code& error, std::function<void()> accept) {
  if (error == boost::asio::error::operation_aborted || !acceptor.is_open()) return;
  retry.expires_after(kAcceptRetry);
  retry.async_wait([accept = std::move(accept)](boost::system::error_code waited) {
    if (!waited) accept();
  });
}

void MetricsServer::accept() {
  acceptor_.async_accept([this](boost::system::error_code error, tcp::socket socket) {
    if (error) return after_failed_accept(acceptor_, retry_, error, [this] { accept(); });
    serve(std::move(socket), connections_.take());
    accept_when_free(connections_, [this] { accept(); });
  });
}

// A scrape is small and local: read the request, answer, close, all within a deadline. A
// client that sends nothing sensible gets a 400 and the connection closed, and the loop goes on.
void MetricsServer::serve(tcp::socket socket, std::shared_ptr<void> slot) {
  auto buffer = std::make_shared<boost::beast::flat_buffer>(8192);
  auto parser = std::make_shared<http::request_parser<http::string_body>>();
  parser->body_limit(0);  // GETs only: a body is refused at its header, not read (up to 1 MB)
  // The slot is given back when the last handler lets the stream go.
  auto stream = std::shared_ptr<boost::beast::tcp_stream>(
      new boost::beast::tcp_stream(std::move(socket)),
      [slot = std::move(slot)](boost::beast::tcp_stream* s) { delete s; });
  stream->expires_after(std::chrono::seconds(10));
  http::async_read(*stream, *buffer, *parser,
                   [this, stream, buffer, parser](boost::system::error_code error, std::size_t) {
                     const auto& request = parser->get();
                     auto response = std::make_shared<http::response<http::string_body>>();
                     response->version(11);
                     response->keep_alive(false);
                     if (error) {
                       response->result(http::status::bad_request);
                     } else if (request.method() != http::verb::get || request.target() != path_) {
                       response->result(http::status::not_found);
                     } else {
                       response->result(http::status::ok);
                       response->set(http::field::content_type, "text/plain; version=0.0.4");
                       response->body() = render_();
                     }
                     response->prepare_payload();
                     http::async_write(*stream, *response,
                                       [stream, response](boost::system::error_code, std::size_t) {
                                         boost::system::error_code ignored;
                                         stream->socket().shutdown(tcp::socket::shutdown_both,
                                                                   ignored);
                                       });
                   });
}

}  // namespace omni::node
