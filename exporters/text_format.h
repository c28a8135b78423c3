// Text primitives of the Prometheus exposition format 0.0.4, shared by the renderers.
#pragma once

#include <string>
#include <string_view>

namespace homeostat::exporters::text {

// Each byte that does not start a well-formed UTF-8 sequence becomes U+FFFD.
std::string valid_utf8(std::string_view in);
// Label value escaping: backslash, double quote and line feed.
void append_label_value(std::string& out, std::string_view v);
// HELP escaping: backslash and line feed.
void append_help_text(std::string& out, std::string_view v);
// Shortest representation that parses back to the same double; NaN, +Inf, -Inf.
std::string format_value(double v);

} // namespace homeostat::exporters::text
