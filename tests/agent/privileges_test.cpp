#include "agent/privileges.h"

#include <linux/capability.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "agent/config.h"

namespace homeostat::agent {
namespace {

Config with_healing(const std::string& yaml) {
    auto c = load_config_text(yaml, "test.yaml");
    EXPECT_TRUE(c) << c.error().message;
    return c ? c.value() : Config{};
}

TEST(Privileges, DefaultConfigKeepsOnlyTheProcCapabilities) {
    const auto keep = capabilities_needed(Config{});
    EXPECT_EQ(capability_mask(keep), (1ull << CAP_DAC_READ_SEARCH) | (1ull << CAP_SYS_PTRACE));
    EXPECT_EQ(capability_names(capability_mask(keep)), "CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE");
    for (const auto& k : keep) EXPECT_FALSE(k.why.empty()) << k.name;
}

TEST(Privileges, HealingThatSignalsKeepsCapKill) {
    auto section = [](const char* dry_run, const char* restart) {
        return std::string("healing:\n  enabled: true\n  guardrails: {dry_run: ") + dry_run +
               "}\n  restart:\n    - " + restart + "\n";
    };
    const std::string signal_restart = section("false", "{service: legacy, method: signal, signal: TERM}");
    EXPECT_TRUE(capability_mask(capabilities_needed(with_healing(signal_restart))) & (1ull << CAP_KILL));
    // dry-run changes nothing on the host: no signal is ever sent
    const std::string dry = section("true", "{service: legacy, method: signal, signal: TERM}");
    EXPECT_FALSE(capability_mask(capabilities_needed(with_healing(dry))) & (1ull << CAP_KILL));
    // restarts by command or systemd run programs: no capability for the daemon itself
    const std::string command = section("false", "{service: worker, method: command, command: [/bin/true]}");
    EXPECT_FALSE(capability_mask(capabilities_needed(with_healing(command))) & (1ull << CAP_KILL));
    // never the capabilities of loading and attaching: nothing is attached later
    for (const auto* y : {&signal_restart, &dry, &command}) {
        const auto m = capability_mask(capabilities_needed(with_healing(*y)));
        EXPECT_FALSE(m & ((1ull << CAP_BPF) | (1ull << CAP_PERFMON) | (1ull << CAP_NET_ADMIN) | (1ull << CAP_SYS_ADMIN) |
                          (1ull << CAP_SETPCAP)));
    }
}

TEST(Privileges, DropCapabilitiesIsAConfigKey) {
    EXPECT_TRUE(Config{}.drop_capabilities);
    auto c = load_config_text("drop_capabilities: false\n", "t.yaml");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_FALSE(c.value().drop_capabilities);
    EXPECT_FALSE(load_config_text("drop_capabilities: maybe\n", "t.yaml"));
}

TEST(Privileges, ReadsTheSetsFromProcStatus) {
    const auto path = std::filesystem::temp_directory_path() / "hs-privileges-status";
    std::ofstream(path) << "Name:\thomeostatd\nCapInh:\t0000000000000000\nCapPrm:\t0000000000080024\n"
                           "CapEff:\t0000000000080004\nCapBnd:\t000000c000081024\nCapAmb:\t0000000000000000\n";
    const auto s = current_capabilities(path.string());
    EXPECT_EQ(s.permitted, 0x80024u);
    EXPECT_EQ(s.effective, 0x80004u);
    EXPECT_EQ(s.bounding, 0xc000081024u);
    EXPECT_EQ(s.inheritable, 0u);
    EXPECT_EQ(capability_names(s.bounding),
              "CAP_DAC_READ_SEARCH, CAP_KILL, CAP_NET_ADMIN, CAP_SYS_PTRACE, CAP_PERFMON, CAP_BPF");
    EXPECT_EQ(capability_names(0), "none");
    std::filesystem::remove(path);
}

} // namespace
} // namespace homeostat::agent
