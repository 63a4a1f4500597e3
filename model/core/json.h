#pragma once
// JSON string quoting for the few places that print JSON (plans, run reports, traces). Pure.
#include <string>
#include <string_view>

namespace omni {

// `text` as a JSON string literal, quotes included; control characters escaped.
std::string json_quote(std::string_view text);

}  // namespace omni
