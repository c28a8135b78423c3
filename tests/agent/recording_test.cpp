// Recorder / RecordReader: a round trip keeps every byte of every event and its service;
// a recording cut short reads up to its last whole record and says where it broke; a
// wrong file is refused with a reason; the size limit stops recording, not the caller.
#include "agent/recording.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "engine/testing/event_generator.h"

namespace homeostat::agent {
namespace {

using namespace std::chrono_literals;

class RecordingTest : public ::testing::Test {
protected:
    void SetUp() override {
        path_ = std::filesystem::temp_directory_path() /
                ("homeostat-rec-" + std::to_string(::getpid()) + "-" +
                 ::testing::UnitTest::GetInstance()->current_test_info()->name());
    }
    void TearDown() override { std::filesystem::remove(path_); }
    std::filesystem::path path_;
    engine::testing::EventGenerator gen_;
};

TEST_F(RecordingTest, RoundTrip) {
    std::vector<std::pair<std::string, hs_http_exchange>> sent;
    {
        auto r = Recorder::open(path_, 1 << 20, 1'700'000'000'000'000'000);
        ASSERT_TRUE(r.ok()) << r.error().message;
        for (int i = 0; i < 50; ++i) {
            auto ev = gen_.exchange(HS_M_GET, "/users/" + std::to_string(i), i % 7 ? 200 : 503, 3ms);
            std::string service = i % 2 ? "nginx.service" : "python3:8080";
            r.value()->write(service, ev);
            sent.emplace_back(service, ev);
        }
        EXPECT_EQ(r.value()->records(), 50u);
    }
    struct stat st{};
    ASSERT_EQ(::stat(path_.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);

    auto rd = RecordReader::open(path_);
    ASSERT_TRUE(rd.ok()) << rd.error().message;
    EXPECT_EQ(rd.value()->unix_minus_monotonic_ns(), 1'700'000'000'000'000'000);
    std::size_t i = 0;
    while (auto rec = rd.value()->next()) {
        ASSERT_LT(i, sent.size());
        EXPECT_EQ(rec->service, sent[i].first);
        EXPECT_EQ(std::memcmp(&rec->event, &sent[i].second, sizeof rec->event), 0) << "record " << i;
        ++i;
    }
    EXPECT_EQ(i, sent.size());
    EXPECT_EQ(rd.value()->error(), "");
}

TEST_F(RecordingTest, CutShortReadsWholeRecordsAndSaysWhere) {
    {
        auto r = Recorder::open(path_, 1 << 20, 0);
        ASSERT_TRUE(r.ok());
        for (int i = 0; i < 3; ++i) r.value()->write("api", gen_.exchange(HS_M_GET, "/x", 200, 1ms));
    }
    std::filesystem::resize_file(path_, std::filesystem::file_size(path_) - 10);
    auto rd = RecordReader::open(path_);
    ASSERT_TRUE(rd.ok());
    int n = 0;
    while (rd.value()->next()) ++n;
    EXPECT_EQ(n, 2);
    EXPECT_NE(rd.value()->error().find("ends inside a record"), std::string::npos) << rd.value()->error();
    EXPECT_NE(rd.value()->error().find(path_.string() + ": byte "), std::string::npos);
}

TEST_F(RecordingTest, RefusesOtherFiles) {
    std::ofstream(path_) << "timestamp,value\n1,2\n";
    auto rd = RecordReader::open(path_);
    ASSERT_FALSE(rd.ok());
    EXPECT_NE(rd.error().message.find("not a homeostat recording"), std::string::npos);
    std::ofstream(path_) << "homeostat-record 99 abi=1 unix_minus_monotonic_ns=0\n";
    rd = RecordReader::open(path_);
    ASSERT_FALSE(rd.ok());
    EXPECT_NE(rd.error().message.find("recording format 99"), std::string::npos);
    EXPECT_FALSE(RecordReader::open(path_.string() + ".missing").ok());
}

TEST_F(RecordingTest, GarbageRecordEndsTheStream) {
    {
        auto r = Recorder::open(path_, 1 << 20, 0);
        ASSERT_TRUE(r.ok());
        r.value()->write("api", gen_.exchange(HS_M_GET, "/x", 200, 1ms));
    }
    std::ofstream(path_, std::ios::app | std::ios::binary) << std::string("\xff\xff\xff\x7f junk junk", 15);
    auto rd = RecordReader::open(path_);
    ASSERT_TRUE(rd.ok());
    EXPECT_TRUE(rd.value()->next().has_value());
    EXPECT_FALSE(rd.value()->next().has_value());
    EXPECT_NE(rd.value()->error().find("malformed record"), std::string::npos) << rd.value()->error();
}

TEST_F(RecordingTest, SizeLimitStopsRecording) {
    auto r = Recorder::open(path_, 4096, 0);
    ASSERT_TRUE(r.ok());
    for (int i = 0; i < 100; ++i) r.value()->write("api", gen_.exchange(HS_M_GET, "/x", 200, 1ms));
    EXPECT_FALSE(r.value()->active());
    EXPECT_LT(r.value()->records(), 100u);
    EXPECT_GT(r.value()->records(), 0u);
    const auto kept = r.value()->records();
    r.value().reset();
    EXPECT_LE(std::filesystem::file_size(path_), 4096u);
    auto rd = RecordReader::open(path_);
    ASSERT_TRUE(rd.ok());
    std::uint64_t n = 0;
    while (rd.value()->next()) ++n;
    EXPECT_EQ(n, kept);
    EXPECT_EQ(rd.value()->error(), "");
}

TEST_F(RecordingTest, UnwritablePathIsAnError) {
    auto r = Recorder::open("/nonexistent-dir/x.rec", 1 << 20, 0);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("/nonexistent-dir/x.rec"), std::string::npos);
}

} // namespace
} // namespace homeostat::agent
