#pragma once
#include <string>
#include <vector>

#include "model/config/cluster_config.h"
#include "model/config/parse.h"

namespace omni::cli {

// Each app's `archive` as the absolute path the hosts read it from: a relative one is relative to
// `file` (to the working directory when `file` is a pipe, as `-f /dev/stdin` is). An archive that
// is not a readable regular file is a problem located at its app; the apps are left as they were
// then. Returns the problems, none when every archive was found.
std::vector<config::Diagnostic> resolve_archives(std::vector<config::AppConfig>& apps,
                                                 const std::string& file);

}  // namespace omni::cli
