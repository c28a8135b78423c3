#include "agent/config.h"
#include "agent/yaml_json.h"

#include <yaml-cpp/yaml.h>

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <charconv>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <vector>

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

using Setter = std::function<std::string(const YAML::Node&, Config&)>; // returns an error or ""

// A mapping key as text. YAML allows a list or a mapping as a key (`? [a, b]: c`); no key
// of ours is one, and Node::as<std::string>() would throw on it (found by fuzz_config).
bool key_text(const std::string& path, const YAML::Node& key, std::vector<std::string>& errors, std::string& out) {
    if (key.IsScalar()) {
        out = key.Scalar();
        return true;
    }
    errors.push_back(where(path, key) + ": a key must be a plain word, not a list or a mapping");
    return false;
}

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

std::string as_bool(const YAML::Node& n, bool& out) {
    if (!n.IsScalar()) return "expected true or false";
    const std::string& s = n.Scalar();
    if (s == "true" || s == "yes" || s == "on") out = true;
    else if (s == "false" || s == "no" || s == "off") out = false;
    else return "'" + s + "' is not true or false";
    return {};
}

std::string as_double(const YAML::Node& n, double& out) {
    if (!n.IsScalar()) return "expected a number";
    const std::string& s = n.Scalar();
    double v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) return "'" + s + "' is not a number";
    out = v;
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

// A scalar through one of the Result<T> parsers (sizes, CPU quotas).
template <typename T>
std::string as_parsed(const YAML::Node& n, Result<T> (*parse)(const std::string&), T& out, const char* expected) {
    if (!n.IsScalar()) return std::string("expected ") + expected;
    auto v = parse(n.Scalar());
    if (!v) return v.error().message;
    out = v.value();
    return {};
}

std::string as_seconds(const YAML::Node& n, double& out) {
    std::chrono::nanoseconds d{};
    if (auto err = as_duration(n, d); !err.empty()) return err;
    out = std::chrono::duration<double>(d).count();
    return {};
}

const std::map<std::string, std::map<std::string, Setter>>& schema() {
    static const std::map<std::string, std::map<std::string, Setter>> s = {
        {"", {
            {"listen", [](auto& n, Config& c) { return as_string(n, c.listen); }},
            {"api_token_file", [](auto& n, Config& c) { return as_string(n, c.api_token_file); }},
            {"log_level", [](auto& n, Config& c) { return as_string(n, c.log_level); }},
            {"api_socket", [](auto& n, Config& c) { return as_string(n, c.api_socket); }},
            {"drop_capabilities", [](auto& n, Config& c) { return as_bool(n, c.drop_capabilities); }},
            {"state_dir", [](auto& n, Config& c) { return as_string(n, c.state_dir); }},
            {"history_retention", [](auto& n, Config& c) { return as_seconds(n, c.history_retention_seconds); }},
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
        {"detection", {
            {"enabled", [](auto& n, Config& c) { return as_bool(n, c.detection_enabled); }},
            {"warmup", [](auto& n, Config& c) { return as_uint(n, c.detection.warmup); }},
            {"min_requests", [](auto& n, Config& c) { return as_uint(n, c.detection.min_requests); }},
            {"latency_min_ratio", [](auto& n, Config& c) { return as_double(n, c.detection.latency_min_ratio); }},
            {"latency_min_delta", [](auto& n, Config& c) { return as_seconds(n, c.detection.latency_min_delta_seconds); }},
            {"error_min_ratio", [](auto& n, Config& c) { return as_double(n, c.detection.error_min_ratio); }},
            {"error_min_requests", [](auto& n, Config& c) { return as_uint(n, c.detection.error_min_requests); }},
            {"error_min_errors", [](auto& n, Config& c) { return as_uint(n, c.detection.error_min_errors); }},
            {"traffic_min_ratio", [](auto& n, Config& c) { return as_double(n, c.detection.traffic_min_ratio); }},
            {"traffic_min_requests", [](auto& n, Config& c) { return as_uint(n, c.detection.traffic_min_requests); }},
            {"new_endpoint_hold", [](auto& n, Config& c) { return as_uint(n, c.detection.new_endpoint_hold); }},
            {"memory_trend_windows", [](auto& n, Config& c) { return as_uint(n, c.detection.memory_trend_windows); }},
            {"memory_horizon", [](auto& n, Config& c) { return as_seconds(n, c.detection.memory_horizon_seconds); }},
            {"max_series", [](auto& n, Config& c) { return as_uint(n, c.detection.max_series); }},
            {"save_interval", [](auto& n, Config& c) { return as_duration(n, c.detection_save_interval); }},
        }},
        {"self_limits", {
            {"enabled", [](auto& n, Config& c) { return as_bool(n, c.self_limits.enabled); }},
            {"memory_max", [](auto& n, Config& c) {
                return as_parsed(n, parse_byte_size, c.self_limits.memory_max_bytes, "a size such as 256MiB");
            }},
            {"cpu_quota", [](auto& n, Config& c) {
                return as_parsed(n, parse_cpu_quota, c.self_limits.cpu_quota_cores, "a share of one core such as 50%");
            }},
        }},
        {"otlp", {
            {"endpoint", [](auto& n, Config& c) { return as_string(n, c.otlp_endpoint); }},
            {"interval", [](auto& n, Config& c) { return as_duration(n, c.otlp_interval); }},
        }},
        {"alerting", {
            {"instance", [](auto& n, Config& c) { return as_string(n, c.alerting.instance); }},
            {"resend_interval", [](auto& n, Config& c) { return as_seconds(n, c.alerting.resend_interval_seconds); }},
            {"retry_base", [](auto& n, Config& c) { return as_seconds(n, c.alerting.retry.base_seconds); }},
            {"retry_max", [](auto& n, Config& c) { return as_seconds(n, c.alerting.retry.max_seconds); }},
            {"max_age", [](auto& n, Config& c) { return as_seconds(n, c.alerting.retry.max_age_seconds); }},
            // receivers: a list, parsed by parse_receivers (it needs a line per entry)
        }},
    };
    return s;
}

// alerting.receivers: a list of mappings; errors name the entry's own line.
void parse_receivers(const std::string& path, const YAML::Node& list, Config& c, std::vector<std::string>& errors) {
    if (!list.IsSequence()) {
        errors.push_back(where(path, list) + ": alerting.receivers must be a list of receivers");
        return;
    }
    c.alerting.receivers.clear();
    std::size_t i = 0;
    for (const auto& item : list) {
        const std::string at = "alerting.receivers[" + std::to_string(i++) + "]";
        if (!item.IsMap()) {
            errors.push_back(where(path, item) + ": " + at + " must be a mapping (name, type, url, ...)");
            continue;
        }
        ReceiverConfig r;
        bool ok = true;
        auto bad = [&](const YAML::Node& n, const std::string& msg) {
            errors.push_back(where(path, n) + ": " + msg);
            ok = false;
        };
        for (const auto& kv : item) {
            std::string key;
            if (!key_text(path, kv.first, errors, key)) {
                ok = false;
                continue;
            }
            std::string err;
            if (key == "name") err = as_string(kv.second, r.name);
            else if (key == "type") err = as_string(kv.second, r.type);
            else if (key == "url") err = as_string(kv.second, r.url);
            else if (key == "secret") err = as_string(kv.second, r.secret);
            else if (key == "timeout") err = as_duration(kv.second, r.timeout);
            else if (key == "min_severity") {
                std::string sev;
                err = as_string(kv.second, sev);
                if (err.empty() && sev == "warning") r.min_severity = engine::detect::Severity::warning;
                else if (err.empty() && sev == "critical") r.min_severity = engine::detect::Severity::critical;
                else if (err.empty()) err = "'" + sev + "' is not warning or critical";
            } else {
                bad(kv.first, "unknown key '" + at + "." + key +
                                  "' (expected name, type, url, secret, timeout, min_severity)");
                continue;
            }
            if (!err.empty()) bad(kv.second, at + "." + key + ": " + err);
        }
        if (r.name.empty()) {
            bad(item, at + ": missing required key 'name'");
            continue;
        }
        if (!known_receiver_type(r.type))
            bad(item, "receiver " + r.name + ": type must be alertmanager, alertmanager_webhook, webhook or slack, got '" +
                          r.type + "'");
        if (auto u = parse_url(r.url); !u) bad(item, "receiver " + r.name + ": " + u.error().message);
        for (const auto& other : c.alerting.receivers)
            if (other.name == r.name) bad(item, "two receivers are named " + r.name);
        if (ok) c.alerting.receivers.push_back(std::move(r));
    }
}

} // namespace

Result<Config> load_config(const std::string& path, Config c) {
    std::ifstream f(path);
    if (!f) return Error{"cannot read config file " + path + ": " + std::strerror(errno), errno};
    std::ostringstream text;
    text << f.rdbuf();
    if (f.bad()) return Error{"cannot read config file " + path + ": " + std::strerror(errno), errno};
    return load_config_text(text.str(), path, std::move(c));
}

Result<Config> load_config_text(const std::string& text, const std::string& path, Config c) {
    YAML::Node root;
    try {
        root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
        return Error{path + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) +
                     ": invalid YAML: " + e.msg};
    }
    if (root.IsNull()) return c; // an empty file means defaults
    if (!root.IsMap()) return Error{where(path, root) + ": the top level must be a mapping of keys"};

    // Every error, not just the first: a user fixing a file should not need a run per typo.
    std::vector<std::string> errors;
    auto set = [&](const std::map<std::string, Setter>& keys, const auto& kv,
                   const std::string& dotted, const std::string& key) {
        auto it = keys.find(key);
        if (it == keys.end()) {
            errors.push_back(where(path, kv.first) + ": unknown key '" + dotted + "'");
            return;
        }
        if (std::string err = it->second(kv.second, c); !err.empty())
            errors.push_back(where(path, kv.second) + ": " + dotted + ": " + err);
    };
    for (const auto& kv : root) {
        std::string key;
        if (!key_text(path, kv.first, errors, key)) continue;
        if (key == "healing") { // parsed from JSON by engine/policy and agent/healing_config
            if (!kv.second.IsMap()) {
                errors.push_back(where(path, kv.second) + ": 'healing' must be a mapping");
                continue;
            }
            c.healing_section = yaml_to_json(kv.second);
            auto h = parse_healing(c.healing_section);
            if (h) c.healing = std::move(h.value());
            else {
                std::size_t pos = 0;
                const std::string& all = h.error().message;
                while (pos <= all.size()) {
                    const auto nl = all.find('\n', pos);
                    errors.push_back(locate(path, root, all.substr(pos, nl == std::string::npos ? nl : nl - pos)));
                    if (nl == std::string::npos) break;
                    pos = nl + 1;
                }
            }
            continue;
        }
        if (!schema().count(key) || key.empty()) {
            set(schema().at(""), kv, key, key);
            continue;
        }
        if (!kv.second.IsMap()) {
            errors.push_back(where(path, kv.second) + ": '" + key + "' must be a mapping");
            continue;
        }
        for (const auto& inner : kv.second) {
            std::string sub;
            if (!key_text(path, inner.first, errors, sub)) continue;
            const std::string dotted = key + "." + sub;
            if (dotted == "alerting.receivers") parse_receivers(path, inner.second, c, errors);
            else set(schema().at(key), inner, dotted, sub);
        }
    }
    // Values no parser can judge (ranges, combinations), pointed at the key's line when
    // the file sets it.
    if (errors.empty())
        for (const auto& issue : check(c)) {
            const YAML::Node n = find_node(root, issue.key);
            errors.push_back((n.IsDefined() ? where(path, n) : path) + ": " + issue.message);
        }
    if (errors.empty()) return c;
    std::string all;
    for (const auto& e : errors) all += (all.empty() ? "" : "\n") + e;
    return Error{all};
}

bool is_loopback_listen(const std::string& listen) {
    const auto colon = listen.rfind(':');
    std::string host = listen.substr(0, colon == std::string::npos ? listen.size() : colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    return host == "::1" || host.rfind("127.", 0) == 0;
}

Result<std::string> read_api_token(const std::string& path) {
    struct stat st{};
    if (::stat(path.c_str(), &st) != 0)
        return Error{"api_token_file " + path + ": " + std::strerror(errno), errno};
    if (st.st_mode & 0077)
        return Error{"api_token_file " + path + " is readable by group or others (chmod 600 " + path + ")"};
    std::ifstream f(path);
    std::string token;
    std::getline(f, token);
    while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
    if (token.size() < 16) return Error{"api_token_file " + path + ": the token must be at least 16 characters"};
    return token;
}

std::vector<ConfigIssue> check(const Config& c) {
    std::vector<ConfigIssue> out;
    auto bad = [&](const char* key, std::string msg) { out.push_back({key, std::move(msg)}); };
    if (c.ringbuf_bytes < 4096 || (c.ringbuf_bytes & (c.ringbuf_bytes - 1)) != 0)
        bad("capture.ringbuf_bytes",
            "capture.ringbuf_bytes must be a power of two of at least 4096, got " + std::to_string(c.ringbuf_bytes));
    if (c.drain_interval < std::chrono::milliseconds(10) || c.drain_interval > std::chrono::seconds(5))
        bad("capture.drain_interval", "capture.drain_interval must be between 10ms and 5s");
    if (c.window < std::chrono::seconds(1)) bad("aggregation.window", "aggregation.window must be at least 1s");
    if (c.windows_kept < 1 || c.windows_kept > 360)
        bad("aggregation.windows_kept", "aggregation.windows_kept must be 1..360");
    if (c.max_routes_per_service < 1)
        bad("aggregation.max_routes_per_service", "aggregation.max_routes_per_service must be at least 1");
    if (c.detection_enabled) {
        const auto& d = c.detection;
        if (c.windows_kept < 2)
            bad("aggregation.windows_kept", "aggregation.windows_kept must be at least 2 while detection is enabled "
                                            "(a window is observed just after it closes)");
        if (d.warmup < 3) bad("detection.warmup", "detection.warmup must be at least 3 windows");
        if (!(d.latency_min_ratio >= 1)) bad("detection.latency_min_ratio", "detection.latency_min_ratio must be >= 1");
        if (!(d.traffic_min_ratio >= 1)) bad("detection.traffic_min_ratio", "detection.traffic_min_ratio must be >= 1");
        if (!(d.error_min_ratio >= 0 && d.error_min_ratio <= 1))
            bad("detection.error_min_ratio", "detection.error_min_ratio must be between 0 and 1");
        // The trend must pass a Mann-Kendall test at z >= 4 (engine/detect/exhaustion.h):
        // even a perfectly steady growth needs 11 points for that.
        if (d.memory_trend_windows < 12)
            bad("detection.memory_trend_windows", "detection.memory_trend_windows must be at least 12 windows");
        if (!(d.memory_horizon_seconds > 0)) bad("detection.memory_horizon", "detection.memory_horizon must be > 0");
        if (d.max_series < 1) bad("detection.max_series", "detection.max_series must be at least 1");
        if (c.detection_save_interval < std::chrono::seconds(1))
            bad("detection.save_interval", "detection.save_interval must be at least 1s");
    }
    if (!c.otlp_endpoint.empty()) {
        if (auto u = parse_url(c.otlp_endpoint); !u) bad("otlp.endpoint", "otlp.endpoint: " + u.error().message);
        if (c.otlp_interval < std::chrono::seconds(1)) bad("otlp.interval", "otlp.interval must be at least 1s");
    }
    if (c.self_limits.memory_max_bytes != 0 && c.self_limits.memory_max_bytes < (32ull << 20))
        bad("self_limits.memory_max", "self_limits.memory_max must be 0 (none) or at least 32MiB: the ring buffer "
                                      "and the BPF maps are charged to the daemon's cgroup too");
    if (c.self_limits.cpu_quota_cores != 0 && c.self_limits.cpu_quota_cores < 0.05)
        bad("self_limits.cpu_quota", "self_limits.cpu_quota must be 0 (none) or at least 5%");
    if (c.history_retention_seconds < 60) bad("history_retention", "history_retention must be at least 1m");
    if (!is_loopback_listen(c.listen) && c.api_token_file.empty())
        bad("listen", "listen " + c.listen + " is not loopback: set api_token_file so that the API wants a token "
                      "(or listen on 127.0.0.1)");
    if (!(c.alerting.resend_interval_seconds >= 1))
        bad("alerting.resend_interval", "alerting.resend_interval must be at least 1s");
    if (!(c.alerting.retry.base_seconds > 0) || c.alerting.retry.max_seconds < c.alerting.retry.base_seconds)
        bad("alerting.retry_base", "alerting.retry_base must be positive and at most alerting.retry_max");
    static const char* levels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
    bool ok = false;
    for (auto* l : levels) ok |= c.log_level == l;
    if (!ok)
        bad("log_level",
            "log_level must be one of trace, debug, info, warn, error, critical, off; got '" + c.log_level + "'");
    return out;
}

Result<void> validate(const Config& c) {
    auto issues = check(c);
    if (issues.empty()) return {};
    return Error{issues.front().message};
}

} // namespace homeostat::agent
