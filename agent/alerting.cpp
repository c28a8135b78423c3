#include "agent/alerting.h"

#include <openssl/sha.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

namespace homeostat::agent {
namespace {

using engine::detect::Severity;

constexpr std::size_t kResolvedKept = 200;

Severity severity_of(const exporters::Alert& a) {
    auto it = a.labels.find("severity");
    if (it == a.labels.end()) return Severity::warning;
    return it->second == "critical" ? Severity::critical : Severity::warning;
}

std::string short_hash(const std::string& text) {
    unsigned char d[SHA256_DIGEST_LENGTH];
    ::SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), d);
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (int i = 0; i < 12; ++i) {
        out += hex[d[i] >> 4];
        out += hex[d[i] & 15];
    }
    return out;
}

} // namespace

std::string redacted_url(const std::string& url) {
    auto u = parse_url(url);
    if (!u) return "(invalid URL)";
    // Paths of incoming webhooks (Slack's among them) are credentials: never shown.
    return std::string(u->tls ? "https://" : "http://") + (u->host.find(':') != std::string::npos ? "[" + u->host + "]" : u->host) +
           ":" + u->port + (u->target == "/" ? "/" : "/…");
}

DeliveryOutcome classify(int status) {
    if (status >= 200 && status < 300) return DeliveryOutcome::delivered;
    if (status == 0 || status == 408 || status == 429 || status >= 500) return DeliveryOutcome::retry;
    return DeliveryOutcome::give_up;
}

std::string describe_answer(const HttpClientResponse& res) {
    return res.status ? "HTTP " + std::to_string(res.status) + " " + res.body.substr(0, 200) : res.error;
}

double backoff_seconds(const RetryPolicy& p, std::int64_t attempts, double jitter01) {
    const double raw = p.base_seconds * std::pow(2.0, static_cast<double>(std::min<std::int64_t>(attempts, 60)));
    return std::min(raw, p.max_seconds) * (0.5 + 0.5 * std::clamp(jitter01, 0.0, 1.0));
}

bool known_receiver_type(const std::string& type) {
    return type == "alertmanager" || type == "alertmanager_webhook" || type == "webhook" || type == "slack";
}

Alerting::Alerting(AlertingConfig config, Store& store, HttpClient& client, std::string generator_url)
    : config_(std::move(config)), store_(store), client_(client), generator_url_(std::move(generator_url)) {}

const ReceiverConfig* Alerting::receiver(const std::string& name) const {
    for (const auto& r : config_.receivers)
        if (r.name == name) return &r;
    return nullptr;
}

void Alerting::spool(const ReceiverConfig& r, const std::vector<exporters::Alert>& alerts, double now,
                     const std::string& why) {
    if (alerts.empty()) return;
    nlohmann::json stored = {{"alerts", nlohmann::json::array()}};
    for (const auto& a : alerts) stored["alerts"].push_back(exporters::alert_to_json(a));
    SpoolItem item;
    item.receiver = r.name;
    item.body = stored.dump();
    // One key per delivery, the same for all its attempts; unique across daemon restarts.
    item.idempotency_key = r.name + "-" + short_hash(item.body + why + std::to_string(now) + std::to_string(sequence_++));
    item.created_at = now;
    item.next_attempt_at = now;
    if (auto id = store_.enqueue(item); !id) {
        if (id.error().message != last_store_error_)
            spdlog::error("alerting: {}; {} alert(s) for receiver {} could not be spooled", id.error().message,
                          alerts.size(), r.name);
        last_store_error_ = id.error().message;
    }
}

void Alerting::on_changes(const std::vector<engine::detect::Anomaly>& changes, double now) {
    std::vector<exporters::Alert> changed;
    for (const auto& a : changes) {
        auto alert = exporters::alert_from_anomaly(a, config_.instance);
        const auto fp = alert.fingerprint();
        if (alert.firing()) {
            if (firing_.count(fp)) continue; // already firing: nothing new to say
            firing_[fp] = alert;
        } else {
            firing_.erase(fp);
            resolved_.push_front(alert);
            if (resolved_.size() > kResolvedKept) resolved_.pop_back();
        }
        changed.push_back(std::move(alert));
    }
    spool_changes(changed, now);
}

void Alerting::spool_changes(const std::vector<exporters::Alert>& changed, double now) {
    for (const auto& r : config_.receivers) {
        std::map<std::string, std::vector<exporters::Alert>> by_service;
        for (const auto& a : changed)
            if (severity_of(a) >= r.min_severity) by_service[a.labels.at("service")].push_back(a);
        for (const auto& [service, alerts] : by_service) spool(r, alerts, now, "change");
    }
    pump(now);
}

void Alerting::on_action(const std::string& service, const std::string& type, const std::string& text, double now) {
    std::vector<exporters::Alert> changed;
    for (auto& [fp, a] : firing_) {
        if (a.labels["service"] != service || a.labels["type"] != type || a.annotations["action"] == text) continue;
        a.annotations["action"] = text;
        changed.push_back(a);
    }
    spool_changes(changed, now);
}

std::string Alerting::render(const ReceiverConfig& r, const nlohmann::json& stored, double now) const {
    std::vector<exporters::Alert> alerts;
    for (const auto& j : stored.at("alerts")) alerts.push_back(exporters::alert_from_json(j));
    if (r.type == "alertmanager")
        return exporters::alertmanager_v2_body(alerts, now + 4 * config_.resend_interval_seconds, generator_url_).dump();
    if (r.type == "alertmanager_webhook") {
        std::map<std::string, std::string> group;
        if (!alerts.empty()) group["service"] = alerts.front().labels.at("service");
        return exporters::webhook_v4_body(alerts, r.name, group, generator_url_).dump();
    }
    if (r.type == "slack") return exporters::slack_body(alerts).dump();
    return exporters::generic_body(alerts).dump();
}

void Alerting::pump(double now) {
    if (!firing_.empty() && now - last_resend_ >= config_.resend_interval_seconds) {
        last_resend_ = now;
        std::vector<exporters::Alert> all;
        for (const auto& [fp, a] : firing_) all.push_back(a);
        for (const auto& r : config_.receivers)
            if (r.type == "alertmanager") {
                std::vector<exporters::Alert> wanted;
                for (const auto& a : all)
                    if (severity_of(a) >= r.min_severity) wanted.push_back(a);
                spool(r, wanted, now, "resend");
            }
    }
    if (in_flight_.size() >= config_.max_in_flight) return;
    auto due = store_.due(now, config_.max_in_flight * 2);
    if (!due) {
        if (due.error().message != last_store_error_) spdlog::error("alerting: {}", due.error().message);
        last_store_error_ = due.error().message;
        return;
    }
    for (const auto& item : due.value()) {
        if (in_flight_.size() >= config_.max_in_flight) break;
        if (in_flight_.count(item.id)) continue;
        deliver(item, now);
    }
}

void Alerting::deliver(const SpoolItem& item, double now) {
    const ReceiverConfig* r = receiver(item.receiver);
    if (!r) { // the receiver left the configuration: nobody to deliver to
        store_.give_up(item.id, "receiver '" + item.receiver + "' is no longer configured", now);
        return;
    }
    if (now - item.created_at > config_.retry.max_age_seconds) {
        spdlog::error("alerting: giving up a delivery to {} after {:.0f} s and {} attempts; last error: {}", r->name,
                      now - item.created_at, item.attempts, item.last_error);
        store_.give_up(item.id, "too old: " + item.last_error, now);
        return;
    }
    HttpClientRequest req;
    req.url = r->url;
    if (r->type == "alertmanager") {
        while (!req.url.empty() && req.url.back() == '/') req.url.pop_back();
        req.url += "/api/v2/alerts";
    }
    try {
        req.body = render(*r, nlohmann::json::parse(item.body), now);
    } catch (const std::exception& e) {
        store_.give_up(item.id, std::string("unreadable spool entry: ") + e.what(), now);
        return;
    }
    req.timeout = r->timeout;
    req.headers["Content-Type"] = "application/json";
    req.headers["Idempotency-Key"] = item.idempotency_key;
    if (!r->secret.empty()) req.headers["X-Hub-Signature-256"] = exporters::signature_header(r->secret, req.body);
    in_flight_.insert(item.id);
    client_.send(std::move(req), [this, item](HttpClientResponse res) { finished(item, res); });
}

void Alerting::finished(const SpoolItem& item, const HttpClientResponse& res) {
    in_flight_.erase(item.id);
    const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    const std::string what = describe_answer(res);
    switch (classify(res.status)) {
    case DeliveryOutcome::delivered:
        store_.delivered(item.id, now);
        if (item.attempts > 0)
            spdlog::info("alerting: delivered to {} after {} failed attempt(s)", item.receiver, item.attempts);
        break;
    case DeliveryOutcome::retry: {
        const double wait = backoff_seconds(config_.retry, item.attempts,
                                            std::uniform_real_distribution<double>(0, 1)(rng_));
        store_.retry_later(item.id, item.attempts + 1, now + wait, what);
        if (item.attempts == 0)
            spdlog::warn("alerting: receiver {} failed ({}); retrying with backoff, nothing is lost", item.receiver,
                         what);
        break;
    }
    case DeliveryOutcome::give_up:
        store_.give_up(item.id, what, now);
        spdlog::error("alerting: receiver {} refused a delivery ({}); not retried", item.receiver, what);
        break;
    }
}

nlohmann::json Alerting::to_json() const {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& [fp, a] : firing_) {
        auto j = exporters::generic_body({a})["alerts"][0];
        list.push_back(std::move(j));
    }
    for (const auto& a : resolved_) list.push_back(exporters::generic_body({a})["alerts"][0]);
    nlohmann::json receivers = nlohmann::json::array();
    for (const auto& r : config_.receivers)
        receivers.push_back({{"name", r.name}, {"type", r.type}, {"url", redacted_url(r.url)},
                             {"signed", !r.secret.empty()}});
    auto pending = store_.pending();
    return {{"alerts", std::move(list)},
            {"firing", firing_.size()},
            {"receivers", std::move(receivers)},
            {"pending_deliveries", pending ? pending.value() : -1},
            {"in_flight", in_flight_.size()}};
}

} // namespace homeostat::agent
