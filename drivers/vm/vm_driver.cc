#include "drivers/vm/vm_driver.h"

#include <algorithm>
#include <charconv>

namespace omni::drivers {
namespace {

bool is_name_char(char c, bool dash_ok) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
         (dash_ok && c == '-');
}

// 63: what the cluster config allows for cluster and node names (model/config).
std::string validate_part(const char* what, const std::string& part, bool dash_ok) {
  if (part.empty()) return std::string(what) + " is empty";
  if (part.size() > 63) return std::string(what) + " '" + part + "' is longer than 63 characters";
  for (char c : part) {
    if (!is_name_char(c, dash_ok)) {
      return std::string(what) + " '" + part + "' may hold only a-z, 0-9, '_', '.'" +
             (dash_ok ? " and '-'" : " (no '-')");
    }
  }
  return {};
}

bool parse_int(const std::string& text, int& value) {
  if (text.empty()) return false;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size() && value >= 0;
}

}  // namespace

const char* vm_state_name(VmState state) {
  switch (state) {
    case VmState::defined:
      return "defined";
    case VmState::running:
      return "running";
    case VmState::paused:
      return "paused";
    case VmState::stopped:
      return "stopped";
    case VmState::crashed:
      return "crashed";
    case VmState::unknown:
      return "unknown";
  }
  return "unknown";
}

const char* vm_event_kind_name(VmEventKind kind) {
  switch (kind) {
    case VmEventKind::started:
      return "started";
    case VmEventKind::stopped:
      return "stopped";
    case VmEventKind::crashed:
      return "crashed";
    case VmEventKind::destroyed:
      return "destroyed";
    case VmEventKind::connection_lost:
      return "connection_lost";
  }
  return "unknown";
}

std::string validate_vm_file(const VmFile& file) {
  const std::string& p = file.path;
  if (p.empty() || p.size() > 255 || p.front() == '/' || p.back() == '/')
    return "file path '" + p + "' must be relative, 1 to 255 characters";
  for (char c : p)
    if (!is_name_char(c, true) && c != '/' && !(c >= 'A' && c <= 'Z'))
      return "file path '" + p + "' may hold only letters, digits, '_', '.', '-' and '/'";
  if (("/" + p + "/").find("/../") != std::string::npos ||
      ("/" + p + "/").find("/./") != std::string::npos || p.find("//") != std::string::npos)
    return "file path '" + p + "' must not hold '.', '..' or empty parts";
  if ((file.mode & ~0777u) != 0) return "file " + p + ": mode must be within 0777";
  return {};
}

std::string validate_identity(const VmIdentity& identity) {
  if (auto e = validate_part("cluster", identity.cluster, true); !e.empty()) return e;
  if (auto e = validate_part("node", identity.node, true); !e.empty()) return e;
  if (auto e = validate_part("role", identity.role, false); !e.empty()) return e;
  if (identity.slot < 0 || identity.slot > 9999) return "slot must be within 0..9999";
  return {};
}

std::string vm_name(const VmIdentity& identity) {
  return "omni-" + identity.cluster + "-" + identity.node + "-" + identity.role + "-" +
         std::to_string(identity.slot);
}

bool parse_vm_name(const std::string& name, VmIdentity& identity) {
  const std::string prefix = "omni-";
  if (name.rfind(prefix, 0) != 0) return false;
  std::string rest = name.substr(prefix.size());
  auto first = rest.find('-');
  auto last = rest.rfind('-');
  if (first == std::string::npos || last == first) return false;
  auto role_dash = rest.rfind('-', last - 1);
  if (role_dash == std::string::npos || role_dash <= first) return false;
  VmIdentity parsed;
  parsed.cluster = rest.substr(0, first);
  parsed.node = rest.substr(first + 1, role_dash - first - 1);
  parsed.role = rest.substr(role_dash + 1, last - role_dash - 1);
  if (!parse_int(rest.substr(last + 1), parsed.slot)) return false;
  if (!validate_identity(parsed).empty()) return false;
  identity = parsed;
  return true;
}

}  // namespace omni::drivers
