#pragma once
// The commands a user runs against a cluster that manages itself, all through the plane's
// leader with the admin's certificate: `omni status`, `omni get`, `omni events`, `omni apply`,
// `omni delete`.
#include <ostream>
#include <string>
#include <vector>

namespace omni::cli {

int run_status(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int run_get(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int run_apply(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int run_events(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int run_dashboard(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int run_delete(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace omni::cli
