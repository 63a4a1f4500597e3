// The cluster config parser on valid and invalid files: every error class, with its location.
#include "model/config/parse.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "model/config/render.h"

namespace omni::config {
namespace {

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

struct BadFile {
  std::string file;
  int line;
  int column;
  std::string message_part;
};

// One row per error class of the issue: the file under tests/data/config/bad/, where the
// error must point, and words the message must contain.
const std::vector<BadFile> kBadFiles{
    {"unknown-top-key.yaml", 1, 1,
     "unknown key \"nodez\" in the cluster config; did you mean \"nodes\"?"},
    {"unknown-node-key.yaml", 3, 5, "did you mean \"resources\"?"},
    {"nodes-not-a-list.yaml", 1, 8, "nodes must be a list"},
    {"cpu-wrong-type.yaml", 4, 12, "cpu must be a single value, got a list"},
    {"memory-bad-unit.yaml", 5, 15, "invalid memory quantity \"32Gb\""},
    {"cpu-negative.yaml", 4, 12, "cpu must be greater than 0"},
    {"memory-zero.yaml", 5, 15, "memory must be greater than 0"},
    {"memory-two-dots.yaml", 5, 15, "invalid memory quantity \"1.5.2Gi\""},
    {"memory-overflow.yaml", 5, 15, "is too large"},
    {"memory-above-limit.yaml", 5, 15, "memory 2Pi is more than Omni takes (at most 1Pi)"},
    {"app-cpu-above-limit.yaml", 5, 48, "cpu 2000000000 is more than Omni takes (at most"},
    {"duplicate-node-name.yaml", 6, 11,
     "duplicate node name \"worker-01\" (first defined at line 2)"},
    {"invalid-node-name.yaml", 2, 11, "invalid node name \"Worker_01\""},
    {"orchestrators-even.yaml", 2, 18, "orchestrators must be odd"},
    {"orchestrators-out-of-range.yaml", 2, 18, "from 1 to 7, got 9"},
    {"orchestrators-more-than-nodes.yaml", 2, 18, "only 2 nodes"},
    {"orchestrators-not-a-number.yaml", 2, 18, "got \"three\""},
    {"nodes-empty.yaml", 3, 8, "nodes is empty"},
    {"nodes-missing.yaml", 1, 1, "missing \"nodes:\""},
    {"not-a-mapping.yaml", 1, 1, "must be a mapping"},
    {"yaml-syntax-error.yaml", 4, 1, "invalid YAML"},
    {"non-utf8.yaml", 6, 12, "not valid UTF-8 (byte 0xff)"},
    {"empty.yaml", 1, 1, "the config is empty"},
    {"duplicate-key.yaml", 3, 5, "duplicate key \"name\""},
    {"bad-hypervisor.yaml", 6, 17, "invalid hypervisor \"vmware\""},
    {"unknown-role.yaml", 3, 11, "unknown role \"controller\""},
    {"resources-missing.yaml", 2, 5, "needs \"resources:\""},
    {"app-without-image.yaml", 4, 5, "app \"web\" needs an \"image:\""},
    {"app-named-orchestrator.yaml", 4, 12, "an app cannot be named \"orchestrator\""},
    {"app-bad-spread.yaml", 4, 37, "spread must be \"nodes\" or \"none\", got \"racks\""},
    {"app-duplicate-name.yaml", 5, 12, "duplicate app name \"web\" (first defined at line 4)"},
    {"app-negative-replicas.yaml", 4, 39, "replicas must be a whole number from 0 to 1000"},
    {"two-documents.yaml", 4, 1, "a second YAML document (after ---)"},
    {"arg-surrogate-escape.yaml", 5, 49, "invalid unicode"},  // yaml-cpp's own check
    {"arg-surrogate-bytes.yaml", 5, 43, "not valid UTF-8 (byte 0xed)"},
    {"arg-nul.yaml", 5, 47, "an arg cannot hold a NUL byte"},
    {"hypervisor-control-character.yaml", 4, 17, "invalid hypervisor"},
};

TEST(ConfigParse, EveryBadFileGetsOneLocatedError) {
  ASSERT_GE(kBadFiles.size(), 15u);
  for (const auto& bad : kBadFiles) {
    SCOPED_TRACE(bad.file);
    const std::string path = "tests/data/config/bad/" + bad.file;
    const ConfigResult result = parse_cluster_config(read(path), path);
    ASSERT_FALSE(result.config.has_value());
    ASSERT_EQ(result.errors.size(), 1u) << result.errors.front().to_string();
    const Diagnostic& d = result.errors.front();
    EXPECT_EQ(d.where.line, bad.line) << d.to_string();
    EXPECT_EQ(d.where.column, bad.column) << d.to_string();
    EXPECT_NE(d.message.find(bad.message_part), std::string::npos) << d.to_string();
    EXPECT_EQ(d.to_string().rfind(path + ":" + std::to_string(bad.line) + ":", 0), 0u);
  }
}

TEST(ConfigParse, SeedSnippetIsValidAsItStands) {
  const ConfigResult result =
      parse_cluster_config(read("tests/data/config/good/seed-snippet.yaml"), "seed.yaml");
  ASSERT_TRUE(result.config.has_value());
  const ClusterConfig& c = *result.config;
  EXPECT_EQ(c.name, "omni");
  ASSERT_EQ(c.nodes.size(), 2u);
  EXPECT_EQ(c.nodes[0].name, "worker-01");
  EXPECT_EQ(c.nodes[1].name, "worker-02");
  EXPECT_EQ(c.nodes[0].resources.cpu_millis, 8000);
  EXPECT_EQ(c.nodes[0].resources.memory_bytes, 32LL << 30);
  EXPECT_EQ(c.nodes[0].hypervisor, "local");
  EXPECT_EQ(c.orchestrators, 1) << "two nodes hold one replica on distinct nodes";
}

TEST(ConfigParse, DefaultsAndExplicitValues) {
  struct Case {
    std::string yaml;
    int orchestrators;
    std::string name;
  };
  const std::vector<Case> cases{
      {"nodes: [{name: a, resources: {cpu: 4, memory: 8Gi}}]", 1, "omni"},
      {"nodes: [{name: a, resources: {cpu: 4, memory: 8Gi}}, {name: b, resources: {cpu: 4, memory: "
       "8Gi}}, {name: c, resources: {cpu: 4, memory: 8Gi}}]",
       3, "omni"},
      {"cluster: {name: prod, orchestrators: 1}\nnodes: [{name: a, resources: {cpu: 4, memory: "
       "8Gi}}, {name: b, resources: {cpu: 4, memory: 8Gi}}, {name: c, resources: {cpu: 4, memory: "
       "8Gi}}]",
       1, "prod"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.yaml);
    const ConfigResult result = parse_cluster_config(c.yaml, "inline");
    ASSERT_TRUE(result.config.has_value()) << result.errors.front().to_string();
    EXPECT_EQ(result.config->orchestrators, c.orchestrators);
    EXPECT_EQ(result.config->name, c.name);
  }
}

TEST(ConfigParse, ReportsSeveralErrorsInDocumentOrder) {
  const std::string yaml =
      "nodes:\n"
      "  - name: a\n"
      "    resources: {cpu: 0, memory: 8Gi}\n"
      "  - name: B\n"
      "    resources: {cpu: 4, memory: 8Gb}\n";
  const ConfigResult result = parse_cluster_config(yaml, "f.yaml");
  ASSERT_EQ(result.errors.size(), 3u);
  EXPECT_EQ(result.errors[0].where.line, 3);
  EXPECT_EQ(result.errors[1].where.line, 4);
  EXPECT_EQ(result.errors[2].where.line, 5);
}

TEST(ConfigParse, ErrorCountIsBounded) {
  std::string yaml = "nodes:\n";
  for (int i = 0; i < 100; ++i)
    yaml += "  - {name: BAD" + std::to_string(i) + ", resources: {cpu: 1, memory: 1Gi}}\n";
  const ConfigResult result = parse_cluster_config(yaml, "f.yaml");
  EXPECT_EQ(result.errors.size(), kMaxDiagnostics);
}

// Aliases repeat a value in full each time they are read: a file of a few KB must not become
// gigabytes of strings.
TEST(ConfigParse, AliasesCannotMultiplyAFileIntoGigabytes) {
  std::string yaml = "nodes:\n  - {name: w1, resources: {cpu: 8, memory: 32Gi}}\napps:\n";
  yaml += "  - {name: a0, image: omni/web, args: &l [&s \"" + std::string(20000, 'x') + "\"";
  for (int i = 0; i < 63; ++i) yaml += ", *s";
  yaml += "]}\n";
  for (int i = 1; i < 400; ++i)
    yaml += "  - {name: a" + std::to_string(i) + ", image: omni/web, args: *l}\n";
  ASSERT_LT(yaml.size(), 40'000u);
  const ConfigResult result = parse_cluster_config(yaml, "f.yaml");
  ASSERT_FALSE(result.config.has_value());
  ASSERT_EQ(result.errors.size(), 1u) << result.errors.front().to_string();
  EXPECT_NE(result.errors.front().message.find("values add up to more than 16 MiB"),
            std::string::npos)
      << result.errors.front().to_string();
}

TEST(ConfigParse, TheClusterSizeHasLimits) {
  const auto nodes = [](int count, int worker_vms) {
    std::string yaml = "nodes:\n";
    for (int i = 0; i < count; ++i)
      yaml += "  - {name: w" + std::to_string(i) + ", worker_vms: " + std::to_string(worker_vms) +
              ", resources: {cpu: 1000, memory: 1Ti}}\n";
    return parse_cluster_config(yaml, "f.yaml");
  };
  const ConfigResult too_many_vms = nodes(3126, 64);  // 200,064 worker VMs
  ASSERT_EQ(too_many_vms.errors.size(), 1u);
  EXPECT_NE(too_many_vms.errors.front().message.find("at most 200000 worker VMs in all"),
            std::string::npos)
      << too_many_vms.errors.front().to_string();
  EXPECT_TRUE(nodes(3125, 64).config.has_value());  // 200,000 exactly
}

TEST(ConfigParse, Utf8IsCheckedStrictly) {
  const auto with_arg = [](const std::string& arg) {
    return parse_cluster_config(
        "nodes:\n  - {name: w1, resources: {cpu: 8, memory: 32Gi}}\n"
        "apps:\n  - {name: web, image: omni/web, args: [\"" +
            arg + "\"]}\n",
        "f.yaml");
  };
  // é, €, an emoji; U+D7FF, U+E000 and U+10FFFF, the edges of what is allowed.
  for (const char* good : {"\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
                           "\xed\x9f\xbf\xee\x80\x80\xf4\x8f\xbf\xbf"})
    EXPECT_TRUE(with_arg(good).config.has_value()) << testing::PrintToString(std::string(good));
  for (const char* bad : {"\xed\xa0\x80", "\xed\xbf\xbf",                  // surrogates
                          "\xe0\x80\xaf", "\xf0\x80\x80\xaf", "\xc0\xaf",  // overlong
                          "\xf4\x90\x80\x80", "\xf5\x80\x80\x80",          // past U+10FFFF
                          "\x80", "\xe2\x82", "\xc3("}) {
    const ConfigResult result = with_arg(bad);
    ASSERT_EQ(result.errors.size(), 1u) << testing::PrintToString(std::string(bad));
    EXPECT_NE(result.errors.front().message.find("not valid UTF-8"), std::string::npos)
        << result.errors.front().to_string();
  }
}

TEST(ConfigParse, RendersBackToAnEqualConfig) {
  const ConfigResult first = parse_cluster_config(read("examples/cluster-3node.yaml"), "x");
  ASSERT_TRUE(first.config.has_value());
  const std::string yaml = render_yaml(*first.config);
  const ConfigResult second = parse_cluster_config(yaml, "rendered");
  ASSERT_TRUE(second.config.has_value()) << yaml;
  EXPECT_EQ(*first.config, *second.config);
  EXPECT_NE(yaml.find("memory: 32Gi"), std::string::npos) << yaml;
}

// yaml-cpp writes 123 or true plain, and YAML 1.1 readers (PyYAML, Go's yaml.v2) read them back
// as a number and a boolean: a node named so came back as something else than its name.
TEST(ConfigRender, NamesThatReadAsNumbersOrBooleansAreQuoted) {
  for (const char* ambiguous : {"123", "true", "Yes", "on", "OFF", "y", "n", "no", "null", "0x1f",
                                "1e3", "-1", ".inf", "~", ""})
    EXPECT_TRUE(plain_yaml_is_ambiguous(ambiguous)) << ambiguous;
  for (const char* plain : {"web", "worker-01", "yesterday", "truex", "onion", "nodes", "n1"})
    EXPECT_FALSE(plain_yaml_is_ambiguous(plain)) << plain;
  const ConfigResult first = parse_cluster_config(
      "cluster: {name: \"true\"}\nnodes:\n"
      "  - {name: \"123\", resources: {cpu: 8, memory: 32Gi}}\n"
      "  - {name: \"on\", resources: {cpu: 8, memory: 32Gi}}\n"
      "  - {name: 1e3, resources: {cpu: 8, memory: 32Gi}}\n"
      "apps:\n  - {name: \"no\", image: \"0x1f\"}\n",
      "f.yaml");
  ASSERT_TRUE(first.config.has_value()) << first.errors.front().to_string();
  const std::string yaml = render_yaml(*first.config);
  for (const char* quoted : {"name: \"true\"", "name: \"123\"", "name: \"on\"", "name: \"1e3\"",
                             "name: \"no\"", "image: \"0x1f\""})
    EXPECT_NE(yaml.find(quoted), std::string::npos) << quoted << " in\n" << yaml;
  const ConfigResult second = parse_cluster_config(yaml, "rendered");
  ASSERT_TRUE(second.config.has_value()) << yaml;
  EXPECT_EQ(*first.config, *second.config);
}

// An error quotes what the file said on one line of a terminal: a 100 KB name was echoed whole,
// and an escape sequence in a value reached the terminal.
TEST(ConfigParse, AMessageQuotesAThousandBytesAtMostAndNoControlCharacters) {
  const ConfigResult long_name =
      parse_cluster_config("nodes:\n  - {name: \"" + std::string(100'000, 'x') +
                               "\", resources: {cpu: 8, memory: 32Gi}}\n",
                           "f.yaml");
  ASSERT_EQ(long_name.errors.size(), 1u);
  EXPECT_LT(long_name.errors.front().message.size(), 1100u);
  EXPECT_NE(long_name.errors.front().message.find("bytes more)"), std::string::npos);
  const ConfigResult escape = parse_cluster_config(
      "nodes:\n  - {name: \"a\\e[31mb\\nc\\x9b1m\", resources: {cpu: 8, memory: 32Gi}}\n",
      "f.yaml");
  ASSERT_EQ(escape.errors.size(), 1u);
  const std::string& message = escape.errors.front().message;
  EXPECT_EQ(message.find('\x1b'), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_NE(message.find("a?[31mb?c?1m"), std::string::npos) << message;
}

TEST(DidYouMean, SuggestsOnlyCloseWords) {
  const std::vector<std::string> keys{"name", "role", "resources", "hypervisor"};
  EXPECT_EQ(did_you_mean("resorces", keys), "resources");
  EXPECT_EQ(did_you_mean("hypervsior", keys), "hypervisor");
  EXPECT_EQ(did_you_mean("nmae", keys), "name");
  EXPECT_FALSE(did_you_mean("banana", keys).has_value());
}

// A word longer than any typo of ours gets no suggestion, close or not: an edit distance costs the
// product of the lengths, and 2,000 keys a million characters long (YAML aliases) took 33 s.
TEST(DidYouMean, ALongWordIsNotCompared) {
  const std::string long_key(kMaxSuggestedWordBytes + 1, 'a');
  const std::string at_limit(kMaxSuggestedWordBytes, 'a');
  const std::vector<std::string> keys{"name", at_limit.substr(1) + "b"};  // one or two edits away
  EXPECT_FALSE(did_you_mean(long_key, keys).has_value());
  EXPECT_EQ(did_you_mean(at_limit, keys), keys[1]);
  // The same file, parsed: its errors stop at the cap, and it is read in one go.
  std::string text = "x: &a \"" + std::string(100'000, 'A') + "\"\n";
  for (int i = 0; i < 200; ++i) text += "*a : 1\n";
  const ConfigResult result = parse_cluster_config(text, "aliases.yaml");
  EXPECT_FALSE(result.config.has_value());
  EXPECT_EQ(result.errors.size(), kMaxDiagnostics);
}

}  // namespace
}  // namespace omni::config
