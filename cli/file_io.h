#pragma once
#include "drivers/util/text_file.h"

namespace omni::cli {

using drivers::read_text_file;

}  // namespace omni::cli
