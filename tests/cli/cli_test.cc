// The `omni` binary as a person runs it: exit codes, where output goes, one line per error.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "cli/cluster_commands.h"
#include "node/pki.h"

namespace {

namespace v1 = omni::v1;
using omni::cli::age_ms;
using omni::cli::EventCursor;
using omni::cli::fresh_events;

struct CommandRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs the real binary through the shell with stdout and stderr captured in temp files.
// `env` (like "HOME=/tmp/x ") goes before the command.
CommandRun omni_env(const std::string& env, const std::string& args) {
  // Per process and call: ctest runs each test case as its own process, in parallel.
  static int calls = 0;
  const std::string stem =
      testing::TempDir() + "/omni-cli-" + std::to_string(getpid()) + "-" + std::to_string(++calls);
  const std::string out = stem + ".out", err = stem + ".err";
  const std::string command = env + OMNI_BINARY + " " + args + " >" + out + " 2>" + err;
  const int status = std::system(command.c_str());
  CommandRun run{WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
  std::filesystem::remove(out);  // two files a call, hundreds a CI run, were left in /tmp
  std::filesystem::remove(err);
  return run;
}

CommandRun omni(const std::string& args) {
  return omni_env("", args);
}

std::size_t lines_in(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

TEST(OmniCli, HelpAndVersion) {
  const CommandRun help = omni("--help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("init"), std::string::npos);
  const CommandRun version = omni("version");
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.out.rfind("omni ", 0), 0u);
  const CommandRun init_help = omni("init --help");
  EXPECT_EQ(init_help.exit_code, 0);
  EXPECT_NE(init_help.out.find("--dry-run"), std::string::npos);
}

TEST(OmniCli, EveryCommandsHelpGivesAnExample) {
  for (const std::string command :
       {"", "init ", "reset ", "status ", "get ", "events ", "dashboard ", "apply ", "delete "}) {
    const CommandRun help = omni(command + "--help");
    EXPECT_EQ(help.exit_code, 0) << command;
    EXPECT_NE(help.out.find("Example"), std::string::npos) << command << "\n" << help.out;
    EXPECT_NE(help.out.find("\n  omni "), std::string::npos) << command << "\n" << help.out;
  }
}

TEST(OmniCli, DryRunPrintsThePlan) {
  const CommandRun run = omni("init --dry-run -f examples/cluster-3node.yaml");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_TRUE(run.err.empty()) << run.err;
  for (const std::string part :
       {"preflight", "teardown", "demo-worker-01-director", "demo-orchestrator-3", "FREE FOR APPS"})
    EXPECT_NE(run.out.find(part), std::string::npos) << part << "\n" << run.out;
}

TEST(OmniCli, DryRunJsonAndYaml) {
  const CommandRun json = omni("init --dry-run -o json -f examples/cluster-3node.yaml");
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_EQ(json.out.front(), '{');
  EXPECT_NE(json.out.find("\"orchestrators_placement\""), std::string::npos);
  const CommandRun yaml = omni("init --dry-run -o yaml -f examples/cluster-3node.yaml");
  ASSERT_EQ(yaml.exit_code, 0) << yaml.err;
  EXPECT_NE(yaml.out.find("quorum: 2"), std::string::npos) << yaml.out;
}

TEST(OmniCli, SeedSnippetPassesUnchanged) {
  const CommandRun run = omni("init --dry-run -f tests/data/config/good/seed-snippet.yaml");
  EXPECT_EQ(run.exit_code, 0) << run.err;
}

TEST(OmniCli, EveryBadFileExitsTwoWithOneLocatedLine) {
  const std::vector<std::string> files{"unknown-top-key",
                                       "unknown-node-key",
                                       "nodes-not-a-list",
                                       "cpu-wrong-type",
                                       "memory-bad-unit",
                                       "cpu-negative",
                                       "memory-zero",
                                       "memory-two-dots",
                                       "memory-overflow",
                                       "duplicate-node-name",
                                       "invalid-node-name",
                                       "orchestrators-even",
                                       "orchestrators-out-of-range",
                                       "orchestrators-more-than-nodes",
                                       "nodes-empty",
                                       "nodes-missing",
                                       "not-a-mapping",
                                       "yaml-syntax-error",
                                       "non-utf8",
                                       "empty",
                                       "duplicate-key",
                                       "node-too-small",
                                       "two-documents",
                                       "arg-surrogate-bytes",
                                       "arg-surrogate-escape",
                                       "hypervisor-control-character",
                                       "hypervisor-too-long"};
  for (const auto& name : files) {
    SCOPED_TRACE(name);
    const std::string path = "tests/data/config/bad/" + name + ".yaml";
    const CommandRun run = omni("init --dry-run -f " + path);
    EXPECT_EQ(run.exit_code, 2);
    EXPECT_TRUE(run.out.empty()) << run.out;
    EXPECT_EQ(lines_in(run.err), 1u) << run.err;
    EXPECT_EQ(run.err.rfind(path + ":", 0), 0u) << run.err;
  }
}

// The simulator runs clusters as large as the config allows; a real plane could not snapshot the
// records of this one (2,000 nodes of 64 worker VMs, long names: some 30 MiB) beside its clients'
// 32 MiB in one log record, so init refuses it before making anything.
TEST(OmniCli, InitRefusesAClusterTooLargeForAPlane) {
  const std::filesystem::path path =
      testing::TempDir() + "/omni-large-" + std::to_string(getpid()) + ".yaml";
  {
    std::ofstream file(path);
    file << "nodes:\n";
    for (int i = 0; i < 2000; ++i)
      file << "  - {name: " << std::string(56, 'n') << std::setw(5) << std::setfill('0') << i
           << ", resources: {cpu: 512, memory: 2Ti}, worker_vms: 64}\n";
  }
  const CommandRun run = omni("init --dry-run -f " + path.string());
  std::filesystem::remove(path);
  EXPECT_EQ(run.exit_code, 2) << run.err;
  EXPECT_EQ(lines_in(run.err), 1u) << run.err;
  EXPECT_EQ(run.err.rfind(path.string() + ":2:", 0), 0u) << run.err;
  EXPECT_NE(run.err.find("a plane keeps at most 24 MiB of them"), std::string::npos) << run.err;
}

// An event's age comes from two times on the wire: their difference must neither overflow nor
// make a time before the epoch or after the clock's range.
TEST(OmniEvents, AnAgeFromTheWireIsClampedToACentury) {
  constexpr std::int64_t kCenturyMs = std::int64_t{100} * 366 * 24 * 3600 * 1000;
  EXPECT_EQ(age_ms(10'000, 7'000), 3'000);
  EXPECT_EQ(age_ms(7'000, 10'000), 0) << "an event from the future happened now";
  EXPECT_EQ(age_ms(INT64_MAX, INT64_MIN), kCenturyMs) << "overflowed";
  EXPECT_EQ(age_ms(INT64_MIN, INT64_MAX), 0) << "overflowed";
  EXPECT_EQ(age_ms(INT64_MAX, 0), kCenturyMs);
}

// `omni events -f` prints each event once: from the same leader's log at the same term, those
// after the last it printed; from a new term of the same leader (which may have restarted, its
// log counting from 1 again), those newer than the last it printed. Seq 1 and 2 of a restarted
// leader were hidden behind the old log's seq 40.
TEST(OmniEvents, FollowingPrintsANewTermsEventsOfTheSameLeader) {
  v1::StatusReply r;
  r.set_leader_hint("orchestrator:1");
  r.set_term(3);
  r.set_now_ms(100'000);
  const auto add = [&r](std::uint64_t seq, std::int64_t at_ms) {
    auto* e = r.add_events();
    e->set_seq(seq);
    e->set_at_ms(at_ms);
    e->set_kind("leader");
  };
  add(39, 40'000);
  add(40, 50'000);
  EventCursor cursor;
  EXPECT_EQ(fresh_events(r, cursor).size(), 2u) << "the first read prints all";
  cursor = {"orchestrator:1", 3, 40, std::chrono::system_clock::now() - std::chrono::seconds(50),
            true};
  EXPECT_TRUE(fresh_events(r, cursor).empty()) << "nothing new in the same log";
  add(41, 99'000);
  ASSERT_EQ(fresh_events(r, cursor).size(), 1u);
  EXPECT_EQ(fresh_events(r, cursor).front().seq, 41u);

  v1::StatusReply restarted;  // the same replica leads at term 4 with a new log
  restarted.set_leader_hint("orchestrator:1");
  restarted.set_term(4);
  restarted.set_now_ms(5'000);
  for (const auto& [seq, at_ms] : {std::pair{1, 4'000}, std::pair{2, 4'900}}) {
    auto* e = restarted.add_events();
    e->set_seq(static_cast<std::uint64_t>(seq));
    e->set_at_ms(at_ms);
  }
  const auto fresh = fresh_events(restarted, cursor);
  ASSERT_EQ(fresh.size(), 2u) << "hidden behind the old log's seq 40";
  EXPECT_EQ(fresh[0].seq, 1u);
  EXPECT_EQ(fresh[1].seq, 2u);
  // Its events older than what was printed last (by this machine's clock) were printed before.
  cursor.at = std::chrono::system_clock::now() - std::chrono::milliseconds(500);
  const auto newer = fresh_events(restarted, cursor);
  ASSERT_EQ(newer.size(), 1u);
  EXPECT_EQ(newer.front().seq, 2u);
}

TEST(OmniCli, MissingFileAndDirectory) {
  const CommandRun missing = omni("init --dry-run -f tests/data/config/bad/does-not-exist.yaml");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("does-not-exist.yaml:1:1: cannot read the file: no such file"),
            std::string::npos)
      << missing.err;
  const CommandRun directory = omni("init --dry-run -f tests/data/config/bad/a-directory");
  EXPECT_EQ(directory.exit_code, 2);
  EXPECT_NE(directory.err.find("is a directory"), std::string::npos) << directory.err;
}

TEST(OmniCli, BadFlagsAreBadInput) {
  const std::vector<std::pair<std::string, std::string>> cases{
      {"", "Usage"},
      {"frobnicate", "unknown command \"frobnicate\""},
      {"init --dry-run", "missing -f FILE"},
      {"init --dry-run -f examples/cluster-3node.yaml -o xml", "unknown output format \"xml\""},
      {"init --bogus", "bogus"},
      {"init -f", "-f"},
      {"init -f examples/cluster-local.yaml --container-runtime docker",
       "unknown container runtime \"docker\"; use containerd, process or auto"},
      // A stray word was dropped and an abbreviation guessed: both could start a real init or
      // a reset the person did not ask for.
      {"init -f examples/cluster-3node.yaml dry-run", "dry-run"},
      {"init --d -f examples/cluster-3node.yaml", "--d"},
      {"reset --cluster x --y", "--y"},
      {"reset --cluster x yes", "yes"},
      {"status --w", "--w"},
  };
  for (const auto& [args, message] : cases) {
    SCOPED_TRACE(args);
    const CommandRun run = omni(args);
    EXPECT_EQ(run.exit_code, 2);
    EXPECT_NE(run.err.find(message), std::string::npos) << run.err;
  }
}

// A real init of libvirt nodes it cannot make (a libvirtd that runs no VMs, or nodes on two
// hypervisors) fails before it makes anything, saying which node and why. (Real inits:
// init_local_test, and init_tcg_test for libvirt VMs.)
TEST(OmniCli, InitOfLibvirtNodesItCannotMakeFailsClearlyAndMakesNothing) {
  const CommandRun test_driver =
      omni("init -f tests/cli/data/libvirt-node.yaml --state-dir /nonexistent/omni-site");
  EXPECT_EQ(test_driver.exit_code, 2);
  EXPECT_NE(test_driver.err.find("hypervisor test:///default: omni init makes libvirt VMs "
                                 "through a QEMU libvirtd on this machine"),
            std::string::npos)
      << test_driver.err;
  const CommandRun mixed =
      omni("init -f tests/cli/data/mixed-hypervisors.yaml --state-dir /nonexistent/omni-site");
  EXPECT_EQ(mixed.exit_code, 2);
  EXPECT_NE(mixed.err.find("mixed-hypervisors.yaml:5: node n2: hypervisor qemu:///system: omni "
                           "init makes a cluster on this machine, so every node names the same "
                           "hypervisor (here local)"),
            std::string::npos)
      << mixed.err;
  EXPECT_FALSE(std::filesystem::exists("/nonexistent/omni-site"));
}

TEST(OmniCli, ClusterCommandsWithoutCredentialsSayWhereTheyLooked) {
  const CommandRun run = omni("status --cluster nowhere");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("no credentials for cluster nowhere"), std::string::npos) << run.err;
  EXPECT_EQ(omni("get volumes").exit_code, 2);
  EXPECT_EQ(omni("apply").exit_code, 2);
  // A stray word is refused before anything connects: "apply -f a.yaml dry-run" stored the apps.
  const CommandRun stray = omni("apply -f examples/apps.yaml dry-run --cluster nowhere");
  EXPECT_EQ(stray.exit_code, 2);
  EXPECT_NE(stray.err.find("unexpected argument \"dry-run\""), std::string::npos) << stray.err;
  EXPECT_EQ(omni("delete app Bad_Name").exit_code, 2);
  EXPECT_EQ(omni("reset --cluster x").exit_code, 2);  // without --yes
  EXPECT_EQ(omni("reset --yes").exit_code, 2);        // without a cluster
  EXPECT_EQ(omni("status -o xml").exit_code, 2);
}

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// An app's archive is relative to the file that names it, and must be there: init and apply say
// which app's archive is missing before anything starts or connects, and hand on an absolute path
// (the root reads its copy of the config from another directory).
TEST(OmniCli, AnAppsArchiveIsFoundRelativeToItsFileOrRefused) {
  const std::filesystem::path dir =
      std::filesystem::path(testing::TempDir() + "/omni-archive-" + std::to_string(getpid()))
          .lexically_normal();
  std::filesystem::create_directories(dir / "images");
  const std::string app =
      "  - {name: web, image: omni/web, archive: images/web.tar, replicas: 1}\n";
  write_file(dir / "cluster.yaml",
             "nodes:\n  - {name: n1, resources: {cpu: 8, memory: 16Gi}}\napps:\n" + app);
  write_file(dir / "apps.yaml", "apps:\n" + app);
  const std::string missing = "cluster.yaml:4:5: app web: archive images/web.tar (" +
                              (dir / "images/web.tar").string() + "): no such file";
  const CommandRun init = omni("init --dry-run -f " + (dir / "cluster.yaml").string());
  EXPECT_EQ(init.exit_code, 2);
  EXPECT_NE(init.err.find(missing), std::string::npos) << init.err;
  const CommandRun apply = omni("apply -f " + (dir / "apps.yaml").string() + " --cluster nowhere");
  EXPECT_EQ(apply.exit_code, 2) << "refused before it looks for credentials";
  EXPECT_NE(apply.err.find("apps.yaml:2:5: app web: archive images/web.tar"), std::string::npos)
      << apply.err;

  std::filesystem::create_directories(dir / "images/web.tar");
  EXPECT_NE(
      omni("init --dry-run -f " + (dir / "cluster.yaml").string()).err.find("not a regular file"),
      std::string::npos);
  std::filesystem::remove(dir / "images/web.tar");
  write_file(dir / "images/web.tar", "an OCI archive");
  const CommandRun found = omni("init --dry-run -o yaml -f " + (dir / "cluster.yaml").string());
  EXPECT_EQ(found.exit_code, 0) << found.err;
  EXPECT_NE(found.out.find("archive: " + (dir / "images/web.tar").string()), std::string::npos)
      << found.out;
  const CommandRun applied =
      omni("apply -f " + (dir / "apps.yaml").string() + " --cluster nowhere");
  EXPECT_EQ(applied.exit_code, 1) << "found: on to the credentials, which are not there";
  std::filesystem::remove_all(dir);
}

// A --state-dir that holds files init did not put there is refused before anything is made or
// changed: init made it 0700 and filled it, and omni reset removed it whole (--state-dir /srv).
TEST(OmniCli, InitRefusesAStateDirThatHoldsOtherFiles) {
  const std::filesystem::path dir =
      testing::TempDir() + "/omni-occupied-" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  std::filesystem::permissions(dir, std::filesystem::perms(0755));
  write_file(dir / "precious.txt", "keep me");
  const CommandRun run = omni("init -f examples/cluster-local.yaml --state-dir " + dir.string());
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.err.find("holds files that are not an omni site"), std::string::npos) << run.err;
  EXPECT_EQ(std::filesystem::status(dir).permissions(), std::filesystem::perms(0755));
  EXPECT_EQ(std::vector<std::filesystem::path>(std::filesystem::directory_iterator(dir), {}),
            std::vector<std::filesystem::path>{dir / "precious.txt"});
  std::filesystem::remove_all(dir);
}

// A HOME of its own under the test's temp dir, with cluster foo's credentials folder in it
// (empty), removed at the end; `env` goes before the command.
struct FooHome {
  explicit FooHome(const std::string& name)
      : tmp(testing::TempDir() + "/omni-" + name + "-" + std::to_string(getpid())),
        credentials(tmp / "home" / ".omni" / "foo"),
        env("HOME=" + (tmp / "home").string() + " ") {
    std::filesystem::remove_all(tmp);
  }
  ~FooHome() { std::filesystem::remove_all(tmp); }
  const std::filesystem::path tmp;
  const std::filesystem::path credentials;
  const std::string env;
};

// A site as omni init leaves it, for `cluster` (without its VMs: reset and init must refuse it
// before they look for any).
std::filesystem::path fake_site(const std::filesystem::path& dir, const std::string& cluster,
                                bool names_cluster) {
  write_file(dir / "site.yaml", std::string(names_cluster ? "cluster: " + cluster + "\n" : "") +
                                    "id: c1234567\nsubnet: 10.215.77\n");
  write_file(dir / "cluster.yaml",
             "cluster: {name: " + cluster +
                 "}\nnodes:\n  - {name: n1, resources: {cpu: 8, memory: 16Gi}}\n");
  return dir;
}

// `omni reset --cluster foo --state-dir DIR` where DIR holds cluster bar wiped bar (its PKI,
// disks and Raft logs) and said foo was gone. Now it refuses and removes nothing, whether the
// site names its cluster (site.yaml) or is older and only its config does (cluster.yaml);
// init refuses another cluster's site the same way.
TEST(OmniCli, ResetAndInitRefuseTheSiteOfAnotherCluster) {
  const std::filesystem::path tmp = testing::TempDir() + "/omni-site-" + std::to_string(getpid());
  std::filesystem::remove_all(tmp);
  for (const bool names_cluster : {true, false}) {
    const auto bar = fake_site(tmp / "bar", "bar", names_cluster);
    const CommandRun reset = omni("reset --cluster foo --yes --state-dir " + bar.string());
    EXPECT_EQ(reset.exit_code, 2) << reset.out << reset.err;
    EXPECT_NE(reset.err.find("is the site of cluster bar, not foo"), std::string::npos)
        << reset.err;
    EXPECT_TRUE(std::filesystem::exists(bar / "site.yaml")) << "reset removed another's site";
    EXPECT_TRUE(std::filesystem::exists(bar / "cluster.yaml"));
  }
  std::filesystem::remove_all(tmp);
}

TEST(OmniCli, InitRefusesTheSiteOfAnotherCluster) {
  if (::geteuid() != 0 && std::getenv("CI") == nullptr) GTEST_SKIP() << "omni init needs root";
  const std::filesystem::path tmp = testing::TempDir() + "/omni-init-" + std::to_string(getpid());
  std::filesystem::remove_all(tmp);
  const auto bar = fake_site(tmp / "bar", "bar", true);
  write_file(tmp / "foo.yaml",
             "cluster: {name: foo}\nnodes:\n  - {name: n1, resources: {cpu: 8, memory: 16Gi}}\n");
  const CommandRun init =
      omni("init -f " + (tmp / "foo.yaml").string() + " --state-dir " + bar.string());
  EXPECT_EQ(init.exit_code, 2) << init.err;
  EXPECT_NE(init.err.find("is the site of cluster bar, not foo"), std::string::npos) << init.err;
  EXPECT_NE(slurp((bar / "cluster.yaml").string()).find("name: bar"), std::string::npos)
      << "init wrote over bar's config";
  std::filesystem::remove_all(tmp);
}

// A mistyped --state-dir used to remove the cluster's credentials while the cluster ran on.
// Without --state-dir, reset finds the site init recorded with the credentials.
TEST(OmniCli, ResetKeepsCredentialsThatLeadToASiteAndFindsItWithoutStateDir) {
  const std::filesystem::path tmp = testing::TempDir() + "/omni-creds-" + std::to_string(getpid());
  std::filesystem::remove_all(tmp);
  const auto site = fake_site(tmp / "elsewhere", "foo", true);
  const auto credentials = tmp / "home" / ".omni" / "foo";
  write_file(credentials / "endpoints.yaml", "cluster: foo\nsite: " + site.string() + "\n");
  const std::string home = "HOME=" + (tmp / "home").string() + " ";
  const CommandRun typo =
      omni_env(home, "reset --cluster foo --yes --state-dir " + (tmp / "typo").string());
  EXPECT_EQ(typo.exit_code, 2) << typo.out << typo.err;
  EXPECT_NE(typo.err.find("lives in " + site.string()), std::string::npos) << typo.err;
  EXPECT_TRUE(std::filesystem::exists(credentials / "endpoints.yaml"));
  // Without --state-dir: the recorded site is the one reset reads (and, being of cluster bar
  // here, refuses), not /var/lib/omni/foo.
  fake_site(site, "bar", true);
  const CommandRun found = omni_env(home, "reset --cluster foo --yes");
  EXPECT_EQ(found.exit_code, 2) << found.out << found.err;
  EXPECT_NE(found.err.find(site.string() + " is the site of cluster bar"), std::string::npos)
      << found.err;
  std::filesystem::remove_all(tmp);
}

// Credentials that are damaged, a device or a FIFO are named as such, without reading forever
// or waiting for a writer; none of them is used.
TEST(OmniCli, DamagedCredentialsAreNamed) {
  const FooHome foo("bad-creds");
  const auto& credentials = foo.credentials;
  const std::string& home = foo.env;
  const std::string pem = "-----BEGIN X-----\nAAAA\n-----END X-----\n";
  write_file(credentials / "ca.crt", pem);
  write_file(credentials / "admin.crt", pem);
  write_file(credentials / "admin.key", "");
  write_file(credentials / "endpoints.yaml",
             "cluster: foo\nadmin_listen: 127.0.0.1:1\norchestrators: {o: 127.0.0.1:2}\n");
  const CommandRun empty_key = omni_env(home, "status --cluster foo");
  EXPECT_EQ(empty_key.exit_code, 1) << empty_key.err;
  EXPECT_NE(empty_key.err.find("admin.key is not PEM"), std::string::npos) << empty_key.err;
  write_file(credentials / "admin.key", pem);
  std::filesystem::create_symlink("/dev/zero", credentials / "dashboard.token");
  const CommandRun device = omni_env(home, "status --cluster foo");
  EXPECT_EQ(device.exit_code, 1) << device.err;
  EXPECT_NE(device.err.find("dashboard.token: cannot read the file: it is not a regular file"),
            std::string::npos)
      << device.err;
  std::filesystem::remove(credentials / "dashboard.token");
  ASSERT_EQ(::mkfifo((credentials / "dashboard.token").c_str(), 0600), 0);
  const CommandRun fifo = omni_env(home, "status --cluster foo");
  EXPECT_EQ(fifo.exit_code, 1) << fifo.err;
  EXPECT_NE(fifo.err.find("it is not a regular file"), std::string::npos) << fifo.err;
}

// An endpoints.yaml that cannot be read may name where the cluster lives: reset keeps the
// credentials and says so, instead of removing them and calling the cluster gone.
TEST(OmniCli, ResetKeepsDamagedCredentials) {
  const FooHome foo("damaged");
  write_file(foo.credentials / "endpoints.yaml", "cluster: foo\nsite: [unclosed\n");
  const CommandRun reset =
      omni_env(foo.env, "reset --cluster foo --yes --state-dir " + (foo.tmp / "typo").string());
  EXPECT_EQ(reset.exit_code, 2) << reset.out << reset.err;
  EXPECT_NE(reset.err.find("records where cluster foo lives"), std::string::npos) << reset.err;
  EXPECT_TRUE(std::filesystem::exists(foo.credentials / "endpoints.yaml"));
}

// With --updates, a watch that gets no answer says so on standard error (standard output
// stays the answers) and exits with the last answer's code.
TEST(OmniCli, AWatchWithoutAnAnswerFailsOnStandardError) {
  const FooHome foo("watch");
  const auto& credentials = foo.credentials;
  std::string error;
  const auto ca = omni::node::make_ca("foo", {}, error);
  ASSERT_TRUE(ca) << error;
  const auto admin = omni::node::issue(*ca, "admin", {}, error);
  ASSERT_TRUE(admin) << error;
  write_file(credentials / "ca.crt", ca->cert_pem);
  ASSERT_EQ(omni::node::write_key_pair(credentials.string(), "admin", *admin), "");
  // Nothing listens on port 2 of loopback (ports below 1024 are not handed out at random).
  write_file(credentials / "endpoints.yaml",
             "cluster: foo\nadmin_listen: 127.0.0.1:0\norchestrators: {orchestrator:0: "
             "127.0.0.1:2}\n");
  const CommandRun run = omni_env(foo.env, "get apps -w --updates 1 -o json --cluster foo");
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_EQ(run.out, "");
  EXPECT_NE(run.err.find("omni: "), std::string::npos) << run.err;
}

}  // namespace
