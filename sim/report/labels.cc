#include "sim/report/labels.h"

#include <cstdio>

#include "model/proto/envelope.pb.h"

namespace omni::sim {

std::string_view component_kind(std::string_view address) {
  return address.substr(0, address.find(':'));
}

std::string message_name(std::uint64_t body_case) {
  const auto* descriptor = v1::Envelope::descriptor();
  if (body_case <= 1'000'000) {
    if (const auto* field = descriptor->FindFieldByNumber(static_cast<int>(body_case)))
      return field->name();
  }
  return "message " + std::to_string(body_case);
}

std::string microseconds_text(Time at) {
  const std::int64_t ns = ns_of(at);
  char text[48];
  std::snprintf(text, sizeof text, "%s%lld.%03lld", ns < 0 ? "-" : "",
                static_cast<long long>((ns < 0 ? -ns : ns) / 1000),
                static_cast<long long>((ns < 0 ? -ns : ns) % 1000));
  return text;
}

}  // namespace omni::sim
