#pragma once
#include "model/config/text_file.h"

namespace omni::cli {

using config::read_text_file;

}  // namespace omni::cli
