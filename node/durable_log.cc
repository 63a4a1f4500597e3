#include "node/durable_log.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "model/core/assert.h"
#include "model/core/sealed.h"

namespace omni::node {
namespace {

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::uint32_t get_u32(const std::string& in, std::size_t at) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= static_cast<std::uint32_t>(static_cast<unsigned char>(in[at + i])) << (8 * i);
  return v;
}

LogError error_of(const std::string& call, const std::string& path) {
  const int number = errno;
  return {number, call + " " + path + ": " + std::strerror(number)};
}

// Writes all of `bytes`, retrying short writes and EINTR.
bool write_all(int fd, const std::string& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

bool read_whole(int fd, std::string& out) {
  char buffer[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) return true;
    out.append(buffer, static_cast<std::size_t>(n));
  }
}

bool sync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

// Whether frames with matching checksums run from `at` to the end of `bytes`, but for a torn last
// one (a header cut short, a length past the end, or a checksum that does not match at the end):
// a crash after the damage may have torn the last write, and that must not undo the recovery.
bool whole_frames_from(const std::string& bytes, std::size_t at) {
  while (at < bytes.size()) {
    if (bytes.size() - at < 8) return true;  // a torn header
    const std::uint32_t length = get_u32(bytes, at);
    if (length > kMaxRecordBytes) return false;
    if (bytes.size() - at - 8 < length) return true;  // a torn frame
    const bool last = at + 8 + length == bytes.size();
    if (crc32c(std::string_view(bytes).substr(at + 8, length)) != get_u32(bytes, at + 4) && !last)
      return false;
    at += 8 + length;
  }
  return true;
}

// Where the record of a frame whose length is damaged really ends: the end of the shortest
// payload its checksum matches with whole frames after it to the end of the log. None for a torn
// write (its bytes are a prefix of its payload: no prefix matches but by a 2^-32 chance) or a
// damaged payload.
std::optional<std::size_t> end_of_misframed(const std::string& bytes, std::size_t payload_at,
                                            std::uint32_t crc) {
  OMNI_ASSERT(payload_at <= bytes.size());
  Crc32cPrefix prefix;
  for (std::size_t end = payload_at;; ++end) {
    if (prefix.value() == crc && whole_frames_from(bytes, end)) return end;
    if (end == bytes.size()) return std::nullopt;
    prefix.add(static_cast<unsigned char>(bytes[end]));
  }
}

// The frames of `bytes`. A write torn by a crash leaves a last frame cut short or whose checksum
// does not match: it was never synced, so it is cut. A frame that does not match with whole
// frames after it is damage to a record that was synced: it is handed on, so the component
// sees that a record is bad (a silent cut would drop every record after it, and with them
// Raft's promises: a vote, a term). A length past any record cannot be framed on from: the
// rest is cut, and an empty record, which no component can read, stands for it.
Replay replay_of(const std::string& bytes) {
  Replay replay;
  std::size_t at = 0;
  const auto note = [&replay](const std::string& what) {
    replay.problem += (replay.problem.empty() ? "" : "; ") + what;
  };
  while (at < bytes.size()) {
    if (bytes.size() - at < 8) {
      note("a torn frame header at byte " + std::to_string(at));
      break;
    }
    const std::uint32_t length = get_u32(bytes, at);
    const std::uint32_t crc = get_u32(bytes, at + 4);
    const bool past_end = length > kMaxRecordBytes || bytes.size() - at - 8 < length;
    const bool last = !past_end && at + 8 + length == bytes.size();
    const bool matches = !past_end && crc32c(std::string_view(bytes).substr(at + 8, length)) == crc;
    // A damaged length, taken as it reads, cut every synced record after it (past the end, it
    // looked torn) or misread them all (within the file), and with them Raft's promises. The
    // frame's checksum finds where its record really ends: it and the frames after it are kept.
    if (!matches && !last) {
      if (const auto end = end_of_misframed(bytes, at + 8, crc)) {
        note("a frame at byte " + std::to_string(at) + " whose length is damaged (" +
             std::to_string(length) + " bytes for a record of " + std::to_string(*end - at - 8) +
             "): its record and the frames after it kept");
        ++replay.damaged_records;
        replay.records.push_back(bytes.substr(at + 8, *end - at - 8));
        at = *end;
        continue;
      }
    }
    if (length > kMaxRecordBytes) {
      note("a frame of " + std::to_string(length) + " bytes at byte " + std::to_string(at) +
           ", more than any record: a damaged record stands for the rest");
      replay.records.emplace_back();
      ++replay.damaged_records;
      break;
    }
    if (past_end) {
      note("a torn frame at byte " + std::to_string(at));
      break;
    }
    std::string payload = bytes.substr(at + 8, length);
    if (!matches) {
      note("a frame whose checksum does not match at byte " + std::to_string(at) +
           (last ? " (torn)" : " (damaged, handed on)"));
      if (last) break;
      ++replay.damaged_records;
    }
    replay.records.push_back(std::move(payload));
    at += 8 + length;
  }
  replay.valid_bytes = at;
  replay.cut_bytes = bytes.size() - at;
  OMNI_ASSERT(replay.valid_bytes + replay.cut_bytes == bytes.size());
  OMNI_ASSERT(replay.problem.empty() == (replay.cut_bytes == 0 && replay.damaged_records == 0));
  return replay;
}

}  // namespace

std::string frame_of(const std::string& record) {
  OMNI_ASSERT(record.size() <= kMaxRecordBytes, "a component persists bounded records");
  std::string frame;
  frame.reserve(8 + record.size());
  put_u32(frame, static_cast<std::uint32_t>(record.size()));
  put_u32(frame, crc32c(record));
  frame += record;
  OMNI_ASSERT(frame.size() == 8 + record.size());
  return frame;
}

std::optional<DurableLog> DurableLog::open(const std::string& dir, Replay& replay,
                                           LogError& error) {
  // Its parents too: a VM's first start finds an empty disk.
  for (std::size_t slash = dir.find('/', 1); slash != std::string::npos;
       slash = dir.find('/', slash + 1)) {
    const std::string parent = dir.substr(0, slash);
    if (::mkdir(parent.c_str(), 0700) != 0 && errno != EEXIST) {
      error = error_of("mkdir", parent);
      return std::nullopt;
    }
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    error = error_of("mkdir", dir);
    return std::nullopt;
  }
  const std::string lock_path = dir + "/lock";
  const int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0) {
    error = error_of("open", lock_path);
    return std::nullopt;
  }
  if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    error = LogError{errno, "another process has the log in " + dir + " open (" + lock_path +
                                " is locked): one identity runs once"};
    ::close(lock_fd);
    return std::nullopt;
  }
  const std::string path = dir + "/log";
  // A regular file, not what a link points to: a log linked to /dev/zero was read until memory
  // ran out, and one that was a FIFO hung the start.
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
  if (fd < 0) {
    error = error_of("open", path);
    ::close(lock_fd);
    return std::nullopt;
  }
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    error = {EINVAL, path + " is not a regular file: a log is one"};
    ::close(fd);
    ::close(lock_fd);
    return std::nullopt;
  }
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
    error = error_of("fcntl", path);
    ::close(fd);
    ::close(lock_fd);
    return std::nullopt;
  }
  std::string bytes;
  if (!read_whole(fd, bytes)) {
    error = error_of("read", path);
    ::close(fd);
    ::close(lock_fd);
    return std::nullopt;
  }
  replay = replay_of(bytes);
  // Cut what cannot be read, durably, before anything is appended after it.
  if (replay.cut_bytes > 0 &&
      (::ftruncate(fd, static_cast<off_t>(replay.valid_bytes)) != 0 || ::fdatasync(fd) != 0)) {
    error = error_of("ftruncate", path);
    ::close(fd);
    ::close(lock_fd);
    return std::nullopt;
  }
  if (::lseek(fd, 0, SEEK_END) < 0) {
    error = error_of("lseek", path);
    ::close(fd);
    ::close(lock_fd);
    return std::nullopt;
  }
  return DurableLog(dir, fd, lock_fd, replay.valid_bytes);
}

DurableLog::DurableLog(std::string dir, int fd, int lock_fd, std::uint64_t size_bytes)
    : dir_(std::move(dir)),
      path_(dir_ + "/log"),
      fd_(fd),
      lock_fd_(lock_fd),
      size_bytes_(size_bytes) {
  OMNI_ASSERT(fd_ >= 0);
  OMNI_ASSERT(lock_fd_ >= 0);
}

DurableLog::DurableLog(DurableLog&& other) noexcept
    : dir_(std::move(other.dir_)),
      path_(std::move(other.path_)),
      fd_(std::exchange(other.fd_, -1)),
      lock_fd_(std::exchange(other.lock_fd_, -1)),
      size_bytes_(other.size_bytes_) {}

DurableLog& DurableLog::operator=(DurableLog&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    if (lock_fd_ >= 0) ::close(lock_fd_);
    dir_ = std::move(other.dir_);
    path_ = std::move(other.path_);
    fd_ = std::exchange(other.fd_, -1);
    lock_fd_ = std::exchange(other.lock_fd_, -1);
    size_bytes_ = other.size_bytes_;
  }
  return *this;
}

DurableLog::~DurableLog() {
  if (fd_ >= 0) ::close(fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

std::optional<LogError> DurableLog::persist(const std::string& record, bool sync, bool replace) {
  OMNI_ASSERT(fd_ >= 0, "a log that failed is not used again");
  if (record.size() > kMaxRecordBytes)
    return LogError{EFBIG, "a record of " + std::to_string(record.size()) + " bytes for " + path_};
  const std::string frame = frame_of(record);
  auto failed = replace ? replace_with(frame) : append(frame, sync);
  if (failed) {
    ::close(fd_);
    fd_ = -1;
  }
  return failed;
}

std::optional<LogError> DurableLog::sync() {
  OMNI_ASSERT(fd_ >= 0, "a log that failed is not used again");
  if (::fdatasync(fd_) == 0) return std::nullopt;
  LogError e = error_of("fdatasync", path_);
  ::close(fd_);
  fd_ = -1;
  return e;
}

std::optional<LogError> DurableLog::append(const std::string& frame, bool sync) {
  if (!write_all(fd_, frame)) {
    LogError e = error_of("write", path_);
    // A partial frame stays at the tail; the next open cuts it as torn.
    return e;
  }
  if (sync && ::fdatasync(fd_) != 0) return error_of("fdatasync", path_);
  size_bytes_ += frame.size();
  return std::nullopt;
}

// The new file is complete and synced before it takes the log's name, and the rename is synced
// through the directory: after a crash the log is either the old file or the new one.
std::optional<LogError> DurableLog::replace_with(const std::string& frame) {
  const std::string next = dir_ + "/log.next";
  const int fd = ::open(next.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return error_of("open", next);
  if (!write_all(fd, frame) || ::fsync(fd) != 0) {
    LogError e = error_of("write", next);
    ::close(fd);
    ::unlink(next.c_str());
    return e;
  }
  if (::rename(next.c_str(), path_.c_str()) != 0) {
    LogError e = error_of("rename", next);
    ::close(fd);
    return e;
  }
  if (!sync_dir(dir_)) {
    LogError e = error_of("fsync", dir_);
    ::close(fd);
    return e;
  }
  ::close(fd_);
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd_ < 0) {
    LogError e = error_of("open", path_);
    ::close(fd);  // the new file's descriptor was left open, one for each failed replace
    return e;
  }
  ::close(fd);
  size_bytes_ = frame.size();
  return std::nullopt;
}

std::optional<LogError> write_file_durably(const std::string& path, const std::string& text,
                                           unsigned mode) {
  const std::string next = path + ".new";
  const int fd = ::open(next.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return error_of("open", next);
  // open's mode is masked by the umask; the file is to have exactly `mode`.
  const bool written = ::fchmod(fd, mode) == 0 && write_all(fd, text) && ::fsync(fd) == 0;
  LogError failed = written ? LogError{} : error_of("write", next);
  ::close(fd);
  if (!written) {
    ::unlink(next.c_str());
    return failed;
  }
  if (::rename(next.c_str(), path.c_str()) != 0) {
    failed = error_of("rename", next);
    ::unlink(next.c_str());
    return failed;
  }
  const std::size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  if (!sync_dir(dir)) return error_of("fsync", dir);
  return std::nullopt;
}

}  // namespace omni::node
