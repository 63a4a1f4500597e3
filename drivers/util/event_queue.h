#pragma once
// A bounded, thread-safe queue of driver events. Driver threads push; the host polls. The
// eventfd becomes readable whenever events are waiting, so a Boost.Asio loop can wait on it
// (posix::stream_descriptor) instead of polling on a timer.
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

namespace omni::drivers {

template <class Event>
class EventQueue {
 public:
  static constexpr std::size_t k_capacity_max = 4096;

  EventQueue() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
  ~EventQueue() {
    if (fd_ >= 0) ::close(fd_);
  }
  EventQueue(const EventQueue&) = delete;
  EventQueue& operator=(const EventQueue&) = delete;

  // Drops the oldest event when full (and counts it) rather than growing without bound.
  void push(Event event) {
    std::lock_guard lock(mutex_);
    if (events_.size() >= k_capacity_max) {
      events_.pop_front();
      ++dropped_;
    }
    events_.push_back(std::move(event));
    std::uint64_t one = 1;
    if (fd_ >= 0) [[maybe_unused]]
      auto n = ::write(fd_, &one, sizeof one);
  }

  std::vector<Event> poll(std::size_t count_max = k_capacity_max) {
    std::lock_guard lock(mutex_);
    std::vector<Event> out;
    while (!events_.empty() && out.size() < count_max) {
      out.push_back(std::move(events_.front()));
      events_.pop_front();
    }
    if (events_.empty() && fd_ >= 0) {
      std::uint64_t drained = 0;
      [[maybe_unused]] auto n = ::read(fd_, &drained, sizeof drained);
    }
    return out;
  }

  int fd() const { return fd_; }
  std::uint64_t dropped() const {
    std::lock_guard lock(mutex_);
    return dropped_;
  }

 private:
  int fd_;
  mutable std::mutex mutex_;
  std::deque<Event> events_;
  std::uint64_t dropped_ = 0;
};

}  // namespace omni::drivers
