#pragma once
// The typed cluster the root hands over (v1::ClusterSpec), to and from the parsed config. The
// hand-over arrives from the network and lives in the log, so it is validated where it enters
// with the same rules as the config file; only a spec without a problem is converted back.
#include <optional>
#include <string>

#include "model/config/cluster_config.h"
#include "model/proto/envelope.pb.h"

namespace omni::orchestrator {

inline constexpr std::size_t kMaxSpecNodes = 100'000;

// The store keys the log writes from the hand-over and the replacements; clients only read them.
inline constexpr std::string_view kNodePrefix = "/nodes/";
inline constexpr std::string_view kVmPrefix = "/vms/";
inline constexpr std::string_view kMemberPrefix = "/members/";
std::string node_key(const std::string& node);
std::string vm_key(const std::string& vm);
std::string member_key(std::uint32_t replica);
bool is_cluster_owned(const std::string& key);

v1::Resources to_proto(const config::Resources& r);

// The cluster without its apps (they are handed over as AppSpecs of their own).
v1::ClusterSpec to_cluster_spec(const config::ClusterConfig& config);
// Why the spec cannot be a cluster, for a person; nullopt when it can.
std::optional<std::string> cluster_spec_problem(const v1::ClusterSpec& spec);
// Precondition: cluster_spec_problem(spec) is nullopt.
config::ClusterConfig to_cluster_config(const v1::ClusterSpec& spec);

}  // namespace omni::orchestrator
