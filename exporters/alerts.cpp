#include "exporters/alerts.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <cmath>
#include <ctime>

#include <fmt/format.h>

namespace homeostat::exporters {
namespace {

std::string hex(const unsigned char* p, std::size_t n) {
    static const char* digits = "0123456789abcdef";
    std::string out(2 * n, '0');
    for (std::size_t i = 0; i < n; ++i) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    return out;
}

nlohmann::json labels_json(const std::map<std::string, std::string>& m) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [k, v] : m) j[k] = v;
    return j;
}

// Labels or annotations every alert of the group shares with the same value.
std::map<std::string, std::string> common(const std::vector<Alert>& alerts,
                                          std::map<std::string, std::string> Alert::*field) {
    if (alerts.empty()) return {};
    std::map<std::string, std::string> out = alerts.front().*field;
    for (const auto& a : alerts)
        for (auto it = out.begin(); it != out.end();) {
            auto f = (a.*field).find(it->first);
            if (f == (a.*field).end() || f->second != it->second) it = out.erase(it);
            else ++it;
        }
    return out;
}

std::string summary_of(const engine::detect::Anomaly& a) {
    const auto& e = a.at_open;
    const std::string what = a.endpoint == "*" ? a.service : a.service + " " + a.endpoint;
    if (a.type == "new_endpoint") return fmt::format("{}: new endpoint {}", a.service, a.endpoint);
    if (a.type == "oom_kill") return fmt::format("{}: the kernel OOM-killed a process", a.service);
    if (a.type == "restart_loop")
        return fmt::format("{}: {:.0f} restarts in {:.0f} s", a.service, e.observed, e.window_seconds);
    return fmt::format("{}: {} {} is {} (expected {})", what, a.type, a.signal,
                       engine::detect::format_value(a.signal, e.observed),
                       engine::detect::format_value(a.signal, e.expected));
}

} // namespace

std::string Alert::fingerprint() const {
    // Unambiguous: every name and value is length-prefixed.
    std::string canon;
    for (const auto& [k, v] : labels) canon += fmt::format("{}:{}={}:{};", k.size(), k, v.size(), v);
    unsigned char digest[SHA256_DIGEST_LENGTH];
    ::SHA256(reinterpret_cast<const unsigned char*>(canon.data()), canon.size(), digest);
    return hex(digest, 8);
}

nlohmann::json alert_to_json(const Alert& a) {
    return {{"labels", a.labels}, {"annotations", a.annotations}, {"starts_at", a.starts_at}, {"ends_at", a.ends_at}};
}

Alert alert_from_json(const nlohmann::json& j) {
    Alert a;
    a.labels = j.at("labels").get<std::map<std::string, std::string>>();
    a.annotations = j.at("annotations").get<std::map<std::string, std::string>>();
    a.starts_at = j.at("starts_at").get<double>();
    a.ends_at = j.at("ends_at").get<double>();
    return a;
}

Alert alert_from_anomaly(const engine::detect::Anomaly& a, const std::string& instance) {
    Alert al;
    al.labels = {{"alertname", "homeostat_" + a.type},
                 {"service", a.service},
                 {"endpoint", a.endpoint},
                 {"type", a.type},
                 {"signal", a.signal},
                 {"severity", std::string(engine::detect::severity_name(a.severity))},
                 {"instance", instance}};
    auto j = engine::detect::to_json(a);
    al.annotations = {{"summary", summary_of(a)},
                      {"description", fmt::format("homeostat anomaly #{} ({} role), opened at {}", a.id,
                                                  j["role"].get<std::string>(), rfc3339(a.opened_at))},
                      {"evidence", j["at_open"].dump()}};
    al.starts_at = a.started_at > 0 ? a.started_at : a.opened_at;
    al.ends_at = a.open ? 0 : a.resolved_at;
    return al;
}

std::string rfc3339(double unix_seconds) {
    double whole = std::floor(unix_seconds);
    int ms = static_cast<int>(std::lround((unix_seconds - whole) * 1000));
    if (ms == 1000) {
        whole += 1;
        ms = 0;
    }
    const std::time_t t = static_cast<std::time_t>(whole);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                       tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

nlohmann::json alertmanager_v2_body(const std::vector<Alert>& alerts, double firing_ends_at,
                                    const std::string& generator_url) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& a : alerts)
        out.push_back({{"labels", labels_json(a.labels)},
                       {"annotations", labels_json(a.annotations)},
                       {"startsAt", rfc3339(a.starts_at)},
                       {"endsAt", rfc3339(a.firing() ? firing_ends_at : a.ends_at)},
                       {"generatorURL", generator_url}});
    return out;
}

nlohmann::json webhook_v4_body(const std::vector<Alert>& alerts, const std::string& receiver,
                               const std::map<std::string, std::string>& group_labels,
                               const std::string& external_url) {
    bool any_firing = false;
    nlohmann::json list = nlohmann::json::array();
    for (const auto& a : alerts) {
        any_firing |= a.firing();
        list.push_back({{"status", a.firing() ? "firing" : "resolved"},
                        {"labels", labels_json(a.labels)},
                        {"annotations", labels_json(a.annotations)},
                        {"startsAt", rfc3339(a.starts_at)},
                        // Alertmanager's zero time for alerts that have not ended.
                        {"endsAt", a.firing() ? "0001-01-01T00:00:00Z" : rfc3339(a.ends_at)},
                        {"generatorURL", external_url},
                        {"fingerprint", a.fingerprint()}});
    }
    std::string key = "{}:{";
    bool first = true;
    for (const auto& [k, v] : group_labels) {
        key += fmt::format("{}{}=\"{}\"", first ? "" : ",", k, v);
        first = false;
    }
    key += "}";
    return {{"version", "4"},
            {"groupKey", key},
            {"truncatedAlerts", 0},
            {"status", any_firing ? "firing" : "resolved"},
            {"receiver", receiver},
            {"groupLabels", labels_json(group_labels)},
            {"commonLabels", labels_json(common(alerts, &Alert::labels))},
            {"commonAnnotations", labels_json(common(alerts, &Alert::annotations))},
            {"externalURL", external_url},
            {"alerts", std::move(list)}};
}

nlohmann::json generic_body(const std::vector<Alert>& alerts) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& a : alerts) {
        nlohmann::json annotations = labels_json(a.annotations);
        if (auto it = a.annotations.find("evidence"); it != a.annotations.end())
            annotations["evidence"] = nlohmann::json::parse(it->second, nullptr, false);
        list.push_back({{"fingerprint", a.fingerprint()},
                        {"status", a.firing() ? "firing" : "resolved"},
                        {"labels", labels_json(a.labels)},
                        {"annotations", std::move(annotations)},
                        {"starts_at", rfc3339(a.starts_at)},
                        {"ends_at", a.firing() ? nlohmann::json(nullptr) : nlohmann::json(rfc3339(a.ends_at))}});
    }
    return {{"version", 1}, {"alerts", std::move(list)}};
}

nlohmann::json slack_body(const std::vector<Alert>& alerts) {
    std::string text;
    for (const auto& a : alerts) {
        const auto sev = a.labels.count("severity") ? a.labels.at("severity") : "";
        const auto sum = a.annotations.count("summary") ? a.annotations.at("summary") : a.labels.at("alertname");
        text += fmt::format("[{}] {}{}\n", a.firing() ? "FIRING" : "RESOLVED", sev.empty() ? "" : sev + ": ", sum);
    }
    if (!text.empty()) text.pop_back();
    return {{"text", text}};
}

std::string hmac_sha256_hex(std::string_view secret, std::string_view body) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    ::HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac, &len);
    return hex(mac, len);
}

std::string signature_header(std::string_view secret, std::string_view body) {
    return "sha256=" + hmac_sha256_hex(secret, body);
}

} // namespace homeostat::exporters
