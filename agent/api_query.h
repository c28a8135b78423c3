// Query strings of the daemon's JSON API (/api/v1/history?service=x&from=1, ...): one
// parser, so every endpoint answers a bad query the same way.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "agent/http_api.h"

namespace homeostat::agent {

// Splits "a=1&b=x" into decoded pairs. `accepted` lists the known keys as ",a,b,";
// keys for which `is_numeric` holds must be non-negative finite numbers. Returns a 400
// that says what is accepted for an unknown key or a bad number, else nullopt.
std::optional<HttpResponse> parse_query(const std::string& query, const std::string& accepted,
                                        const std::function<bool(const std::string&)>& is_numeric,
                                        std::map<std::string, std::string>& text,
                                        std::map<std::string, double>& numbers);

} // namespace homeostat::agent
