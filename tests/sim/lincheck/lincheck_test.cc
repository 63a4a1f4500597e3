// The linearizability checker on hand-written histories (each a verdict and, when not
// linearizable, the key and the window of operations named by their invoke lines), malformed
// histories (each one located error), the writer, and the omni-lincheck command line.
#include "sim/lincheck/lincheck.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "model/core/assert.h"
#include "sim/lincheck/cli.h"
#include "sim/lincheck/generate.h"

namespace omni::lincheck {
namespace {

// HISTORY.md's example, as written there (from the second character: the first is a newline).
constexpr const char* kHistoryExampleText = R"(
{"process": 0, "type": "invoke", "f": "write", "key": "apps/web", "value": 3, "time_ns": 1000}
{"process": 1, "type": "invoke", "f": "read",  "key": "apps/web", "value": null, "time_ns": 1200}
{"process": 0, "type": "ok",     "f": "write", "key": "apps/web", "value": 3, "time_ns": 2100}
{"process": 1, "type": "ok",     "f": "read",  "key": "apps/web", "value": 3, "time_ns": 2300}
{"process": 2, "type": "invoke", "f": "cas",   "key": "apps/web", "value": [2, 4], "time_ns": 2400}
{"process": 2, "type": "fail",   "f": "cas",   "key": "apps/web", "value": [2, 4], "time_ns": 2900}
{"process": 3, "type": "invoke", "f": "write", "key": "apps/db",  "value": "v7", "time_ns": 3000}
{"process": 3, "type": "info",   "f": "write", "key": "apps/db",  "value": "v7", "time_ns": 9000}
)";
const std::string kHistoryExample = std::string(kHistoryExampleText).substr(1);

// One event per line, "PROCESS TYPE F [VALUE] [key=KEY]", VALUE as JSON (null when absent).
std::string jsonl(const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) {
    std::istringstream in(line);
    std::string process, type, f, token, key;
    std::string value = "null";
    in >> process >> type >> f;
    while (in >> token) {
      if (token.rfind("key=", 0) == 0)
        key = token.substr(4);
      else
        value = token;
    }
    text += R"({"process": )" + process + R"(, "type": ")" + type + R"(", "f": ")" + f + "\"" +
            (key.empty() ? "" : R"(, "key": ")" + key + "\"") + R"(, "value": )" + value + "}\n";
  }
  return text;
}

Verdict check_text(const std::string& text) {
  const ParseResult parsed = parse_history(text, "t.jsonl");
  EXPECT_EQ(parsed.error, "");
  return check_history(parsed.events);
}

std::vector<std::size_t> window_lines(const Verdict& v) {
  std::vector<std::size_t> lines;
  for (const Operation& op : v.window) lines.push_back(op.invoke_line);
  return lines;
}

struct Case {
  std::string name;
  std::vector<std::string> history;
  bool linearizable;
  std::string key = "";                     // the key named, when not linearizable
  std::vector<std::size_t> window_lines{};  // invoke lines of the window's operations
};

const std::vector<Case> kCases{
    {"a read sees the completed write",
     {"0 invoke write 1", "0 ok write 1", "1 invoke read", "1 ok read 1"},
     true},
    {"a read of the first value, null, before any write",
     {"1 invoke read", "1 ok read null"},
     true},
    {"a read of null after a completed write",
     {"0 invoke write 1", "0 ok write 1", "1 invoke read", "1 ok read null"},
     false,
     "",
     {1, 3}},
    {"a stale read after a completed write",
     {"0 invoke write 1", "0 ok write 1", "0 invoke write 2", "0 ok write 2", "1 invoke read",
      "1 ok read 1"},
     false,
     "",
     {1, 3, 5}},
    {"a read concurrent with a write sees the old value",
     {"0 invoke write 1", "0 ok write 1", "0 invoke write 2", "1 invoke read", "1 ok read 1",
      "0 ok write 2"},
     true},
    {"a read concurrent with a write sees the new value",
     {"0 invoke write 1", "0 ok write 1", "0 invoke write 2", "1 invoke read", "1 ok read 2",
      "0 ok write 2"},
     true},
    {"two reads during one write cannot see new then old",
     {"0 invoke write 1", "0 ok write 1", "0 invoke write 2", "1 invoke read", "1 ok read 2",
      "2 invoke read", "2 ok read 1", "0 ok write 2"},
     false,
     "",
     {1, 4, 6}},
    {"a failed write is dropped",
     {"0 invoke write 1", "0 ok write 1", "0 invoke write 2", "0 fail write 2", "1 invoke read",
      "1 ok read 1"},
     true},
    {"a failed write's value cannot be read",
     {"0 invoke write 1", "0 ok write 1", "0 invoke write 2", "0 fail write 2", "1 invoke read",
      "1 ok read 2"},
     false,
     "",
     {3, 5}},
    {"a failed read constrains nothing", {"1 invoke read", "1 fail read 7"}, true},
    {"an info write may take effect long after its info",
     {"0 invoke write 1", "0 info write 1", "1 invoke read", "1 ok read null", "1 invoke read",
      "1 ok read 1", "1 invoke read", "1 ok read 1"},
     true},
    {"an info write may never take effect",
     {"0 invoke write 1", "0 info write 1", "1 invoke read", "1 ok read null"},
     true},
    {"an info write read before it was invoked",
     {"1 invoke read", "1 ok read 5", "0 invoke write 5", "0 info write 5"},
     false,
     "",
     {1, 3}},
    {"an info write that took effect cannot be undone",
     {"0 invoke write 1", "0 info write 1", "1 invoke read", "1 ok read 1", "1 invoke read",
      "1 ok read null"},
     false,
     "",
     {3, 5}},
    {"a missing completion counts as info",
     {"0 invoke write 1", "1 invoke read", "1 ok read null", "1 invoke read", "1 ok read 1"},
     true},
    {"a missing completion cannot take effect before its invoke",
     {"1 invoke read", "1 ok read 1", "0 invoke write 1"},
     false,
     "",
     {1, 3}},
    {"an info read constrains nothing",
     {"0 invoke write 1", "0 ok write 1", "1 invoke read", "1 info read"},
     true},
    {"a cas ok changes the value",
     {"0 invoke write 1", "0 ok write 1", "0 invoke cas [1,2]", "0 ok cas [1,2]", "1 invoke read",
      "1 ok read 2"},
     true},
    {"a cas ok needs its expected value",
     {"0 invoke write 1", "0 ok write 1", "0 invoke cas [5,2]", "0 ok cas [5,2]"},
     false,
     "",
     {3}},
    {"a cas ok on a key that does not exist yet",
     {"0 invoke cas [null,\"a\"]", "0 ok cas [null,\"a\"]", "1 invoke read", "1 ok read \"a\""},
     true},
    {"a cas fail when the value is another",
     {"0 invoke write 1", "0 ok write 1", "0 invoke cas [2,3]", "0 fail cas [2,3]"},
     true},
    {"a cas fail when the only possible value is the expected one",
     {"0 invoke write 2", "0 ok write 2", "0 invoke cas [2,4]", "0 fail cas [2,4]"},
     false,
     "",
     {1, 3}},
    {"a cas fail ordered after a concurrent write of another value",
     {"0 invoke write 2", "0 ok write 2", "0 invoke write 3", "1 invoke cas [2,4]",
      "1 fail cas [2,4]", "0 ok write 3"},
     true},
    {"a cas fail does not change the value",
     {"0 invoke write 1", "0 ok write 1", "0 invoke cas [2,3]", "0 fail cas [2,3]", "1 invoke read",
      "1 ok read 3"},
     false,
     "",
     {3, 5}},
    {"an info write may explain a cas fail",
     {"0 invoke write 2", "0 ok write 2", "1 invoke write 9", "1 info write 9",
      "0 invoke cas [2,4]", "0 fail cas [2,4]"},
     true},
    {"an info write invoked after a cas fail does not explain it",
     {"0 invoke write 2", "0 ok write 2", "0 invoke cas [2,4]", "0 fail cas [2,4]",
      "1 invoke write 9", "1 info write 9"},
     false,
     "",
     {1, 3, 5}},
    {"one info write explains one cas fail, not two",
     {"1 invoke write 9", "1 info write 9", "0 invoke write 2", "0 ok write 2",
      "0 invoke cas [2,4]", "0 fail cas [2,4]", "0 invoke write 2", "0 ok write 2",
      "0 invoke cas [2,5]", "0 fail cas [2,5]"},
     false,
     "",
     {3, 5, 7, 9}},
    {"two info writes explain two cas fails",
     {"1 invoke write 9", "1 info write 9", "2 invoke write 8", "2 info write 8",
      "0 invoke write 2", "0 ok write 2", "0 invoke cas [2,4]", "0 fail cas [2,4]",
      "0 invoke write 2", "0 ok write 2", "0 invoke cas [2,5]", "0 fail cas [2,5]"},
     true},
    {"an info cas that took effect",
     {"0 invoke write 1", "0 ok write 1", "0 invoke cas [1,2]", "0 info cas [1,2]", "1 invoke read",
      "1 ok read 2"},
     true},
    {"an info cas that could not take effect",
     {"0 invoke write 1", "0 ok write 1", "0 invoke cas [5,2]", "0 info cas [5,2]", "1 invoke read",
      "1 ok read 2"},
     false,
     "",
     {3, 5}},
    {"keys are independent registers",
     {"0 invoke write 1 key=a", "0 ok write 1 key=a", "1 invoke read key=b", "1 ok read null key=b",
      "1 invoke read key=a", "1 ok read 1 key=a"},
     true},
    {"a violation on one key names that key",
     {"0 invoke write 1 key=a", "0 ok write 1 key=a", "0 invoke write 1 key=b",
      "0 ok write 1 key=b", "0 invoke write 2 key=b", "0 ok write 2 key=b", "1 invoke read key=a",
      "1 ok read 1 key=a", "1 invoke read key=b", "1 ok read 1 key=b"},
     false,
     "b",
     {3, 5, 9}},
    {"a value written on one key is not read on another",
     {"0 invoke write 1 key=a", "0 ok write 1 key=a", "1 invoke read key=b", "1 ok read 1 key=b"},
     false,
     "b",
     {3}},
};

TEST(Lincheck, HandWrittenHistories) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    const Verdict v = check_text(jsonl(c.history));
    EXPECT_EQ(v.linearizable, c.linearizable) << v.report;
    EXPECT_FALSE(v.exhausted);
    if (c.linearizable) {
      EXPECT_TRUE(v.window.empty());
      EXPECT_EQ(v.report.rfind("linearizable: ", 0), 0u) << v.report;
      continue;
    }
    EXPECT_EQ(v.key, c.key);
    EXPECT_EQ(window_lines(v), c.window_lines) << v.report;
    EXPECT_TRUE(v.window_minimal);
    EXPECT_EQ(v.report.rfind("not linearizable: ", 0), 0u) << v.report;
  }
}

TEST(Lincheck, HistoryMdExampleIsLinearizable) {
  const Verdict v = check_text(kHistoryExample);
  EXPECT_TRUE(v.linearizable) << v.report;
  EXPECT_EQ(v.operations, 4u);
  EXPECT_EQ(v.keys, 2u);
  EXPECT_EQ(v.report.rfind("linearizable: 4 operations on 2 keys (", 0), 0u) << v.report;
}

// Read 4 instead of 3: only the cas that failed would have written 4.
TEST(Lincheck, HistoryMdExampleReadingFourIsNotAndTheReportSaysWhere) {
  std::string text = kHistoryExample;
  const std::string read_three = R"("value": 3, "time_ns": 2300)";
  text.replace(text.find(read_three), read_three.size(), R"("value": 4, "time_ns": 2300)");
  const Verdict v = check_text(text);
  ASSERT_FALSE(v.linearizable);
  EXPECT_EQ(v.key, "apps/web");
  EXPECT_EQ(window_lines(v), (std::vector<std::size_t>{2, 5}));
  EXPECT_EQ(v.report,
            "not linearizable: key \"apps/web\"\n"
            "2 of its 3 operations cannot be ordered:\n"
            "  process 1  read -> 4   ok    lines 2-4\n"
            "  process 2  cas 2 -> 4  fail  lines 5-6\n"
            "no order of these, each taking effect between its invoke and its completion (info: "
            "at any time after its invoke, or never), gives each its result, even if the key's "
            "other operations took effect at any time, or never; each one listed is needed\n"
            "read -> 4 (lines 2-4): nothing that took effect, or may have, writes 4 before it "
            "completed");
}

TEST(Lincheck, EventsBuiltInCodeArePlacedByNumber) {
  std::vector<Event> events(2);
  events[0].f = Function::read;
  events[1].type = EventType::ok;
  events[1].f = Function::read;
  events[1].value = std::int64_t{9};
  const Verdict v = check_history(events);
  ASSERT_FALSE(v.linearizable);
  EXPECT_EQ(v.key, "");
  EXPECT_NE(v.report.find("the register without a key"), std::string::npos) << v.report;
  EXPECT_NE(v.report.find("events 1-2"), std::string::npos) << v.report;
}

TEST(Lincheck, AMalformedListOfEventsFailsAnAssertion) {
  std::vector<Event> events(1);
  events[0].type = EventType::ok;  // no invoke
  EXPECT_THROW(check_history(events), AssertionFailure);
}

TEST(Lincheck, AHistoryOverTheStateLimitGetsNoVerdict) {
  GenerateOptions options;
  options.operations = 200;
  const std::vector<Event> events = generate_history(options, 7);
  const Verdict v = check_history(events, Limits{.max_states = 10, .max_window_states = 10});
  EXPECT_TRUE(v.exhausted);
  EXPECT_FALSE(v.linearizable);
  EXPECT_EQ(v.key, "k0");
  EXPECT_EQ(v.report.rfind(
                "history too hard to check within 10 states (or the memory of their keys): key "
                "\"k0\"",
                0),
            0u)
      << v.report;
  EXPECT_TRUE(check_history(events).linearizable);
}

// A read pending while thousands of writes complete: each state's key spans every write after
// the read, so the memory grew with the square of the history (300,000 writes wanted about 6 GB)
// while the states stayed under their limit. The limit now counts that memory too.
TEST(Lincheck, ARequestPendingWhileThousandsCompleteIsBoundedInMemory) {
  std::vector<std::string> history{"0 invoke read"};
  constexpr int kWrites = 4000;
  for (int w = 1; w <= kWrites; ++w) {
    history.push_back("1 invoke write " + std::to_string(w));
    history.push_back("1 ok write " + std::to_string(w));
  }
  history.push_back("0 ok read " + std::to_string(kWrites));
  const ParseResult parsed = parse_history(jsonl(history), "t.jsonl");
  ASSERT_EQ(parsed.error, "");
  // 4,001 states, under 5,000; their keys, about 137,000 words, over 5,000 x 8.
  const Verdict bounded =
      check_history(parsed.events, Limits{.max_states = 5000, .max_window_states = 1000});
  EXPECT_TRUE(bounded.exhausted) << bounded.report;
  EXPECT_FALSE(bounded.linearizable);
  const Verdict v = check_history(parsed.events);
  EXPECT_TRUE(v.linearizable) << v.report;
}

// Twelve concurrent writes leave 2^12 orders to try before the read; a read of a value nobody
// wrote cannot be ordered anyway, and that window proves it within the limit.
TEST(Lincheck, AHistoryOverTheStateLimitWithAFailingWindowIsNotLinearizable) {
  std::vector<std::string> history;
  for (int p = 0; p < 12; ++p)
    history.push_back(std::to_string(p) + " invoke write " + std::to_string(p));
  for (int p = 0; p < 12; ++p)
    history.push_back(std::to_string(p) + " ok write " + std::to_string(p));
  history.insert(history.end(), {"12 invoke read", "12 ok read \"x\""});
  const ParseResult parsed = parse_history(jsonl(history), "t.jsonl");
  ASSERT_EQ(parsed.error, "");
  const Verdict v = check_history(parsed.events, Limits{.max_states = 100});
  EXPECT_FALSE(v.linearizable);
  EXPECT_FALSE(v.exhausted) << v.report;
  EXPECT_EQ(window_lines(v), (std::vector<std::size_t>{25})) << v.report;
  EXPECT_TRUE(v.window_minimal);
}

struct Malformed {
  std::string text;
  std::size_t line;
  std::string message_part;
};

const std::string kWrite1 = R"({"process": 0, "type": "invoke", "f": "write", "value": 1})";
const std::string kWrite1Ok = R"({"process": 0, "type": "ok", "f": "write", "value": 1})";

const std::vector<Malformed> kMalformed{
    {kWrite1 + "\n{\"process\": 0, \"type\": \"ok\",", 2, "not valid JSON (column 29: syntax"},
    {"[1, 2]", 1, "expected one JSON object per line, got array"},
    {R"({"type": "invoke", "f": "read", "value": null})", 1, "missing \"process\""},
    {R"({"process": "1", "type": "invoke", "f": "read", "value": null})", 1,
     "\"process\" must be an integer; got \"1\""},
    {R"({"process": 1.5, "type": "invoke", "f": "read", "value": null})", 1,
     "\"process\" must be an integer; got 1.5"},
    {R"({"process": 1, "type": "okay", "f": "read", "value": null})", 1,
     "\"type\" must be invoke, ok, fail or info; got \"okay\""},
    {R"({"process": 1, "f": "read", "value": null})", 1, "missing \"type\""},
    {R"({"process": 1, "type": "invoke", "f": "append", "value": null})", 1,
     "\"f\" must be read, write or cas; got \"append\""},
    {R"({"process": 1, "type": "invoke", "f": "read", "key": 3, "value": null})", 1,
     "\"key\" must be a string"},
    {R"({"process": 1, "type": "invoke", "f": "read"})", 1, "missing \"value\""},
    // nlohmann keeps the last of two fields of a name: the write of 1 was read as a write of 2.
    {R"({"process": 1, "type": "invoke", "f": "write", "value": 1, "value": 2})", 1,
     "\"value\" appears twice; each field is given once"},
    {kWrite1 + "\n" + R"({"process": 0, "type": "ok", "type": "fail", "f": "write", "value": 1})",
     2, "\"type\" appears twice"},
    {R"({"process": 1, "type": "invoke", "f": "read", "value": 3})", 1,
     "\"value\" of a read's invoke must be null"},
    {R"({"process": 1, "type": "invoke", "f": "cas", "value": 3})", 1,
     "\"value\" of a cas must be a pair [expected, new]; got 3"},
    {R"({"process": 1, "type": "invoke", "f": "cas", "value": [1, 2, 3]})", 1,
     "must be a pair [expected, new]; got [1,2,3]"},
    {R"({"process": 1, "type": "invoke", "f": "cas", "value": [1.5, 2]})", 1,
     "a cas's expected value must be null, an integer"},
    {R"({"process": 1, "type": "invoke", "f": "write", "value": 1.5})", 1,
     "\"value\" of a write must be an integer (a whole number within 64 bits) or a string; got "
     "1.5"},
    {R"({"process": 1, "type": "invoke", "f": "write", "value": null})", 1,
     "\"value\" of a write must be an integer (a whole number within 64 bits) or a string; got "
     "null"},
    {R"({"process": 1, "type": "invoke", "f": "write", "value": 9223372036854775808})", 1,
     "\"value\" of a write must be an integer (a whole number within 64 bits) or a string; got "
     "9223372036854775808"},
    {R"({"process": 1, "type": "invoke", "f": "write", "value": [1]})", 1,
     "\"value\" of a write must be an integer (a whole number within 64 bits) or a string; got "
     "[1]"},
    {R"({"process": 1, "type": "invoke", "f": "read", "value": null, "time_ns": 1.0})", 1,
     "\"time_ns\" must be an integer; got 1.0"},
    {R"({"process": 1, "type": "invoke", "f": "read", "value": null, "time_ns": 5})"
     "\n\n"
     R"({"process": 2, "type": "invoke", "f": "read", "value": null, "time_ns": 4})",
     3, "time_ns 4 is before 5 (line 1); events must be in real-time order"},
    {kWrite1 + "\n" + kWrite1, 2,
     "process 0 invokes a write while its write (line 1) has no completion yet"},
    {kWrite1Ok, 1, "process 0 has a completion (ok) but no operation outstanding"},
    {kWrite1 + "\n" + R"({"process": 0, "type": "ok", "f": "read", "value": 1})", 2,
     "process 0 completes a read, but its invoke (line 1) is a write"},
    {kWrite1 + "\n" + R"({"process": 0, "type": "ok", "f": "write", "key": "a", "value": 1})", 2,
     "process 0 completes an operation on key \"a\", but its invoke (line 1) is on no key"},
    {kWrite1 + "\n" + R"({"process": 0, "type": "ok", "f": "write", "value": 2})", 2,
     "process 0 completes a write of 2, but its invoke (line 1) writes 1"},
    {R"({"process": 0, "type": "invoke", "f": "cas", "value": [1, 2]})"
     "\n"
     R"({"process": 0, "type": "fail", "f": "cas", "value": [1, 3]})",
     2, "process 0 completes a cas [1, 3], but its invoke (line 1) is a cas [1, 2]"},
    // A million '[' in a field: printing it back in the message recursed a level each and
    // overflowed the stack. Brackets inside a string are not nesting.
    {kWrite1 + "\n{\"process\": " + std::string(1'000'000, '[') + std::string(1'000'000, ']') + "}",
     2, "JSON nested more than 64 deep; an event is one flat object"},
    {R"({"process": 1, "type": "invoke", "f": "write", "value": ")" + std::string(100, '[') +
         R"(\"]]]"})" + "\n" + R"({"process": 1, "type": "invoke", "f": "write", "value": 1})",
     2, "process 1 invokes a write while its write (line 1) has no completion yet"},
};

TEST(Lincheck, MalformedHistoriesGetOneLocatedError) {
  for (const Malformed& m : kMalformed) {
    SCOPED_TRACE(m.text);
    const ParseResult parsed = parse_history(m.text, "bad.jsonl");
    EXPECT_TRUE(parsed.events.empty());
    const std::string where = "bad.jsonl:" + std::to_string(m.line) + ": ";
    EXPECT_EQ(parsed.error.rfind(where, 0), 0u) << parsed.error;
    EXPECT_NE(parsed.error.find(m.message_part), std::string::npos) << parsed.error;
    EXPECT_EQ(parsed.error.find('\n'), std::string::npos) << parsed.error;
  }
}

// An unknown field is kept as it comes, a name repeated inside it too: only the event's own
// fields are checked for repeats.
TEST(Lincheck, BlankLinesCarriageReturnsAndUnknownFieldsAreAccepted) {
  const std::string text = "\n" + kWrite1 + "\r\n   \n" +
                           R"({"process": 0, "type": "ok", "f": "write", "value": 1, "index": 7,)"
                           R"( "meta": {"a": 1, "a": 2}})";
  const ParseResult parsed = parse_history(text, "t.jsonl");
  ASSERT_EQ(parsed.error, "");
  ASSERT_EQ(parsed.events.size(), 2u);
  EXPECT_EQ(parsed.events[0].line, 2u);
  EXPECT_EQ(parsed.events[1].line, 4u);
}

TEST(Lincheck, TheWriterFollowsHistoryMdsFieldOrderAndParsesBack) {
  const ParseResult parsed = parse_history(kHistoryExample, "t.jsonl");
  ASSERT_EQ(parsed.error, "");
  EXPECT_EQ(
      to_json_line(parsed.events[0]),
      R"({"process":0,"type":"invoke","f":"write","key":"apps/web","value":3,"time_ns":1000})");
  EXPECT_EQ(
      to_json_line(parsed.events[4]),
      R"({"process":2,"type":"invoke","f":"cas","key":"apps/web","value":[2,4],"time_ns":2400})");
  std::string written;
  for (const Event& e : parsed.events) written += to_json_line(e) + "\n";
  const ParseResult again = parse_history(written, "again.jsonl");
  ASSERT_EQ(again.error, "");
  ASSERT_EQ(again.events.size(), parsed.events.size());
  for (std::size_t i = 0; i < again.events.size(); ++i)
    EXPECT_EQ(to_json_line(again.events[i]), to_json_line(parsed.events[i]));

  Event unkeyed;
  unkeyed.process = -3;
  unkeyed.type = EventType::ok;
  unkeyed.value = std::string("a \"quoted\"\nvalue");
  EXPECT_EQ(to_json_line(unkeyed),
            R"({"process":-3,"type":"ok","f":"read","value":"a \"quoted\"\nvalue"})");
}

// The command line, on files in a temporary directory.
class LincheckCli : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/omni-lincheck-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string file(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }

  struct Run {
    int code;
    std::string out;
    std::string err;
  };
  static Run run(const std::vector<std::string>& args, const std::string& in = "") {
    std::istringstream input(in);
    std::ostringstream out, err;
    const int code = run_lincheck_cli(args, input, out, err);
    return {code, out.str(), err.str()};
  }

  std::filesystem::path dir_;
};

TEST_F(LincheckCli, ALinearizableHistoryExitsZeroWithOneLine) {
  const Run r = run({file("ok.jsonl", kHistoryExample)});
  EXPECT_EQ(r.code, kExitLinearizable);
  EXPECT_EQ(r.out.rfind("linearizable: 4 operations on 2 keys (", 0), 0u) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1);
  EXPECT_EQ(r.err, "");
}

TEST_F(LincheckCli, StandardInputIsReadForADash) {
  const Run r = run({"-"}, kHistoryExample);
  EXPECT_EQ(r.code, kExitLinearizable) << r.err;
  const Run bad = run({"-"}, "{");
  EXPECT_EQ(bad.code, kExitBadInput);
  EXPECT_EQ(bad.err.rfind("<stdin>:1: not valid JSON", 0), 0u) << bad.err;
}

TEST_F(LincheckCli, AViolationExitsOneWithTheKeyAndTheWindow) {
  const Run r = run({file("stale.jsonl", jsonl({"0 invoke write 1 key=k", "0 ok write 1 key=k",
                                                "0 invoke write 2 key=k", "0 ok write 2 key=k",
                                                "1 invoke read key=k", "1 ok read 1 key=k"}))});
  EXPECT_EQ(r.code, kExitNotLinearizable);
  EXPECT_EQ(r.out.rfind("not linearizable: key \"k\"\n3 of its 3 operations cannot be ordered:\n"
                        "  process 0  write 1    ok  lines 1-2\n"
                        "  process 0  write 2    ok  lines 3-4\n"
                        "  process 1  read -> 1  ok  lines 5-6\n",
                        0),
            0u)
      << r.out;
  EXPECT_EQ(r.err, "");
}

TEST_F(LincheckCli, JsonPrintsTheVerdictAsOneObject) {
  const Run ok = run({"--json", file("ok.jsonl", kHistoryExample)});
  EXPECT_EQ(ok.code, kExitLinearizable);
  const auto j = nlohmann::json::parse(ok.out);
  EXPECT_EQ(j["linearizable"], true);
  EXPECT_EQ(j["operations"], 4);
  EXPECT_EQ(j["keys"], 2);

  const Run bad =
      run({file("bad.jsonl",
                jsonl({"0 invoke cas [2,4]", "0 fail cas [2,4]", "1 invoke read", "1 ok read 4"})),
           "--json"});
  EXPECT_EQ(bad.code, kExitNotLinearizable);
  const auto v = nlohmann::json::parse(bad.out);
  EXPECT_EQ(v["linearizable"], false);
  EXPECT_EQ(v["key"], "");
  ASSERT_EQ(v["window"].size(), 2u);
  EXPECT_EQ(v["window"][0]["f"], "cas");
  EXPECT_EQ(v["window"][0]["type"], "fail");
  EXPECT_EQ(v["window"][0]["value"], nlohmann::json::parse("[2,4]"));
  EXPECT_EQ(v["window"][1]["value"], 4);
  EXPECT_EQ(v["window"][1]["invoke_line"], 3);
  EXPECT_EQ(v["window"][1]["complete_line"], 4);
  EXPECT_EQ(v["window_minimal"], true);
}

TEST_F(LincheckCli, BadInputExitsTwoWithOneLine) {
  struct BadRun {
    std::vector<std::string> args;
    std::string err_start;
  };
  const std::string malformed = file("m.jsonl", kWrite1 + "\n" + kWrite1);
  const std::vector<BadRun> runs{
      {{malformed}, malformed + ":2: process 0 invokes a write while its write (line 1)"},
      {{(dir_ / "missing.jsonl").string()},
       (dir_ / "missing.jsonl").string() + ": cannot read the file (No such file"},
      {{"/dev/zero"}, "/dev/zero: cannot read the file: it is larger than 256 MiB"},
      {{dir_.string()}, dir_.string() + ": cannot read the file (is it a directory?)"},
      {{}, "omni-lincheck: which history? give a FILE"},
      {{"--frobnicate", malformed}, "omni-lincheck: unknown option --frobnicate"},
      {{malformed, malformed}, "omni-lincheck: one FILE only"},
      {{"--max-states", "lots", malformed}, "omni-lincheck: --max-states must be a whole number"},
      {{"--max-states"}, "omni-lincheck: --max-states needs a value"},
      {{"--generate", "10", malformed}, "omni-lincheck: --generate prints a history"},
      {{"--generate", "10", "--violation", "subtle"},
       "omni-lincheck: --violation takes unwritten or stale"},
      // Read by the other mode only: they were silently ignored.
      {{"--violation", "stale", malformed}, "omni-lincheck: --violation goes with --generate"},
      {{"--keys", "5", malformed}, "omni-lincheck: --keys goes with --generate"},
      {{"--generate", "10", "--max-states", "5"},
       "omni-lincheck: --max-states goes with a FILE to check"},
  };
  for (const BadRun& b : runs) {
    SCOPED_TRACE(b.err_start);
    const Run r = run(b.args);
    EXPECT_EQ(r.code, kExitBadInput);
    EXPECT_EQ(r.err.rfind(b.err_start, 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(r.out, "");
  }
}

TEST_F(LincheckCli, AHistoryTooHardForTheLimitExitsTwoAndSaysSo) {
  const Run generated = run({"--generate", "300", "--seed", "3"});
  ASSERT_EQ(generated.code, kExitLinearizable);
  const std::string path = file("hard.jsonl", generated.out);
  const Run r = run({"--max-states", "5", path});
  EXPECT_EQ(r.code, kExitBadInput);
  EXPECT_EQ(r.err.rfind(path + ": history too hard to check within 5 states (or the memory of "
                               "their keys): key \"k0\"",
                        0),
            0u)
      << r.err;
  EXPECT_NE(r.err.find("raise --max-states"), std::string::npos) << r.err;
  EXPECT_EQ(run({path}).code, kExitLinearizable);
}

TEST_F(LincheckCli, GeneratedHistoriesPassAndTheirViolationsFail) {
  const Run ok = run({"--generate", "500", "--keys", "3", "--processes", "4", "--info-percent",
                      "10", "--seed", "11"});
  ASSERT_EQ(ok.code, kExitLinearizable);
  EXPECT_EQ(
      std::count(ok.out.begin(), ok.out.end(), '\n'), 1000 - [&] {
        // Operations without a completion have one line, not two.
        const ParseResult parsed = parse_history(ok.out, "g");
        std::size_t missing = 0;
        for (const Operation& op : match_operations(parsed.events)) missing += !op.complete_index;
        return static_cast<long>(missing);
      }());
  EXPECT_EQ(run({file("ok.jsonl", ok.out)}).code, kExitLinearizable);
  for (const std::string kind : {"unwritten", "stale"}) {
    SCOPED_TRACE(kind);
    const Run broken =
        run({"--generate", "500", "--keys", "3", "--seed", "11", "--violation", kind});
    ASSERT_EQ(broken.code, kExitLinearizable);
    const Run r = run({file(kind + ".jsonl", broken.out)});
    EXPECT_EQ(r.code, kExitNotLinearizable) << r.out;
  }
}

TEST_F(LincheckCli, HelpExitsZero) {
  const Run r = run({"--help"});
  EXPECT_EQ(r.code, kExitLinearizable);
  EXPECT_EQ(r.out.rfind("Usage: omni-lincheck", 0), 0u);
  EXPECT_NE(r.out.find("Exit codes: 0 linearizable; 1 not linearizable"), std::string::npos);
}

// Each key's search has its own bound, and the keys' searches have one in all: a history of many
// hard keys (60 keys of 18 overlapping writes) took 39 s within each key's bound. Here each key
// needs S states; with room for three and a half keys in all, the fourth has no verdict.
TEST(Lincheck, TheKeysShareABudgetOfStatesInAll) {
  const auto hard_keys = [](int keys) {
    std::vector<std::string> lines;
    for (int k = 1; k <= keys; ++k) {
      const std::string key = " key=k" + std::to_string(k);
      for (int w = 1; w <= 8; ++w)
        lines.push_back(std::to_string(w) + " invoke write " + std::to_string(w) + key);
      for (int w = 1; w <= 8; ++w)
        lines.push_back(std::to_string(w) + " ok write " + std::to_string(w) + key);
      lines.push_back("9 invoke read" + key);
      lines.push_back("9 ok read 1" + key);
    }
    return parse_history(jsonl(lines), "t.jsonl").events;
  };
  const Verdict one = check_history(hard_keys(1));
  ASSERT_TRUE(one.linearizable) << one.report;
  const std::uint64_t per_key = one.states_explored;
  ASSERT_GT(per_key, 10u);
  Limits limits;
  limits.max_states = 2 * per_key;
  limits.max_total_states = 3 * per_key + per_key / 2;
  const Verdict five = check_history(hard_keys(5), limits);
  EXPECT_FALSE(five.linearizable);
  EXPECT_TRUE(five.exhausted);
  EXPECT_EQ(five.key, "k4");
  EXPECT_NE(five.report.find("states in all"), std::string::npos) << five.report;
  EXPECT_TRUE(check_history(hard_keys(5)).linearizable) << "within the default bounds";
}

}  // namespace
}  // namespace omni::lincheck
