#pragma once
// The durable log behind a component's `Persist` outputs on a real host: one file of frames,
//
//   [length: u32 LE][crc32c(payload): u32 LE][payload: length bytes]
//
// appended in order. `sync` means fdatasync before the call returns, so no later output (a Send
// that acknowledges the record) takes effect before the record is on disk. `replace` writes a
// new file holding only the record, fsyncs it, renames it over the log and fsyncs the directory:
// the log is the old one or the new one after any crash, never a mix.
//
// Opening replays the frames. A torn tail (a frame cut short by a crash mid-write) is cut off
// and reported; a frame whose checksum does not match stops the replay there, as the simulator's
// disk models it, and is cut off with everything after it, so later appends stay readable. A
// failed write or sync (EIO, a full disk) is reported with its errno; the host stops the
// component then (fail-stop), having lost nothing it had synced.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace omni::node {

inline constexpr std::uint32_t kMaxRecordBytes = 64u << 20;  // a frame longer is damage

struct Replay {
  std::vector<std::string> records;  // what a restart hands to Start{persisted}
  std::uint64_t valid_bytes = 0;     // the log's length after the cut
  std::uint64_t cut_bytes = 0;       // bytes dropped from the end (torn or corrupt)
  // Frames with good frames after them whose checksum does not match: not a torn write but
  // damage, handed on as read (the components' own seals reject them, and Raft then recovers
  // its promises from the records after) rather than dropped with everything after them.
  std::uint64_t damaged_records = 0;
  std::string problem;  // why bytes were cut or records are damaged, for a person; empty: none
};

struct LogError {
  int error_number = 0;  // errno of the failed call
  std::string message;   // "fdatasync /var/lib/omni/log: No space left on device"
};

class DurableLog {
 public:
  // Opens (creating) DIR/log, replays it and cuts what cannot be read. A directory or file that
  // cannot be opened is an error, and so is a log another process has open (DIR/lock): two
  // processes of one identity would interleave their records.
  static std::optional<DurableLog> open(const std::string& dir, Replay& replay, LogError& error);
  DurableLog(DurableLog&& other) noexcept;
  DurableLog& operator=(DurableLog&& other) noexcept;
  DurableLog(const DurableLog&) = delete;
  DurableLog& operator=(const DurableLog&) = delete;
  ~DurableLog();

  // Appends (or, with `replace`, replaces the log with) one record. nullopt when it is done
  // (and, with `sync`, durable); the error otherwise, after which the log must not be used.
  std::optional<LogError> persist(const std::string& record, bool sync, bool replace);
  // fdatasync of what was appended without `sync`: the host appends a batch of records, then
  // syncs once (group commit). The error otherwise, after which the log must not be used.
  std::optional<LogError> sync();

  const std::string& path() const { return path_; }
  std::uint64_t size_bytes() const { return size_bytes_; }

 private:
  DurableLog(std::string dir, int fd, int lock_fd, std::uint64_t size_bytes);
  std::optional<LogError> append(const std::string& frame, bool sync);
  std::optional<LogError> replace_with(const std::string& frame);

  std::string dir_;
  std::string path_;
  int fd_ = -1;
  int lock_fd_ = -1;  // flocked for as long as this log is open
  std::uint64_t size_bytes_ = 0;
};

// A small file (a site's configs, a token) replaced whole and durably: written beside as
// PATH.new with `mode`, fsynced, renamed over PATH and the rename fsynced through the directory,
// so that after a power loss PATH is the old file or the new one, never empty. nullopt when
// done; the failed call otherwise (PATH.new is removed).
std::optional<LogError> write_file_durably(const std::string& path, const std::string& text,
                                           unsigned mode);

// One frame: the header and the payload (tests build damaged logs from it).
std::string frame_of(const std::string& record);

}  // namespace omni::node
