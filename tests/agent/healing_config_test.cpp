// The healing: section: policy, actuators' allow-lists, tuning; every error with its key.
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "agent/config.h"

namespace homeostat::agent {
namespace {

std::string write(const std::string& text) {
    static int n = 0;
    auto p = std::filesystem::temp_directory_path() /
             ("homeostat-healing-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + ".yaml");
    std::ofstream(p) << text;
    return p.string();
}

TEST(HealingConfig, BuiltInDefaultIsDryRunWithRulesAndNothingWritable) {
    Config c;
    EXPECT_TRUE(c.healing.policy.enabled);
    EXPECT_TRUE(c.healing.policy.guardrails.dry_run);
    EXPECT_EQ(c.healing.policy.rules.size(), 2u);
    EXPECT_TRUE(c.healing.actuators.cgroup_allow.empty());
    EXPECT_TRUE(c.healing.actuators.files.empty());
    EXPECT_TRUE(c.healing.actuators.restarts.empty());
}

TEST(HealingConfig, FullSection) {
    auto c = load_config(write(R"(healing:
  guardrails:
    dry_run: false
    restarts_enabled: true
    cooldown_seconds: 30s
  priorities: {web: high, batch: low}
  rules:
    - name: noisy
      match: {anomaly: cpu_saturation, priority: low, while: {anomaly: latency_spike, priority: high}}
      action: {kind: cpu_quota, op: lower_pct, amount: 50, min: 0.1}
  command_timeout: 5s
  cgroups:
    allow: [/sys/fs/cgroup/cpu/test]
  files:
    - name: nginx-timeouts
      path: /tmp/x/timeouts.conf
      template: "proxy_read_timeout {{timeout_s}}s;\n"
      check: [nginx, -t]
      reload_signal: HUP
      reload_pidfile: /tmp/x/nginx.pid
  restart:
    - {service: "api*", method: command, command: [/bin/true]}
  tuning:
    timeout_margin: 2
    targets:
      - {service: "nginx*", file: nginx-timeouts}
      - {service: "nginx-canary*", file: nginx-timeouts, dry_run: true}
)"));
    ASSERT_TRUE(c.ok()) << c.error().message;
    const auto& h = c->healing;
    EXPECT_FALSE(h.policy.guardrails.dry_run);
    EXPECT_TRUE(h.policy.guardrails.restarts_enabled);
    EXPECT_EQ(h.policy.guardrails.cooldown_seconds, 30);
    ASSERT_EQ(h.policy.rules.size(), 1u);
    EXPECT_EQ(h.policy.rules[0].name, "noisy");
    EXPECT_EQ(h.actuators.command_timeout, std::chrono::seconds(5));
    ASSERT_EQ(h.actuators.cgroup_allow.size(), 1u);
    ASSERT_EQ(h.actuators.files.size(), 1u);
    EXPECT_EQ(h.actuators.files[0].reload_signal, SIGHUP);
    EXPECT_EQ(h.actuators.files[0].template_text, "proxy_read_timeout {{timeout_s}}s;\n");
    ASSERT_EQ(h.actuators.restarts.size(), 1u);
    EXPECT_EQ(h.actuators.restarts[0].method, actuators::RestartMethod::command);
    EXPECT_EQ(h.tuner.timeout_margin, 2);
    ASSERT_EQ(h.tuning.size(), 2u);
    EXPECT_EQ(h.tuning[0].file, "nginx-timeouts");
    EXPECT_FALSE(h.tuning[0].dry_run);
    EXPECT_TRUE(h.tuning[1].dry_run);
    EXPECT_EQ(c->healing_section["guardrails"]["dry_run"], false);
}

TEST(HealingConfig, EveryErrorWithLineColumnAndKey) {
    const std::string p = write("healing:\n"                          // 1
                                "  cgroups:\n"                        // 2
                                "    allow: [relative/dir]\n"         // 3
                                "  files:\n"                          // 4
                                "    - name: f\n"                     // 5
                                "      path: /tmp/f.conf\n"           // 6
                                "  restart:\n"                        // 7
                                "    - {service: a, method: reboot}\n" // 8
                                "  tuning:\n"                         // 9
                                "    targets: [{service: x, file: nope}, {service: y, file: f, dry_run: 1}]\n" // 10
                                "  bogus: 1\n");                      // 11
    auto c = load_config(p);
    ASSERT_FALSE(c.ok());
    const std::string& m = c.error().message;
    EXPECT_NE(m.find(p + ":3:13: healing.cgroups.allow[0]: must be an absolute path"), std::string::npos) << m;
    EXPECT_NE(m.find(p + ":5:7: healing.files[0]: needs exactly one of 'template'"), std::string::npos) << m;
    EXPECT_NE(m.find(p + ":8:28: healing.restart[0].method: expected systemd, command or signal"), std::string::npos)
        << m;
    EXPECT_NE(m.find("healing.tuning.targets[0].file: 'nope' is not one of healing.files"), std::string::npos) << m;
    EXPECT_NE(m.find(p + ":11:10: healing.bogus: unknown key"), std::string::npos) << m;
    EXPECT_NE(m.find(p + ":10:34: healing.tuning.targets[0].file"), std::string::npos) << m;
    EXPECT_NE(m.find(p + ":10:72: healing.tuning.targets[1].dry_run: expected true or false"), std::string::npos)
        << m;
}

TEST(HealingConfig, PolicyErrorsPointIntoTheRules) {
    const std::string p = write("healing:\n  rules:\n    - name: a\n      match: {anomaly: cpu_saturation}\n"
                                "      action: {kind: cpu_quota, op: lower_pct, amount: 10, min: 2, max: 1}\n");
    auto c = load_config(p);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().message.rfind(p + ":5:", 0), 0u) << c.error().message;
    EXPECT_NE(c.error().message.find("healing.rules[0].action"), std::string::npos) << c.error().message;
}


TEST(HealingConfig, LoadBalancingGroups) {
    auto c = load_config(write(R"(healing:
  files:
    - {name: upstreams, path: /tmp/x/upstreams.conf, template: "{{upstream_servers}}\n"}
  load_balancing:
    - service: "nginx*"
      upstreams: ["127.0.0.1:8081", "127.0.0.1:8082", "10.0.0.*"]
      file: upstreams
      min_weight: 2
      max_weight: 50
      alpha: 0.5
      min_requests: 10
      cooldown: 5s
      latency_floor: 20ms
      dry_run: true
)"));
    ASSERT_TRUE(c.ok()) << c.error().message;
    ASSERT_EQ(c->healing.load_balancing.size(), 1u);
    const auto& g = c->healing.load_balancing[0];
    EXPECT_EQ(g.service, "nginx*");
    EXPECT_EQ(g.upstreams.size(), 3u);
    EXPECT_EQ(g.file, "upstreams");
    EXPECT_EQ(g.health.min_weight, 2);
    EXPECT_EQ(g.health.max_weight, 50);
    EXPECT_EQ(g.health.alpha, 0.5);
    EXPECT_EQ(g.min_requests, 10u);
    EXPECT_EQ(g.cooldown_seconds, 5);
    EXPECT_DOUBLE_EQ(g.latency_floor_seconds, 0.02);
    EXPECT_TRUE(g.dry_run);
}

TEST(HealingConfig, LoadBalancingErrorsWithLineColumnAndKey) {
    const std::string p = write("healing:\n"                                                        // 1
                                "  files:\n"                                                        // 2
                                "    - {name: u, path: /tmp/u.conf, template: x}\n"                 // 3
                                "  load_balancing:\n"                                               // 4
                                "    - service: nginx\n"                                            // 5
                                "      upstreams: [\"127.0.0.1:8081\", \"evil;\\nhost\"]\n"         // 6
                                "      file: nope\n"                                                // 7
                                "      max_weight: 0\n"                                             // 8
                                "    - {service: nginx, upstreams: \"*\", file: u, cooldown: soon}\n" // 9
                                "    - {service: nginx, upstreams: \"*\", file: u}\n");             // 10
    auto c = load_config(p);
    ASSERT_FALSE(c.ok());
    const std::string& m = c.error().message;
    EXPECT_NE(m.find(p + ":7:13: healing.load_balancing[0].file: no healing.files entry named 'nope'"),
              std::string::npos) << m;
    EXPECT_NE(m.find("healing.load_balancing[0].upstreams[1]: expected an IP address and port"), std::string::npos)
        << m;
    EXPECT_NE(m.find(p + ":8:19: healing.load_balancing[0].max_weight: expected a number from 1 to 1000"),
              std::string::npos) << m;
    EXPECT_NE(m.find("healing.load_balancing[1].cooldown"), std::string::npos) << m;
    EXPECT_NE(m.find("healing.load_balancing[2].file: 'u' is already written by healing.load_balancing[1]"),
              std::string::npos) << m;
}

} // namespace
} // namespace homeostat::agent
