#include "agent/config.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <charconv>
#include <fstream>
#include <functional>
#include <map>

namespace homeostat::agent {

Result<std::chrono::nanoseconds> parse_duration(const std::string& text) {
    std::uint64_t n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    std::string_view unit(end, text.data() + text.size() - end);
    if (ec != std::errc() || end == text.data())
        return Error{"'" + text + "' is not a duration (examples: 250ms, 10s, 5m, 1h)"};
    using namespace std::chrono;
    if (unit == "ms") return nanoseconds(milliseconds(n));
    if (unit == "s") return nanoseconds(seconds(n));
    if (unit == "m") return nanoseconds(minutes(n));
    if (unit == "h") return nanoseconds(hours(n));
    return Error{"'" + text + "' has no known unit (use ms, s, m or h)"};
}

namespace {

std::string where(const std::string& path, const YAML::Node& n) {
    return path + ":" + std::to_string(n.Mark().line + 1);
}

using Setter = std::function<std::string(const YAML::Node&, Config&)>; // returns an error or ""

std::string as_string(const YAML::Node& n, std::string& out) {
    if (!n.IsScalar()) return "expected a string";
    out = n.Scalar();
    return {};
}

template <typename T>
std::string as_uint(const YAML::Node& n, T& out) {
    if (!n.IsScalar()) return "expected a whole number";
    const std::string& s = n.Scalar();
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) return "'" + s + "' is not a whole number";
    out = static_cast<T>(v);
    return {};
}

template <typename D>
std::string as_duration(const YAML::Node& n, D& out) {
    if (!n.IsScalar()) return "expected a duration such as 10s";
    auto d = parse_duration(n.Scalar());
    if (!d) return d.error().message;
    out = std::chrono::duration_cast<D>(d.value());
    return {};
}

const std::map<std::string, std::map<std::string, Setter>>& schema() {
    static const std::map<std::string, std::map<std::string, Setter>> s = {
        {"", {
            {"listen", [](auto& n, Config& c) { return as_string(n, c.listen); }},
            {"log_level", [](auto& n, Config& c) { return as_string(n, c.log_level); }},
        }},
        {"capture", {
            {"cgroup2_root", [](auto& n, Config& c) { return as_string(n, c.cgroup2_root); }},
            {"ringbuf_bytes", [](auto& n, Config& c) { return as_uint(n, c.ringbuf_bytes); }},
            {"drain_interval", [](auto& n, Config& c) { return as_duration(n, c.drain_interval); }},
        }},
        {"aggregation", {
            {"window", [](auto& n, Config& c) { return as_duration(n, c.window); }},
            {"windows_kept", [](auto& n, Config& c) { return as_uint(n, c.windows_kept); }},
            {"max_routes_per_service", [](auto& n, Config& c) { return as_uint(n, c.max_routes_per_service); }},
        }},
    };
    return s;
}

} // namespace

Result<Config> load_config(const std::string& path, Config c) {
    std::ifstream f(path);
    if (!f) return Error{"cannot read config file " + path + ": " + std::strerror(errno), errno};
    YAML::Node root;
    try {
        root = YAML::Load(f);
    } catch (const YAML::Exception& e) {
        return Error{path + ":" + std::to_string(e.mark.line + 1) + ": invalid YAML: " + e.msg};
    }
    if (root.IsNull()) return c; // an empty file means defaults
    if (!root.IsMap()) return Error{where(path, root) + ": the top level must be a mapping of keys"};

    auto apply = [&](const YAML::Node& map, const std::string& section) -> Result<void> {
        const auto& keys = schema().at(section);
        for (const auto& kv : map) {
            const std::string key = kv.first.as<std::string>();
            const std::string dotted = section.empty() ? key : section + "." + key;
            auto it = keys.find(key);
            if (it == keys.end())
                return Error{where(path, kv.first) + ": unknown key '" + dotted + "'"};
            if (std::string err = it->second(kv.second, c); !err.empty())
                return Error{where(path, kv.second) + ": " + dotted + ": " + err};
        }
        return {};
    };

    for (const auto& kv : root) {
        const std::string key = kv.first.as<std::string>();
        if (schema().count(key) && !key.empty()) {
            if (!kv.second.IsMap()) return Error{where(path, kv.second) + ": '" + key + "' must be a mapping"};
            if (auto r = apply(kv.second, key); !r) return r.error();
        } else {
            auto it = schema().at("").find(key);
            if (it == schema().at("").end())
                return Error{where(path, kv.first) + ": unknown key '" + key + "'"};
            if (std::string err = it->second(kv.second, c); !err.empty())
                return Error{where(path, kv.second) + ": " + key + ": " + err};
        }
    }
    if (auto v = validate(c); !v) return Error{path + ": " + v.error().message};
    return c;
}

Result<void> validate(const Config& c) {
    if (c.ringbuf_bytes < 4096 || (c.ringbuf_bytes & (c.ringbuf_bytes - 1)) != 0)
        return Error{"capture.ringbuf_bytes must be a power of two of at least 4096, got " +
                     std::to_string(c.ringbuf_bytes)};
    if (c.drain_interval < std::chrono::milliseconds(10) || c.drain_interval > std::chrono::seconds(5))
        return Error{"capture.drain_interval must be between 10ms and 5s"};
    if (c.window < std::chrono::seconds(1)) return Error{"aggregation.window must be at least 1s"};
    if (c.windows_kept < 1 || c.windows_kept > 360) return Error{"aggregation.windows_kept must be 1..360"};
    if (c.max_routes_per_service < 1) return Error{"aggregation.max_routes_per_service must be at least 1"};
    static const char* levels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
    bool ok = false;
    for (auto* l : levels) ok |= c.log_level == l;
    if (!ok) return Error{"log_level must be one of trace, debug, info, warn, error, critical, off; got '" + c.log_level + "'"};
    return {};
}

} // namespace homeostat::agent
