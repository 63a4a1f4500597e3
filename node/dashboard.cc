#include "node/dashboard.h"

#include <google/protobuf/util/json_util.h>
#include <openssl/crypto.h>

#include <boost/asio/ip/address.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <charconv>
#include <chrono>
#include <memory>

#include "model/core/json.h"
#include "node/local_site.h"
#include "node/metrics.h"

namespace omni::node {

namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = boost::asio::ssl;
using boost::asio::ip::tcp;

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decoded(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] == '%' && i + 2 < text.size() && hex_digit(text[i + 1]) >= 0 &&
               hex_digit(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_digit(text[i + 1]) * 16 + hex_digit(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

// Constant time: a wrong token takes as long to refuse however much of it matches.
bool token_matches(const std::string& given, const std::string& token) {
  return !token.empty() && given.size() == token.size() &&
         CRYPTO_memcmp(given.data(), token.data(), token.size()) == 0;
}

HttpAnswer text_answer(unsigned status, std::string body) {
  return HttpAnswer{status, "text/plain; charset=utf-8", std::move(body), {}, false};
}

}  // namespace

std::string query_value(std::string_view target, std::string_view key) {
  const auto question = target.find('?');
  if (question == std::string_view::npos) return {};
  std::string_view query = target.substr(question + 1);
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) == key)
      return eq == std::string_view::npos ? std::string() : percent_decoded(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return {};
}

std::string dashboard_url_of(const std::string& peer_host_port) {
  const auto colon = peer_host_port.rfind(':');
  if (colon == std::string::npos || colon == 0) return {};
  int port = 0;
  const char* digits = peer_host_port.data() + colon + 1;
  const char* end = peer_host_port.data() + peer_host_port.size();
  const auto [stop, error] = std::from_chars(digits, end, port);
  if (error != std::errc() || stop != end || port <= kOrchestratorPortBase || port > 65535 ||
      port - kOrchestratorPortBase + kDashboardPortBase > 65535)
    return {};
  return "https://" + peer_host_port.substr(0, colon) + ":" +
         std::to_string(port - kOrchestratorPortBase + kDashboardPortBase);
}

std::string dashboard_json(const std::string& self, const std::map<std::string, std::string>& urls,
                           const v1::StatusReply& status) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string status_json;
  if (!google::protobuf::util::MessageToJsonString(status, &status_json, options).ok())
    status_json = "{}";
  std::string members = "{";
  for (const auto& [member, url] : urls)
    members += (members.size() > 1 ? "," : "") + json_quote(member) + ":" + json_quote(url);
  members += "}";
  return "{\"self\":" + json_quote(self) + ",\"members\":" + members +
         ",\"status\":" + status_json + "}";
}

HttpAnswer dashboard_answer(std::string_view target, const std::string& token,
                            const std::function<DashboardView()>& view) {
  const std::string_view path = target.substr(0, target.find('?'));
  if (path == "/") {
    const DashboardView v = view();
    if (!v.is_leader && !v.leader_url.empty()) {
      const auto question = target.find('?');
      HttpAnswer redirect = text_answer(307, "the leader's dashboard is at " + v.leader_url + "\n");
      redirect.location =
          v.leader_url + "/" +
          std::string(question == std::string_view::npos ? "" : target.substr(question));
      return redirect;
    }
    return HttpAnswer{200, "text/html; charset=utf-8", kDashboardPage, {}, false};
  }
  if (path == "/api/status") {
    if (!token_matches(query_value(target, "token"), token)) {
      HttpAnswer refused = text_answer(401, "a dashboard token is needed: see omni dashboard\n");
      refused.any_origin = true;
      return refused;
    }
    HttpAnswer answer{200, "application/json", view().json, {}, true};
    return answer;
  }
  return text_answer(404, "not found\n");
}

DashboardServer::DashboardServer(boost::asio::io_context& io, const std::string& host_port,
                                 const KeyPair& tls, std::string token,
                                 std::function<DashboardView()> view)
    : tls_(ssl::context::tls_server),
      acceptor_(io),
      retry_(io),
      token_(std::move(token)),
      view_(std::move(view)) {
  boost::system::error_code error;
  tls_.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  tls_.use_certificate_chain(boost::asio::buffer(tls.cert_pem), error);
  if (!error) tls_.use_private_key(boost::asio::buffer(tls.key_pem), ssl::context::pem, error);
  if (error) {
    problem_ = "cannot use the replica's certificate: " + error.message();
    return;
  }
  error = listen_on(acceptor_, host_port);
  if (error) problem_ = "cannot listen on " + host_port + ": " + error.message();
  listening_ = !error;
  if (listening_) accept();
}

int DashboardServer::port() const {
  boost::system::error_code error;
  const auto endpoint = acceptor_.local_endpoint(error);
  return error ? 0 : endpoint.port();
}

void DashboardServer::accept() {
  acceptor_.async_accept([this](boost::system::error_code error, tcp::socket socket) {
    if (error) return after_failed_accept(acceptor_, retry_, error, [this] { accept(); });
    serve(std::move(socket), connections_.take());
    accept_when_free(connections_, [this] { accept(); });
  });
}

// One request a connection: handshake, read, answer, close. Every step has a deadline, so a
// client that stalls holds nothing for long; a bad request gets a 400. The slot is given back
// when the last handler lets the stream go.
void DashboardServer::serve(tcp::socket socket, std::shared_ptr<void> slot) {
  auto stream = std::shared_ptr<Stream>(new Stream(beast::tcp_stream(std::move(socket)), tls_),
                                        [slot = std::move(slot)](Stream* s) { delete s; });
  beast::get_lowest_layer(*stream).expires_after(std::chrono::seconds(10));
  stream->async_handshake(ssl::stream_base::server, [this, stream](boost::system::error_code e) {
    if (!e) read_request(stream);
  });
}

void DashboardServer::read_request(const std::shared_ptr<Stream>& stream) {
  auto buffer = std::make_shared<beast::flat_buffer>(16384);
  auto parser = std::make_shared<http::request_parser<http::string_body>>();
  parser->body_limit(0);  // GETs only: a body is refused at its header, not read (up to 1 MB)
  http::async_read(*stream, *buffer, *parser,
                   [this, stream, buffer, parser](boost::system::error_code e, std::size_t) {
                     const auto& request = parser->get();
                     const std::string target(request.target());
                     respond(stream, e ? text_answer(400, "bad request\n")
                                     : request.method() != http::verb::get
                                         ? text_answer(405, "only GET\n")
                                         : dashboard_answer(target, token_, view_));
                   });
}

void DashboardServer::respond(const std::shared_ptr<Stream>& stream, HttpAnswer answer) {
  auto response = std::make_shared<http::response<http::string_body>>();
  response->version(11);
  response->keep_alive(false);
  response->result(answer.status);
  response->set(http::field::content_type, answer.content_type);
  response->set(http::field::cache_control, "no-store");
  if (!answer.location.empty()) response->set(http::field::location, answer.location);
  if (answer.any_origin) response->set(http::field::access_control_allow_origin, "*");
  response->body() = std::move(answer.body);
  response->prepare_payload();
  http::async_write(*stream, *response, [stream, response](boost::system::error_code, std::size_t) {
    stream->async_shutdown([stream](boost::system::error_code) {});
  });
}

}  // namespace omni::node
