// The `omni-node ROLE --config FILE` format: what it takes, and a clear error for what it does not.
#include "node/node_config.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

namespace omni::node {
namespace {

const std::string kGood =
    "identity: orchestrator:1\n"
    "args: [orchestrator, --replica=1, \"--members=orchestrator:1,orchestrator:2\"]\n"
    "state_dir: /var/lib/omni/orchestrator-1\n"
    "listen: 127.0.0.1:7101\n"
    "peers:\n"
    "  orchestrator:2: 127.0.0.1:7102\n"
    "  admin: 127.0.0.1:7199\n"
    "tls: {ca: /etc/omni/ca.crt, cert: /etc/omni/o1.crt, key: /etc/omni/o1.key}\n";

TEST(NodeConfig, AGoodFileIsReadWhole) {
  const auto parsed = parse_node_config("orchestrator", kGood, "o1.yaml");
  ASSERT_TRUE(std::holds_alternative<NodeConfig>(parsed)) << std::get<std::string>(parsed);
  const NodeConfig& c = std::get<NodeConfig>(parsed);
  EXPECT_EQ(c.identity, "orchestrator:1");
  EXPECT_EQ(c.args.size(), 3u);
  EXPECT_EQ(c.peers.at("orchestrator:2"), "127.0.0.1:7102");
  EXPECT_EQ(c.peers.at("admin"), "127.0.0.1:7199");
  EXPECT_EQ(c.key_file, "/etc/omni/o1.key");
}

TEST(NodeConfig, BadFilesSayWhatIsWrong) {
  const auto edited = [](const std::string& from, const std::string& to) {
    std::string text = kGood;
    text.replace(text.find(from), from.size(), to);
    return text;
  };
  const std::vector<std::pair<std::string, std::string>> cases{
      {"{{{", "not YAML"},
      {"- a list", "expected a map"},
      {edited("listen: 127.0.0.1:7101", "listen: 127.0.0.1"), "key `listen`: expected host:port"},
      {edited("listen: 127.0.0.1:7101", "listen: h:99999"), "key `listen`"},
      {edited("identity: orchestrator:1\n", ""), "key `identity`"},
      {edited("127.0.0.1:7102", "nowhere"), "key `peers.orchestrator:2`"},
      {edited("tls: {", "tls: {x: y, "), "tls"},
      {edited("tls: {ca: /etc/omni/ca.crt, ", "tls: {"), "key `tls.ca`"},
      {edited("args: [", "args: {a: ["), "not YAML"},
      {kGood + "colour: blue\n", "unknown key `colour`"},
      {kGood + "metrics: nowhere\n", "key `metrics`: expected host:port"},
  };
  for (const auto& [text, says] : cases) {
    const auto parsed = parse_node_config("orchestrator", text, "o1.yaml");
    ASSERT_TRUE(std::holds_alternative<std::string>(parsed)) << text;
    EXPECT_NE(std::get<std::string>(parsed).find(says), std::string::npos)
        << std::get<std::string>(parsed) << "\n--- for ---\n"
        << text;
  }
  const auto role = parse_node_config("toaster", kGood, "o1.yaml");
  ASSERT_TRUE(std::holds_alternative<std::string>(role));
  EXPECT_NE(std::get<std::string>(role).find("unknown role"), std::string::npos);
}

// Any bytes, and the good file with any span replaced by any bytes: an answer, never a throw.
RC_GTEST_PROP(NodeConfigProps, AnyTextIsAConfigOrAReason, ()) {
  const std::string noise = *rc::gen::container<std::string>(
      rc::gen::elementOf(std::string("abc:{}[],-\"' \n\t\\!&*|>%@`#0123456789")));
  const auto from = *rc::gen::inRange<std::size_t>(0, kGood.size());
  const auto length = *rc::gen::inRange<std::size_t>(0, kGood.size() - from + 1);
  std::string text = kGood;
  text.replace(from, length, noise);
  for (const std::string& t : {noise, text}) {
    const auto parsed = parse_node_config("orchestrator", t, "fuzz.yaml");
    if (const auto* error = std::get_if<std::string>(&parsed)) RC_ASSERT(!error->empty());
  }
}

}  // namespace
}  // namespace omni::node
