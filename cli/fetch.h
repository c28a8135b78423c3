// How the CLI's commands reach the daemon: a function from API path to body, so the
// commands in cli_core stay testable without a socket (homeostat.cpp passes its http_get).
#pragma once

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "agent/result.h"

namespace homeostat::cli {

using Fetch = std::function<Result<std::string>(const std::string& path)>;

// GET `path` and parse it; an error says which path did not answer JSON.
inline Result<nlohmann::json> fetch_json(const Fetch& fetch, const std::string& path) {
    auto body = fetch(path);
    if (!body) return body.error();
    auto j = nlohmann::json::parse(body.value(), nullptr, false);
    if (j.is_discarded()) return Error{path + " did not answer JSON"};
    return j;
}

} // namespace homeostat::cli
