// The durable log against a real file system: order, replace, a torn tail, a flipped byte, a
// process killed while it writes, and a full disk.
#include "node/durable_log.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/node/support.h"

namespace omni::node {
namespace {

namespace fs = std::filesystem;

bool under_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

// The log lives in DIR/state, a directory the log makes itself.
struct TempDir : testing::TempDir {
  std::string log_dir() const { return (path / "state").string(); }
};

DurableLog open_log(const std::string& dir, Replay& replay) {
  LogError error;
  auto log = DurableLog::open(dir, replay, error);
  if (!log) throw std::runtime_error("cannot open the log: " + error.message);
  return std::move(*log);
}

std::vector<std::string> replayed(const std::string& dir) {
  Replay replay;
  open_log(dir, replay);
  return replay.records;
}

void append_bytes(const std::string& file, const std::string& bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::app);
  out << bytes;
}

TEST(DurableLog, RecordsComeBackInOrder) {
  TempDir t;
  {
    Replay replay;
    DurableLog log = open_log(t.log_dir(), replay);
    EXPECT_TRUE(replay.records.empty());
    for (const std::string& r : std::vector<std::string>{"one", "", std::string(100'000, 'x')})
      EXPECT_FALSE(log.persist(r, true, false).has_value());
  }
  EXPECT_EQ(replayed(t.log_dir()),
            (std::vector<std::string>{"one", "", std::string(100'000, 'x')}));
  EXPECT_EQ(fs::status(t.log_dir() + "/log").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
}

// Two processes of one identity (a sandbox started twice) would interleave their records: the
// second open is refused with the reason, and the first keeps its log.
TEST(DurableLog, ALogOpenElsewhereIsRefusedUntilItIsClosed) {
  TempDir t;
  Replay replay;
  std::optional<DurableLog> first = open_log(t.log_dir(), replay);
  ASSERT_FALSE(first->persist("mine", true, false));
  const pid_t child = ::fork();
  if (child == 0) {
    Replay again;
    LogError error;
    const bool refused = !DurableLog::open(t.log_dir(), again, error) &&
                         error.message.find("another process") != std::string::npos;
    ::_exit(refused ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the second open was not refused";
  first.reset();
  EXPECT_EQ(replayed(t.log_dir()), std::vector<std::string>{"mine"});
}

TEST(DurableLog, ReplaceLeavesOnlyTheNewRecordAndAppendsFollowIt) {
  TempDir t;
  {
    Replay replay;
    DurableLog log = open_log(t.log_dir(), replay);
    ASSERT_FALSE(log.persist("a", true, false));
    ASSERT_FALSE(log.persist("b", false, false));
    ASSERT_FALSE(log.persist("snapshot", true, true));
    ASSERT_FALSE(log.persist("c", true, false));
  }
  EXPECT_EQ(replayed(t.log_dir()), (std::vector<std::string>{"snapshot", "c"}));
  EXPECT_FALSE(fs::exists(t.log_dir() + "/log.next"));
}

TEST(DurableLog, ATornTailIsCutAndReportedAndLaterAppendsStayReadable) {
  TempDir t;
  {
    Replay replay;
    DurableLog log = open_log(t.log_dir(), replay);
    ASSERT_FALSE(log.persist("a", true, false));
    ASSERT_FALSE(log.persist("b", true, false));
  }
  append_bytes(t.log_dir() + "/log",
               frame_of(std::string(20, 'c')).substr(0, 10));  // cut mid-write
  const auto before = fs::file_size(t.log_dir() + "/log");
  {
    Replay replay;
    DurableLog log = open_log(t.log_dir(), replay);
    EXPECT_EQ(replay.records, (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(replay.cut_bytes, 10u);
    EXPECT_NE(replay.problem.find("torn"), std::string::npos) << replay.problem;
    EXPECT_EQ(fs::file_size(t.log_dir() + "/log"), before - 10);
    ASSERT_FALSE(log.persist("d", true, false));
  }
  EXPECT_EQ(replayed(t.log_dir()), (std::vector<std::string>{"a", "b", "d"}));
}

// A flipped byte in a synced record is damage, not a torn write: the record is handed on as
// read and the records after it are kept (they were cut, and with them Raft's later votes and
// terms, which let a restarted replica vote twice in a term). Only the last frame, which a
// crash can tear, is cut.
TEST(DurableLog, AFlippedByteIsHandedOnAndTheRecordsAfterItKept) {
  const std::vector<std::string> written{"first", "second", "third"};
  for (std::size_t target = 0; target < 3; ++target) {
    TempDir t;
    {
      Replay replay;
      DurableLog log = open_log(t.log_dir(), replay);
      for (const std::string& r : written) ASSERT_FALSE(log.persist(r, true, false));
    }
    // Flip one payload byte of record `target` (frames are 8 + 5, 8 + 6, 8 + 5 bytes).
    const std::vector<std::size_t> payload_at{8, 13 + 8, 13 + 14 + 8};
    std::fstream f(t.log_dir() + "/log", std::ios::binary | std::ios::in | std::ios::out);
    f.seekg(static_cast<std::streamoff>(payload_at[target]));
    char c = 0;
    f.read(&c, 1);
    f.seekp(static_cast<std::streamoff>(payload_at[target]));
    c = static_cast<char>(c ^ 0x20);
    f.write(&c, 1);
    f.close();
    const auto size_before = fs::file_size(t.log_dir() + "/log");
    Replay replay;
    open_log(t.log_dir(), replay);
    EXPECT_NE(replay.problem.find("checksum"), std::string::npos) << replay.problem;
    if (target == 2) {  // the last frame: as a torn write, cut
      EXPECT_EQ(replay.records, (std::vector<std::string>{"first", "second"}));
      EXPECT_EQ(replay.cut_bytes, 13u);
      EXPECT_EQ(replay.damaged_records, 0u);
      continue;
    }
    ASSERT_EQ(replay.records.size(), 3u) << "record " << target;
    EXPECT_NE(replay.records[target], written[target]);
    EXPECT_EQ(replay.records[target].size(), written[target].size());
    for (std::size_t i = 0; i < 3; ++i) {
      if (i != target) {
        EXPECT_EQ(replay.records[i], written[i]);
      }
    }
    EXPECT_EQ(replay.damaged_records, 1u);
    EXPECT_EQ(replay.cut_bytes, 0u);
    EXPECT_EQ(fs::file_size(t.log_dir() + "/log"), size_before);
  }
}

// A length past any record whose record is damaged too cannot be framed on from: the rest is
// cut, and an empty record (which no component's seal accepts) tells the component that
// something was lost.
TEST(DurableLog, AnImpossibleLengthCutsTheRestAndLeavesAnEmptyRecord) {
  TempDir t;
  {
    Replay replay;
    DurableLog log = open_log(t.log_dir(), replay);
    ASSERT_FALSE(log.persist("first", true, false));
    ASSERT_FALSE(log.persist("second", true, false));
  }
  {
    std::fstream f(t.log_dir() + "/log", std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(13 + 3);  // the high byte of the second frame's length
    f.put(static_cast<char>(0x7f));
    f.seekp(13 + 8);  // and its record: no length finds it whole
    f.put('S');
  }
  Replay replay;
  DurableLog log = open_log(t.log_dir(), replay);
  EXPECT_EQ(replay.records, (std::vector<std::string>{"first", ""}));
  EXPECT_EQ(replay.damaged_records, 1u);
  EXPECT_EQ(replay.cut_bytes, 14u);
  EXPECT_NE(replay.problem.find("more than any record"), std::string::npos) << replay.problem;
}

// A length damaged into one that runs past the end looks like a torn last write, but records
// follow it: it was cut with every synced record after it (a vote, a term), silently. The frame's
// checksum finds where its record really ends, and it and the frames after it are kept.
TEST(DurableLog, ADamagedLengthInTheMiddleKeepsItsRecordAndTheFramesAfterIt) {
  const std::vector<std::string> written{"first", "second", "third", "fourth"};
  for (const int flipped_bit : {3, 12, 20, 31}) {  // within the file, past it, past any record
    SCOPED_TRACE(flipped_bit);
    TempDir t;
    {
      Replay replay;
      DurableLog log = open_log(t.log_dir(), replay);
      for (const std::string& r : written) ASSERT_FALSE(log.persist(r, true, false));
    }
    {
      std::fstream f(t.log_dir() + "/log", std::ios::binary | std::ios::in | std::ios::out);
      const std::streamoff length_at = 13 + flipped_bit / 8;  // the second frame's length
      f.seekg(length_at);
      char c = 0;
      f.read(&c, 1);
      f.seekp(length_at);
      f.put(static_cast<char>(c ^ (1 << (flipped_bit % 8))));
    }
    const auto size_before = fs::file_size(t.log_dir() + "/log");
    Replay replay;
    DurableLog log = open_log(t.log_dir(), replay);
    EXPECT_EQ(replay.records, written);
    EXPECT_EQ(replay.damaged_records, 1u);
    EXPECT_EQ(replay.cut_bytes, 0u);
    EXPECT_NE(replay.problem.find("whose length is damaged"), std::string::npos) << replay.problem;
    EXPECT_EQ(fs::file_size(t.log_dir() + "/log"), size_before);
  }
  // A crash after the damage that tears the last write does not undo the recovery: the damaged
  // frame's record and the whole frames after it are kept, and only the torn one is cut.
  {
    TempDir t;
    {
      Replay replay;
      DurableLog log = open_log(t.log_dir(), replay);
      for (const std::string& r : written) ASSERT_FALSE(log.persist(r, true, false));
    }
    {
      std::fstream f(t.log_dir() + "/log", std::ios::binary | std::ios::in | std::ios::out);
      f.seekp(13 + 2);  // the second frame's length, past the end
      f.put(static_cast<char>(0x10));
    }
    append_bytes(t.log_dir() + "/log", frame_of("fifth-record").substr(0, 8 + 3));
    Replay replay;
    open_log(t.log_dir(), replay);
    EXPECT_EQ(replay.records, written);
    EXPECT_EQ(replay.cut_bytes, 11u);
    EXPECT_EQ(replay.damaged_records, 1u);
  }
  // A torn last write is still cut: its bytes are a prefix of a record, and nothing follows.
  TempDir t;
  {
    Replay replay;
    DurableLog log = open_log(t.log_dir(), replay);
    ASSERT_FALSE(log.persist("first", true, false));
  }
  append_bytes(t.log_dir() + "/log", frame_of("second-record").substr(0, 8 + 4));
  Replay replay;
  open_log(t.log_dir(), replay);
  EXPECT_EQ(replay.records, (std::vector<std::string>{"first"}));
  EXPECT_EQ(replay.cut_bytes, 12u);
  EXPECT_NE(replay.problem.find("a torn frame"), std::string::npos) << replay.problem;
}

// The log is a regular file: linked to /dev/zero it was read until memory ran out, and a FIFO in
// its place hung the start. Each is refused with the reason.
TEST(DurableLog, ALogThatIsNotARegularFileIsRefused) {
  TempDir t;
  fs::create_directories(t.log_dir());
  fs::create_symlink("/dev/zero", t.log_dir() + "/log");
  Replay replay;
  LogError error;
  EXPECT_FALSE(DurableLog::open(t.log_dir(), replay, error).has_value());
  EXPECT_NE(error.message.find("log"), std::string::npos) << error.message;
  fs::remove(t.log_dir() + "/log");
  ASSERT_EQ(::mkfifo((t.log_dir() + "/log").c_str(), 0600), 0);
  error = {};
  EXPECT_FALSE(DurableLog::open(t.log_dir(), replay, error).has_value());
  EXPECT_NE(error.message.find("not a regular file"), std::string::npos) << error.message;
}

// A child appends synced records "0", "1", ... and tells the parent each one it finished; the
// parent kills it with SIGKILL at a moment of its choosing. Every acknowledged record is there
// after, in order, with nothing but whole records around it.
TEST(DurableLog, ASigkilledWriterLosesNoSyncedRecord) {
  for (int round = 0; round < 10; ++round) {
    TempDir t;
    int acks[2];
    ASSERT_EQ(::pipe(acks), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::close(acks[0]);
      Replay replay;
      LogError error;
      auto log = DurableLog::open(t.log_dir(), replay, error);
      if (!log) ::_exit(3);
      for (std::uint32_t i = 0;; ++i) {
        if (log->persist(std::to_string(i) + std::string(i % 300, 'p'), true, false)) ::_exit(4);
        if (::write(acks[1], &i, sizeof i) != sizeof i) ::_exit(5);
      }
    }
    ::close(acks[1]);
    std::uint32_t last = 0;
    std::uint32_t seen = 0;
    const std::uint32_t kill_after = 20 + static_cast<std::uint32_t>(round) * 17;
    while (seen <= kill_after && ::read(acks[0], &last, sizeof last) == sizeof last) ++seen;
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    ::close(acks[0]);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the writer failed on its own: " << status;
    const std::vector<std::string> records = replayed(t.log_dir());
    ASSERT_GE(records.size(), static_cast<std::size_t>(last) + 1) << "round " << round;
    for (std::size_t i = 0; i < records.size(); ++i)
      ASSERT_EQ(records[i], std::to_string(i) + std::string(i % 300, 'p')) << "round " << round;
  }
}

// A 64 KiB tmpfs fills up: the failing persist says so with ENOSPC, and every record persisted
// before it comes back.
TEST(DurableLog, AFullDiskIsReportedAndLosesNothingSynced) {
  TempDir t;
  const std::string mount_point = (t.path / "small").string();
  fs::create_directories(mount_point);
  const bool mounted = ::mount("tmpfs", mount_point.c_str(), "tmpfs", 0, "size=64k") == 0;
  if (!mounted) {
    const std::string why = std::string("cannot mount a tmpfs: ") + std::strerror(errno);
    if (under_ci()) GTEST_FAIL() << "prerequisite missing under CI=true: " << why;
    GTEST_SKIP() << why;
  }
  const std::string dir = mount_point + "/state";
  std::size_t persisted = 0;
  {
    Replay replay;
    DurableLog log = open_log(dir, replay);
    const std::string record(4000, 'r');
    for (;;) {
      const auto failed = log.persist(record, true, false);
      if (failed) {
        EXPECT_EQ(failed->error_number, ENOSPC) << failed->message;
        EXPECT_NE(failed->message.find("No space left on device"), std::string::npos)
            << failed->message;
        break;
      }
      ++persisted;
      ASSERT_LT(persisted, 100u) << "64 KiB cannot hold this many";
    }
  }
  EXPECT_GE(persisted, 10u);
  Replay replay;
  open_log(dir, replay);
  EXPECT_EQ(replay.records.size(), persisted);
  ::umount2(mount_point.c_str(), MNT_DETACH);
}

std::string slurp(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A site's files and the admin's endpoints: replaced whole, with exactly the mode asked for
// (whatever the umask), nothing left beside, and a failure that says which call failed.
TEST(WriteFileDurably, ReplacesTheFileWholeWithItsModeAndLeavesNothingBeside) {
  TempDir t;
  const fs::path file = t.path / "site.yaml";
  const mode_t umask_before = ::umask(077);
  ASSERT_EQ(write_file_durably(file.string(), "id: a\n", 0644), std::nullopt);
  ASSERT_EQ(write_file_durably(file.string(), "id: b\n", 0600), std::nullopt);
  ::umask(umask_before);
  EXPECT_EQ(slurp(file), "id: b\n");
  EXPECT_EQ(fs::status(file).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_FALSE(fs::exists(t.path / "site.yaml.new"));
  ASSERT_EQ(write_file_durably(file.string(), "id: c\n", 0644), std::nullopt);
  EXPECT_EQ(fs::status(file).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                fs::perms::others_read);
  const auto failed = write_file_durably((t.path / "missing" / "x.yaml").string(), "x", 0644);
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->error_number, ENOENT);
  EXPECT_NE(failed->message.find("open "), std::string::npos) << failed->message;
  EXPECT_EQ(slurp(file), "id: c\n") << "a failed write leaves the old file";
}

}  // namespace
}  // namespace omni::node
