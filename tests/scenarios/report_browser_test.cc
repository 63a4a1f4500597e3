// omni-sim's HTML report opened in headless Chromium: what a person sees once its script drew
// the page, for a run whose client history cannot be linearized and for one that passed.
// Keeps BUILD/tests/scenarios/report.png.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "sim/cluster/run.h"
#include "sim/report/html_report.h"
#include "tests/drivers/test_support.h"
#include "tests/scenarios/load.h"

namespace omni::sim {
namespace {

std::size_t count(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

// The page's DOM after its script ran (and, given a path, a screenshot of it). Chromium gets a
// profile of its own, so it shares no state with a Chromium another test runs at the same time.
std::string rendered(const Scenario& scenario, const RunResult& result, const std::string& html,
                     const std::string& screenshot = "") {
  {
    std::ofstream out(html);
    write_html_report(scenario, result, out);
  }
  // The DOM goes to a file: it is megabytes, more than a captured output keeps.
  const std::string dom = html + ".dom";
  const std::string what = screenshot.empty() ? "--dump-dom" : "--screenshot=" + screenshot;
  drivers::testing::run({"sh", "-c",
                         "chromium --headless --no-sandbox --disable-gpu "
                         "--virtual-time-budget=2000 --window-size=1280,2000 \"$1\" \"$2\" "
                         "\"$3\" > \"$4\" 2>/dev/null",
                         "sh", "--user-data-dir=" + html + ".profile", what, "file://" + html, dom},
                        nullptr, std::chrono::seconds(60));
  std::ifstream in(dom);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

RunOptions recorded(bool broken) {
  return RunOptions{
      .record_events = true, .record_history = true, .testing_leaders_read_locally = broken};
}

TEST(Report, ABrowserShowsTheTimelineAndMarksTheWindowThatCannotBeLinearized) {
  OMNI_REQUIRE(drivers::testing::have_program("chromium"),
               "the report is tested in headless Chromium (apt install chromium)");
  drivers::testing::TempDir dir("omni-report");
  const Scenario scenario = testing::parse_scenario_text(testing::kStaleReadsScenario);
  std::optional<RunResult> failed;
  for (std::uint64_t seed = 1; seed <= 10 && !failed; ++seed) {
    RunResult r = run_scenario(scenario, seed, recorded(true));
    if (r.violation && r.violation->invariant == "linearizable") failed = std::move(r);
  }
  ASSERT_TRUE(failed.has_value()) << "no stale read in 10 seeds";
  const std::string dom = rendered(scenario, *failed, dir / "failed.html");
  EXPECT_NE(dom.find("violation: linearizable at "), std::string::npos) << dom.substr(0, 3000);
  EXPECT_NE(dom.find("clients: NOT linearizable ("), std::string::npos);
  EXPECT_GE(count(dom, " in-window\"><title>"), 4u) << "the window, outlined in both charts";
  EXPECT_NE(dom.find("id=\"window-svg\""), std::string::npos) << "the window's neighbourhood";
  EXPECT_GE(count(dom, "class=\"op op-ok"), 100u) << "the clients' operations are drawn";
  for (const std::string lane : {"root", "orchestrator:1", "director:worker-02", "client:1"})
    EXPECT_NE(dom.find("class=\"lane\" data-name=\"" + lane + "\""), std::string::npos) << lane;
  EXPECT_EQ(count(dom, "class=\"fault\""), 3u) << "three partitions, each a band until its heal";
  EXPECT_NE(dom.find("partition: [[worker-01], [worker-02, worker-03]]"), std::string::npos);
  EXPECT_NE(dom.find(">directors<"), std::string::npos) << "the root's phases";
  EXPECT_NE(dom.find("class=\"violation\""), std::string::npos);
  EXPECT_NE(dom.find("<td>linearizable (client history)</td><td class=\"bad\">VIOLATED</td>"),
            std::string::npos);
  EXPECT_NE(dom.find("<td>election_safety</td><td class=\"ok\">held</td>"), std::string::npos);

  const RunResult passed = run_scenario(scenario, 1, recorded(false));
  ASSERT_TRUE(passed.passed);
  const std::string good = rendered(scenario, passed, dir / "passed.html");
  EXPECT_NE(good.find("id=\"verdict\" class=\"ok\">passed<"), std::string::npos)
      << good.substr(0, 3000);
  EXPECT_NE(good.find("clients: linearizable"), std::string::npos);
  EXPECT_EQ(count(good, " in-window\"><title>"), 0u);

  const std::string screenshot = OMNI_BUILD_DIR "/tests/scenarios/report.png";
  std::filesystem::remove(screenshot);
  rendered(scenario, *failed, dir / "shot.html", screenshot);
  EXPECT_GT(std::filesystem::exists(screenshot) ? std::filesystem::file_size(screenshot) : 0,
            10'000u);
}

}  // namespace
}  // namespace omni::sim
