#pragma once
#include "model/config/text_file.h"

namespace omni::sim::cli {

using config::read_text_file;

}  // namespace omni::sim::cli
