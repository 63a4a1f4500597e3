// The `omni-node ROLE --config FILE` format: what it takes, and a clear error for what it does not.
#include "node/node_config.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <tuple>
#include <vector>

#include "node/serve.h"

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

// A refused caller's claimed name is the caller's choice: a newline in it would forge a line of
// the log, an escape sequence would reach a terminal, and its length is unbounded.
TEST(NodeLog, AStrangersNameIsPrintedEscapedAndCut) {
  EXPECT_EQ(printable("orchestrator:3"), "orchestrator:3");
  EXPECT_EQ(printable("x\nomni-node: forged\x1b[31m"), "x\\x0aomni-node: forged\\x1b[31m");
  EXPECT_EQ(printable("a\\b"), "a\\x5cb") << "a backslash cannot pass for an escape";
  EXPECT_EQ(printable(std::string("\xff\0", 2)), "\\xff\\x00");
  EXPECT_EQ(printable(std::string(1000, 'n')), std::string(128, 'n') + "...");
  EXPECT_EQ(printable("abcdef", 3), "abc...");
}

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

TEST(NodeConfig, AnOrchestratorMayServeTheDashboardAndNothingElseMay) {
  const std::string dashboard = "dashboard: 0.0.0.0:7601\ndashboard_token: 0123456789abcdef\n";
  const auto parsed = parse_node_config("orchestrator", kGood + dashboard, "o1.yaml");
  ASSERT_TRUE(std::holds_alternative<NodeConfig>(parsed)) << std::get<std::string>(parsed);
  EXPECT_EQ(std::get<NodeConfig>(parsed).dashboard, "0.0.0.0:7601");
  EXPECT_EQ(std::get<NodeConfig>(parsed).dashboard_token, "0123456789abcdef");
  EXPECT_TRUE(
      std::get<NodeConfig>(parse_node_config("orchestrator", kGood, "o1.yaml")).dashboard.empty());
  const auto agent = parse_node_config("agent", kGood + dashboard, "a.yaml");
  ASSERT_TRUE(std::holds_alternative<std::string>(agent));
  EXPECT_NE(std::get<std::string>(agent).find("only an orchestrator serves one"), std::string::npos)
      << std::get<std::string>(agent);
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
      {kGood + "dashboard: 0.0.0.0:7601\n", "`dashboard` and `dashboard_token` go together"},
      {kGood + "dashboard_token: 0123456789abcdef\n", "go together"},
      {kGood + "dashboard: nowhere\ndashboard_token: 0123456789abcdef\n",
       "key `dashboard`: expected host:port"},
      {kGood + "dashboard: 0.0.0.0:7601\ndashboard_token: short\n", "at least 16 characters"},
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

const std::string kDirector =
    "identity: director:host1\n"
    "args: [director, --node=host1, --own-vm=prod-host1-director, --cpu-millis=4000, "
    "--memory-bytes=8589934592]\n"
    "state_dir: /var/lib/omni/director\n"
    "listen: 10.213.0.1:7201\n"
    "peers: {root: 127.0.0.1:7000}\n"
    "tls: {ca: /etc/omni/ca.crt, cert: /etc/omni/d.crt, key: /etc/omni/d.key}\n"
    "vms:\n"
    "  provider: local\n"
    "  cluster: prod\n"
    "  node: host1\n"
    "  boot:\n"
    "    worker: {init: [omni-node, agent, --config, \"/etc/omni/{vm}.yaml\"]}\n";

const std::string kAgent =
    "identity: agent:prod-host1-worker-1\n"
    "args: [agent, --vm=prod-host1-worker-1, --director=director:host1, --cpu-millis=1000, "
    "--memory-bytes=536870912]\n"
    "state_dir: /var/lib/omni/agent\n"
    "listen: 0.0.0.0:7300\n"
    "peers: {director:host1: 10.213.0.1:7201}\n"
    "tls: {ca: /etc/omni/ca.crt, cert: /etc/omni/a.crt, key: /etc/omni/a.key}\n"
    "containers:\n"
    "  runtime: process\n"
    "  state_dir: /var/lib/omni/process\n"
    "  images: {omni/orchestrator: /usr/lib/omni/omni-image.tar}\n";

TEST(NodeConfig, ADirectorSaysHowItReachesItsHypervisorAndAnAgentItsRuntime) {
  const auto director = parse_node_config("director", kDirector, "d.yaml");
  ASSERT_TRUE(std::holds_alternative<NodeConfig>(director)) << std::get<std::string>(director);
  const NodeConfig& d = std::get<NodeConfig>(director);
  ASSERT_TRUE(d.vms.has_value());
  EXPECT_EQ(d.vms->provider, "local");
  EXPECT_EQ(d.vms->bridge.cluster, "prod");
  EXPECT_EQ(d.vms->bridge.node, "host1");
  EXPECT_TRUE(d.vms->bridge.autostart);
  EXPECT_EQ(d.vms->agent_port, 7300);
  EXPECT_EQ(d.vms->bridge.boot.at("worker").init_args.back(), "/etc/omni/{vm}.yaml");
  EXPECT_FALSE(d.containers.has_value());

  const auto agent = parse_node_config("agent", kAgent, "a.yaml");
  ASSERT_TRUE(std::holds_alternative<NodeConfig>(agent)) << std::get<std::string>(agent);
  const NodeConfig& a = std::get<NodeConfig>(agent);
  ASSERT_TRUE(a.containers.has_value());
  EXPECT_EQ(a.containers->runtime, "process");
  EXPECT_EQ(a.containers->bridge.image_tars.at("omni/orchestrator"),
            "/usr/lib/omni/omni-image.tar");

  // containerd, shared by the Agents of a machine: a scope, and what gets the machine.
  std::string text = kAgent;
  text.replace(text.find("runtime: process"), 16,
               "runtime: containerd\n  scope: vm-1\n  host_access: [orchestrator]");
  const auto shared = parse_node_config("agent", text, "a.yaml");
  ASSERT_TRUE(std::holds_alternative<NodeConfig>(shared)) << std::get<std::string>(shared);
  EXPECT_EQ(std::get<NodeConfig>(shared).containers->scope, "vm-1");
  EXPECT_EQ(std::get<NodeConfig>(shared).containers->host_access,
            std::vector<std::string>{"orchestrator"});
}

// A VM's config names the key and certificates it received next to it.
TEST(NodeConfig, RelativePathsAreRelativeToTheFile) {
  const auto parsed = parse_node_config(
      "agent",
      "identity: agent:a\nargs: []\nstate_dir: state\nlisten: 0.0.0.0:7300\npeers: {}\n"
      "tls: {ca: ca.crt, cert: pki/a.crt, key: /abs/a.key}\n"
      "containers: {runtime: process, state_dir: run, images: {i: ../i.tar}}\n",
      "/etc/omni/agent.yaml");
  ASSERT_TRUE(std::holds_alternative<NodeConfig>(parsed)) << std::get<std::string>(parsed);
  const NodeConfig& c = std::get<NodeConfig>(parsed);
  EXPECT_EQ(c.state_dir, "/etc/omni/state");
  EXPECT_EQ(c.ca_file, "/etc/omni/ca.crt");
  EXPECT_EQ(c.cert_file, "/etc/omni/pki/a.crt");
  EXPECT_EQ(c.key_file, "/abs/a.key");
  EXPECT_EQ(c.containers->state_dir, "/etc/omni/run");
  EXPECT_EQ(c.containers->bridge.image_tars.at("i"), "/etc/omni/../i.tar");
  const auto director = parse_node_config("director", kDirector + "  files: pki/vms\n",
                                          "/var/lib/omni/director.yaml");
  ASSERT_TRUE(std::holds_alternative<NodeConfig>(director)) << std::get<std::string>(director);
  EXPECT_EQ(std::get<NodeConfig>(director).vms->bridge.files_dir, "/var/lib/omni/pki/vms");
}

const std::string kRoot =
    "identity: root\n"
    "state_dir: /var/lib/omni/prod/root\n"
    "listen: 10.215.3.1:7100\n"
    "peers: {director:host1: 10.215.3.10:7200}\n"
    "tls: {ca: pki/ca.crt, cert: pki/root.crt, key: pki/root.key}\n"
    "cluster: cluster.yaml\n"
    "vms:\n"
    "  provider: local\n"
    "  cluster: prod\n"
    "  addresses: {prod-host1-director: 10.215.3.10}\n"
    "  capacity: {cpu_millis: 4000, memory_bytes: 8589934592}\n";

TEST(NodeConfig, TheRootNamesItsClusterAndReachesEveryNodesVms) {
  const auto parsed = parse_node_config("root", kRoot, "/var/lib/omni/prod/root.yaml");
  ASSERT_TRUE(std::holds_alternative<NodeConfig>(parsed)) << std::get<std::string>(parsed);
  const NodeConfig& r = std::get<NodeConfig>(parsed);
  EXPECT_EQ(r.cluster_file, "/var/lib/omni/prod/cluster.yaml");
  EXPECT_EQ(r.orchestrator_image, "omni/omni-node:dev");
  EXPECT_EQ(r.ca_file, "/var/lib/omni/prod/pki/ca.crt");
  ASSERT_TRUE(r.vms.has_value());
  EXPECT_EQ(r.vms->bridge.node, "");
  EXPECT_EQ(r.vms->bridge.addresses.at("prod-host1-director"), "10.215.3.10");
  EXPECT_EQ(r.vms->capacity.cpu_millis, 4000);
  EXPECT_EQ(r.vms->capacity.memory_bytes, 8589934592);
}

TEST(NodeConfig, ADriverSectionThatIsWrongOrMisplacedSaysSo) {
  const auto edited = [](std::string text, const std::string& from, const std::string& to) {
    text.replace(text.find(from), from.size(), to);
    return text;
  };
  const std::vector<std::tuple<std::string, std::string, std::string>> cases{
      {"director", edited(kDirector, "provider: local", "provider: vmware"),
       "key `vms.provider`: expected local or libvirt"},
      {"director", edited(kDirector, "provider: local", "provider: libvirt\n  domain_type: xen"),
       "key `vms.domain_type`: expected kvm, qemu or test, got `xen`"},
      {"director", edited(kDirector, "  node: host1\n", ""), "key `vms.node`"},
      {"director", edited(kDirector, "cluster: prod", "cluster: Prod!"), "key `vms`: cluster"},
      {"director", edited(kDirector, "    worker:", "    agent:"), "unknown key `vms.boot.agent`"},
      {"director", edited(kDirector, "worker: {init:", "worker: {initrd: x, ramdisk:"),
       "unknown key `vms.boot.worker.ramdisk`"},
      {"director", kDirector + "  agent_port: 99999\n", "key `vms.agent_port`"},
      {"director", kDirector + "  autostart: maybe\n",
       "key `vms.autostart`: expected true or false"},
      {"director", kGood, "a director needs `vms`"},
      {"agent", kAgent + "vms: {provider: local}\n",
       "only a director, an orchestrator or the root has VMs"},
      {"orchestrator", kGood + "vms: {provider: local, cluster: prod, node: host1}\n",
       "these VMs belong to every node"},
      {"agent", edited(kAgent, "runtime: process", "runtime: docker"),
       "expected process or containerd"},
      {"agent", edited(kAgent, "runtime: process", "runtime: process\n  host_access: [x]"),
       "keys `containers.scope` and `containers.host_access` are containerd's"},
      {"agent", edited(kAgent, "runtime: process", "runtime: containerd\n  host_access: x"),
       "key `containers.host_access`: expected a list of strings"},
      {"agent", edited(kAgent, "  state_dir: /var/lib/omni/process\n", ""),
       "the process runtime needs one"},
      {"agent", edited(kAgent, "images: {", "images: [{"), "not YAML"},
      {"agent",
       edited(kAgent,
              "containers:\n  runtime: process\n  state_dir: /var/lib/omni/process\n  images: "
              "{omni/orchestrator: /usr/lib/omni/omni-image.tar}\n",
              ""),
       "an agent needs `containers`"},
      {"director", kDirector + "containers: {runtime: process}\n", "only an agent has containers"},
      {"root", edited(kRoot, "cluster: cluster.yaml\n", ""), "the root needs `cluster`"},
      {"root", kRoot + "  node: host1\n", "these VMs belong to every node"},
      {"director", kDirector + "cluster: c.yaml\n", "keys `cluster` and `image` are the root's"},
      {"root", edited(kRoot, "10.215.3.10}", "10.215.3.300}"),
       "key `vms.addresses.prod-host1-director`: expected an IPv4 address"},
      {"root", edited(kRoot, "cpu_millis: 4000", "cpu_millis: -4"),
       "key `vms.capacity.cpu_millis`: expected a positive whole number"},
      {"root", edited(kRoot, "cpu_millis: 4000", "cpus: 4"), "unknown key `vms.capacity.cpus`"},
  };
  for (const auto& [role, text, says] : cases) {
    const auto parsed = parse_node_config(role, text, "n.yaml");
    ASSERT_TRUE(std::holds_alternative<std::string>(parsed)) << text;
    EXPECT_NE(std::get<std::string>(parsed).find(says), std::string::npos)
        << std::get<std::string>(parsed) << "\n--- for ---\n"
        << text;
  }
}

// Any bytes, and the good file with any span replaced by any bytes: an answer, never a throw.
RC_GTEST_PROP(NodeConfigProps, AnyTextIsAConfigOrAReason, ()) {
  const std::string noise = *rc::gen::container<std::string>(
      rc::gen::elementOf(std::string("abc:{}[],-\"' \n\t\\!&*|>%@`#0123456789")));
  const auto& [role, good] = *rc::gen::elementOf(std::vector<std::pair<std::string, std::string>>{
      {"orchestrator", kGood}, {"director", kDirector}, {"agent", kAgent}, {"root", kRoot}});
  const auto from = *rc::gen::inRange<std::size_t>(0, good.size());
  const auto length = *rc::gen::inRange<std::size_t>(0, good.size() - from + 1);
  std::string text = good;
  text.replace(from, length, noise);
  for (const std::string& t : {noise, text}) {
    const auto parsed = parse_node_config(role, t, "fuzz.yaml");
    if (const auto* error = std::get_if<std::string>(&parsed)) RC_ASSERT(!error->empty());
  }
}

}  // namespace
}  // namespace omni::node
