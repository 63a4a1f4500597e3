#pragma once
#include "drivers/util/text_file.h"

namespace omni::sim::cli {

using drivers::read_text_file;

}  // namespace omni::sim::cli
