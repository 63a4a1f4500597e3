#pragma once
#include <ostream>

#include "model/config/cluster_config.h"
#include "model/root/plan.h"

namespace omni::cli {

enum class OutputFormat { table, json, yaml };

void print_plan_table(std::ostream& out, const root::Plan& plan);
void print_plan_json(std::ostream& out, const root::Plan& plan);
void print_plan_yaml(std::ostream& out, const root::Plan& plan,
                     const config::ClusterConfig& config);

}  // namespace omni::cli
