// Alert payloads and signatures: the HMAC known-answer vector, stable fingerprints, and
// the fields Alertmanager (API v2, webhook v4), Slack and homeostat's own format need.
#include "exporters/alerts.h"

#include <gtest/gtest.h>

namespace homeostat::exporters {
namespace {

engine::detect::Anomaly spike(bool open) {
    engine::detect::Anomaly a;
    a.id = 7;
    a.type = "latency_spike";
    a.service = "checkout.service";
    a.endpoint = "GET /cart/{id}";
    a.signal = "latency_p95";
    a.severity = engine::detect::Severity::critical;
    a.open = open;
    a.started_at = 1'763'940'000.0;
    a.opened_at = 1'763'940'020.25;
    a.resolved_at = open ? 0 : 1'763'940'300.0;
    a.at_open.expected = 0.005;
    a.at_open.observed = 0.2;
    a.at_open.detectors = {"ses", "mad"};
    a.evidence = a.at_open;
    return a;
}

TEST(Alerts, HmacKnownAnswer) {
    // The vector of GitHub's webhook documentation, as the issue gives it.
    EXPECT_EQ(signature_header("It's a Secret to Everybody", "Hello, World!"),
              "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
    // RFC 4231 test case 2.
    EXPECT_EQ(hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Alerts, FingerprintIsStableAndLabelOnly) {
    Alert a = alert_from_anomaly(spike(true), "host-1");
    Alert b = alert_from_anomaly(spike(false), "host-1");
    EXPECT_EQ(a.fingerprint(), b.fingerprint()); // firing and resolved: the same alert
    EXPECT_EQ(a.fingerprint().size(), 16u);
    b.annotations["summary"] = "other words";
    EXPECT_EQ(a.fingerprint(), b.fingerprint());
    b.labels["service"] = "other.service";
    EXPECT_NE(a.fingerprint(), b.fingerprint());
    // Length-prefixed: moving a character between name and value changes it.
    Alert x, y;
    x.labels = {{"ab", "c"}};
    y.labels = {{"a", "bc"}};
    EXPECT_NE(x.fingerprint(), y.fingerprint());
}

TEST(Alerts, FromAnomaly) {
    Alert a = alert_from_anomaly(spike(true), "host-1");
    EXPECT_TRUE(a.firing());
    EXPECT_EQ(a.labels.at("alertname"), "homeostat_latency_spike");
    EXPECT_EQ(a.labels.at("severity"), "critical");
    EXPECT_EQ(a.labels.at("endpoint"), "GET /cart/{id}");
    EXPECT_EQ(a.labels.at("instance"), "host-1");
    EXPECT_EQ(a.annotations.at("summary"),
              "checkout.service GET /cart/{id}: latency_spike latency_p95 is 200.00 ms (expected 5.00 ms)");
    auto ev = nlohmann::json::parse(a.annotations.at("evidence"));
    EXPECT_EQ(ev["observed"], 0.2);
    EXPECT_EQ(ev["detectors"], nlohmann::json({"ses", "mad"}));
    EXPECT_EQ(a.starts_at, 1'763'940'000.0);
    Alert r = alert_from_anomaly(spike(false), "host-1");
    EXPECT_FALSE(r.firing());
    EXPECT_EQ(r.ends_at, 1'763'940'300.0);
}

TEST(Alerts, Rfc3339) {
    EXPECT_EQ(rfc3339(0), "1970-01-01T00:00:00.000Z");
    EXPECT_EQ(rfc3339(1'763'940'020.25), "2025-11-23T23:20:20.250Z");
    EXPECT_EQ(rfc3339(1.9996), "1970-01-01T00:00:02.000Z");
}

TEST(Alerts, AlertmanagerV2) {
    auto body = alertmanager_v2_body({alert_from_anomaly(spike(true), "h"), alert_from_anomaly(spike(false), "h")},
                                     1'763'941'000.0, "http://127.0.0.1:9464/api/v1/anomalies");
    ASSERT_TRUE(body.is_array());
    ASSERT_EQ(body.size(), 2u);
    EXPECT_EQ(body[0]["labels"]["alertname"], "homeostat_latency_spike");
    EXPECT_EQ(body[0]["startsAt"], "2025-11-23T23:20:00.000Z");
    EXPECT_EQ(body[0]["endsAt"], "2025-11-23T23:36:40.000Z"); // firing: the sender's deadline
    EXPECT_EQ(body[1]["endsAt"], "2025-11-23T23:25:00.000Z"); // resolved: its end
    EXPECT_EQ(body[0]["generatorURL"], "http://127.0.0.1:9464/api/v1/anomalies");
    EXPECT_TRUE(body[0]["annotations"]["evidence"].is_string()); // v2 annotations are strings
}

TEST(Alerts, WebhookV4) {
    auto firing = alert_from_anomaly(spike(true), "h");
    auto other = firing;
    other.labels["endpoint"] = "GET /pay";
    auto body = webhook_v4_body({firing, other}, "ops", {{"service", "checkout.service"}}, "http://h:9464");
    EXPECT_EQ(body["version"], "4");
    EXPECT_EQ(body["status"], "firing");
    EXPECT_EQ(body["receiver"], "ops");
    EXPECT_EQ(body["groupKey"], "{}:{service=\"checkout.service\"}");
    EXPECT_EQ(body["truncatedAlerts"], 0);
    EXPECT_EQ(body["groupLabels"]["service"], "checkout.service");
    EXPECT_EQ(body["commonLabels"]["service"], "checkout.service");
    EXPECT_FALSE(body["commonLabels"].contains("endpoint")); // differs between the two
    ASSERT_EQ(body["alerts"].size(), 2u);
    EXPECT_EQ(body["alerts"][0]["status"], "firing");
    EXPECT_EQ(body["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    EXPECT_EQ(body["alerts"][0]["fingerprint"], firing.fingerprint());
    auto resolved = webhook_v4_body({alert_from_anomaly(spike(false), "h")}, "ops", {}, "");
    EXPECT_EQ(resolved["status"], "resolved");
    EXPECT_EQ(resolved["alerts"][0]["endsAt"], "2025-11-23T23:25:00.000Z");
}

TEST(Alerts, GenericAndSlack) {
    auto g = generic_body({alert_from_anomaly(spike(true), "h")});
    EXPECT_EQ(g["version"], 1);
    EXPECT_EQ(g["alerts"][0]["status"], "firing");
    EXPECT_TRUE(g["alerts"][0]["ends_at"].is_null());
    EXPECT_EQ(g["alerts"][0]["annotations"]["evidence"]["expected"], 0.005); // an object here
    auto s = slack_body({alert_from_anomaly(spike(true), "h"), alert_from_anomaly(spike(false), "h")});
    const std::string text = s["text"];
    EXPECT_EQ(text.find("[FIRING] critical: checkout.service GET /cart/{id}: latency_spike"), 0u) << text;
    EXPECT_NE(text.find("\n[RESOLVED] critical: "), std::string::npos) << text;
}

} // namespace
} // namespace homeostat::exporters
